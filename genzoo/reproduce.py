"""Reproduction suite: one paper's protocol end to end, with the result recorded beside the paper's.

``reproduce(name)`` takes an entry of :data:`ENTRIES` (one table, as data: named config, metric and its
options, the paper's number and citation), trains the config under a training-time budget
(``genzoo.api.train`` with a hook that also evaluates the model at a few points of the budget: the
metric-vs-time curve), evaluates the final model with the paper's metric and protocol
(``genzoo.api.evaluate``), and appends one JSON row to a results file
(default ``benchmarks/results/reproduce.jsonl``): the number, the paper's number, hardware, threads,
epochs, wall times, the curve and the time at which it first came within 1 %, 5 % and 10 % of the
paper. :func:`render_markdown` turns the rows into the section of BENCHMARKS.md between
``<!-- reproduce:begin -->`` and ``<!-- reproduce:end -->`` (:func:`update_markdown`), and
:func:`write_curve_svg` draws each curve as an SVG chart (:func:`genzoo.report.plots.line_chart`).

The budget counts training time only: the curve's evaluations pause the clock (they run on copies
of the checkpoint, with the training RNG state saved and restored, so they do not change training).
Training also stops at the config's own length (``train.epochs`` / ``train.steps``) if that comes
first. Curve points use the cheaper ``curve_options`` (fewer samples / images, stated in the row);
the final number uses the entry's full ``options``.

A recorded run can be continued with more budget (``continue_run``, ``genzoo reproduce NAME --continue
RUN_DIR``): training resumes from the run's last checkpoint (bit for bit, as ``genzoo train --resume``),
the new row carries the earlier curve on, its times count from the start of the first segment, and
``segments`` lists each one (budget, steps, commit). The rendered table headlines each entry's longest-trained
run (a continued run by its newest row) and lists the entry's other runs below it.
A run the engine stops on divergence is still recorded: scored on its last good checkpoint, with
``stopped_by: diverged`` and the engine's message.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch

from genzoo.core import MetricResult
from genzoo.core.errors import TrainingDiverged, UsageError

RESULTS_FILE = Path("benchmarks/results/reproduce.jsonl")
BEGIN, END = "<!-- reproduce:begin -->", "<!-- reproduce:end -->"


class ReproduceError(UsageError):
    """An unknown entry, a bad override or an unusable results file (a one-line message)."""


@dataclass(frozen=True)
class Entry:
    """One paper number and the protocol that measures it."""

    config: str  # named config (genzoo/configs) or YAML path
    metric: str  # registered metric (genzoo list)
    key: str  # field of the metric's result that is the number
    higher_is_better: bool
    paper: float | None  # the paper's number (None: the paper has none for this data)
    citation: str
    options: dict[str, Any] = field(default_factory=dict)  # metric options of the final number
    curve_options: dict[str, Any] = field(default_factory=dict)  # cheaper options for curve points
    overrides: dict[str, Any] = field(default_factory=dict)  # config overrides (section.key: value)
    notes: str = ""  # what differs from the paper's protocol


_NLL = {"metric": "nll", "key": "nll_nats", "higher_is_better": False}
# Parzen curve points use the full protocol (about 45 s each on a CPU core, with the clock paused): a
# window fitted to 1,000 samples scores ~85 nats below one fitted to 10,000 (gan: 71 vs 158 at 55 minutes),
# so cheaper points could not say when the paper's number was reached.
_PARZEN = {"metric": "parzen", "key": "parzen_log_likelihood",
           "higher_is_better": True, "options": {"n_samples": 10000}, "curve_options": {"n_samples": 10000}}
_EXACT = {**_NLL, "options": {}, "curve_options": {"subset": 1000}}
_DRAW = {**_NLL, "options": {"importance_samples": 1}, "curve_options": {"importance_samples": 1, "subset": 1000}}
_VAE = {**_NLL, "options": {"importance_samples": 5000, "subset": 1000},
        "curve_options": {"importance_samples": 100, "subset": 500}}

# the classifier is named so that reproduce trains it before training when it is not cached yet
_CAPTIONS = {"metric": "caption-alignment", "key": "digit_at_box", "higher_is_better": True,
             "options": {"n_samples": 1000, "extractor": "classifier:mnist"},
             "curve_options": {"n_samples": 200, "extractor": "classifier:mnist"}}
_CAPTION_NOTES = ("machine-checked captions of captioned-mnist test scenes (the papers: human judgements of "
                  "birds and flowers); position / IoU beside, over the single-digit scenes")

#: name -> entry. Paper numbers as the papers' tables give them (nats; Parzen: mean log-likelihood).
ENTRIES: dict[str, Entry] = {
    "vae": Entry("vae-binarized-mnist", **_VAE, paper=88.71,
                 citation="Burda et al. 2016, Table 1 (VAE, 1 stochastic layer, k=1 training; L_5000)",
                 notes="test NLL on 1000 evenly spaced test images (the paper: all 10,000)"),
    "vae2": Entry("vae2-binarized-mnist", **_VAE, paper=88.08,
                  citation="Burda et al. 2016, Table 1 (VAE, 2 stochastic layers, k=1 training; L_5000)",
                  notes="test NLL on 1000 evenly spaced test images (the paper: all 10,000)"),
    "nade": Entry("nade-binarized-mnist", **_EXACT, paper=88.86,
                  citation="Larochelle & Murray 2011, Table 2 (NADE, binarized MNIST)",
                  notes="Adam instead of the paper's SGD with validation-chosen learning rate"),
    "pixelcnn": Entry("pixelcnn-binarized-mnist", **_EXACT, paper=81.30,
                      citation="van den Oord et al. 2016a, Table 4 (PixelCNN, binarized MNIST)"),
    "row-lstm": Entry("row-lstm-binarized-mnist", **_EXACT, paper=80.54,
                      citation="van den Oord et al. 2016a, Table 4 (Row LSTM, 7 layers)"),
    "diagonal-bilstm": Entry("diagonal-bilstm-binarized-mnist", **_EXACT, paper=79.20,
                             citation="van den Oord et al. 2016a, Table 4 (Diagonal BiLSTM, 7 layers)"),
    "gan": Entry("gan-mnist", **_PARZEN, paper=225.0,
                 citation="Goodfellow et al. 2014, Table 1 (Parzen, MNIST)"),
    "cgan": Entry("cgan-mnist", **_PARZEN, paper=132.0,
                  citation="Mirza & Osindero 2014, Table 1 (Parzen, MNIST)"),
    "gmmn": Entry("gmmn-mnist", **_PARZEN, paper=147.0,
                  citation="Li, Swersky & Zemel 2015, Table 1 (GMMN, MNIST)",
                  notes="Adam instead of the authors' SGD (lr 2, momentum 0.9, loss weight 1000)"),
    "gmmn-ae": Entry("gmmn-ae-mnist", **_PARZEN, paper=282.0,
                     citation="Li, Swersky & Zemel 2015, Table 1 (GMMN+AE, MNIST)",
                     notes="auto-encoder trained end to end (no layer-wise pre-training); Adam"),
    "dcgan": Entry("dcgan-mnist", metric="fid", key="fid", higher_is_better=False, paper=None,
                   citation="Radford et al. 2016 (no MNIST number); FID in the reference MNIST classifier's "
                            "features",
                   options={"n_samples": 10000, "extractor": "classifier:mnist"},
                   curve_options={"n_samples": 2000, "extractor": "classifier:mnist"}),
    "acgan": Entry("acgan-mnist", metric="class-accuracy", key="accuracy", higher_is_better=True, paper=None,
                   citation="Odena et al. 2016 (ImageNet/CIFAR-10 only); accuracy of the reference MNIST "
                            "classifier on class-conditional samples",
                   options={"n_samples": 10000, "extractor": "classifier:mnist"},
                   curve_options={"n_samples": 2000, "extractor": "classifier:mnist"}),
    # the Extensions half: every family with a number on data genzoo has (paper=None where the paper
    # has no number for it; the row is then a genzoo-internal score, recorded for the curve)
    "draw": Entry("draw-binarized-mnist", **_DRAW, paper=80.97,
                  citation="Gregor et al. 2015, Table 2 (DRAW with attention, binarized MNIST; bound, nats)",
                  notes="the variational bound (k=1) on all 10,000 test images, as the paper reports it"),
    "draw-noattn": Entry("draw-noattn-binarized-mnist", **_DRAW, paper=87.40,
                         citation="Gregor et al. 2015, Table 2 (DRAW without attention; bound, nats)",
                         notes="the variational bound (k=1) on all 10,000 test images, as the paper reports it"),
    "vpn": Entry("vpn-moving-mnist", metric="frame-nll", key="nats_per_frame", higher_is_better=False, paper=87.6,
                 citation="Kalchbrenner et al. 2016, Table 1 (VPN, Moving MNIST: nats per frame, 10 frames "
                          "predicted from 10; bound 86.3)",
                 options={"batch_size": 16}, curve_options={"subset": 64, "batch_size": 16},
                 notes="Moving MNIST generated on the fly from MNIST test digits (the paper: its fixed test set); "
                       "the number is the grey-target cross-entropy the paper reports, floor_nats_per_frame its bound"),
    "vgan": Entry("vgan-moving-mnist", metric="frame-fid", key="frame_fid", higher_is_better=False, paper=None,
                  citation="Vondrick et al. 2016 (Flickr video, human judgements; no Moving MNIST number); frame "
                           "FID in the reference MNIST classifier's features",
                  options={"n_samples": 1000, "extractor": "classifier:mnist"},
                  curve_options={"n_samples": 200, "extractor": "classifier:mnist"}),
    "pix2pix": Entry("pix2pix-edges2fashion", metric="translation", key="accuracy", higher_is_better=True,
                     paper=None,
                     citation="Isola et al. 2017 (facades, maps, Cityscapes; the facades release could not be "
                              "staged); class accuracy of edges->Fashion-MNIST outputs under the reference "
                              "Fashion-MNIST classifier",
                     options={"n_samples": 10000, "extractor": "classifier:fashion-mnist"},
                     curve_options={"n_samples": 1000, "extractor": "classifier:fashion-mnist"}),
    "gan-int-cls": Entry("gan-int-cls-captioned-mnist", **_CAPTIONS, paper=None,
                         citation="Reed et al. 2016a (CUB / Oxford-102, human ranking; no number); the "
                                  "captioned digit found in the captioned box by the reference MNIST classifier",
                         notes=_CAPTION_NOTES),
    "gawwn": Entry("gawwn-captioned-mnist", **_CAPTIONS, paper=None,
                   citation="Reed et al. 2016b (CUB / MHP, human ranking; no number); the captioned digit found "
                            "in the given box by the reference MNIST classifier",
                   notes=_CAPTION_NOTES + "; the box and keypoints are given (model.location=generated: from text)"),
    # lecture models whose papers report no number on staged data: genzoo-internal scores, for the curve
    "lapgan": Entry("lapgan-mnist", **_PARZEN, paper=None,
                    citation="Denton et al. 2015 (Parzen on CIFAR-10 / STL-10 only; no MNIST number)"),
    "gated-pixelcnn": Entry("gated-pixelcnn-binarized-mnist", **_EXACT, paper=None,
                            citation="van den Oord et al. 2016b (CIFAR-10 / ImageNet only; no MNIST number)"),
    "pixelcnn-cifar10": Entry("pixelcnn-cifar10", metric="nll", key="bits_per_dim", higher_is_better=False,
                              paper=3.14, options={}, curve_options={"subset": 200},
                              citation="van den Oord et al. 2016a, Table 5 (PixelCNN, CIFAR-10, bits/dim)",
                              notes="the staged 4000-image train / 1000-image test subset of CIFAR-10 (the "
                                    "paper: 50,000 / 10,000)"),
    "diagonal-bilstm-cifar10": Entry("diagonal-bilstm-cifar10", metric="nll", key="bits_per_dim",
                                     higher_is_better=False, paper=3.00, options={}, curve_options={"subset": 200},
                                     citation="van den Oord et al. 2016a, Table 5 (Diagonal BiLSTM, CIFAR-10)",
                                     notes="the staged 4000 / 1000-image subset of CIFAR-10"),
}


def get_entry(name: str, entries: dict[str, Entry] | None = None) -> Entry:
    table = ENTRIES if entries is None else entries
    if name not in table:
        raise ReproduceError(f"unknown reproduction {name!r}; known: {', '.join(table)}")
    return table[name]


def within(value: float, paper: float | None, frac: float, higher_is_better: bool) -> bool:
    """Is ``value`` at least as good as ``paper`` made worse by ``frac`` of its magnitude?"""
    if paper is None:
        return False
    slack = abs(paper) * frac
    return value >= paper - slack if higher_is_better else value <= paper + slack


def _hardware(device: str) -> str:
    if device.startswith("cuda") and torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(0)} (CUDA), {os.cpu_count()} CPU cores"
    model = platform.processor() or "unknown model"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.machine()} CPU ({model}), {os.cpu_count()} cores"


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parent)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


class _Curve:
    """Engine hook: stops training at the budget and evaluates at ``points`` fractions of it.

    Training time excludes the evaluations (the clock pauses while a curve point is computed).
    """

    def __init__(self, entry: Entry, budget_s: float, points: int, data_dir: Any, device: str,
                 evaluate: Callable[..., dict[str, Any]], offset_s: float = 0.0, offset_cpu_s: float = 0.0) -> None:
        self.entry, self.budget_s, self.data_dir, self.device = entry, budget_s, data_dir, device
        self.offset_s, self.offset_cpu_s = offset_s, offset_cpu_s  # training time of earlier segments
        self.marks = [budget_s * (i + 1) / (points + 1) for i in range(points)]  # final point = the real eval
        self.evaluate = evaluate
        self.start: float | None = None
        self.paused = 0.0
        self.curve: list[dict[str, Any]] = []
        self.stopped_by = "schedule"
        self.train_s = offset_s
        self.steps_per_epoch = 1
        self.cpu_start: float | None = None
        self.cpu_paused = 0.0
        self.train_cpu_s = offset_cpu_s
        self.kept: tuple[int, float, float] | None = None  # (step, train s, CPU s) of the newest checkpoint

    def elapsed(self) -> float:
        return 0.0 if self.start is None else time.perf_counter() - self.start - self.paused

    def __call__(self, trainer: Any, done: int) -> None:
        if self.start is None:  # the clock starts after the first step (compilation, first allocations)
            self.start = time.perf_counter()
            self.cpu_start = time.process_time()
            self.steps_per_epoch = max(1, int(trainer.steps_per_epoch))
        self.train_s = self.offset_s + self.elapsed()
        self.train_cpu_s = self.offset_cpu_s + time.process_time() - (self.cpu_start or 0.0) - self.cpu_paused
        if trainer.last_checkpoint == done:
            self.kept = (done, self.train_s, self.train_cpu_s)
        if self.marks and self.elapsed() >= self.marks[0]:
            self.marks.pop(0)
            t0, c0 = time.perf_counter(), time.process_time()
            trainer.save_checkpoint(done)
            self.kept = (done, self.train_s, self.train_cpu_s)
            with torch.random.fork_rng(devices=[torch.device(self.device)] if self.device.startswith("cuda") else []):
                res = self.evaluate(trainer.run_dir, [self.entry.metric], options=self.entry.curve_options,
                                    data_dir=self.data_dir, device=self.device, write=False,
                                    progress=False)[self.entry.metric]
            self.curve.append(_point(self.entry, res, self.train_s, done, done / trainer.steps_per_epoch))
            self.paused += time.perf_counter() - t0
            self.cpu_paused += time.process_time() - c0
        if self.elapsed() >= self.budget_s and done < trainer.total_steps:
            trainer.total_steps = done  # the engine ends the loop and writes the final checkpoint
            self.stopped_by = "budget"


def _point(entry: Entry, res: MetricResult, train_s: float, step: int, epoch: float) -> dict[str, Any]:
    if "unavailable" in res:
        return {"train_s": round(train_s, 1), "step": step, "epoch": round(epoch, 3), "unavailable": res["unavailable"]}
    return {"train_s": round(train_s, 1), "step": step, "epoch": round(epoch, 3), "value": float(res[entry.key])}


def reproduce(
    name: str,
    budget_minutes: float = 60.0,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    out_dir: str | os.PathLike[str] = "runs/reproduce",
    results_file: str | os.PathLike[str] | None = RESULTS_FILE,
    curve_points: int = 3,
    device: str = "cpu",
    seed: int = 0,
    entries: dict[str, Entry] | None = None,
    overrides: dict[str, Any] | None = None,
    options: dict[str, Any] | None = None,
    hooks: list[Any] | None = None,
    command: str | None = None,
    continue_run: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Run entry ``name`` end to end and return (and append to ``results_file``) its result row.

    ``entries`` replaces the table (tests), ``overrides`` adds config overrides, ``options`` replaces
    metric options of the final evaluation; ``hooks`` are extra engine hooks (e.g. the GPU suite's).
    A fresh run directory ``out_dir/<name>-<time>`` is used every time, unless ``continue_run`` names a
    run recorded in ``results_file``: that run then trains ``budget_minutes`` more (only ``train.*``
    overrides may be given) and the new row extends its curve.
    """
    from genzoo import api

    entry = get_entry(name, entries)
    if budget_minutes <= 0:
        raise ReproduceError(f"--budget-minutes must be positive, got {budget_minutes}")
    if options:
        entry = replace(entry, options={**entry.options, **options})
    commit = _git_commit()  # the code that trains (HEAD may move while a long run goes on)
    prev = None if continue_run is None else _previous_row(name, continue_run, results_file, overrides or {})
    if prev is not None:
        run_dir = Path(prev["run_dir"])  # as the row spells it, so the new row replaces it in the table
        seed = prev["seed"]
        merged = {**(overrides or {}), "train.progress": False}  # the rest is in the run's saved config
    else:
        merged = {**entry.overrides, **(overrides or {}), "train.progress": False}
        run_dir = Path(out_dir) / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
        if run_dir.exists():
            raise ReproduceError(f"{run_dir} already exists; wait a second or choose another --out-dir")
    if entry.options.get("extractor", "").startswith("classifier:"):
        _ensure_classifier(entry.options["extractor"].split(":", 1)[1], data_dir, device)
    curve = _Curve(entry, 60.0 * budget_minutes, curve_points, data_dir, device, api.evaluate,
                   offset_s=prev["train_s"] if prev else 0.0,
                   offset_cpu_s=(prev.get("train_cpu_s") or 0.0) if prev else 0.0)
    wall0 = time.perf_counter()
    diverged, diverged_at_s = None, 0.0
    try:
        run = api.train(config=None if prev else entry.config, overrides=merged, run_dir=run_dir,
                        data_dir=data_dir, device=device, seed=None if prev else seed, resume=prev is not None,
                        hooks=[*(hooks or []), curve])
    except TrainingDiverged as e:  # the paper's number is then scored on the last good checkpoint, and said so
        run, diverged = _kept_run(run_dir, e), str(e)
        curve.stopped_by = "diverged"
        diverged_at_s = curve.train_s
        if curve.kept is not None and curve.kept[0] == run.step:  # the row's times are the kept checkpoint's
            curve.train_s, curve.train_cpu_s = curve.kept[1], curve.kept[2]
        print(f"reproduce {name}: {diverged}; scoring the kept checkpoint (step {run.step})", file=sys.stderr)
    train_wall = time.perf_counter() - wall0
    t0 = time.perf_counter()
    res = api.evaluate(run.run_dir, [entry.metric], options=entry.options, data_dir=data_dir, device=device)
    res = res[entry.metric]
    eval_s = time.perf_counter() - t0
    if "unavailable" in res:
        raise ReproduceError(f"{name}: metric {entry.metric!r} unavailable: {res['unavailable']}")
    epochs = run.step / curve.steps_per_epoch
    final = _point(entry, res, curve.train_s, run.step, epochs)
    points = [*_carried_points(prev, entry), *curve.curve, final]
    overrides_all = {**(prev["overrides"] if prev else {}), **merged}
    overrides_all.pop("train.progress")
    command = command or " ".join(["genzoo", "reproduce", name, "--budget-minutes", f"{budget_minutes:g}"])
    segment = {"budget_minutes": budget_minutes, "train_s": round(curve.train_s - curve.offset_s, 1),
               "steps": run.step, "genzoo_commit": commit, "command": command,
               "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    row: dict[str, Any] = {
        "entry": name, "config": entry.config, "overrides": overrides_all,
        "metric": entry.metric, "key": entry.key, "value": final["value"],
        "stderr": res.errors.get(entry.key),  # the standard error the metric reports for its headline
        "higher_is_better": entry.higher_is_better, "paper": entry.paper, "citation": entry.citation,
        "options": entry.options, "curve_options": entry.curve_options, "notes": entry.notes,
        "seed": seed, "budget_minutes": budget_minutes + (prev["budget_minutes"] if prev else 0.0),
        "stopped_by": curve.stopped_by, "steps": run.step,
        "epochs": round(epochs, 3), "batch_size": run.config.train.batch_size,
        "train_s": round(curve.train_s, 1), "train_cpu_s": round(curve.train_cpu_s, 1),
        "load_average_end": round(os.getloadavg()[0], 1) if hasattr(os, "getloadavg") else None,
        "train_wall_s": round(train_wall + (prev.get("train_wall_s", 0.0) if prev else 0.0), 1),
        "eval_s": round(eval_s, 1),
        "curve": points, "time_to": _time_to(entry, points),
        "hardware": _hardware(device), "device": device, "threads": torch.get_num_threads(),
        "torch": torch.__version__, "genzoo_commit": commit, "run_dir": str(run.run_dir),
        "date": segment["date"], "command": command, "metric_result": res.to_dict(),
        "segments": [*_segments(prev), segment],
    }
    if diverged is not None:
        row["diverged"] = diverged
        row["diverged_at_train_s"] = round(diverged_at_s, 1)
    if results_file is not None:
        path = Path(results_file)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a") as f:
            f.write(json.dumps(row, default=str) + "\n")
    return row


def _previous_row(name: str, run_dir: str | os.PathLike[str], results_file: str | os.PathLike[str] | None,
                  overrides: dict[str, Any]) -> dict[str, Any]:
    """The newest row of ``results_file`` recording run ``run_dir`` of entry ``name``, checked to be the
    state its last checkpoint holds (a run trained further by hand would break the curve)."""
    from genzoo.train.checkpoint import list_checkpoints

    if results_file is None:
        raise ReproduceError("--continue needs the results file that recorded the run")
    target = Path(run_dir).resolve()
    rows = [r for r in read_results(results_file) if Path(r.get("run_dir", "")).resolve() == target]
    if not rows:
        raise ReproduceError(f"no row of {results_file} records the run {run_dir}; --continue extends a "
                             "recorded reproduction (its run directory as the row gives it)")
    prev = rows[-1]
    if prev["entry"] != name:
        raise ReproduceError(f"{run_dir} is a run of entry {prev['entry']!r}, not {name!r}")
    if prev.get("stopped_by") == "schedule" and not {"train.steps", "train.epochs"} & set(overrides):
        raise ReproduceError(f"{run_dir} ended at its config's own length, not its budget; continue it with a "
                             "longer schedule, e.g. --set train.steps=N (or train.epochs=N)")
    steps = list_checkpoints(target) if target.is_dir() else []
    if not steps:
        raise ReproduceError(f"{run_dir} holds no checkpoint to continue from")
    if steps[-1] != prev["steps"]:
        raise ReproduceError(f"{run_dir}: its last checkpoint is step {steps[-1]}, but the recorded row ended at "
                             f"step {prev['steps']}; it was trained outside `genzoo reproduce`")
    return prev


def _kept_run(run_dir: Path, error: TrainingDiverged) -> Any:
    """The run as its last good checkpoint left it, after training stopped on divergence."""
    from genzoo.config import load_run_config
    from genzoo.train.checkpoint import list_checkpoints

    steps = list_checkpoints(run_dir) if run_dir.is_dir() else []
    if not steps:
        raise error
    return SimpleNamespace(run_dir=run_dir, step=steps[-1], config=load_run_config(run_dir))


def _carried_points(prev: dict[str, Any] | None, entry: Entry) -> list[dict[str, Any]]:
    """An earlier row's curve points, each measured under other options than the entry's curve options
    tagged with them (the entry's cheap protocol changed between segments: such points do not compare)."""
    if prev is None:
        return []
    earlier = prev.get("curve_options")
    if earlier is None or earlier == entry.curve_options:
        return list(prev["curve"])
    return [p if "options" in p else {**p, "options": earlier} for p in prev["curve"]]


def _segments(prev: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The segments of an earlier row (a row from before segments were recorded is one segment)."""
    if prev is None:
        return []
    if "segments" in prev:
        return list(prev["segments"])
    return [{"budget_minutes": prev["budget_minutes"], "train_s": prev["train_s"], "steps": prev["steps"],
             "genzoo_commit": prev.get("genzoo_commit"), "command": prev.get("command"), "date": prev.get("date")}]


def _newest_per_run(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows without those a later row of the same run continues (that row carries their curve on)."""
    last = {r.get("run_dir"): i for i, r in enumerate(rows)}
    return [r for i, r in enumerate(rows) if r.get("run_dir") is None or last[r.get("run_dir")] == i]


def _time_to(entry: Entry, points: list[dict[str, Any]]) -> dict[str, float | None]:
    """Training seconds of the first curve point within 1 / 5 / 10 % of the paper (None: not reached)."""
    out: dict[str, float | None] = {}
    for frac in (0.01, 0.05, 0.10):
        hit = [p["train_s"] for p in points if "value" in p and "options" not in p  # (tagged: other protocol)
               and within(p["value"], entry.paper, frac, entry.higher_is_better)]
        out[f"{int(frac * 100)}%"] = hit[0] if hit else None
    return out


def _ensure_classifier(dataset: str, data_dir: Any, device: str) -> None:
    """Train and cache the reference classifier the metric needs, once (minutes on a CPU)."""
    from genzoo.metrics.classifier import classifier_path, train_reference_classifier

    if not classifier_path(dataset).is_file():
        print(f"reproduce: training the reference {dataset} classifier first (cached for later runs)", file=sys.stderr)
        train_reference_classifier(dataset, data_dir, None, None, 0, device, verbose=False)


# ----- the BENCHMARKS.md section ------------------------------------------------------------------
def read_results(results_file: str | os.PathLike[str] = RESULTS_FILE) -> list[dict[str, Any]]:
    path = Path(results_file)
    if not path.is_file():
        return []
    rows = []
    for i, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise ReproduceError(f"{path}:{i}: not a JSON line ({e.msg})") from None
    return rows


def _fmt(v: float | None, stderr: float | None = None) -> str:
    if v is None:
        return "—"
    s = f"{v:.4g}" if abs(v) < 10 else f"{v:.2f}"
    decimals = max(2, len(s.partition(".")[2])) if "e" not in s else 2  # the error to the value's precision
    return s + (f" ± {stderr:.{decimals}f}" if stderr is not None else "")


def _fmt_minutes(s: float | None) -> str:
    return "—" if s is None else f"{s / 60:.1f} min"


def _headline_runs(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Split the runs into each entry's longest-trained one (the newest on a tie), in the order of
    :data:`ENTRIES` (unknown entries after, by name), and the others (oldest first)."""
    best: dict[str, int] = {}
    for i, r in enumerate(rows):
        j = best.get(r["entry"])
        if j is None or r.get("train_s", 0.0) >= rows[j].get("train_s", 0.0):
            best[r["entry"]] = i
    order = {name: k for k, name in enumerate(ENTRIES)}
    heads = sorted(best, key=lambda e: (order.get(e, len(order)), e))
    chosen = set(best.values())
    return [rows[best[e]] for e in heads], [r for i, r in enumerate(rows) if i not in chosen]


def render_markdown(rows: list[dict[str, Any]]) -> str:
    """The reproduction table (each entry's longest-trained run, in the entry table's order), each of those
    runs' curve, and a short table of the entries' other (shorter or superseded) runs."""
    if not rows:
        return "No reproduction runs recorded yet (`genzoo reproduce NAME`)."
    rows, earlier = _headline_runs(_newest_per_run(rows))
    lines = [
        "| entry | metric | genzoo | paper | within 1% / 5% / 10% at | epochs (steps × batch) | training (wall, CPU) | "
        "stopped by | hardware, threads, load average | date |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        t = r.get("time_to", {})
        reach = " / ".join(_fmt_minutes(t.get(k)) for k in ("1%", "5%", "10%"))
        gap = _gap(r)
        if gap is not None and t.get("1%") is None:
            reach += f" (at the end {gap})"
        better = "higher" if r["higher_is_better"] else "lower"
        cpu = f", {r['train_cpu_s'] / 60:.1f} CPU-min" if r.get("train_cpu_s") is not None else ""
        load = f", load {r['load_average_end']}" if r.get("load_average_end") is not None else ""
        lines.append(
            f"| {r['entry']} (`{r['config']}`) | {r['metric']} ({r['key']}, {better} is better) "
            f"| {_fmt(r['value'], r.get('stderr'))} | {_fmt(r.get('paper'))} | {reach} "
            f"| {r['epochs']:.2f} ({r['steps']} × {r['batch_size']}) | {_fmt_minutes(r['train_s'])}{cpu} "
            f"(+ {r['eval_s']:.0f} s eval) | {r['stopped_by']} | {r['hardware']}, {r['threads']} thread(s){load} "
            f"| {r['date']} |"
        )
    lines.append("")
    lines.append("Curves (training minutes: value; the last point is the final protocol, the others use the "
                 "entry's `curve_options`, said where they are cheaper):")
    lines.append("")
    for r in rows:
        pts = ", ".join(
            f"{p['train_s'] / 60:.1f}: {_fmt(p['value'])}" if "value" in p else f"{p['train_s'] / 60:.1f}: n/a"
            for p in r["curve"]
        )
        extra = f" {r['notes']}." if r.get("notes") else ""
        if r.get("diverged"):
            at = r.get("diverged_at_train_s")
            if at is None:
                extra += " Training stopped on divergence; the number is the last good checkpoint's."
            else:
                extra += (f" Training stopped on divergence at {at / 60:.1f} training minutes; the number and "
                          "the row's times are the last good checkpoint's.")
        if len(r.get("segments", [])) > 1:
            parts = " + ".join(f"{sg['train_s'] / 60:.1f}" for sg in r["segments"])
            extra += f" Continued run: {parts} training minutes ({len(r['segments'])} segments, resumed exactly)."
        if r.get("curve_options") is not None and r.get("curve_options") != r.get("options"):
            cheap = ", ".join(f"{k}={v}" for k, v in r["curve_options"].items())
            extra += f" Curve points before the last: {cheap} (not the final protocol)."
        other = [p for p in r["curve"] if "options" in p]
        if other:
            opts = ", ".join(f"{k}={v}" for k, v in other[0]["options"].items())
            extra += (f" The first {len(other)} points (to {other[-1]['train_s'] / 60:.1f} min) were measured "
                      f"with {opts}, an earlier curve protocol, and do not compare with the later ones.")
        lines.append(f"- **{r['entry']}** ({r['date']}, `{r['command']}`): {pts}. {r['citation']}.{extra}")
    if earlier:
        lines += ["", "Other runs of these entries (shorter, or stopped early; their curves are in the results file):",
                  "", "| entry | config overrides | genzoo | paper | training | stopped by | load average | date |",
                  "|---|---|---|---|---|---|---|---|"]
        for r in earlier:
            load = r.get("load_average_end")
            overrides = ", ".join(f"`{k}={v}`" for k, v in sorted(r.get("overrides", {}).items())) or "—"
            lines.append(f"| {r['entry']} | {overrides} | {_fmt(r['value'], r.get('stderr'))} | {_fmt(r.get('paper'))} "
                         f"| {_fmt_minutes(r['train_s'])} | {r['stopped_by']} | {'—' if load is None else load} "
                         f"| {r['date']} |")
    return "\n".join(lines)


def _gap(row: dict[str, Any]) -> str | None:
    """How far the row's number is from the paper's, as a share of the paper's magnitude (None: no paper)."""
    paper, value = row.get("paper"), row.get("value")
    if paper is None or value is None or paper == 0:
        return None
    worse = (paper - value) if row["higher_is_better"] else (value - paper)
    return f"{abs(worse) / abs(paper):.1%} {'worse' if worse > 0 else 'better'} than the paper"


def update_markdown(markdown_file: str | os.PathLike[str], rows: list[dict[str, Any]]) -> bool:
    """Replace the text between the reproduce markers of ``markdown_file``; False if it has none."""
    path = Path(markdown_file)
    text = path.read_text()
    if BEGIN not in text or END not in text:
        return False
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    path.write_text(f"{head}{BEGIN}\n{render_markdown(rows)}\n{END}{tail}")
    return True


def write_curve_svg(row: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """The row's curve (value vs training minutes) as an SVG line chart, the paper's number beside it."""
    from genzoo.report.plots import line_chart

    pts = [(p["train_s"] / 60, p["value"]) for p in row["curve"] if "value" in p]
    if not pts:
        raise ReproduceError(f"{row['entry']}: no curve point has a value")
    series = {"genzoo": pts}
    if row.get("paper") is not None:
        series["paper"] = [(0.0, row["paper"]), (max(x for x, _ in pts), row["paper"])]
    title = f"{row['entry']}: {row['metric']} ({row['key']}) vs training minutes"
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(line_chart(series, title=title, xlabel="training minutes") + "\n")
    return out


def entries_as_rows() -> list[dict[str, Any]]:
    """The table of entries, for `genzoo reproduce --list`."""
    return [{"name": k, **asdict(v)} for k, v in ENTRIES.items()]
