"""Generative moment matching networks: GMMN and GMMN+AE.

Li, Swersky & Zemel 2015, "Generative Moment Matching Networks" (ICML); the same idea appears in
Dziugaite, Roy & Ghahramani 2015, "Training generative neural networks via Maximum Mean Discrepancy
optimization" (UAI).

A GMMN is a deterministic MLP ``x = f(z)`` of uniform noise ``z ~ U[-1, 1]^noise_dim`` trained to
minimise the maximum mean discrepancy between a batch of its samples ``{f(z_j)}`` and a batch of data
``{x_i}`` (Li et al. Sec. 2.1, Eq. 1-2: the squared MMD and its kernel-trick expansion; kernels and estimators
in :mod:`genzoo.nn.kernels`):

    L_MMD² = 1/N² sum_{i,i'} k(x_i, x_i') - 2/(NM) sum_{i,j} k(x_i, y_j) + 1/M² sum_{j,j'} k(y_j, y_j')

with ``k`` a sum of Gaussian kernels over several bandwidths (Sec. 3.1 and 4: MNIST uses
``sigma = 2, 5, 10, 20, 40, 80``). The authors' released code (yujiali/gmmn) reads each ``sigma``
as a *variance*, ``k(x, y) = exp(-||x - y||² / (2 sigma))``; ``kernel_scale="variance"`` (default)
follows it, ``kernel_scale="std"`` reads ``sigma`` as a standard deviation,
``exp(-||x - y||² / (2 sigma²))`` (what genzoo did before; with the MNIST numbers its three widest
kernels are nearly constant on MNIST). See :mod:`genzoo.nn.kernels`.

The paper reports that optimising the square root of the MMD works better, and the authors' code
does so: ``loss="sqrt"`` minimises ``sqrt(L_MMD²)``; ``loss="mmd2"`` minimises ``L_MMD²`` itself.
``unbiased=True`` swaps in the U-statistic (Gretton et al. 2012, Eq. 3).

MNIST network (Li et al. Sec. 4 and the released code): ``10 -> 64 -> 256 -> 256 -> 1024 -> 784``,
ReLU hidden units, sigmoid output; minibatches of 1000 data and 1000 samples.

GMMN+AE (Li et al. Sec. 3.2, Fig. 1b): an auto-encoder is trained first (MNIST: ``784 -> 1024 -> 32``
sigmoid encoder with dropout 0.2 on the input and 0.5 on the hidden layer, mirrored sigmoid decoder,
binary cross-entropy), then frozen; a GMMN learns to generate *codes*, matched by MMD to the codes of
the data (Gaussian kernel with ``sigma = 1``), and samples are the decoded codes. In genzoo the two
stages are one model with parameter groups ``"autoencoder"`` and ``"generator"``:
:meth:`GMMNAE.update_schedule` returns ``["autoencoder"]`` for the first ``ae_steps`` global steps and
``["generator"]`` afterwards, so the engine needs no special case (set ``train.steps`` larger than
``ae_steps``). Paper deviation: the authors pre-train the auto-encoder layer-wise before fine-tuning it;
here it is trained end to end.

Neither model has a tractable likelihood; the paper reports Parzen-window estimates (GMMN 147 ± 2,
GMMN+AE 282 ± 2 nats on the MNIST test set).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genzoo.core import Batch, DataInfo
from genzoo.core.ranges import AT_LEAST_1, NON_NEGATIVE, POSITIVE, PROBABILITY, ranged
from genzoo.models.base import GenerativeModel
from genzoo.nn.kernels import KernelScale, check_kernel_scale, gaussian_kernel, mmd2
from genzoo.registry import register_model


def _mlp_generator(noise_dim: int, hidden: list[int], out_dim: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    prev = noise_dim
    for h in hidden:
        layers += [nn.Linear(prev, h), nn.ReLU()]
        prev = h
    layers += [nn.Linear(prev, out_dim), nn.Sigmoid()]
    return nn.Sequential(*layers)


def _uniform(shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device) -> Tensor:
    src = generator.device if generator is not None else device
    return (torch.rand(shape, generator=generator, device=src) * 2 - 1).to(device)


def mmd_loss(
    samples: Tensor, data: Tensor, sigmas: list[float], loss: str = "sqrt", unbiased: bool = False,
    kernel_scale: KernelScale = "variance", compiled: bool = False,
) -> tuple[Tensor, Tensor]:
    """``(objective, MMD²)`` between two batches with the multi-bandwidth Gaussian kernel (Li et al. Eq. 2).

    ``loss="sqrt"`` returns ``sqrt(max(MMD², 0) + 1e-12)`` as the objective, ``"mmd2"`` the MMD² itself.
    ``kernel_scale``: ``"variance"`` (the authors' code) or ``"std"``, see :mod:`genzoo.nn.kernels`;
    ``compiled``: the kernels summed in one ``torch.compile``-fused pass (:func:`gaussian_kernel`).
    """
    kernel = functools.partial(gaussian_kernel, sigmas=sigmas, scale=kernel_scale, compiled=compiled)
    m2 = mmd2(samples.flatten(1), data.flatten(1), kernel, unbiased=unbiased)
    if loss == "sqrt":
        return torch.sqrt(m2.clamp_min(0.0) + 1e-12), m2
    if loss == "mmd2":
        return m2, m2
    raise ValueError(f"loss must be 'sqrt' or 'mmd2', got {loss!r}")


@dataclass
class GMMNConfig:
    noise_dim: int = ranged(10, AT_LEAST_1)
    hidden: list[int] = ranged([64, 256, 256, 1024], AT_LEAST_1)
    sigmas: list[float] = ranged([2.0, 5.0, 10.0, 20.0, 40.0, 80.0], POSITIVE)
    loss: Literal["sqrt", "mmd2"] = "sqrt"  # "sqrt" (paper) | "mmd2"
    unbiased: bool = False  # the paper's estimator is the biased one (Eq. 2)
    #: how ``sigmas`` are read: "variance" exp(-d²/(2σ)) as the authors' code, or "std" exp(-d²/(2σ²))
    kernel_scale: KernelScale = "variance"
    #: sum the kernels in one torch.compile-fused pass (gaussian_kernel(compiled=True)): 1.3-1.4x faster steps on a
    #: CPU core, a few seconds of compiling first; the same values to float rounding
    compile_kernel: bool = False


class _MomentMatching:
    """What GMMN and GMMN+AE share: a generator of uniform noise whose outputs are matched by MMD to
    ``matched_features(x)`` of the data (pixels; codes). ``benchmarks/mmd_floor.py`` reads these three."""

    config: GMMNConfig | GMMNAEConfig
    generator: nn.Sequential
    device: torch.device

    def matched_features(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def generate_features(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` generator outputs in the space of :meth:`matched_features` (differentiable)."""
        return self.generator(_uniform((n, self.config.noise_dim), generator, self.device))

    def matching_loss(self, samples: Tensor, data: Tensor) -> tuple[Tensor, Tensor]:
        """``(objective, MMD²)`` with the model's kernels, estimator and loss (:func:`mmd_loss`)."""
        c = self.config
        return mmd_loss(samples, data, list(c.sigmas), c.loss, c.unbiased, c.kernel_scale, c.compile_kernel)


@register_model("gmmn")
class GMMN(_MomentMatching, GenerativeModel):
    """GMMN (Li, Swersky & Zemel 2015): an MLP of uniform noise trained by minimising MMD (Eq. 2)."""

    Config = GMMNConfig

    def __init__(self, config: GMMNConfig, data_info: DataInfo) -> None:
        super().__init__(config, data_info)
        if config.loss not in ("sqrt", "mmd2"):
            raise ValueError(f"loss must be 'sqrt' or 'mmd2', got {config.loss!r}")
        check_kernel_scale(config.kernel_scale, "model.kernel_scale")
        self.generator = _mlp_generator(config.noise_dim, list(config.hidden), data_info.dims)

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        return {"generator": list(self.generator.parameters())}

    def training_step(self, batch: Batch, step: int, group: str) -> dict[str, Tensor]:
        x = batch["x"]
        loss, m2 = self.matching_loss(self.generate_features(x.shape[0]), self.matched_features(x))
        return {"loss": loss, "mmd2": m2.detach()}

    def matched_features(self, x: Tensor) -> Tensor:
        """Data as the MMD sees it: flat pixels."""
        return x.flatten(1)

    @torch.no_grad()
    def sample(
        self, n: int, condition: object = None, generator: torch.Generator | None = None
    ) -> Tensor:
        self.check_condition(n, condition)
        return self.generate_features(n, generator).view(n, *self.data_info.shape)


@dataclass
class GMMNAEConfig:
    ae_hidden: int = ranged(1024, AT_LEAST_1)
    code_dim: int = ranged(32, AT_LEAST_1)
    ae_dropout: list[float] = ranged([0.2, 0.5], PROBABILITY)  # input, hidden of the encoder
    ae_steps: int = ranged(3000, NON_NEGATIVE)  # global steps spent on the auto-encoder before the GMMN stage
    noise_dim: int = ranged(10, AT_LEAST_1)
    hidden: list[int] = ranged([64, 256, 256, 1024], AT_LEAST_1)
    sigmas: list[float] = ranged([1.0], POSITIVE)  # kernel bandwidths in code space
    loss: Literal["sqrt", "mmd2"] = "sqrt"
    unbiased: bool = False
    #: how ``sigmas`` are read, as in :class:`GMMNConfig` (the code-space sigma = 1 is the same either way)
    kernel_scale: KernelScale = "variance"
    #: sum the kernels in one torch.compile-fused pass (gaussian_kernel(compiled=True)): 1.3-1.4x faster steps on a
    #: CPU core, a few seconds of compiling first; the same values to float rounding
    compile_kernel: bool = False


@register_model("gmmn-ae")
class GMMNAE(_MomentMatching, GenerativeModel):
    """GMMN+AE (Li, Swersky & Zemel 2015, Sec. 3.2): a GMMN in the code space of a frozen auto-encoder."""

    Config = GMMNAEConfig

    def __init__(self, config: GMMNAEConfig, data_info: DataInfo) -> None:
        super().__init__(config, data_info)
        if config.loss not in ("sqrt", "mmd2"):
            raise ValueError(f"loss must be 'sqrt' or 'mmd2', got {config.loss!r}")
        check_kernel_scale(config.kernel_scale, "model.kernel_scale")
        if len(config.ae_dropout) != 2:
            raise ValueError("ae_dropout needs two rates: encoder input and encoder hidden layer")
        d = data_info.dims
        self.enc_hidden = nn.Linear(d, config.ae_hidden)
        self.enc_code = nn.Linear(config.ae_hidden, config.code_dim)
        self.decoder = nn.Sequential(
            nn.Linear(config.code_dim, config.ae_hidden), nn.Sigmoid(), nn.Linear(config.ae_hidden, d)
        )  # logits; the decoder output is sigmoid(logits)
        self.generator = _mlp_generator(config.noise_dim, list(config.hidden), config.code_dim)

    # ----- the auto-encoder ----------------------------------------------------------------------
    def encode(self, x: Tensor, dropout: bool = False) -> Tensor:
        """Sigmoid codes of ``x``; ``dropout=True`` applies the training-time dropout."""
        p_in, p_hid = self.config.ae_dropout
        h = F.dropout(x.flatten(1), p_in, training=dropout)
        h = torch.sigmoid(self.enc_hidden(h))
        h = F.dropout(h, p_hid, training=dropout)
        return torch.sigmoid(self.enc_code(h))

    def decode(self, code: Tensor) -> Tensor:
        """Images in [0, 1] from codes."""
        return torch.sigmoid(self.decoder(code)).view(-1, *self.data_info.shape)

    # ----- training -----------------------------------------------------------------------------
    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        ae = [*self.enc_hidden.parameters(), *self.enc_code.parameters(), *self.decoder.parameters()]
        return {"autoencoder": ae, "generator": list(self.generator.parameters())}

    def update_schedule(self, step: int) -> list[str]:
        """Stage 1 (``step < ae_steps``): the auto-encoder; stage 2: the code-space GMMN."""
        return ["autoencoder"] if step < self.config.ae_steps else ["generator"]

    def training_step(self, batch: Batch, step: int, group: str) -> dict[str, Tensor]:
        x = batch["x"]
        if group == "autoencoder":
            code = self.encode(x, dropout=self.training)
            logits = self.decoder(code)
            bce = F.binary_cross_entropy_with_logits(logits, x.flatten(1), reduction="sum") / x.shape[0]
            return {"loss": bce, "ae_bce": bce.detach()}
        if group != "generator":
            raise KeyError(f"unknown parameter group {group!r}")
        loss, m2 = self.matching_loss(self.generate_features(x.shape[0]), self.matched_features(x))
        return {"loss": loss, "mmd2_code": m2.detach()}

    # ----- the space the MMD is taken in: the frozen auto-encoder's codes --------------------------
    @torch.no_grad()
    def matched_features(self, x: Tensor) -> Tensor:
        """Data as the MMD sees it: the codes of the (frozen, dropout-free) encoder."""
        return self.encode(x, dropout=False)

    # ----- sampling -------------------------------------------------------------------------------
    @torch.no_grad()
    def sample_codes(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        return self.generate_features(n, generator)

    @torch.no_grad()
    def sample(
        self, n: int, condition: object = None, generator: torch.Generator | None = None
    ) -> Tensor:
        self.check_condition(n, condition)
        return self.decode(self.sample_codes(n, generator))

    @torch.no_grad()
    def reconstruct(self, x: Tensor) -> Tensor:
        """Auto-encoder reconstruction (no dropout), for checking stage 1."""
        return self.decode(self.encode(x, dropout=False))
