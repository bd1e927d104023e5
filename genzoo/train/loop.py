"""The one training loop every genzoo model goes through; all periodic work is in :mod:`genzoo.train.callbacks`.

Per global step the loop takes one batch and, for each parameter group the model schedules
(:meth:`GenerativeModel.update_schedule`), zeroes all gradients, calls
``training_step(batch, step, group)``, back-propagates ``loss``, averages gradients across processes,
clips them and steps that group's optimiser. Everything a step depends on is a function of the step
number (which examples form the batch, the dynamic binarization, the learning rate and momentum) or
is saved in the checkpoint (weights, optimiser moments, the RNG state, the callbacks' state), so a run
resumed from a checkpoint continues exactly as if it had never stopped, logs included.

Data parallelism (``torchrun --nproc-per-node P genzoo train ...``): ``train.batch_size`` is the
*global* batch; every process draws the same global batch and keeps its own contiguous shard of
``batch_size / P`` examples, and gradients are averaged over processes before clipping (see
:mod:`genzoo.train.distributed`). For a model whose loss is a mean over the batch this is the
single-process step up to floating-point summation order; noise drawn inside the model
(reparameterisation, dropout) differs per process, and batch norm uses per-process statistics
(buffers are broadcast from rank 0 each step, as DDP does).
"""

from __future__ import annotations

import contextlib
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
from torch import Tensor

from genzoo import defaults
from genzoo.config import RunConfig, model_config, save_yaml
from genzoo.core import Batch
from genzoo.core.errors import TrainingDiverged, UsageError
from genzoo.data import ImageData, load_dataset
from genzoo.defaults import resolve_device
from genzoo.models.base import GenerativeModel
from genzoo.registry import MODELS
from genzoo.train import checkpoint as ckpt
from genzoo.train import distributed
from genzoo.train.callbacks import Callback, StepHooks, default_callbacks
from genzoo.train.lock import RunLock
from genzoo.train.optim import build_optimizer, check_momentum_ramp, has_momentum, lr_factor, momentum_at


@dataclass
class Run:
    """The result of :func:`genzoo.api.train`: the trained model and where its files are."""

    model: GenerativeModel
    run_dir: Path
    config: RunConfig
    step: int


def step_generator(seed: int, step: int) -> torch.Generator:
    return torch.Generator().manual_seed((seed * 1_000_003 + step * 7919 + 17) % (2**63))


def epoch_order(n: int, seed: int, epoch: int) -> Tensor:
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))


def default_run_dir(model: str, data: str) -> Path:
    return Path("runs") / f"{model}-{data}-{time.strftime('%Y%m%d-%H%M%S')}"


def build_model(cfg: RunConfig, info: Any) -> GenerativeModel:
    cls = MODELS.get(cfg.model["name"])
    return cls(model_config(cls, cfg.model), info)


class Trainer:
    """Trains one run directory; see the module docstring for the step semantics."""

    def __init__(
        self,
        config: RunConfig,
        run_dir: str | os.PathLike[str],
        data_dir: str | os.PathLike[str] | None = None,
        device: str = defaults.DEVICE,
        hooks: list[Callable[[Trainer, int], None]] | None = None,
        callbacks: list[Callback] | None = None,
    ) -> None:
        self.cfg = config
        self.train_cfg = config.train
        self.run_dir = Path(run_dir)
        self.data_dir = data_dir
        self.device = resolve_device(device)
        self.rank, self.world = distributed.init(self.device)
        if self.train_cfg.batch_size % self.world:
            raise UsageError(f"batch_size {self.train_cfg.batch_size} is not divisible by {self.world} processes")

        data_opts = {k: v for k, v in config.data.items() if k != "name"}
        self.train_data: ImageData = load_dataset(config.data["name"], "train", data_dir, **data_opts)
        self.valid_data: ImageData = load_dataset(config.data["name"], "valid", data_dir, **data_opts)
        self.steps_per_epoch = len(self.train_data) // self.train_cfg.batch_size
        if self.steps_per_epoch == 0:
            raise UsageError(
                f"batch_size {self.train_cfg.batch_size} exceeds the {len(self.train_data)} training images"
            )
        self.total_steps = self.train_cfg.steps or self.train_cfg.epochs * self.steps_per_epoch

        torch.manual_seed(self.train_cfg.seed)  # same initial weights on every process
        self.model = build_model(config, self.train_data.info).to(self.device)
        if type(self.model).init_from_data is not GenerativeModel.init_from_data:
            self.model.init_from_data(self.train_data.pixel_mean().to(self.device))  # a checkpoint overrides it
        self.groups = self.model.parameter_groups()
        self._params = list(self.model.parameters())  # every parameter, for clearing gradients cheaply
        self.optimizers = {g: build_optimizer(ps, self.train_cfg, g) for g, ps in self.groups.items()}
        self.base_lrs = {g: [pg["lr"] for pg in o.param_groups] for g, o in self.optimizers.items()}
        check_momentum_ramp(self.train_cfg, self.optimizers)
        self.base_momenta = {
            g: [pg.get("momentum", 0.0) for pg in o.param_groups] for g, o in self.optimizers.items()
        }
        self.callbacks = callbacks if callbacks is not None else default_callbacks(self.train_cfg.keep_best)
        if hooks:
            self.callbacks.append(StepHooks(hooks))
        self.step = 0
        self.recent: dict[str, deque[float]] = defaultdict(lambda: deque(maxlen=200))
        self.last_checkpoint: int | None = None
        self._bar: Any = None
        self._order: tuple[int, Tensor] | None = None  # (epoch, its example order), drawn once an epoch

    # -- what callbacks use ---------------------------------------------------------------------------
    def due(self, every: int, step: int) -> bool:
        """Whether periodic work with period ``every`` (0: once per epoch) falls on ``step``."""
        period = every or self.steps_per_epoch
        return step % period == 0 or step == self.total_steps

    def log(self, record: dict[str, Any]) -> None:
        """Hand a record to every callback (the metrics log writes it; monitors may stop the run)."""
        for cb in self.callbacks:
            cb.on_log(self, record)

    def show_progress(self, values: dict[str, str]) -> None:
        if self._bar is not None:
            self._bar.set_postfix(values)

    def kept_note(self) -> str:
        if self.last_checkpoint:
            return f"; the last good checkpoint (step {self.last_checkpoint}) is kept"
        return "; no checkpoint was written yet"

    def provenance(self) -> dict[str, Any]:
        """Where the data came from; a resumed run must train on the same data."""
        from genzoo import __version__
        from genzoo.data import resolve_data_dir

        fingerprint = self.train_data.fingerprint()
        saved = self.cfg.provenance.get("train_fingerprint")
        if saved and saved != fingerprint:
            raise UsageError(
                f"{self.run_dir} was trained on data with fingerprint {saved}, but the training split in "
                f"{resolve_data_dir(self.data_dir)} has {fingerprint}; point --data-dir at the run's data "
                f"({self.cfg.provenance.get('data_dir')})"
            )
        return {
            "data_dir": str(resolve_data_dir(self.data_dir).resolve()),
            "train_fingerprint": fingerprint,
            "genzoo_version": __version__,
        }

    # -- checkpoints ------------------------------------------------------------------------------------
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
                "callbacks": {cb.name: cb.state_dict() for cb in self.callbacks},
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
        try:
            for g, o in self.optimizers.items():
                o.load_state_dict(state["optimizers"][g])
        except (KeyError, ValueError, RuntimeError) as e:
            raise ckpt.CheckpointError(f"{state_path}: the optimiser state does not fit this run ({e})") from None
        torch.set_rng_state(state["rng_cpu"])
        if state["rng_cuda"] and self.device.type == "cuda":
            torch.cuda.set_rng_state_all(state["rng_cuda"])
        for k, v in state.get("recent", {}).items():
            self.recent[k].extend(v)
        saved = state.get("callbacks", {})
        for cb in self.callbacks:
            cb.load_state_dict(saved.get(cb.name, {}))
        self.step = self.last_checkpoint = int(state["step"])
        return self.step

    # -- one step -----------------------------------------------------------------------------------
    def batch_for(self, step: int) -> Batch:
        epoch, pos = divmod(step, self.steps_per_epoch)
        b = self.train_cfg.batch_size
        if self._order is None or self._order[0] != epoch:
            self._order = (epoch, epoch_order(len(self.train_data), self.train_cfg.seed, epoch))
        index = self._order[1][pos * b : (pos + 1) * b]
        batch = Batch(self.train_data.batch(index, step_generator(self.train_cfg.seed, step)))
        if self.world > 1:
            batch = batch.shard(self.rank, self.world)
        return batch.to(self.device)

    def train_step(self, step: int) -> dict[str, float]:
        batch = self.batch_for(step)
        factor = lr_factor(self.train_cfg, step, self.total_steps, self.steps_per_epoch)
        distributed.broadcast_buffers(self.model, self.world)
        logged: dict[str, float] = {}
        amp = self.train_cfg.amp and self.device.type == "cuda"
        for group in self.model.update_schedule(step):
            opt = self.optimizers[group]
            for pg, base in zip(opt.param_groups, self.base_lrs[group]):
                pg["lr"] = base * factor
            if self.train_cfg.momentum_final is not None and has_momentum(opt):
                for pg, base in zip(opt.param_groups, self.base_momenta[group]):
                    pg["momentum"] = momentum_at(base, self.train_cfg, step, self.steps_per_epoch)
            for p in self._params:  # = model.zero_grad(set_to_none=True), without walking the modules
                p.grad = None
            with torch.autocast("cuda", dtype=torch.bfloat16) if amp else contextlib.nullcontext():
                out = self.model.training_step(batch, step, group)
            loss = out["loss"]
            prefix = "" if len(self.groups) == 1 else f"{group}/"
            self._check_finite(f"{prefix}loss", loss, step)
            loss.backward()
            distributed.average_gradients(self.groups[group], self.world)
            if self.train_cfg.grad_clip:
                norm = torch.nn.utils.clip_grad_norm_(self.groups[group], self.train_cfg.grad_clip)
                logged[f"{prefix}grad_norm"] = float(norm)
            opt.step()
            for k, v in out.items():
                logged[f"{prefix}{k}"] = float(v.detach()) if isinstance(v, Tensor) else float(v)
        return logged

    def _check_finite(self, name: str, loss: Tensor, step: int) -> None:
        """Stop (on every process at once) when a loss is not finite or exceeds ``divergence_factor``
        times its running median."""
        value = float(loss.detach())
        history = self.recent[name]
        problem = None
        if not math.isfinite(value):
            problem = f"{name} became {value} at step {step}{self.kept_note()}. Try a lower lr or grad_clip."
        elif len(history) >= 20:
            med = statistics.median(history)
            if abs(value) > self.train_cfg.divergence_factor * max(abs(med), 1e-3):
                problem = (f"{name} diverged at step {step}: {value:.4g} vs a running median of {med:.4g}"
                           f"{self.kept_note()}")
        if distributed.any_process(problem is not None, self.world, self.device):
            raise TrainingDiverged(problem or f"{name} diverged on another process at step {step}{self.kept_note()}")
        history.append(value)

    # -- the loop -----------------------------------------------------------------------------------
    def fit(self) -> Run:
        lock = RunLock(self.run_dir).acquire() if self.rank == 0 else None
        # subnormal floats (|x| < 1.2e-38) flushed to zero on the CPU: x86 computes with them ~100x slower,
        # and a few in a matrix product make the whole product slow; values that small change no result
        flush = self.device.type == "cpu" and self.train_cfg.flush_denormal and torch.set_flush_denormal(True)
        try:
            return self._fit()
        finally:
            if flush:
                torch.set_flush_denormal(False)
            if lock is not None:
                lock.release()

    def _fit(self) -> Run:
        from genzoo.fileio import clean_stale_temporaries

        self.run_dir.mkdir(parents=True, exist_ok=True)
        if self.rank == 0:
            clean_stale_temporaries(self.run_dir)
            self.cfg.provenance = self.provenance()
            save_yaml(self.cfg.to_dict(), self.run_dir / "config.yaml")
        torch.manual_seed(self.train_cfg.seed * 7 + 1 + self.rank)  # training noise, per process
        self.resume()
        if self.step and self.rank == 0:
            print(f"resuming {self.run_dir} from its checkpoint at step {self.step}", file=sys.stderr)
        from tqdm.auto import tqdm

        self._bar = tqdm(
            total=self.total_steps, initial=self.step, desc=f"train {self.cfg.model['name']}",
            disable=not self.train_cfg.progress or self.rank != 0, file=sys.stderr, dynamic_ncols=True,
        )
        self.model.train()
        deadline = None
        if self.train_cfg.max_minutes is not None:
            deadline = time.monotonic() + 60 * self.train_cfg.max_minutes
        try:
            for cb in self.callbacks:
                cb.on_start(self)
            while self.step < self.total_steps:
                logged = self.train_step(self.step)
                self.step += 1
                for cb in self.callbacks:
                    cb.on_step(self, self.step, logged)
                self._bar.update(1)
                if deadline is not None and time.monotonic() > deadline:
                    if self.rank == 0:
                        print(f"stopping at step {self.step}: train.max_minutes reached", file=sys.stderr)
                    break
        except KeyboardInterrupt:
            if self.rank == 0:
                self._bar.close()
                print(f"interrupted at step {self.step}{self._interrupt_note()}", file=sys.stderr)
            raise
        finally:
            self._bar.close()
            for cb in self.callbacks:
                cb.on_end(self)
        if self.rank == 0 and self.last_checkpoint != self.step:
            self.save_checkpoint(self.step)
        self.model.eval()
        return Run(self.model, self.run_dir, self.cfg, self.step)

    def _interrupt_note(self) -> str:
        if self.last_checkpoint is None:
            return f"; no checkpoint was written yet, so the {self.step} steps done are lost"
        lost = self.step - self.last_checkpoint
        return (f"; the checkpoint at step {self.last_checkpoint} is kept ({lost} steps after it are lost); "
                f"continue with `genzoo train --resume {self.run_dir}`")
