"""The one interface every genzoo model implements.

The training engine, the sampler and the evaluator only ever talk to a model through the members
below, so they never ask which family they hold. A new model is one file in its
family's package (``genzoo/models/<family>/``) that subclasses :class:`GenerativeModel`, declares a
config dataclass beside it and registers itself with :func:`genzoo.registry.register_model`.

Contract
--------
Data
    Every batch is a :class:`genzoo.core.Batch`. ``batch["x"]`` holds images as float tensors of
    shape ``(N, C, H, W)`` (video: ``(N, T, C, H, W)``) with values in ``[0, 1]`` on the grid
    ``k / (levels - 1)``, ``k = 0..levels-1`` (``DataInfo.levels``: 2 for binary data, 256 for 8-bit
    images, 17 for the 8x8 digits). Every condition the dataset offers travels beside it under its
    spec's key (``batch["label"]`` int64 class labels, ``batch["text"]`` captions, ``batch["box"]``,
    ``batch["source"]`` images, ``batch["context"]`` frames; see :mod:`genzoo.core.conditions`).
    Models that prefer ``[-1, 1]`` (GANs) convert internally and convert back in :meth:`sample`.

Training (one or several players)
    :meth:`parameter_groups` names the parameter groups, each stepped by its own optimiser.
    :meth:`update_schedule` says, for a global step, which groups are updated and in what order
    (a GAN returns e.g. ``["discriminator", "generator"]``). For each group, the engine zeroes all
    gradients, calls ``training_step(batch, step, group)``, back-propagates ``out["loss"]`` and
    steps that group's optimiser. Every other entry of the returned dict is logged as a scalar
    (use detached tensors or floats). A model whose initialisation depends on the data (e.g. an output
    bias at the data's mean pixels) overrides :meth:`init_from_data`; the engine then calls it once,
    before any checkpoint is loaded, with the training split's mean image.

Sampling
    ``sample(n, condition=None, generator=None)`` returns ``n`` samples in the data range above.
    All randomness must come from ``generator`` when one is given, so a seed fixes the samples.
    A model declares the conditions it takes with :meth:`condition_keys`; ``condition`` maps each
    of them to its values and :meth:`check_condition` applies the one policy (a missing or
    unexpected condition is a :class:`genzoo.core.ConditionError`). Callers that want defaults ask
    :func:`genzoo.core.default_condition`, never the model.

Likelihood (optional)
    ``log_prob(x, condition=None)`` (exact models, :class:`genzoo.core.ExactLikelihood`) returns the
    log-probability in nats of each image, shape ``(N,)``,
    of the *discrete* data (2 or ``levels`` values per dimension), so ``-log_prob / (D ln 2)`` is
    bits/dim; a conditional model returns ``log p(x | condition)``. Latent-variable models instead
    define ``log_prob_bound(x, k, condition=None)`` (:class:`genzoo.core.LikelihoodBound`): the
    importance-weighted bound with ``k`` samples (``k = 1`` is the ELBO). A model that defines
    neither has no likelihood, and the evaluator says so rather than guessing.

Rebuilding
    ``type(model)(model.config, model.data_info)`` plus the weights rebuilds the model exactly;
    the config dataclass is its whole description.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from genzoo.core import Batch, DataInfo
from genzoo.core.conditions import ConditionSpec, check_condition
from genzoo.core.errors import ConditionError

__all__ = ["Batch", "DataInfo", "GenerativeModel"]

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
        return list(self._group_names)

    @functools.cached_property
    def _group_names(self) -> tuple[str, ...]:  # named once: listing the parameters every step costs
        return tuple(self.parameter_groups())

    def training_step(self, batch: Batch, step: int, group: str) -> dict[str, Tensor]:
        """Losses for updating ``group``; ``out["loss"]`` is minimised, the rest is logged."""
        raise NotImplementedError

    def init_from_data(self, pixel_mean: Tensor) -> None:
        """Data-dependent initialisation: the engine calls this once, right after building the model and
        before any checkpoint is loaded, with the training split's mean image (``data_info.shape``, values
        in [0, 1]), but only for models that override it. Default: nothing."""

    # ----- sampling -------------------------------------------------------------------------------
    def condition_keys(self) -> tuple[str, ...]:
        """The condition keys this model takes (``()``: unconditional). Override, e.g. from the config."""
        return ()

    def condition_specs(self) -> dict[str, ConditionSpec]:
        """The specs of :meth:`condition_keys`, taken from the data; a clear error if the data lacks one."""
        offered = self.data_info.condition_specs
        missing = [k for k in self.condition_keys() if k not in offered]
        if missing:
            have = ", ".join(offered) or "none"
            raise ConditionError(
                f"model {self.name!r} needs condition {', '.join(map(repr, missing))}, which the data does not "
                f"offer (it offers: {have})"
            )
        return {k: offered[k] for k in self.condition_keys()}

    @property
    def is_conditional(self) -> bool:
        """True when the model takes any condition."""
        return bool(self.condition_keys())

    def check_condition(self, n: int, condition: Any) -> dict[str, Any]:
        """The one condition policy (:func:`genzoo.core.conditions.check_condition`), values on this device."""
        values = check_condition(self.condition_specs(), n, condition, f"model {self.name!r}")
        return {k: v.to(self.device) if isinstance(v, Tensor) else v for k, v in values.items()}

    def batch_condition(self, batch: Batch) -> dict[str, Any]:
        """This model's conditions taken from a training batch, checked by the same policy."""
        given = {k: batch[k] for k in self.condition_keys() if k in batch}
        return self.check_condition(len(batch["x"]), given or None)

    def sample(
        self, n: int, condition: Any = None, generator: torch.Generator | None = None
    ) -> Tensor:
        """``n`` samples in [0, 1]; ``condition`` maps each of :meth:`condition_keys` to its values."""
        raise NotImplementedError

    # ----- likelihood (optional): see genzoo.core.capabilities ------------------------------------
    # def log_prob(self, x: Tensor, condition=None) -> Tensor: ...           (ExactLikelihood)
    # def log_prob_bound(self, x: Tensor, k: int, condition=None) -> Tensor: ... (LikelihoodBound)

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
