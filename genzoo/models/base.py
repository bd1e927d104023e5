"""The one interface every genzoo model implements.

The training engine, the sampler and the evaluator only ever talk to a model through the members
below, so they never ask which family they hold. A new model family is one file in
``genzoo/models/`` that subclasses :class:`GenerativeModel`, declares a config dataclass and
registers itself with :func:`genzoo.registry.register_model`.

Contract
--------
Data
    Every batch is a ``dict[str, Tensor]``. ``batch["x"]`` holds images as float tensors of
    shape ``(N, C, H, W)`` (video: ``(N, T, C, H, W)``) with values in ``[0, 1]`` on the grid
    ``k / (levels - 1)``, ``k = 0..levels-1`` (``DataInfo.levels``: 2 for binary data, 256 for 8-bit
    images, 17 for the 8x8 digits). ``batch["y"]`` (int64 class labels) is present when the
    dataset has labels. Other conditioning inputs use further keys (``"condition"``, ...).
    Models that prefer ``[-1, 1]`` (GANs) convert internally and convert back in :meth:`sample`.

Training (one or several players)
    :meth:`parameter_groups` names the parameter groups, each stepped by its own optimiser.
    :meth:`update_schedule` says, for a global step, which groups are updated and in what order
    (a GAN returns e.g. ``["discriminator", "generator"]``). For each group, the engine zeroes all
    gradients, calls ``training_step(batch, step, group)``, back-propagates ``out["loss"]`` and
    steps that group's optimiser. Every other entry of the returned dict is logged as a scalar
    (use detached tensors or floats).

Sampling
    ``sample(n, condition=None, generator=None)`` returns ``n`` samples in the data range above.
    All randomness must come from ``generator`` when one is given, so a seed fixes the samples.

Likelihood (optional)
    ``log_prob(x)`` (exact models) returns the log-probability in nats of each image, shape ``(N,)``,
    of the *discrete* data (2 or ``levels`` values per dimension), so ``-log_prob / (D ln 2)`` is
    bits/dim. Latent-variable models instead define ``log_prob_bound(x, k)``: the
    importance-weighted bound with ``k`` samples (``k = 1`` is the ELBO). A model that defines
    neither has no likelihood, and the evaluator says so rather than guessing.

Rebuilding
    ``type(model)(model.config, model.data_info)`` plus the weights rebuilds the model exactly;
    the config dataclass is its whole description.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

Batch = dict[str, Tensor]


@dataclass(frozen=True)
class DataInfo:
    """What a model needs to know about its data to build itself.

    ``shape`` is the per-example shape (``(C, H, W)`` or ``(T, C, H, W)`` for video), ``levels`` the
    number of discrete values per dimension (values are ``k / (levels - 1)``), ``num_classes`` the
    number of labels (0 when unlabelled).
    """

    shape: tuple[int, ...]
    levels: int
    num_classes: int = 0

    @property
    def dims(self) -> int:
        n = 1
        for s in self.shape:
            n *= s
        return n

    def to_dict(self) -> dict[str, Any]:
        return {"shape": list(self.shape), "levels": self.levels, "num_classes": self.num_classes}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DataInfo:
        return cls(tuple(int(s) for s in d["shape"]), int(d["levels"]), int(d.get("num_classes", 0)))


class GenerativeModel(nn.Module):
    """Base class of every genzoo model (see the module docstring for the contract)."""

    #: registry name, set by :func:`genzoo.registry.register_model`
    name: ClassVar[str] = ""
    #: the config dataclass of this model; its defaults are the paper's settings where they apply
    Config: ClassVar[type]

    def __init__(self, config: Any, data_info: DataInfo) -> None:
        super().__init__()
        self.config = config
        self.data_info = data_info

    # ----- training -----------------------------------------------------------------------------
    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """Parameter groups, each with its own optimiser. Default: one group named ``"model"``."""
        return {"model": [p for p in self.parameters() if p.requires_grad]}

    def update_schedule(self, step: int) -> list[str]:
        """Groups to update at global ``step``, in order. Default: every group once."""
        return list(self.parameter_groups())

    def training_step(self, batch: Batch, step: int, group: str) -> dict[str, Tensor]:
        """Losses for updating ``group``; ``out["loss"]`` is minimised, the rest is logged."""
        raise NotImplementedError

    # ----- sampling -------------------------------------------------------------------------------
    @property
    def is_conditional(self) -> bool:
        """True when :meth:`sample` takes class labels as ``condition`` (config field ``conditional``,
        or override in always-conditional models). Sample grids then show every class in turn."""
        return bool(getattr(self.config, "conditional", False))

    def sample(
        self, n: int, condition: Tensor | None = None, generator: torch.Generator | None = None
    ) -> Tensor:
        raise NotImplementedError

    # ----- likelihood (optional; see has_exact_likelihood / has_likelihood_bound) ----------------
    # def log_prob(self, x: Tensor) -> Tensor: ...
    # def log_prob_bound(self, x: Tensor, k: int) -> Tensor: ...

    @classmethod
    def has_exact_likelihood(cls) -> bool:
        return callable(getattr(cls, "log_prob", None))

    @classmethod
    def has_likelihood_bound(cls) -> bool:
        return callable(getattr(cls, "log_prob_bound", None))

    # ----- helpers -------------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        for p in self.parameters():
            return p.device
        for b in self.buffers():
            return b.device
        return torch.device("cpu")

    def config_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self.config)
