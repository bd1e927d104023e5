"""What a model can do beyond sampling, as protocols checked with ``isinstance`` (never ``getattr`` probing).

The evaluator reports "not defined" for a capability a model lacks. ``condition`` is the model's
conditions by key (``None`` for an unconditional model), as in ``sample``.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from torch import Tensor


@runtime_checkable
class ExactLikelihood(Protocol):
    """``log_prob(x, condition)``: the exact log-probability in nats of each (discrete) image, ``(N,)``.
    A conditional model returns the conditional likelihood ``log p(x | condition)``."""

    def log_prob(self, x: Tensor, condition: Any = None) -> Tensor: ...


@runtime_checkable
class LikelihoodBound(Protocol):
    """``log_prob_bound(x, k, condition)``: the importance-weighted lower bound with ``k`` samples
    (Burda et al. 2016; ``k = 1`` is the ELBO), nats per image ``(N,)``."""

    def log_prob_bound(self, x: Tensor, k: int, condition: Any = None) -> Tensor: ...


@runtime_checkable
class HasLatent(Protocol):
    """A latent code: ``latent_dim`` and ``decode(z, condition)`` -> images in [0, 1] (interpolation and
    vector arithmetic, :mod:`genzoo.latent`). ``sample_latent(n, generator)`` is optional."""

    latent_dim: int

    def decode(self, z: Tensor, condition: Any = None) -> Tensor: ...


@runtime_checkable
class Reconstructs(Protocol):
    """``reconstruct(x)``: images in [0, 1] through the model's code (autoencoders)."""

    def reconstruct(self, x: Tensor) -> Tensor: ...


@runtime_checkable
class CanvasSequence(Protocol):
    """``canvas_sequence(n, condition, generator)``: how each sample comes about, ``(n, F, C, H, W)`` frames
    in [0, 1] with the finished image last: DRAW's canvases over its T steps (Gregor et al. 2015, Fig. 7),
    a guided sampler's images along its chain (Nguyen et al. 2016a). Same generator state, same frames."""

    def canvas_sequence(self, n: int, condition: Any = None, generator: Any = None) -> Tensor: ...


@runtime_checkable
class PluggableCondition(Protocol):
    """Sampling steered by a swappable condition network (the "plug and play" of Nguyen et al. 2016a):
    ``use_condition_network(net)`` plugs in a classifier (a module, or a reference classifier's name or
    file) and ``configure_sampler(**options)`` changes the sampler's settings (chain length, step sizes)."""

    def use_condition_network(self, net: Any) -> None: ...

    def configure_sampler(self, **options: Any) -> None: ...


@runtime_checkable
class FrameScores(Protocol):
    """A video model's score of each predicted frame given the frames before it (and its context):
    ``frame_nll(x, condition)`` in nats, ``(N, T)`` for videos ``x`` ``(N, T, C, H, W)``;
    ``frame_nll_floor(x)`` the least value that score can take on ``x``, ``(N, T)`` (0 for an exact
    NLL of discrete frames; the targets' binary entropy for a cross-entropy against grey levels, the
    Video Pixel Network's Moving MNIST score, Kalchbrenner et al. 2016, Sec. 5.1); ``frame_score`` says
    which of the two the number is."""

    frame_score: str

    def frame_nll(self, x: Tensor, condition: Any = None) -> Tensor: ...

    def frame_nll_floor(self, x: Tensor) -> Tensor: ...


def has_likelihood(model: Any) -> bool:
    return isinstance(model, (ExactLikelihood, LikelihoodBound))
