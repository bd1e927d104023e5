"""The periodic work around the training loop, one callback per job.

A callback reacts to the loop's events: ``on_start`` (after any resume), ``on_step`` (after each global
step, with that step's logged scalars), ``on_log`` (each record written to ``metrics.jsonl``, from any
callback) and ``on_end`` (always, also after an error). Whatever a callback must remember across a
resume it returns from ``state_dict`` and receives in ``load_state_dict``: the checkpoint stores it,
so a resumed run's logs equal an uninterrupted run's (timing fields aside).
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch

from genzoo.core import FrameScores, default_condition, render_conditions
from genzoo.core.errors import TrainingDiverged
from genzoo.images import save_sheet
from genzoo.train import checkpoint as ckpt
from genzoo.train.distributed import mean_over_processes
from genzoo.train.progress import postfix

if TYPE_CHECKING:
    from genzoo.train.loop import Trainer

#: fields of a log record that measure time, not training (left out when logs are compared)
TIMING_FIELDS = ("images_per_s", "seconds")


class Callback:
    """Base class: every hook does nothing."""

    name = "callback"

    def on_start(self, t: Trainer) -> None: ...

    def on_step(self, t: Trainer, step: int, logged: dict[str, float]) -> None: ...

    def on_log(self, t: Trainer, record: dict[str, Any]) -> None: ...

    def on_end(self, t: Trainer) -> None: ...

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class MetricsLog(Callback):
    """Averages the logged scalars over each ``log_every`` window (over processes too) and writes every
    record to ``metrics.jsonl`` and TensorBoard. On resume it drops records past the checkpoint (they
    will be logged again) and restores the open window, so the file equals an uninterrupted run's."""

    name = "metrics"

    def __init__(self) -> None:
        self.window: dict[str, list[float]] = defaultdict(list)
        self._tb: Any = None
        self._t0 = time.perf_counter()
        self._seen = 0

    def on_start(self, t: Trainer) -> None:
        if t.rank:
            return
        path = t.run_dir / "metrics.jsonl"
        if path.exists():
            keep = []
            for line in path.read_text().splitlines():
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:  # a line cut by a kill
                    continue
                if int(rec.get("step", 0)) <= t.step:
                    keep.append(line)
            from genzoo.fileio import atomic_write_bytes

            atomic_write_bytes(path, "".join(line + "\n" for line in keep).encode())
        if t.train_cfg.tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            # purge_step: events after the checkpoint are dropped, so a resumed run shows no duplicate steps
            self._tb = SummaryWriter(str(t.run_dir / "tensorboard"), purge_step=t.step + 1 if t.step else None)
        self._t0, self._seen = time.perf_counter(), 0

    def on_step(self, t: Trainer, step: int, logged: dict[str, float]) -> None:
        self._seen += t.train_cfg.batch_size
        for k, v in logged.items():
            self.window[k].append(v)
        if step % t.train_cfg.log_every and step != t.total_steps:
            return
        rec = {k: sum(v) / len(v) for k, v in self.window.items()}
        rec = mean_over_processes(rec, t.world, t.device)
        self.window.clear()
        rate = self._seen / max(time.perf_counter() - self._t0, 1e-9)
        t.log({"step": step, "epoch": step / t.steps_per_epoch, "split": "train", "images_per_s": rate, **rec})
        t.show_progress(postfix(rec))

    def on_log(self, t: Trainer, record: dict[str, Any]) -> None:
        if t.rank:
            return
        with open(t.run_dir / "metrics.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")
        if self._tb is not None:
            for k, v in record.items():
                if isinstance(v, (int, float)) and k not in ("step", "epoch"):
                    self._tb.add_scalar(f"{record.get('split', 'train')}/{k}", v, record["step"])

    def on_end(self, t: Trainer) -> None:
        if self._tb is not None:
            self._tb.close()
            self._tb = None

    def state_dict(self) -> dict[str, Any]:
        return {"window": {k: list(v) for k, v in self.window.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.window = defaultdict(list, {k: list(v) for k, v in state.get("window", {}).items()})


class FlagMonitor(Callback):
    """Stops when a model-reported ``*diverged`` flag stays up (>= 0.9 on average) for
    ``divergence_patience`` log windows in a row (e.g. a collapsed GAN); 0 disables."""

    name = "flags"

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def on_log(self, t: Trainer, record: dict[str, Any]) -> None:
        patience = t.train_cfg.divergence_patience
        if record.get("split") != "train":
            return
        for key, value in record.items():
            if not key.endswith("diverged") or not isinstance(value, (int, float)):
                continue
            self.counts[key] = self.counts.get(key, 0) + 1 if value >= 0.9 else 0
            if patience and self.counts[key] >= patience:
                raise TrainingDiverged(
                    f"{key} was raised in {self.counts[key]} log windows in a row up to step {record['step']}: the "
                    f"model reports divergence or collapse{t.kept_note()}. See the model's docs for stabilisers "
                    f"(e.g. label smoothing)."
                )

    def state_dict(self) -> dict[str, Any]:
        return {"counts": dict(self.counts)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.counts = dict(state.get("counts", {}))


class Validation(Callback):
    """The validation likelihood every ``eval_every`` steps (0: once per epoch), for models that have one;
    a video model's nats per predicted frame (:class:`FrameScores`) when it has a score but no likelihood."""

    name = "validation"

    @torch.no_grad()
    def on_step(self, t: Trainer, step: int, logged: dict[str, float]) -> None:
        if t.rank or not t.due(t.train_cfg.eval_every, step):
            return
        from genzoo.evaluation import frame_scores_on, likelihood_on

        t.model.eval()
        with torch.random.fork_rng(devices=[t.device] if t.device.type == "cuda" else []):
            torch.manual_seed(t.train_cfg.seed)
            n = min(len(t.valid_data), t.train_cfg.eval_batches * t.train_cfg.batch_size)
            valid = t.valid_data.subset(slice(0, n))
            scores = likelihood_on(t.model, valid, t.train_cfg.batch_size, k=1)
            if not scores and isinstance(t.model, FrameScores):  # a video score that is not a likelihood
                frame_scores, _ = frame_scores_on(t.model, valid, t.train_cfg.batch_size)
                scores = {"nats_per_frame": float(frame_scores.mean())}
        t.model.train()
        if scores:
            t.log({"step": step, "epoch": step / t.steps_per_epoch, "split": "valid", **scores})


class SampleSheet(Callback):
    """A sheet of ``num_samples`` samples every ``sample_every`` steps (0: once per epoch), drawn with the
    run's seed and each condition's default grid, in ``samples/step-N.png`` and ``samples.png``."""

    name = "samples"

    @torch.no_grad()
    def on_step(self, t: Trainer, step: int, logged: dict[str, float]) -> None:
        if t.rank or not t.due(t.train_cfg.sample_every, step):
            return
        n = t.train_cfg.num_samples
        condition = default_condition(t.model.condition_specs(), n, t.valid_data.condition_values())
        t.model.eval()
        with torch.random.fork_rng(devices=[t.device] if t.device.type == "cuda" else []):
            g = torch.Generator(device=t.device).manual_seed(t.train_cfg.seed)
            x = t.model.sample(n, condition=condition, generator=g).float().cpu()
        t.model.train()
        pictures = sheet_conditions(t.model.condition_specs(), condition)
        save_sheet(x, t.run_dir / "samples" / f"step-{step:08d}.png", conditions=pictures)
        save_sheet(x, t.run_dir / "samples.png", conditions=pictures)


def sheet_conditions(specs: dict[str, Any], condition: dict[str, Any] | None, size: int = 64) -> list[Any] | None:
    """Pictures of the conditions a sheet's samples were asked for, beside them; none for class labels (a
    sheet of every class in turn already reads by column) or an unconditional model."""
    if not condition or all(spec.kind == "label" for spec in specs.values()):
        return None
    shown = {k: spec for k, spec in specs.items() if spec.kind != "label"}
    return render_conditions(shown, condition, size)


class KeepBest(Callback):
    """With ``train.keep_best``: the weights at the best validation NLL so far, in
    ``checkpoints/best.safetensors`` (metadata: the step and the score)."""

    name = "best"

    def __init__(self) -> None:
        self.best: float | None = None
        self.best_step: int | None = None

    def on_log(self, t: Trainer, record: dict[str, Any]) -> None:
        value = record.get("nll_nats")
        if t.rank or record.get("split") != "valid" or not isinstance(value, float) or not math.isfinite(value):
            return
        if self.best is None or value < self.best:
            self.best, self.best_step = value, int(record["step"])
            ckpt.save_weights(t.model, ckpt.best_path(t.run_dir),
                              {"step": str(self.best_step), "valid_nll_nats": repr(value)})

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_step": self.best_step}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.best_step = state.get("best"), state.get("best_step")


class Checkpointer(Callback):
    """A checkpoint every ``checkpoint_every`` steps (0: once per epoch) and every ``checkpoint_minutes``
    of wall time, so an interrupt never loses more than that; a last one at the end."""

    name = "checkpoint"

    def __init__(self) -> None:
        self._last_time = time.monotonic()

    def on_start(self, t: Trainer) -> None:
        self._last_time = time.monotonic()

    def on_step(self, t: Trainer, step: int, logged: dict[str, float]) -> None:
        minutes = t.train_cfg.checkpoint_minutes
        by_time = bool(minutes) and time.monotonic() - self._last_time >= 60 * minutes
        if t.due(t.train_cfg.checkpoint_every, step) or by_time:
            t.save_checkpoint(step)
            self._last_time = time.monotonic()


class StepHooks(Callback):
    """Plain ``hook(trainer, step)`` callables (the API's ``hooks=``), run after every step."""

    name = "hooks"

    def __init__(self, hooks: list[Callable[[Trainer, int], None]]) -> None:
        self.hooks = hooks

    def on_step(self, t: Trainer, step: int, logged: dict[str, float]) -> None:
        for hook in self.hooks:
            hook(t, step)


def default_callbacks(keep_best: bool) -> list[Callback]:
    """The standard order: log (and stop on flags) first, then validate, draw samples, checkpoint."""
    out: list[Callback] = [MetricsLog(), FlagMonitor(), Validation()]
    if keep_best:
        out.append(KeepBest())
    return out + [SampleSheet(), Checkpointer()]


def note(message: str) -> None:
    print(message, file=sys.stderr)
