"""The Python API the CLI calls: train, load, sample, evaluate."""

from __future__ import annotations

import inspect
import json
import os
import sys
import time
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from genzoo import defaults
from genzoo.config import RunConfig, check_count, load_run_config, resolve
from genzoo.core import LabelSpec, MetricResult, Reconstructs, UsageError
from genzoo.core.errors import GenzooError
from genzoo.data import ImageData, load_dataset, spaced_index
from genzoo.defaults import resolve_device
from genzoo.evaluation import EvalContext, check_protocol, draw_samples, run_metric
from genzoo.fileio import append_jsonl, check_writable_dir, check_writable_file
from genzoo.models.base import GenerativeModel
from genzoo.registry import DATASETS, METRICS
from genzoo.train.checkpoint import load_run
from genzoo.train.loop import Run, Trainer, default_run_dir


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
    check_count(epochs, "epochs", optional=True)
    check_count(steps, "steps", optional=True)
    check_count(seed, "seed", minimum=0, optional=True)
    if resume and run_dir is None:
        raise UsageError("resume=True needs the run directory to continue")
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
            raise UsageError("resume=True needs the run directory to continue")
        saved = load_run_config(Path(run_dir))
        bad = [k for k in merged if not k.startswith("train.")]
        if bad:
            raise UsageError(f"a resumed run keeps its model and data; cannot override {', '.join(bad)}")
        from genzoo.config import apply_overrides, run_config_from_doc

        cfg = run_config_from_doc(apply_overrides(saved.spec(), merged), Path(run_dir) / "config.yaml")
        cfg.provenance = saved.provenance
    else:
        cfg = resolve(model, data, config, merged)
    run_dir = check_writable_dir(
        Path(run_dir) if run_dir else default_run_dir(cfg.model["name"], cfg.data["name"]), "run directory"
    )
    if not resume and (run_dir / "config.yaml").is_file():
        saved = load_run_config(run_dir)
        if saved.spec() != cfg.spec():
            raise UsageError(
                f"{run_dir} already holds a run with another config; continue it with "
                f"`genzoo train --resume {run_dir}` or choose another --run-dir"
            )
        cfg.provenance = saved.provenance
    _check_resumable(run_dir)
    trainer = Trainer(cfg, run_dir, data_dir=run_data_dir(cfg, data_dir), device=device, hooks=hooks)
    return trainer.fit()


def _check_resumable(run_dir: Path) -> None:
    """The checkpoint a run would continue from reads cleanly (finite weights, a complete training state),
    checked before training touches the run directory."""
    from genzoo.train import checkpoint as ckpt

    steps = ckpt.list_checkpoints(run_dir)
    if steps:
        weights, state = ckpt.checkpoint_paths(run_dir, steps[-1])
        ckpt.read_weights(weights)
        ckpt.load_state(state)


def run_data_dir(cfg: RunConfig, data_dir: str | os.PathLike[str] | None) -> str | os.PathLike[str] | None:
    """The data directory for a run: the one given, else the one the run recorded (if it still exists),
    else the default ($GENZOO_DATA_DIR or ./data)."""
    if data_dir is not None:
        return data_dir
    recorded = cfg.provenance.get("data_dir")
    return recorded if recorded and Path(recorded).is_dir() else None


def load(
    run_dir: str | os.PathLike[str], device: str = defaults.DEVICE, checkpoint: str | int = "latest"
) -> GenerativeModel:
    """The trained model of a run directory, in eval mode: its ``"latest"`` checkpoint, its ``"best"``
    (with ``train.keep_best``) or the one at a step."""
    return load_run(run_dir, device, checkpoint)


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
    return load_dataset(cfg.data["name"], "test", run_data_dir(cfg, data_dir), **options)


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
    check_count(n, "the number of samples n")
    check_count(batch_size, "batch_size")
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
    check_count(n, "the number of images n")
    model = load(run_dir, device)
    if not isinstance(model, Reconstructs):
        raise UsageError(f"model {model.name!r} has no reconstructions (it has no encoder)")
    cfg = load_run_config(Path(run_dir))
    opts = {k: v for k, v in cfg.data.items() if k != "name"}
    test = load_dataset(cfg.data["name"], "test", run_data_dir(cfg, data_dir), **opts)
    spaced = spaced_index(len(test), min(n, len(test)))  # splits may be sorted by label
    x = test.subset(spaced).tensor(seed)
    with torch.no_grad():
        rec = model.reconstruct(x.to(model.device)).float().cpu()
    return torch.stack([x, rec], dim=1).flatten(0, 1)


def manifold(run_dir: str | os.PathLike[str], grid: int, device: str = defaults.DEVICE) -> Tensor:
    """A ``grid x grid`` picture of a 2-D latent space decoded through the inverse Gaussian CDF
    (Kingma & Welling 2014, Fig. 4)."""
    check_count(grid, "the manifold grid size")
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


def _option_type(fn: Any, option: str) -> Any:
    try:
        return typing.get_type_hints(fn).get(option, Any)
    except Exception:  # an annotation that does not resolve: no type check
        return Any


def _split_options(names: list[str], options: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Plain options go to each metric that takes them, ``"fid.extractor"`` only to fid; an option
    that no requested metric takes is an error naming it, and a value of the wrong type or range (checked
    against the metric's signature and :data:`genzoo.config.CONSTRAINTS`) one saying what is valid."""
    from genzoo.config import check_value

    out: dict[str, dict[str, Any]] = {n: {} for n in names}
    for key, value in options.items():
        metric, _, option = key.rpartition(".")
        targets = [metric] if metric else names
        if metric and metric not in out:
            raise UsageError(f"option {key!r} is for metric {metric!r}, which is not being computed")
        taken = False
        for n in targets:
            fn = METRICS.get(n)
            accepted = _accepted(fn)
            if accepted is None or option in accepted:
                out[n][option] = check_value(value, _option_type(fn, option), f"metric.{option}")
                taken = True
        if not taken:
            raise UsageError(f"no requested metric ({', '.join(targets)}) takes the option {option!r}")
    return out


def evaluate(
    run_dir: str | os.PathLike[str] | None = None,
    metrics: list[str] | None = None,
    *,
    options: dict[str, Any] | None = None,
    data: str | None = None,
    data_options: dict[str, Any] | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    samples: Tensor | str | os.PathLike[str] | None = None,
    real_baseline: bool = False,
    device: str = defaults.DEVICE,
    seed: int = defaults.SEED,
    batch_size: int = defaults.EVAL_BATCH,
    write: bool = True,
    on_result: Callable[[str, MetricResult], None] | None = None,
    progress: bool = True,
) -> dict[str, MetricResult]:
    """Compute ``metrics`` for a run (or for given ``samples`` against ``data``: a float tensor in [0, 1], a
    folder of image files or an .npz of images).

    Returns ``{metric: MetricResult}``; a result reads like the old flat dict (``result["fid"]``,
    ``result["protocol"]``) and has ``.value``, ``.error``, ``.notes``. Each result's
    :meth:`~genzoo.core.MetricResult.to_dict` record is appended to ``run_dir/eval.jsonl`` and handed to
    ``on_result(name, result)`` as each metric finishes. A metric that is not defined for the model is
    recorded as ``{"unavailable": reason}``. Everything that can be checked before the work is (metric
    names and options, counts, that ``eval.jsonl`` can be written, the given samples' shape and values, a
    protocol that cannot be met: more samples asked than given, a reference classifier not trained yet:
    :class:`~genzoo.core.ProtocolError` / ``ClassifierNotFoundError``); if writing a score fails anyway it
    is printed to stderr and a :class:`GenzooError` (with the results as ``.results``) is raised after all
    metrics ran, so no computed score is lost. ``progress`` shows bars on stderr over the long passes.
    """
    if isinstance(samples, (str, os.PathLike)):
        from genzoo.data.folder import read_image_set

        samples = read_image_set(samples)
    check_count(batch_size, "batch_size")
    check_count(seed, "seed", minimum=0)
    names = metrics or (["nll"] if run_dir is not None else [])
    if not names:
        raise UsageError("no metric to compute; name one or more (`genzoo list` shows them)")
    for name in names:
        METRICS.get(name)  # an unknown metric name is an error before any work
    if data is not None:
        DATASETS.get(data)  # so is an unknown dataset
    per_metric = _split_options(names, options or {})
    scores_file = Path(run_dir) / "eval.jsonl" if write and run_dir is not None else None
    model = None
    cfg = None
    if run_dir is not None:
        cfg = load_run_config(Path(run_dir))
        if scores_file is not None:
            check_writable_file(scores_file, "the scores file")
        model = load(run_dir, device)
    if cfg is not None and data is None:
        data = cfg.data["name"]
        data_options = {k: v for k, v in cfg.data.items() if k != "name"}
        data_dir = run_data_dir(cfg, data_dir)
    if data is None:
        raise UsageError("evaluate needs a run directory or a dataset name to compare against")
    if samples is not None:
        _check_samples(samples, data, data_dir, data_options or {})
    ctx = EvalContext(
        model, data, data_options or {}, data_dir, resolve_device(device), seed, batch_size,
        provided_samples=samples, real_baseline=real_baseline, run_dir=Path(run_dir) if run_dir else None,
        progress=progress,
    )
    check_protocol(names, per_metric, ctx)
    results: dict[str, MetricResult] = {}
    unsaved: list[str] = []
    for name in names:
        torch.manual_seed(seed)  # metrics that draw noise (IW bounds) repeat exactly per seed
        result = run_metric(name, ctx, per_metric[name])
        result.details["time"] = time.time()
        results[name] = result
        if on_result is not None:
            on_result(name, result)
        if scores_file is not None:
            try:
                append_jsonl(scores_file, result.to_dict())
            except OSError as e:
                unsaved.append(f"{name} ({e.strerror or e})")
                line = json.dumps(result.to_dict(), default=str)
                print(f"genzoo: could not append to {scores_file}: {e.strerror or e}; the score: {line}",
                      file=sys.stderr)
    if unsaved:
        err = GenzooError(f"{scores_file}: could not save the scores of {', '.join(unsaved)}; "
                          f"they are printed above")
        err.results = results  # type: ignore[attr-defined]
        raise err
    return results


def _check_samples(samples: Any, data: str, data_dir: str | os.PathLike[str] | None, options: dict[str, Any]) -> None:
    """Images given to :func:`evaluate`: a float tensor (N, *shape of the dataset) in [0, 1], all finite."""
    if not isinstance(samples, Tensor) or not samples.is_floating_point():
        raise UsageError(f"samples must be a float tensor of images in [0, 1], got {type(samples).__name__}"
                         + (f" of {samples.dtype}" if isinstance(samples, Tensor) else ""))
    shape = tuple(load_dataset(data, "test", data_dir, **options).info.shape)
    if samples.ndim != len(shape) + 1 or tuple(samples.shape[1:]) != shape or len(samples) == 0:
        raise UsageError(f"samples have shape {tuple(samples.shape)}; {data!r} images need (N, "
                         f"{', '.join(map(str, shape))}) with N >= 1")
    bad = int((~torch.isfinite(samples)).sum())
    if bad:
        raise UsageError(f"samples contain {bad} non-finite value(s) (NaN or inf) of {samples.numel()}; "
                         f"scores of such images are meaningless")
    lo, hi = float(samples.min()), float(samples.max())
    if lo < 0 or hi > 1:
        raise UsageError(f"samples range over [{lo:g}, {hi:g}]; expected floats in [0, 1]")
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
