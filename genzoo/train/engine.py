"""The one training loop every genzoo model goes through.

Per global step the engine takes one batch and, for each parameter group the model schedules
(:meth:`GenerativeModel.update_schedule`), zeroes all gradients, calls
``training_step(batch, step, group)``, back-propagates ``loss``, averages gradients across processes,
clips them and steps that group's optimiser. Everything a step depends on is a function of the step
number (which examples form the batch, the dynamic binarization, the learning rate and momentum) or
is saved in the checkpoint (weights, optimiser moments, the RNG state), so a run resumed from a
checkpoint continues exactly as if it had never stopped.

Data parallelism (``torchrun --nproc-per-node P genzoo train ...``): ``train.batch_size`` is the
*global* batch; every process draws the same global batch and keeps its own contiguous shard of
``batch_size / P`` examples, and gradients are averaged over processes before clipping. For a model
whose loss is a mean over the batch this is the single-process step up to floating-point summation
order; noise drawn inside the model (reparameterisation, dropout) differs per process, and batch norm
uses per-process statistics (buffers are broadcast from rank 0 each step, as DDP does).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import statistics
import sys
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor

from genzoo import defaults
from genzoo.config import RunConfig, TrainConfig, load_run_config, model_config, save_yaml
from genzoo.core import Batch, DataInfo, default_condition
from genzoo.core.errors import TrainingDiverged
from genzoo.data import ImageData, load_dataset
from genzoo.defaults import resolve_device
from genzoo.images import save_sheet
from genzoo.models.base import GenerativeModel
from genzoo.registry import MODELS
from genzoo.train import checkpoint as ckpt


@dataclass
class Run:
    """The result of :func:`train`: the trained model and where its files are."""

    model: GenerativeModel
    run_dir: Path
    config: RunConfig
    step: int


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
        return cls(params, lr=o["lr"], betas=tuple(o["betas"]), eps=o["eps"], weight_decay=o["weight_decay"])
    if name == "sgd":
        return torch.optim.SGD(params, lr=o["lr"], momentum=o["momentum"], weight_decay=o["weight_decay"])
    if name == "rmsprop":
        return torch.optim.RMSprop(
            params, lr=o["lr"], momentum=o["momentum"], eps=o["eps"], weight_decay=o["weight_decay"]
        )
    raise ValueError(f"unknown optimizer {name!r}; known: adam, adamw, adamax, sgd, rmsprop")


def lr_factor(cfg: TrainConfig, step: int, total_steps: int, steps_per_epoch: int) -> float:
    """Learning-rate multiplier at ``step``: linear warm-up, then the schedule. Stateless."""
    if cfg.warmup_steps and step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    epoch = step // max(steps_per_epoch, 1)
    if cfg.lr_schedule == "constant":
        return 1.0
    if cfg.lr_schedule == "cosine":
        t = (step - cfg.warmup_steps) / max(total_steps - cfg.warmup_steps, 1)
        return 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))
    if cfg.lr_schedule == "exponential":
        return cfg.lr_decay**epoch
    if cfg.lr_schedule == "step":
        return cfg.lr_decay ** (epoch // max(cfg.lr_step_epochs, 1))
    raise ValueError(f"unknown lr_schedule {cfg.lr_schedule!r}; known: constant, cosine, exponential, step")


def momentum_at(base: float, cfg: TrainConfig, step: int, steps_per_epoch: int) -> float:
    """Momentum at ``step``: ``base`` up to epoch ``start``, then linear in the epoch number to
    ``cfg.momentum_final`` at epoch ``saturate`` and constant after (``[start, saturate] =
    cfg.momentum_ramp_epochs``; epochs counted from 0). This is pylearn2's ``MomentumAdjustor``, with
    which Goodfellow et al. 2014 (released code: 0.5 -> 0.7 over epochs 1..250) and Mirza & Osindero
    2014 (Sec. 4.1: "initial value of .5 which was increased up to 0.7") trained. ``base`` unchanged
    when ``momentum_final`` is None. Stateless, so a resumed run follows the same ramp."""
    if cfg.momentum_final is None:
        return base
    start, saturate = cfg.momentum_ramp_epochs
    epoch = step // max(steps_per_epoch, 1)
    alpha = min(max((epoch - start) / (saturate - start), 0.0), 1.0)
    return base + (cfg.momentum_final - base) * alpha


def check_momentum_ramp(cfg: TrainConfig, optimizers: dict[str, torch.optim.Optimizer]) -> None:
    """Clear errors for a ramp the optimisers cannot follow or that makes no sense."""
    if cfg.momentum_final is None:
        return
    ramp = list(cfg.momentum_ramp_epochs)
    if len(ramp) != 2 or not 0 <= ramp[0] < ramp[1]:
        raise ValueError(
            f"train.momentum_ramp_epochs must be [start, saturate] with 0 <= start < saturate, got {ramp}"
        )
    if not 0.0 <= cfg.momentum_final < 1.0:
        raise ValueError(f"train.momentum_final must be in [0, 1), got {cfg.momentum_final}")
    for group, opt in optimizers.items():
        if "momentum" not in opt.param_groups[0]:
            raise ValueError(
                f"train.momentum_final needs an optimizer with momentum (sgd, rmsprop); "
                f"the {group!r} group uses {type(opt).__name__}"
            )


def step_generator(seed: int, step: int) -> torch.Generator:
    return torch.Generator().manual_seed((seed * 1_000_003 + step * 7919 + 17) % (2**63))


def epoch_order(n: int, seed: int, epoch: int) -> Tensor:
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))


def default_run_dir(model: str, data: str) -> Path:
    return Path("runs") / f"{model}-{data}-{time.strftime('%Y%m%d-%H%M%S')}"


def build_model(cfg: RunConfig, info: Any) -> GenerativeModel:
    cls = MODELS.get(cfg.model["name"])
    return cls(model_config(cls, cfg.model), info)


# ----- distributed ------------------------------------------------------------------------------------
def _init_distributed(device: torch.device) -> tuple[int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return dist.get_rank(), dist.get_world_size()


def _average_gradients(params: list[torch.nn.Parameter], world: int) -> None:
    grads = [p.grad for p in params if p.grad is not None]
    if world <= 1 or not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= world
    offset = 0
    for g in grads:
        g.copy_(flat[offset : offset + g.numel()].view_as(g))
        offset += g.numel()


# ----- the trainer ------------------------------------------------------------------------------------
class Trainer:
    """Trains one run directory; see the module docstring for the step semantics."""

    def __init__(
        self,
        config: RunConfig,
        run_dir: str | os.PathLike[str],
        data_dir: str | os.PathLike[str] | None = None,
        device: str = defaults.DEVICE,
        hooks: list[Callable[[Trainer, int], None]] | None = None,
    ) -> None:
        self.cfg = config
        self.train_cfg = config.train
        self.run_dir = Path(run_dir)
        self.data_dir = data_dir
        self.device = resolve_device(device)
        self.hooks = hooks or []
        self.rank, self.world = _init_distributed(self.device)
        if self.train_cfg.batch_size % self.world:
            raise ValueError(f"batch_size {self.train_cfg.batch_size} is not divisible by {self.world} processes")

        data_opts = {k: v for k, v in config.data.items() if k != "name"}
        self.train_data: ImageData = load_dataset(config.data["name"], "train", data_dir, **data_opts)
        self.valid_data: ImageData = load_dataset(config.data["name"], "valid", data_dir, **data_opts)
        self.steps_per_epoch = len(self.train_data) // self.train_cfg.batch_size
        if self.steps_per_epoch == 0:
            raise ValueError(
                f"batch_size {self.train_cfg.batch_size} exceeds the {len(self.train_data)} training images"
            )
        self.total_steps = self.train_cfg.steps or self.train_cfg.epochs * self.steps_per_epoch

        torch.manual_seed(self.train_cfg.seed)  # same initial weights on every process
        self.model = build_model(config, self.train_data.info).to(self.device)
        self.groups = self.model.parameter_groups()
        self.optimizers = {g: build_optimizer(ps, self.train_cfg, g) for g, ps in self.groups.items()}
        self.base_lrs = {g: [pg["lr"] for pg in o.param_groups] for g, o in self.optimizers.items()}
        check_momentum_ramp(self.train_cfg, self.optimizers)
        self.base_momenta = {
            g: [pg.get("momentum", 0.0) for pg in o.param_groups] for g, o in self.optimizers.items()
        }
        self.step = 0
        self.recent: dict[str, deque[float]] = defaultdict(lambda: deque(maxlen=200))
        self.last_checkpoint: int | None = None
        self._flag_windows: dict[str, int] = {}
        self._tb: Any = None

    # -- periodic work ------------------------------------------------------------------------------
    def _every(self, every: int, step_done: int) -> bool:
        period = every or self.steps_per_epoch
        return step_done % period == 0 or step_done == self.total_steps

    def _log(self, record: dict[str, Any]) -> None:
        if self.rank:
            return
        with open(self.run_dir / "metrics.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")
        if self._tb is not None:
            for k, v in record.items():
                if isinstance(v, (int, float)) and k not in ("step", "epoch"):
                    self._tb.add_scalar(f"{record.get('split', 'train')}/{k}", v, record["step"])

    @torch.no_grad()
    def _write_samples(self, step_done: int) -> None:
        if self.rank:
            return
        self.model.eval()
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            g = torch.Generator(device=self.device).manual_seed(self.train_cfg.seed)
            x = self.model.sample(self.train_cfg.num_samples, condition=self._grid_condition(), generator=g)
        self.model.train()
        save_sheet(x, self.run_dir / "samples" / f"step-{step_done:08d}.png")
        save_sheet(x, self.run_dir / "samples.png")

    def _grid_condition(self) -> dict[str, Any] | None:
        return default_condition(
            self.model.condition_specs(), self.train_cfg.num_samples, self.valid_data.condition_values()
        )

    @torch.no_grad()
    def _evaluate(self, step_done: int) -> None:
        if self.rank:
            return
        from genzoo.evaluation import likelihood_on

        self.model.eval()
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            torch.manual_seed(self.train_cfg.seed)
            n = min(len(self.valid_data), self.train_cfg.eval_batches * self.train_cfg.batch_size)
            scores = likelihood_on(self.model, self.valid_data.subset(slice(0, n)), self.train_cfg.batch_size, k=1)
        self.model.train()
        if scores:
            self._log({"step": step_done, "epoch": step_done / self.steps_per_epoch, "split": "valid", **scores})

    def save_checkpoint(self, step_done: int) -> None:
        if self.rank:
            return
        weights, state = ckpt.checkpoint_paths(self.run_dir, step_done)
        ckpt.save_weights(self.model, weights, {"step": str(step_done)})
        ckpt.save_state(
            {
                "step": step_done,
                "optimizers": {g: o.state_dict() for g, o in self.optimizers.items()},
                "rng_cpu": torch.get_rng_state(),
                "rng_cuda": torch.cuda.get_rng_state_all() if self.device.type == "cuda" else [],
                "recent": {k: list(v) for k, v in self.recent.items()},
            },
            state,
        )
        self.last_checkpoint = step_done
        ckpt.prune_checkpoints(self.run_dir, self.train_cfg.keep_checkpoints)

    def resume(self, step: int | None = None) -> int:
        """Load the latest (or given) checkpoint of this run directory; return its step."""
        steps = ckpt.list_checkpoints(self.run_dir)
        if not steps:
            return 0
        step = steps[-1] if step is None else step
        weights, state_path = ckpt.checkpoint_paths(self.run_dir, step)
        ckpt.load_weights_into(self.model, weights)
        state = ckpt.load_state(state_path)
        for g, o in self.optimizers.items():
            o.load_state_dict(state["optimizers"][g])
        torch.set_rng_state(state["rng_cpu"])
        if state["rng_cuda"] and self.device.type == "cuda":
            torch.cuda.set_rng_state_all(state["rng_cuda"])
        for k, v in state.get("recent", {}).items():
            self.recent[k].extend(v)
        self.step = self.last_checkpoint = int(state["step"])
        return self.step

    # -- one step -----------------------------------------------------------------------------------
    def batch_for(self, step: int) -> Batch:
        epoch, pos = divmod(step, self.steps_per_epoch)
        b = self.train_cfg.batch_size
        index = epoch_order(len(self.train_data), self.train_cfg.seed, epoch)[pos * b : (pos + 1) * b]
        batch = self.train_data.batch(index, step_generator(self.train_cfg.seed, step))
        if self.world > 1:
            batch = batch.shard(self.rank, self.world)
        return batch.to(self.device)

    def train_step(self, step: int) -> dict[str, float]:
        batch = self.batch_for(step)
        factor = lr_factor(self.train_cfg, step, self.total_steps, self.steps_per_epoch)
        if self.world > 1:
            for b in self.model.buffers():
                dist.broadcast(b, 0)
        logged: dict[str, float] = {}
        schedule = self.model.update_schedule(step)
        amp = self.train_cfg.amp and self.device.type == "cuda"
        for group in schedule:
            opt = self.optimizers[group]
            for pg, base in zip(opt.param_groups, self.base_lrs[group]):
                pg["lr"] = base * factor
            if self.train_cfg.momentum_final is not None:
                for pg, base in zip(opt.param_groups, self.base_momenta[group]):
                    pg["momentum"] = momentum_at(base, self.train_cfg, step, self.steps_per_epoch)
            self.model.zero_grad(set_to_none=True)
            with torch.autocast("cuda", dtype=torch.bfloat16) if amp else contextlib.nullcontext():
                out = self.model.training_step(batch, step, group)
            loss = out["loss"]
            prefix = "" if len(self.groups) == 1 else f"{group}/"
            self._check_finite(f"{prefix}loss", loss, step)
            loss.backward()
            _average_gradients(self.groups[group], self.world)
            if self.train_cfg.grad_clip:
                norm = torch.nn.utils.clip_grad_norm_(self.groups[group], self.train_cfg.grad_clip)
                logged[f"{prefix}grad_norm"] = float(norm)
            opt.step()
            for k, v in out.items():
                logged[f"{prefix}{k}"] = float(v.detach()) if isinstance(v, Tensor) else float(v)
        return logged

    def _check_finite(self, name: str, loss: Tensor, step: int) -> None:
        value = float(loss.detach())
        history = self.recent[name]
        last = self._kept_note()
        if not math.isfinite(value):
            raise TrainingDiverged(f"{name} became {value} at step {step}{last}. Try a lower lr or grad_clip.")
        if len(history) >= 20:
            med = statistics.median(history)
            if abs(value) > self.train_cfg.divergence_factor * max(abs(med), 1e-3):
                raise TrainingDiverged(
                    f"{name} diverged at step {step}: {value:.4g} vs a running median of {med:.4g}{last}"
                )
        history.append(value)

    def _kept_note(self) -> str:
        return f"; the last good checkpoint (step {self.last_checkpoint}) is kept" if self.last_checkpoint else ""

    def _check_flags(self, window_means: dict[str, float], step: int) -> None:
        """Stop when a model-reported ``*diverged`` flag stays up (e.g. a collapsed GAN)."""
        patience = self.train_cfg.divergence_patience
        for key, value in window_means.items():
            if not key.endswith("diverged"):
                continue
            count = self._flag_windows.get(key, 0) + 1 if value >= 0.9 else 0
            self._flag_windows[key] = count
            if patience and count >= patience:
                last = self._kept_note()
                raise TrainingDiverged(
                    f"{key} was raised in {count} log windows in a row up to step {step}: the model reports "
                    f"divergence or collapse{last}. See the model's docs for stabilisers (e.g. label smoothing)."
                )

    # -- the loop -----------------------------------------------------------------------------------
    def fit(self) -> Run:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if self.rank == 0:
            save_yaml(self.cfg.to_dict(), self.run_dir / "config.yaml")
            if self.train_cfg.tensorboard:
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(str(self.run_dir / "tensorboard"))
        torch.manual_seed(self.train_cfg.seed * 7 + 1 + self.rank)  # training noise, per process
        self.resume()
        from tqdm.auto import tqdm

        bar = tqdm(
            total=self.total_steps, initial=self.step, desc=f"train {self.cfg.model['name']}",
            disable=not self.train_cfg.progress or self.rank != 0, file=sys.stderr, dynamic_ncols=True,
        )
        window: dict[str, list[float]] = defaultdict(list)
        t0, seen = time.perf_counter(), 0
        if self.step and self.rank == 0:
            print(f"resuming {self.run_dir} from its checkpoint at step {self.step}", file=sys.stderr)
        self.model.train()
        deadline = None
        if self.train_cfg.max_minutes is not None:
            deadline = time.monotonic() + 60 * self.train_cfg.max_minutes
        try:
            while self.step < self.total_steps:
                step = self.step
                logged = self.train_step(step)
                self.step = done = step + 1
                seen += self.train_cfg.batch_size
                for k, v in logged.items():
                    window[k].append(v)
                if done % self.train_cfg.log_every == 0 or done == self.total_steps:
                    rec = {k: sum(v) / len(v) for k, v in window.items()}
                    rate = seen / max(time.perf_counter() - t0, 1e-9)
                    self._log({"step": done, "epoch": done / self.steps_per_epoch, "split": "train",
                               "images_per_s": rate, **rec})
                    bar.set_postfix({k: f"{v:.4g}" for k, v in list(rec.items())[:3]})
                    window.clear()
                    self._check_flags(rec, done)
                bar.update(1)
                if self._every(self.train_cfg.eval_every, done):
                    self._evaluate(done)
                if self._every(self.train_cfg.sample_every, done):
                    self._write_samples(done)
                if self._every(self.train_cfg.checkpoint_every, done):
                    self.save_checkpoint(done)
                for hook in self.hooks:
                    hook(self, done)
                if deadline is not None and time.monotonic() > deadline:
                    if self.rank == 0:
                        print(f"stopping at step {done}: train.max_minutes reached", file=sys.stderr)
                    break
        finally:
            bar.close()
            if self._tb is not None:
                self._tb.close()
        if self.rank == 0 and self.last_checkpoint != self.step:
            self.save_checkpoint(self.step)
        self.model.eval()
        return Run(self.model, self.run_dir, self.cfg, self.step)


def latest_weights(run_dir: str | os.PathLike[str]) -> Path:
    steps = ckpt.list_checkpoints(run_dir)
    if not steps:
        raise ckpt.CheckpointError(f"{run_dir}: no complete checkpoint in {Path(run_dir) / 'checkpoints'}")
    return ckpt.checkpoint_paths(Path(run_dir), steps[-1])[0]


def load_run(run_dir: str | os.PathLike[str], device: str = defaults.DEVICE) -> GenerativeModel:
    """Rebuild a run's model from its config and latest checkpoint (no code from the files runs)."""
    run_dir = Path(run_dir)
    cfg = load_run_config(run_dir)
    weights = latest_weights(run_dir)
    _, meta = ckpt.read_weights(weights)
    info = DataInfo.from_dict(json.loads(meta["data_info"]))
    model = build_model(cfg, info)
    ckpt.load_weights_into(model, weights)
    return model.to(resolve_device(device)).eval()
