"""Optimisers and schedules as pure functions of the config and the step (so a resumed run follows them exactly)."""

from __future__ import annotations

import math
from typing import Any

import torch

from genzoo.config import TrainConfig


# ----- small pure helpers ---------------------------------------------------------------------------
def build_optimizer(params: list[torch.nn.Parameter], cfg: TrainConfig, group: str) -> torch.optim.Optimizer:
    o: dict[str, Any] = {
        "optimizer": cfg.optimizer, "lr": cfg.lr, "betas": cfg.betas, "momentum": cfg.momentum,
        "weight_decay": cfg.weight_decay, "eps": cfg.eps,
    }
    o.update(cfg.per_group.get(group, {}))
    name = o["optimizer"].lower()
    if name in ("adam", "adamw", "adamax"):
        cls = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "adamax": torch.optim.Adamax}[name]
        fused = name != "adamax" and _fusable(params)
        return cls(params, lr=o["lr"], betas=tuple(o["betas"]), eps=o["eps"], weight_decay=o["weight_decay"],
                   **({"fused": True} if fused else {}))
    if name == "sgd":
        return torch.optim.SGD(params, lr=o["lr"], momentum=o["momentum"], weight_decay=o["weight_decay"])
    if name == "rmsprop":
        return torch.optim.RMSprop(
            params, lr=o["lr"], momentum=o["momentum"], eps=o["eps"], weight_decay=o["weight_decay"]
        )
    raise ValueError(f"unknown optimizer {name!r}; known: adam, adamw, adamax, sgd, rmsprop")


def _fusable(params: list[torch.nn.Parameter]) -> bool:
    """Whether PyTorch's fused Adam kernel takes these parameters: dense floating-point tensors on one
    CPU or CUDA device. It is the same update as the per-tensor loop (equal to float rounding) in one
    pass over each tensor; the batch-20 VAE's whole training step is 1.59x faster per CPU-second with it
    and the engine's per-epoch bookkeeping (BENCHMARKS.md, "Engine overhead")."""
    devices = {p.device for p in params}
    return len(devices) == 1 and next(iter(devices)).type in ("cpu", "cuda") and all(
        p.dtype in (torch.float32, torch.float64, torch.float16, torch.bfloat16) and not p.is_sparse for p in params)


def lr_factor(cfg: TrainConfig, step: int, total_steps: int, steps_per_epoch: int) -> float:
    """Learning-rate multiplier at ``step``: linear warm-up, then the schedule. Stateless.

    ``exponential`` multiplies by ``lr_decay`` once per epoch, or after every update with
    ``lr_decay_per: step`` (pylearn2's ``ExponentialDecay``, which divides the rate by its
    ``decay_factor`` every minibatch: Goodfellow et al. 2014's code, Mirza & Osindero 2014 Sec. 4.1,
    Denton et al. 2015 Sec. 4; ``lr_decay = 1 / decay_factor``). ``staged`` holds the rate at
    ``lr_decay**i`` for stage ``i = 0, 1, 2, ...``, which lasts ``lr_stage_growth**i`` epochs: Burda et al.
    2016 (Sec. 5) trained their VAEs and IWAEs 3**i epochs at 1e-3 x 10**(-i/7) for i = 0..7 (3,280 epochs;
    ``lr_decay: 0.7197``, ``lr_stage_growth: 3``, ``epochs: 3280``). ``milestones`` multiplies the rate by
    ``lr_decay`` from each step in ``lr_milestones`` on: the iteration-keyed ``learn_rate_schedule`` of
    Li et al. 2015's released GMMN code (lr / 10 from update 10,000 of 40,000)."""
    if cfg.warmup_steps and step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    epoch = step // max(steps_per_epoch, 1)
    if cfg.lr_schedule == "constant":
        return 1.0
    if cfg.lr_schedule == "cosine":
        t = (step - cfg.warmup_steps) / max(total_steps - cfg.warmup_steps, 1)
        return 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))
    if cfg.lr_schedule == "exponential":
        return cfg.lr_decay ** (step if cfg.lr_decay_per == "step" else epoch)
    if cfg.lr_schedule == "step":
        return cfg.lr_decay ** (epoch // max(cfg.lr_step_epochs, 1))
    if cfg.lr_schedule == "staged":
        return cfg.lr_decay ** stage_of(epoch, cfg.lr_stage_growth)
    if cfg.lr_schedule == "milestones":
        return cfg.lr_decay ** sum(step >= m for m in cfg.lr_milestones)
    raise ValueError(
        f"unknown lr_schedule {cfg.lr_schedule!r}; known: constant, cosine, exponential, step, staged, milestones"
    )


def stage_of(epoch: int, growth: int) -> int:
    """The stage ``i`` that epoch ``epoch`` (from 0) falls in when stage ``i`` lasts ``growth**i`` epochs."""
    stage, end, length = 0, 1, 1
    while epoch >= end:
        stage, length = stage + 1, length * max(growth, 1)
        end += length
    return stage


def momentum_at(base: float, cfg: TrainConfig, step: int, steps_per_epoch: int) -> float:
    """Momentum at ``step``: ``base`` up to epoch ``start``, then linear in the epoch number to
    ``cfg.momentum_final`` at epoch ``saturate`` and constant after (``[start, saturate] =
    cfg.momentum_ramp_epochs``; epochs counted from 0). This is pylearn2's ``MomentumAdjustor``, with
    which Goodfellow et al. 2014 (released code: 0.5 -> 0.7 over epochs 1..250) and Mirza & Osindero
    2014 (Sec. 4.1: "initial value of .5 which was increased up to 0.7") trained. ``[e - 1, e]`` switches
    at the first step of epoch ``e`` (Li et al. 2015's GMMN code: 0.9 -> 0.99 at update 10,000). ``base``
    unchanged when ``momentum_final`` is None. Stateless, so a resumed run follows the same ramp."""
    if cfg.momentum_final is None:
        return base
    start, saturate = cfg.momentum_ramp_epochs
    epoch = step // max(steps_per_epoch, 1)
    alpha = min(max((epoch - start) / (saturate - start), 0.0), 1.0)
    return base + (cfg.momentum_final - base) * alpha


def check_momentum_ramp(cfg: TrainConfig, optimizers: dict[str, torch.optim.Optimizer]) -> None:
    """Clear errors for a ramp that makes no sense or that no optimiser can follow."""
    if cfg.momentum_final is None:
        return
    ramp = list(cfg.momentum_ramp_epochs)
    if len(ramp) != 2 or not 0 <= ramp[0] < ramp[1]:
        raise ValueError(
            f"train.momentum_ramp_epochs must be [start, saturate] with 0 <= start < saturate, got {ramp}"
        )
    if not 0.0 <= cfg.momentum_final < 1.0:
        raise ValueError(f"train.momentum_final must be in [0, 1), got {cfg.momentum_final}")
    if not any(has_momentum(opt) for opt in optimizers.values()):
        used = ", ".join(f"{group!r}: {type(opt).__name__}" for group, opt in optimizers.items())
        raise ValueError(f"train.momentum_final needs an optimizer with momentum (sgd, rmsprop); the groups use {used}")


def has_momentum(opt: torch.optim.Optimizer) -> bool:
    """Whether ``opt`` takes a ``momentum`` (SGD, RMSprop): the groups the momentum ramp applies to. A model
    may train one group with Adam and another with SGD (GMMN+AE: the auto-encoder and the code generator)."""
    return "momentum" in opt.param_groups[0]
