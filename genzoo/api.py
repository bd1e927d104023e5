"""The Python API the CLI calls: train, load, sample, evaluate."""

from __future__ import annotations

import inspect
import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from genzoo import defaults
from genzoo.config import RunConfig, load_run_config, resolve
from genzoo.core import LabelSpec, Reconstructs, UsageError
from genzoo.data import ImageData, load_dataset
from genzoo.defaults import resolve_device
from genzoo.evaluation import EvalContext, MetricUnavailable, draw_samples
from genzoo.models.base import GenerativeModel
from genzoo.registry import METRICS
from genzoo.train.engine import Run, Trainer, default_run_dir, load_run


def train(
    model: str | None = None,
    data: str | None = None,
    *,
    config: str | os.PathLike[str] | None = None,
    overrides: dict[str, Any] | list[str] | None = None,
    run_dir: str | os.PathLike[str] | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    device: str = defaults.DEVICE,
    epochs: int | None = None,
    steps: int | None = None,
    seed: int | None = None,
    resume: bool = False,
    hooks: list[Any] | None = None,
) -> Run:
    """Train a model and return the :class:`Run` (model + run directory).

    ``config`` is a named config (``genzoo list``) or a YAML path; ``overrides`` are
    ``{"train.lr": 1e-3}`` or ``["train.lr=1e-3"]``. A run directory that already holds checkpoints
    is continued from its latest one if its saved config equals this one (or with ``resume=True``,
    which takes the saved config and applies only the ``train.*`` overrides given here).
    """
    extra: dict[str, Any] = {}
    if epochs is not None:
        extra["train.epochs"] = epochs
    if steps is not None:
        extra["train.steps"] = steps
    if seed is not None:
        extra["train.seed"] = seed
    if isinstance(overrides, list):
        from genzoo.config import parse_override

        overrides = dict(parse_override(o) for o in overrides)
    merged = {**(overrides or {}), **extra}
    if resume:
        if run_dir is None:
            raise ValueError("resume=True needs the run directory to continue")
        saved = load_run_config(Path(run_dir)).to_dict()
        bad = [k for k in merged if not k.startswith("train.")]
        if bad:
            raise ValueError(f"a resumed run keeps its model and data; cannot override {', '.join(bad)}")
        from genzoo.config import TrainConfig, apply_overrides, build_dataclass

        doc = apply_overrides(saved, merged)
        cfg = RunConfig(doc["model"], doc["data"], build_dataclass(TrainConfig, doc["train"], "train"))
    else:
        cfg = resolve(model, data, config, merged)
    run_dir = Path(run_dir) if run_dir else default_run_dir(cfg.model["name"], cfg.data["name"])
    if not resume and (run_dir / "config.yaml").is_file():
        saved = load_run_config(run_dir)
        if saved.to_dict() != cfg.to_dict():
            raise ValueError(
                f"{run_dir} already holds a run with another config; continue it with "
                f"`genzoo train --resume {run_dir}` or choose another --run-dir"
            )
    trainer = Trainer(cfg, run_dir, data_dir=data_dir, device=str(resolve_device(device)), hooks=hooks)
    return trainer.fit()


def load(run_dir: str | os.PathLike[str], device: str = defaults.DEVICE) -> GenerativeModel:
    """The trained model of a run directory (latest checkpoint), in eval mode."""
    return load_run(run_dir, str(resolve_device(device)))


def condition_source(
    model: GenerativeModel, run_dir: str | os.PathLike[str] | None, data_dir: str | os.PathLike[str] | None = None,
) -> ImageData | None:
    """The real split a conditional model's default conditions come from: its run's test split, when a
    condition kind needs data (labels do not)."""
    specs = model.condition_specs()
    if run_dir is None or all(isinstance(spec, LabelSpec) for spec in specs.values()):
        return None
    cfg = load_run_config(Path(run_dir))
    options = {k: v for k, v in cfg.data.items() if k != "name"}
    return load_dataset(cfg.data["name"], "test", data_dir, **options)


def sample(
    model_or_run: GenerativeModel | str | os.PathLike[str], n: int = defaults.SAMPLES, seed: int = defaults.SEED,
    condition: Mapping[str, Any] | Any | None = None, batch_size: int = defaults.SAMPLE_BATCH,
    device: str = defaults.DEVICE, data_dir: str | os.PathLike[str] | None = None,
) -> Tensor:
    """``n`` samples (float, [0, 1]); the same seed gives the same samples.

    ``condition`` maps a conditional model's condition keys to values (``{"label": 7}``,
    ``{"text": "a small 7 at the top left"}``); one value is broadcast to all ``n``. Without it a
    conditional model gets each condition's default grid (every class in turn; captions, source
    images or context frames from the run's test split).
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise UsageError(f"the number of samples must be a positive integer, got {n!r}")
    if isinstance(model_or_run, GenerativeModel):
        model, run_dir = model_or_run, None
    else:
        model, run_dir = load(model_or_run, device), model_or_run
    if condition is not None:
        condition = model.check_condition(n, condition)
        data = None
    else:
        data = condition_source(model, run_dir, data_dir)
    return draw_samples(model, n, batch_size, seed, data, condition)


def reconstructions(
    run_dir: str | os.PathLike[str], n: int = defaults.SAMPLES, seed: int = defaults.SEED,
    device: str = defaults.DEVICE, data_dir: str | os.PathLike[str] | None = None,
) -> Tensor:
    """``n`` evenly spaced test images beside their reconstructions, interleaved (original, reconstruction)."""
    model = load(run_dir, device)
    if not isinstance(model, Reconstructs):
        raise UsageError(f"model {model.name!r} has no reconstructions (it has no encoder)")
    cfg = load_run_config(Path(run_dir))
    opts = {k: v for k, v in cfg.data.items() if k != "name"}
    test = load_dataset(cfg.data["name"], "test", data_dir, **opts)
    spaced = torch.linspace(0, len(test) - 1, min(n, len(test))).round().long()  # splits may be sorted by label
    x = test.subset(spaced).tensor(seed)
    with torch.no_grad():
        rec = model.reconstruct(x.to(model.device)).float().cpu()
    return torch.stack([x, rec], dim=1).flatten(0, 1)


def manifold(run_dir: str | os.PathLike[str], grid: int, device: str = defaults.DEVICE) -> Tensor:
    """A ``grid x grid`` picture of a 2-D latent space decoded through the inverse Gaussian CDF
    (Kingma & Welling 2014, Fig. 4)."""
    model = load(run_dir, device)
    if not callable(getattr(model, "manifold", None)):
        raise UsageError(f"model {model.name!r} has no manifold picture (needs a VAE with a 2-D latent)")
    with torch.no_grad():
        return model.manifold(grid).float().cpu()


def _accepted(fn: Any) -> set[str] | None:
    """Keyword names ``fn`` takes (None: it takes any)."""
    params = inspect.signature(fn).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    return {p.name for p in params}


def _split_options(names: list[str], options: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Plain options go to each metric that takes them, ``"fid.extractor"`` only to fid; an option
    that no requested metric takes is an error naming it."""
    out: dict[str, dict[str, Any]] = {n: {} for n in names}
    for key, value in options.items():
        metric, _, option = key.rpartition(".")
        targets = [metric] if metric else names
        if metric and metric not in out:
            raise ValueError(f"option {key!r} is for metric {metric!r}, which is not being computed")
        taken = False
        for n in targets:
            accepted = _accepted(METRICS.get(n))
            if accepted is None or option in accepted:
                out[n][option] = value
                taken = True
        if not taken:
            raise ValueError(f"no requested metric ({', '.join(targets)}) takes the option {option!r}")
    return out


def evaluate(
    run_dir: str | os.PathLike[str] | None = None,
    metrics: list[str] | None = None,
    *,
    options: dict[str, Any] | None = None,
    data: str | None = None,
    data_options: dict[str, Any] | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    samples: Tensor | None = None,
    real_baseline: bool = False,
    device: str = defaults.DEVICE,
    seed: int = 0,
    batch_size: int = 256,
    write: bool = True,
) -> dict[str, dict[str, Any]]:
    """Compute ``metrics`` for a run (or for given ``samples`` against ``data``).

    Results are appended to ``run_dir/eval.jsonl`` (one JSON object per metric, with its protocol).
    A metric that is not defined for the model is reported as ``{"unavailable": reason}``.
    """
    model = None
    cfg = None
    if run_dir is not None:
        cfg = load_run_config(Path(run_dir))
        model = load(run_dir, device)
    if cfg is not None and data is None:
        data = cfg.data["name"]
        data_options = {k: v for k, v in cfg.data.items() if k != "name"}
    if data is None:
        raise ValueError("evaluate needs a run directory or a dataset name to compare against")
    ctx = EvalContext(
        model, data, data_options or {}, data_dir, resolve_device(device), seed, batch_size,
        provided_samples=samples, real_baseline=real_baseline, run_dir=Path(run_dir) if run_dir else None,
    )
    results: dict[str, dict[str, Any]] = {}
    names = metrics or (["nll"] if model is not None else [])
    per_metric = _split_options(names, options or {})
    for name in names:
        fn = METRICS.get(name)
        mine = per_metric[name]
        t0 = time.perf_counter()
        torch.manual_seed(seed)  # metrics that draw noise (IW bounds) repeat exactly per seed
        try:
            out = dict(fn(ctx, **mine))
        except MetricUnavailable as e:
            out = {"unavailable": str(e)}
        out["seconds"] = round(time.perf_counter() - t0, 3)
        results[name] = out
        if write and run_dir is not None:
            record = {"metric": name, "real_baseline": real_baseline, "time": time.time(), **out}
            with open(Path(run_dir) / "eval.jsonl", "a") as f:
                f.write(json.dumps(record, default=str) + "\n")
    return results


def canvas_sequence(
    model_or_run: GenerativeModel | str | os.PathLike[str], n: int = 8, seed: int = defaults.SEED,
    condition: Mapping[str, Any] | None = None, device: str = defaults.DEVICE,
    data_dir: str | os.PathLike[str] | None = None,
) -> Tensor:
    """How ``n`` samples come about: ``(n, F, C, H, W)`` frames in [0, 1], the finished sample last (DRAW's
    canvases, a guided sampler's chain), for any model with :class:`genzoo.core.CanvasSequence`. The last
    frames are what :func:`sample` returns for the same seed (when ``n`` fits one sampling batch)."""
    from genzoo.core import CanvasSequence, default_condition

    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise UsageError(f"the number of samples must be a positive integer, got {n!r}")
    if isinstance(model_or_run, GenerativeModel):
        model, run_dir = model_or_run, None
    else:
        model, run_dir = load(model_or_run, device), model_or_run
    if not isinstance(model, CanvasSequence):
        raise UsageError(f"model {model.name!r} does not show how a sample is drawn (it has no canvas_sequence)")
    if condition is not None:
        condition = model.check_condition(n, condition)
    else:
        data = condition_source(model, run_dir, data_dir)
        condition = default_condition(model.condition_specs(), n, data.condition_values() if data else None)
    g = torch.Generator(device=model.device).manual_seed(seed)
    with torch.no_grad():
        return model.canvas_sequence(n, condition, g).float().cpu()


def synthesize(
    model_or_run: GenerativeModel | str | os.PathLike[str], n: int = 16, seed: int = defaults.SEED,
    condition: Mapping[str, Any] | None = None, options: Mapping[str, Any] | None = None,
    condition_net: Any = None, device: str = defaults.DEVICE,
    data_dir: str | os.PathLike[str] | None = None,
) -> Tensor:
    """Guided synthesis (DGN-AM, PPGN): the chains' frames ``(n, F, C, H, W)``, samples last, after setting the
    sampler ``options`` (``{"chain_steps": 500, "eps2": 2.0}``) and plugging in ``condition_net`` (a
    classifier module, or a reference classifier's dataset name or file)."""
    from genzoo.core import PluggableCondition

    model = model_or_run if isinstance(model_or_run, GenerativeModel) else load(model_or_run, device)
    if not isinstance(model, PluggableCondition):
        raise UsageError(f"model {model.name!r} has no condition network or sampler to configure (dgn-am, ppgn do)")
    model.configure_sampler(**dict(options or {}))
    if condition_net is not None:
        model.use_condition_network(condition_net)
    return canvas_sequence(model, n, seed, condition, device, data_dir)
