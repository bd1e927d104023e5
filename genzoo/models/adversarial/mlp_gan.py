"""The MLP GAN of Goodfellow et al. 2014 and the conditional GAN of Mirza & Osindero 2014.

The two-player logic they share with every genzoo GAN is :class:`genzoo.models.adversarial.base.AdversarialModel`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genzoo.core import DataInfo
from genzoo.core.ranges import AT_LEAST_1, PROBABILITY, ranged
from genzoo.models.adversarial.base import AdversarialConfig, AdversarialModel
from genzoo.models.adversarial.layers import OUT_BIAS_KINDS, Maxout, activation, init_linear_, max_norm_
from genzoo.registry import register_model


class _MLPGAN(AdversarialModel):
    """Options shared by the MLP GANs of Goodfellow et al. 2014 and Mirza & Osindero 2014.

    * ``g_init`` / ``g_irange`` and ``d_init`` / ``d_irange``: see :func:`init_linear_`;
    * ``g_out_bias: marginals``: the generator's sigmoid output bias starts at the logit of the training
      set's mean pixel values, clipped to [1e-7, 1 - 1e-7] and mapped through ``data_margin`` (pylearn2's
      ``init_sigmoid_bias_from_marginals`` in the released code), so the first samples look like the mean
      digit instead of uniform grey. Set by :meth:`init_from_data`, which the engine calls once on a
      fresh model (a checkpoint's weights replace it);
    * ``d_max_norm > 0``: max-norm projection of the discriminator's weights (:func:`max_norm_`)
      at the start of every training step, i.e. after every optimiser update before the weights are
      used again, and when the model is switched to eval mode (so a trained model satisfies it);
    * ``noise_scale``: the prior is ``U(-s, s)`` / ``N(0, s^2)``; the released code's uniform noise is
      ``U(-sqrt 3, sqrt 3)`` (unit variance);
    * ``data_margin = m``: real images are shown to D as ``m + (1 - 2m) x``, and the generator's
      sigmoid output ``y`` is read back as ``(y - m) / (1 - 2m)`` clamped to [0, 1]. Not in the papers:
      without it D can always separate MNIST's exact-zero background from any sigmoid output, G's
      output logits run off to -inf (saturated, no gradient) and G collapses (benchmarks/results/gans.md).
    """

    def _init_mlp_options(self, config: MLPGANOptions) -> None:
        if not float(config.noise_scale) > 0:
            raise ValueError(f"noise_scale must be > 0, got {config.noise_scale}")
        if not 0.0 <= config.data_margin < 0.5:
            raise ValueError(f"data_margin must be in [0, 0.5), got {config.data_margin}")
        if config.g_out_bias not in OUT_BIAS_KINDS:
            raise ValueError(f"g_out_bias must be one of {OUT_BIAS_KINDS}, got {config.g_out_bias!r}")
        if config.d_max_norm < 0:
            raise ValueError(f"d_max_norm must be >= 0 (0 = off), got {config.d_max_norm}")
        init_linear_(self.discriminator, config.d_init, config.d_irange, "d_init")
        if config.d_max_norm > 0:
            max_norm_(self.discriminator, config.d_max_norm)
        self.register_load_state_dict_pre_hook(_drop_retired_flag)

    def _output_layer(self) -> nn.Linear:
        raise NotImplementedError

    def to_net(self, x: Tensor) -> Tensor:
        m = float(self.config.data_margin)
        return x * (1.0 - 2.0 * m) + m if m else x

    def from_net(self, x: Tensor) -> Tensor:
        m = float(self.config.data_margin)
        return ((x - m) / (1.0 - 2.0 * m) if m else x).clamp(0.0, 1.0)

    def sample_latent(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        scale = float(self.config.noise_scale)
        z = super().sample_latent(n, generator)
        return z * scale if scale != 1.0 else z

    def init_from_data(self, pixel_mean: Tensor) -> None:
        """``g_out_bias: marginals``: the output bias at logit(to_net(clip(mean pixel, 1e-7, 1 - 1e-7)))."""
        if self.config.g_out_bias != "marginals":
            return
        p = self.to_net(pixel_mean.flatten().clamp(1e-7, 1.0 - 1e-7))
        with torch.no_grad():
            self._output_layer().bias.copy_(torch.log(p) - torch.log1p(-p))

    def _before_step(self, x: Tensor) -> None:
        if self.config.d_max_norm > 0:
            max_norm_(self.discriminator, self.config.d_max_norm)

    def train(self, mode: bool = True) -> _MLPGAN:
        if not mode and self.config.d_max_norm > 0:
            max_norm_(self.discriminator, self.config.d_max_norm)
        return super().train(mode)


def _drop_retired_flag(module: nn.Module, state_dict: dict[str, Tensor], prefix: str, *_: object) -> None:
    """Checkpoints written before 2026-11-29 carry ``out_bias_pending`` (the output bias was then set from
    the first minibatch, and this flag said it had been); their weights load as they are without it."""
    state_dict.pop(prefix + "out_bias_pending", None)


@dataclass
class MLPGANOptions(AdversarialConfig):
    """Config fields shared by :class:`GANConfig` and :class:`CGANConfig`; see :class:`_MLPGAN`."""

    g_init: Literal["default", "he", "uniform"] = "default"  # default (PyTorch's) | he | uniform; see init_linear_
    g_irange: float = 0.05  # weights U(-g_irange, g_irange) when g_init = uniform
    g_out_bias: Literal["zero", "marginals"] = "zero"  # zero | marginals (logit of the data's mean pixels); see _MLPGAN
    d_init: Literal["default", "he", "uniform"] = "default"  # default | he | uniform
    d_irange: float = 0.005  # weights U(-d_irange, d_irange) when d_init = uniform
    d_max_norm: float = 0.0  # > 0: max-norm projection of D's weight rows after every update
    noise_scale: float = 1.0  # z ~ U(-s, s) or N(0, s^2); sqrt(3) = unit-variance uniform
    data_margin: float = 0.0  # m > 0: D sees real pixels in [m, 1 - m], reachable by G's sigmoid;
    #                           samples are mapped back by (y - m) / (1 - 2m), clamped to [0, 1]


def _maxout_stack(in_features: int, units: list[int], pieces: int, dropout: float) -> nn.Sequential:
    layers: list[nn.Module] = []
    for u in units:
        layers += [Maxout(in_features, u, pieces), nn.Dropout(dropout)]
        in_features = u
    return nn.Sequential(*layers)


# ----- GAN --------------------------------------------------------------------------------------------
@dataclass
class GANConfig(MLPGANOptions):
    g_hidden: list[int] = ranged([1200, 1200], AT_LEAST_1)
    g_activation: Literal["relu", "sigmoid"] = "relu"  # relu | sigmoid (the paper mixes both)
    d_units: list[int] = ranged([240, 240], AT_LEAST_1)
    d_pieces: int = ranged(5, AT_LEAST_1)
    d_input_dropout: float = ranged(0.2, PROBABILITY)
    d_dropout: float = ranged(0.5, PROBABILITY)


@register_model("gan")
class GAN(_MLPGAN):
    """Generative adversarial nets (Goodfellow et al., NeurIPS 2014): minimax game of Eq. 1.

    The paper's MNIST networks: an MLP generator (noise -> rectifier/sigmoid hidden layers -> sigmoid
    output pixels; defaults: 100-d uniform noise, two 1200-unit ReLU layers) and a maxout
    discriminator with dropout (two 240-unit, 5-piece maxout layers; dropout 0.2 on the input, 0.5 on
    hidden units; sigmoid output). Algorithm 1: ``k`` discriminator steps per generator step (here via
    :meth:`update_schedule`, a fresh minibatch per step); generator loss non-saturating by default
    (Sec. 3), ``loss: minimax`` for Eq. 1 as written. Images are in [0, 1] (sigmoid output).

    Options of the released code (config ``gan-mnist`` uses them; the dataclass defaults keep the
    earlier behaviour): ``g_init / d_init: uniform`` (pylearn2's ``irange`` init), ``g_out_bias:
    marginals``, ``noise_scale: sqrt(3)`` (its unit-variance uniform noise), ``d_max_norm``
    (pylearn2's ``max_col_norm``; used in the TFD/CIFAR configs, not MNIST's); see :class:`_MLPGAN`.
    ``data_margin`` (not in the paper) shows D real pixels in ``[m, 1 - m]``: MNIST is mostly exact
    zeros, which a sigmoid reaches only at logit -inf, and chasing them saturates G's output and
    collapses it (benchmarks/results/gans.md).
    """

    Config = GANConfig
    conditional = False
    pixel_range = "01"

    def __init__(self, config: GANConfig, data_info: DataInfo) -> None:
        super().__init__(config, data_info)
        d = data_info.dims
        g_layers: list[nn.Module] = []
        width = config.latent_dim
        for h in config.g_hidden:
            g_layers += [nn.Linear(width, h), activation(config.g_activation)]
            width = h
        g_layers += [nn.Linear(width, d), nn.Sigmoid()]
        self.generator = nn.Sequential(*g_layers)
        init_linear_(self.generator, config.g_init, config.g_irange, "g_init")
        units = list(config.d_units)
        self.discriminator = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(config.d_input_dropout),
            _maxout_stack(d, units, config.d_pieces, config.d_dropout),
            nn.Linear(units[-1] if units else d, 1),
        )
        self._init_mlp_options(config)

    def _output_layer(self) -> nn.Linear:
        return self.generator[-2]

    def generate(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        return self.generator(z).view(len(z), *self.data_info.shape)

    def discriminate(self, x: Tensor, labels: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        return self.discriminator(x).squeeze(1), None


# ----- conditional GAN --------------------------------------------------------------------------------
@dataclass
class CGANConfig(MLPGANOptions):
    g_z_hidden: int = ranged(200, AT_LEAST_1)  # z -> ReLU 200
    g_y_hidden: int = ranged(1000, AT_LEAST_1)  # y -> ReLU 1000
    g_joint_hidden: int = ranged(1200, AT_LEAST_1)  # [z, y] -> ReLU 1200 -> sigmoid pixels
    g_dropout: float = ranged(0.5, PROBABILITY)
    d_x_units: int = ranged(240, AT_LEAST_1)  # x -> maxout 240 x 5
    d_y_units: int = ranged(50, AT_LEAST_1)  # y -> maxout 50 x 5
    d_pieces: int = ranged(5, AT_LEAST_1)
    d_joint_units: int = ranged(240, AT_LEAST_1)  # joint maxout 240 x 4 -> sigmoid
    d_joint_pieces: int = ranged(4, AT_LEAST_1)
    d_input_dropout: float = ranged(0.0, PROBABILITY)  # dropout on D's pixel input (the GAN code's 0.2)
    d_dropout: float = ranged(0.5, PROBABILITY)


class _CGANGenerator(nn.Module):
    def __init__(self, c: CGANConfig, num_classes: int, out_dims: int) -> None:
        super().__init__()
        self.z_path = nn.Sequential(nn.Linear(c.latent_dim, c.g_z_hidden), nn.ReLU(), nn.Dropout(c.g_dropout))
        self.y_path = nn.Sequential(nn.Linear(num_classes, c.g_y_hidden), nn.ReLU(), nn.Dropout(c.g_dropout))
        self.joint = nn.Sequential(
            nn.Linear(c.g_z_hidden + c.g_y_hidden, c.g_joint_hidden),
            nn.ReLU(),
            nn.Dropout(c.g_dropout),
            nn.Linear(c.g_joint_hidden, out_dims),
            nn.Sigmoid(),
        )

    def forward(self, z: Tensor, y1h: Tensor) -> Tensor:
        return self.joint(torch.cat([self.z_path(z), self.y_path(y1h)], 1))


class _CGANDiscriminator(nn.Module):
    def __init__(self, c: CGANConfig, num_classes: int, in_dims: int) -> None:
        super().__init__()
        self.x_input_dropout = nn.Dropout(c.d_input_dropout)  # outside x_path: its state-dict keys stay
        self.x_path = nn.Sequential(Maxout(in_dims, c.d_x_units, c.d_pieces), nn.Dropout(c.d_dropout))
        self.y_path = nn.Sequential(Maxout(num_classes, c.d_y_units, c.d_pieces), nn.Dropout(c.d_dropout))
        self.joint = nn.Sequential(
            Maxout(c.d_x_units + c.d_y_units, c.d_joint_units, c.d_joint_pieces),
            nn.Dropout(c.d_dropout),
            nn.Linear(c.d_joint_units, 1),
        )

    def forward(self, x: Tensor, y1h: Tensor) -> Tensor:
        return self.joint(torch.cat([self.x_path(self.x_input_dropout(x.flatten(1))), self.y_path(y1h)], 1)).squeeze(1)


@register_model("cgan")
class CGAN(_MLPGAN):
    """Conditional GAN (Mirza & Osindero 2014): Eq. 2, the GAN game with ``y`` fed to G and D.

    ``min_G max_D E_x[log D(x|y)] + E_z[log(1 - D(G(z|y)|y))]``. The paper's MNIST setup (Sec. 4.1):
    G maps uniform noise ``z`` (100-d) to a 200-unit ReLU layer and the one-hot label ``y`` to a
    1000-unit ReLU layer, joins them in a 1200-unit ReLU layer, then sigmoid pixels; D maps ``x`` to
    a 240-unit, 5-piece maxout layer and ``y`` to a 50-unit, 5-piece maxout layer, joins them in a
    240-unit, 4-piece maxout layer, then a sigmoid output; dropout 0.5 in both. Generated samples in
    a discriminator step are conditioned on the minibatch's own labels. ``sample(n, condition=labels)``.
    The options of :class:`_MLPGAN` apply; keep G's label path at the scale of its noise path (PyTorch's
    default init does; the released GAN code's ``irange 0.05`` makes the label 24x weaker at init and G
    then ignores it, see ``cgan-mnist.yaml``).
    """

    Config = CGANConfig
    conditional = True
    pixel_range = "01"

    def __init__(self, config: CGANConfig, data_info: DataInfo) -> None:
        super().__init__(config, data_info)
        if data_info.num_classes < 2:
            raise ValueError("cgan needs a labelled dataset (data_info.num_classes >= 2)")
        self.generator = _CGANGenerator(config, data_info.num_classes, data_info.dims)
        init_linear_(self.generator, config.g_init, config.g_irange, "g_init")
        self.discriminator = _CGANDiscriminator(config, data_info.num_classes, data_info.dims)
        self._init_mlp_options(config)

    def _output_layer(self) -> nn.Linear:
        return self.generator.joint[-2]

    def _one_hot(self, labels: Tensor | None) -> Tensor:
        assert labels is not None
        return F.one_hot(labels.long(), self.data_info.num_classes).float()

    def generate(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        return self.generator(z, self._one_hot(labels)).view(len(z), *self.data_info.shape)

    def discriminate(self, x: Tensor, labels: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        return self.discriminator(x, self._one_hot(labels)), None
