"""Latent-space interpolation and vector arithmetic for any model with a latent code.

The *latent interface* (optional, duck-typed; every genzoo GAN has it, and a VAE or flow can add it):

``latent_dim: int``
    size of the code ``z``.
``decode(z: Tensor, condition=None) -> Tensor``
    codes ``(N, latent_dim)`` (and, for conditional models, their conditions ``{"label": (N,)}``) to
    images ``(N, C, H, W)``
    in ``[0, 1]``; deterministic (it is called in eval mode under ``no_grad``).
``sample_latent(n: int, generator: torch.Generator | None = None) -> Tensor`` (optional)
    ``n`` draws of the prior; without it a standard normal prior is assumed. Models whose
    ``sample(n, generator=g)`` draws its codes with ``sample_latent(n, g)`` *first* (all genzoo GANs)
    make :func:`sample_latents` return exactly the codes behind a seeded sample grid, so a person can
    pick images from ``genzoo sample RUN --seed S`` by index and do arithmetic on their codes.

Interpolation (Radford et al. 2016, Sec. 6.1 "walking in the latent space") uses spherical linear
interpolation by default (White 2016, "Sampling generative networks": in high dimension linear
interpolants between prior draws have atypically small norm); ``mode="linear"`` is the straight line.
Vector arithmetic (Radford et al. 2016, Sec. 6.3.2) averages the codes of each group of exemplars,
combines the averages with an expression like ``"a - b + c"`` and decodes the result, optionally with
extra variations made by adding uniform noise of scale ``noise`` (0.25 in the paper) to the result.
Everything here is deterministic given its inputs and ``seed``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor

from genzoo.core.conditions import check_condition, default_condition

MODES = ("slerp", "linear")


def has_latent(model: Any) -> bool:
    """Whether ``model`` implements the latent interface (``latent_dim`` and ``decode``)."""
    return isinstance(getattr(model, "latent_dim", None), int) and callable(getattr(model, "decode", None))


def _check(model: Any) -> int:
    if not has_latent(model):
        name = getattr(model, "name", type(model).__name__)
        raise TypeError(
            f"model {name!r} has no latent interface (needs `latent_dim` and `decode(z, condition)`)"
        )
    return int(model.latent_dim)


def _device(model: Any) -> torch.device:
    dev = getattr(model, "device", None)
    return dev if isinstance(dev, torch.device) else torch.device("cpu")


@contextmanager
def _eval_mode(model: Any) -> Iterator[None]:
    was_training = bool(getattr(model, "training", False))
    if hasattr(model, "eval"):
        model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        if was_training and hasattr(model, "train"):
            model.train()


def _conditional(model: Any) -> bool:
    return bool(getattr(model, "is_conditional", False))


def conditions_for(model: Any, n: int, condition: Any = None) -> dict[str, Any] | None:
    """``n`` samples' conditions: a single value (e.g. one label) or a mapping is broadcast and checked;
    ``None`` for a conditional model is the first entry of each spec's default grid (class 0), so a
    picture of one walk or one sum shows a single condition."""
    specs = model.condition_specs() if hasattr(model, "condition_specs") else {}
    if not specs:
        return condition
    if condition is None:
        first = default_condition(specs, 1)
        assert first is not None
        condition = first
    if not isinstance(condition, Mapping):
        condition = {next(iter(specs)): condition}
    out = {}
    for key, value in condition.items():
        v = torch.as_tensor(value) if not isinstance(value, (list, str)) else value
        if isinstance(v, Tensor) and key in specs and specs[key].kind == "label":
            v = v.long().reshape(-1)
        out[key] = v
    return check_condition(specs, n, out, f"model {getattr(model, 'name', '?')!r}")


def decode(model: Any, z: Tensor, condition: Any = None) -> Tensor:
    """``model.decode`` in eval mode without gradients; a single label (or condition) is broadcast over
    the batch, and a conditional model given none decodes at its default's first entry (class 0), so
    the result stays deterministic.
    """
    _check(model)
    condition = conditions_for(model, len(z), condition)
    with _eval_mode(model):
        return model.decode(z.to(_device(model)), condition)


def sample_latents(model: Any, n: int, seed: int = 0) -> Tensor:
    """``n`` codes from the model's prior, deterministic per ``seed``.

    Drawn with ``torch.Generator(model.device).manual_seed(seed)``: for genzoo GANs these are the codes
    behind ``model.sample(n, generator=torch.Generator(model.device).manual_seed(seed))``.
    """
    dim = _check(model)
    g = torch.Generator(device=_device(model)).manual_seed(int(seed))
    prior = getattr(model, "sample_latent", None)
    if callable(prior):
        return prior(n, g)
    return torch.randn(n, dim, generator=g, device=_device(model))


def lerp(z0: Tensor, z1: Tensor, t: Tensor) -> Tensor:
    """``(1 - t) z0 + t z1`` for each ``t``: ``z0, z1 (..., D)``, ``t (T,)`` -> ``(..., T, D)``."""
    t = t.to(z0).reshape(-1, 1)
    return (1 - t) * z0.unsqueeze(-2) + t * z1.unsqueeze(-2)


def slerp(z0: Tensor, z1: Tensor, t: Tensor, eps: float = 1e-7) -> Tensor:
    """Spherical interpolation ``sin((1-t) w)/sin(w) z0 + sin(t w)/sin(w) z1``, ``w`` the angle.

    Falls back to :func:`lerp` where the codes are (nearly) parallel. Shapes as in :func:`lerp`.
    """
    t = t.to(z0).reshape(-1, 1)
    a, b = z0.unsqueeze(-2), z1.unsqueeze(-2)
    cos = (a * b).sum(-1, keepdim=True) / (
        a.norm(dim=-1, keepdim=True) * b.norm(dim=-1, keepdim=True)
    ).clamp_min(eps)
    omega = torch.arccos(cos.clamp(-1.0, 1.0))
    so = torch.sin(omega)
    spherical = (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / so.clamp_min(eps)
    return torch.where(so.abs() < 1e-4, (1 - t) * a + t * b, spherical)


def interpolate(
    model: Any,
    z0: Tensor,
    z1: Tensor,
    steps: int = 8,
    mode: str = "slerp",
    condition: Any = None,
) -> Tensor:
    """Decode ``steps`` codes evenly spaced from ``z0`` to ``z1`` (both ends included).

    ``z0, z1``: ``(D,)`` -> images ``(steps, C, H, W)``; ``(B, D)`` -> ``(B * steps, C, H, W)``, row
    ``b`` of a ``steps``-wide grid walking from ``z0[b]`` to ``z1[b]``. ``condition``: a label (or
    ``(B,)`` labels, one per row) for conditional models.
    """
    dim = _check(model)
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if steps < 2:
        raise ValueError(f"steps must be >= 2, got {steps}")
    if z0.shape != z1.shape or z0.shape[-1] != dim or z0.dim() not in (1, 2):
        raise ValueError(
            f"z0 and z1 must both be (latent_dim={dim},) or (B, {dim}); got {tuple(z0.shape)}, "
            f"{tuple(z1.shape)}"
        )
    a, b = z0.reshape(-1, dim).float(), z1.reshape(-1, dim).float()
    t = torch.linspace(0.0, 1.0, steps)
    path = (slerp if mode == "slerp" else lerp)(a, b, t).reshape(-1, dim)  # (B * steps, D)
    if condition is not None and not isinstance(condition, Mapping):
        condition = torch.as_tensor(condition).long().reshape(-1)
        condition = condition.repeat_interleave(steps) if condition.numel() == len(a) > 1 else condition
    return decode(model, path, condition)


def interpolation_grid(
    model: Any,
    pairs: int = 8,
    steps: int = 8,
    seed: int = 0,
    mode: str = "slerp",
    condition: Any = None,
) -> Tensor:
    """``pairs`` rows of ``steps`` images between random prior codes (``2 * pairs`` codes from ``seed``).

    Returns ``(pairs * steps, C, H, W)`` in [0, 1], a grid of ``steps`` columns; a conditional model
    given no ``condition`` walks at class ``row % num_classes`` in each row. This is what
    ``genzoo interpolate RUN --pairs P --steps S --seed N --mode slerp [--label C]`` saves.
    """
    z = sample_latents(model, 2 * pairs, seed)
    if condition is None and _conditional(model):
        k = max(int(getattr(getattr(model, "data_info", None), "num_classes", 1)), 1)
        condition = torch.arange(pairs) % k  # one class per row
    return interpolate(model, z[:pairs], z[pairs:], steps, mode, condition)


_TERM = re.compile(r"\s*([+-])?\s*(?:(\d+(?:\.\d*)?|\.\d+)\s*\*?\s*)?([A-Za-z_][A-Za-z_0-9]*)\s*")


def parse_expression(expression: str) -> list[tuple[float, str]]:
    """``"a - b + c"`` -> ``[(1, "a"), (-1, "b"), (1, "c")]``; coefficients as in ``"0.5*a + 2 b"``."""
    terms: list[tuple[float, str]] = []
    pos, text = 0, expression.strip()
    if not text:
        raise ValueError("empty expression")
    while pos < len(text):
        m = _TERM.match(text, pos)
        if m is None or m.end() == pos or (terms and m.group(1) is None):
            raise ValueError(f"cannot parse expression {expression!r} at {text[pos:]!r}")
        sign = -1.0 if m.group(1) == "-" else 1.0
        coef = float(m.group(2)) if m.group(2) else 1.0
        terms.append((sign * coef, m.group(3)))
        pos = m.end()
    return terms


def combine(groups: Mapping[str, Tensor], expression: str) -> Tensor:
    """The expression over the groups' mean codes: each ``groups[name]`` is ``(N_i, D)`` or ``(D,)``."""
    terms = parse_expression(expression)
    missing = sorted({name for _, name in terms} - set(groups))
    if missing:
        raise KeyError(
            f"expression uses group(s) {', '.join(missing)} not given; groups: {', '.join(groups)}"
        )
    total: Tensor | None = None
    for coef, name in terms:
        codes = torch.as_tensor(groups[name]).float()
        mean = codes.reshape(-1, codes.shape[-1]).mean(0)
        total = coef * mean if total is None else total + coef * mean
    assert total is not None
    return total


def vector_arithmetic(
    model: Any,
    groups: Mapping[str, Tensor],
    expression: str,
    variations: int = 0,
    noise: float = 0.25,
    seed: int = 0,
    condition: Any = None,
) -> Tensor:
    """Decode ``expression`` evaluated on the mean code of each group (Radford et al. 2016, Sec. 6.3.2).

    Returns ``(1 + variations, C, H, W)``: first the decoded result vector itself, then ``variations``
    decodings of the result plus uniform noise in ``[-noise, noise]`` (drawn from ``seed``).
    """
    dim = _check(model)
    z = combine(groups, expression)
    if z.shape != (dim,):
        raise ValueError(f"group codes must have latent_dim={dim} entries, got {tuple(z.shape)}")
    z = z.to(_device(model)).unsqueeze(0)
    if variations > 0:
        g = torch.Generator().manual_seed(int(seed))
        jitter = (torch.rand(variations, dim, generator=g) * 2 - 1) * noise
        z = torch.cat([z, z + jitter.to(z)], 0)
    return decode(model, z, condition)


def codes_from_indices(model: Any, indices: Sequence[int], seed: int = 0) -> Tensor:
    """Codes of the images at ``indices`` of the sample grid drawn with ``seed`` (see module doc)."""
    idx = [int(i) for i in indices]
    if not idx or min(idx) < 0:
        raise ValueError(f"indices must be non-negative and non-empty, got {idx}")
    return sample_latents(model, max(idx) + 1, seed)[idx]


def arithmetic_from_samples(
    model: Any,
    groups: Mapping[str, Sequence[int]],
    expression: str,
    seed: int = 0,
    variations: int = 8,
    noise: float = 0.25,
    condition: Any = None,
) -> Tensor:
    """Vector arithmetic on images picked by index from the seeded sample grid.

    ``groups`` maps a name to sample indices (e.g. ``{"a": [3, 17, 42], "b": [5], "c": [8, 9]}``).
    Returns ``(G + 1 + variations, C, H, W)``: the decoded mean code of each of the ``G`` groups in
    the order they appear in ``expression``, then the result, then its noisy variations. This is what
    ``genzoo arithmetic RUN --expr "a - b + c" --group a=3,17,42 --group b=5 --group c=8,9 --seed N``
    saves.
    """
    codes = {name: codes_from_indices(model, idx, seed) for name, idx in groups.items()}
    names: list[str] = []
    for _, name in parse_expression(expression):
        if name not in names:
            names.append(name)
    missing = sorted(set(names) - set(codes))
    if missing:
        raise KeyError(f"expression uses group(s) {', '.join(missing)} not given")
    means = torch.stack([codes[n].mean(0) for n in names])
    parts = decode(model, means, condition)
    result = vector_arithmetic(model, codes, expression, variations, noise, seed, condition)
    return torch.cat([parts, result], 0)
