"""Deep convolutional GANs (Radford, Metz & Chintala, ICLR 2016).

The networks follow every architecture guideline of the paper (Sec. 3):

* no pooling: strided convolutions in D, fractionally-strided (transposed) convolutions in G;
* batch normalisation in both networks, except at the generator's output and the discriminator's input;
* no fully connected hidden layers: G's first layer "projects and reshapes" ``z`` to a
  ``base x base`` feature map (written as a transposed convolution with a ``base x base`` kernel on a
  1x1 input, which is the same linear map), D's last layer is a convolution over the whole
  ``base x base`` map to one logit;
* ReLU in G except a Tanh output; LeakyReLU with slope 0.2 in D;
* training details (Sec. 4): weights N(0, 0.02), Adam with lr 2e-4 and beta1 0.5 (put in the run
  config's ``train.per_group``), minibatch 128, images scaled to [-1, 1], uniform noise.

The number of up/down-sampling stages comes from the image size: it is halved while even and at least
8, so 64 -> 4 stages from 4x4, 32 -> 3 stages from 4x4, 28 -> 2 stages from 7x7 (7 -> 14 -> 28),
8 -> 1 stage from 4x4. Each stage is a 4x4 kernel with stride 2 and padding 1.

The GAN objective is Eq. 1 of Goodfellow et al. 2014 (non-saturating generator loss by default); see
:class:`genzoo.models.adversarial.mlp_gan.AdversarialModel` for the two-player training step and stabilisers.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from genzoo.core import DataInfo
from genzoo.core.ranges import AT_LEAST_1, NON_NEGATIVE, ranged
from genzoo.models.adversarial.base import AdversarialConfig, AdversarialModel
from genzoo.nn.dropout import Dropout
from genzoo.nn.init import dcgan_init_
from genzoo.registry import register_model


def sampling_stages(height: int, width: int) -> tuple[int, int]:
    """``(base, stages)``: the image is ``base * 2**stages`` pixels on a side (square images only)."""
    if height != width:
        raise ValueError(f"DCGAN needs square images, got {height}x{width}")
    base, stages = height, 0
    while base % 2 == 0 and base // 2 >= 4:
        base //= 2
        stages += 1
    if stages == 0:
        raise ValueError(f"image size {height} cannot be reached by doubling from a base of at least 4")
    return base, stages


class DCGANGenerator(nn.Module):
    """``z (N, in_dim)`` -> images ``(N, C, S, S)`` in [-1, 1]."""

    def __init__(self, in_dim: int, channels: int, size: int, features: int) -> None:
        super().__init__()
        base, stages = sampling_stages(size, size)
        width = features * 2 ** (stages - 1)
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(in_dim, width, base, 1, 0, bias=False),  # project and reshape
            nn.BatchNorm2d(width),
            nn.ReLU(True),
        ]
        for i in range(stages):
            last = i == stages - 1
            out = channels if last else width // 2
            layers.append(nn.ConvTranspose2d(width, out, 4, 2, 1, bias=last))
            layers += [nn.Tanh()] if last else [nn.BatchNorm2d(out), nn.ReLU(True)]
            width = out
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z[:, :, None, None])


def discriminator_trunk(
    channels: int, size: int, features: int, dropout: float = 0.0
) -> tuple[list[nn.Module], int, int]:
    """DCGAN's discriminator body (Radford et al. 2016, Sec. 3): stride-2 4x4 convolutions doubling the width
    from ``features``, batch norm on all but the input layer, LeakyReLU(0.2), and dropout after each when
    ``dropout > 0``. Returns the layers, the output width and the output side (``base``)."""
    base, stages = sampling_stages(size, size)
    layers: list[nn.Module] = []
    width_in, width = channels, features
    for i in range(stages):
        layers.append(nn.Conv2d(width_in, width, 4, 2, 1, bias=i == 0))
        if i > 0:  # no batch norm on the discriminator's input layer
            layers.append(nn.BatchNorm2d(width))
        layers.append(nn.LeakyReLU(0.2, True))
        if dropout > 0:
            layers.append(Dropout(dropout))  # genzoo.nn.dropout: cheap mask at p = 0.5, same distribution
        width_in, width = width, width * 2
    return layers, width_in, base


class DCGANDiscriminator(nn.Module):
    """Images ``(N, C, S, S)`` in [-1, 1] -> ``(N, outputs)`` logits.

    ``dropout > 0`` adds dropout after each LeakyReLU (AC-GAN's discriminator uses 0.5).
    """

    def __init__(
        self, channels: int, size: int, features: int, outputs: int = 1, dropout: float = 0.0
    ) -> None:
        super().__init__()
        layers, width, base = discriminator_trunk(channels, size, features, dropout)
        self.net = nn.Sequential(*layers, nn.Conv2d(width, outputs, base, 1, 0))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x).flatten(1)


@dataclass
class DCGANConfig(AdversarialConfig):
    g_features: int = ranged(64, AT_LEAST_1)  # feature maps of G's last hidden stage (doubling towards the input)
    d_features: int = ranged(64, AT_LEAST_1)  # feature maps of D's first stage (doubling towards the output)
    init_std: float = ranged(0.02, NON_NEGATIVE)


@register_model("dcgan")
class DCGAN(AdversarialModel):
    """DCGAN (Radford et al. 2016): all-convolutional G/D per the paper's guidelines, GAN loss (Eq. 1).

    Images are mapped to [-1, 1] for the networks (Tanh output) and back to [0, 1] by :meth:`sample`
    and :meth:`decode`. Exposes ``latent_dim`` and ``decode(z)`` for interpolation and vector
    arithmetic in latent space (Sec. 6.1 and 6.3 of the paper; :mod:`genzoo.latent`).
    """

    Config = DCGANConfig
    conditional = False
    pixel_range = "pm1"

    def __init__(self, config: DCGANConfig, data_info: DataInfo) -> None:
        super().__init__(config, data_info)
        if len(data_info.shape) != 3:
            raise ValueError(f"dcgan needs (C, H, W) images, got shape {data_info.shape}")
        c, h, w = data_info.shape
        sampling_stages(h, w)
        self.generator = DCGANGenerator(config.latent_dim, c, h, config.g_features)
        self.discriminator = DCGANDiscriminator(c, h, config.d_features)
        dcgan_init_(self, config.init_std)

    def generate(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        return self.generator(z)

    def discriminate(self, x: Tensor, labels: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        return self.discriminator(x).squeeze(1), None
