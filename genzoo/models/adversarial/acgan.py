"""Auxiliary classifier GANs (Odena, Olah & Shlens, ICML 2017; arXiv 2016).

Every generated sample has a class label ``c ~ p(c)`` (uniform) besides the noise ``z``: ``X_fake =
G(c, z)``. The discriminator gives both a probability over sources ``P(S | X)`` and over classes
``P(C | X)``. The objective has two parts (Eq. 2 and 3 of the paper)::

    L_S = E[log P(S = real | X_real)] + E[log P(S = fake | X_fake)]
    L_C = E[log P(C = c | X_real)]   + E[log P(C = c | X_fake)]

D is trained to maximise ``L_S + L_C``, G to maximise ``L_C - L_S``. Here both are minimised as
losses: D's loss is the source cross-entropy (the GAN loss of Eq. 1 of Goodfellow et al.) plus the
class cross-entropy on real and on fake samples; G's loss is the non-saturating source loss
``-log P(S = real | X_fake)`` (``loss: minimax`` for ``log P(S = fake | X_fake)`` negated as in
``-L_S``) plus the class cross-entropy on its samples.

Networks: the DCGAN architecture of :mod:`genzoo.models.adversarial.dcgan` (as the paper's appendix models are
DCGAN-style: transposed convolutions with batch norm and ReLU in G, strided LeakyReLU(0.2) convolutions
with dropout 0.5 in D). G's input is the noise concatenated with the one-hot class (the paper's
110-d input on CIFAR-10 is 100 noise + 10 class dimensions); D's last convolution outputs
``1 + num_classes`` logits (source, classes). Adam lr 2e-4, beta1 0.5 (run config).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from genzoo.core import Batch, DataInfo
from genzoo.core.ranges import AT_LEAST_1, NON_NEGATIVE, PROBABILITY, ranged
from genzoo.models.adversarial.base import AdversarialConfig, AdversarialModel
from genzoo.models.adversarial.dcgan import DCGANDiscriminator, DCGANGenerator, sampling_stages
from genzoo.nn.init import dcgan_init_
from genzoo.registry import register_model


@dataclass
class ACGANConfig(AdversarialConfig):
    g_features: int = ranged(64, AT_LEAST_1)
    d_features: int = ranged(64, AT_LEAST_1)
    d_dropout: float = ranged(0.5, PROBABILITY)
    class_weight: float = 1.0  # weight of L_C relative to L_S (paper: 1)
    init_std: float = ranged(0.02, NON_NEGATIVE)


@register_model("acgan")
class ACGAN(AdversarialModel):
    """AC-GAN (Odena et al. 2016): D predicts source and class; losses L_S + L_C / L_C - L_S (Eq. 2-3).

    ``sample(n, condition=labels)`` draws images of the requested classes (uniform classes when
    ``condition`` is None); ``decode(z, condition=labels)`` for latent-space walks at a fixed class.
    """

    Config = ACGANConfig
    conditional = True
    pixel_range = "pm1"

    def __init__(self, config: ACGANConfig, data_info: DataInfo) -> None:
        super().__init__(config, data_info)
        if data_info.num_classes < 2:
            raise ValueError("acgan needs a labelled dataset (data_info.num_classes >= 2)")
        if len(data_info.shape) != 3:
            raise ValueError(f"acgan needs (C, H, W) images, got shape {data_info.shape}")
        c, h, w = data_info.shape
        sampling_stages(h, w)
        k = data_info.num_classes
        self.generator = DCGANGenerator(config.latent_dim + k, c, h, config.g_features)
        self.discriminator = DCGANDiscriminator(
            c, h, config.d_features, outputs=1 + k, dropout=config.d_dropout
        )
        dcgan_init_(self, config.init_std)

    def generate(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        assert labels is not None
        onehot = F.one_hot(labels.long(), self.data_info.num_classes).to(z.dtype)
        return self.generator(torch.cat([z, onehot], 1))

    def discriminate(self, x: Tensor, labels: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        out = self.discriminator(x)
        return out[:, 0], out[:, 1:]

    def classify(self, x: Tensor) -> Tensor:
        """Class logits of D's auxiliary classifier for images in [0, 1]."""
        return self.discriminate(self.to_net(x.to(self.device)))[1]  # type: ignore[return-value]

    def _fake_labels(self, batch: Batch, n: int) -> Tensor | None:
        # c ~ p(c): uniform over classes, independent of the real minibatch
        return torch.randint(0, self.data_info.num_classes, (n,), device=self.device)

    def _extra_d_loss(
        self,
        real_cls: Tensor | None,
        fake_cls: Tensor | None,
        labels: Tensor | None,
        fake_labels: Tensor | None,
    ) -> dict[str, Tensor]:
        assert real_cls is not None and fake_cls is not None and fake_labels is not None
        if labels is None:
            raise ValueError("acgan needs labels (batch['y'])")
        lc_real = F.cross_entropy(real_cls, labels)
        lc_fake = F.cross_entropy(fake_cls, fake_labels)
        return {
            "aux_loss": self.config.class_weight * (lc_real + lc_fake),
            "d_class_loss": (lc_real + lc_fake).detach(),
            "d_class_acc_real": (real_cls.argmax(1) == labels).float().mean(),
            "d_class_acc_fake": (fake_cls.argmax(1) == fake_labels).float().mean(),
        }

    def _extra_g_loss(self, fake_cls: Tensor | None, fake_labels: Tensor | None) -> dict[str, Tensor]:
        assert fake_cls is not None and fake_labels is not None
        lc = F.cross_entropy(fake_cls, fake_labels)
        return {"aux_loss": self.config.class_weight * lc, "g_class_loss": lc.detach()}
