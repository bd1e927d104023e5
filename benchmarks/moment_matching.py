"""Benchmark: GMMN, GMMN+AE and LAPGAN on MNIST — short, time-budgeted CPU runs.

Each model is trained through ``genzoo.train`` with its named config (``gmmn-mnist``,
``gmmn-ae-mnist``, ``lapgan-mnist``) plus the CPU overrides below, in its own subprocess (one torch
thread), stopped after ``--budget`` seconds of training by a hook. Reported per model:

* training images/s: images drawn from the training set per second of the training loop (the
  engine's ``images_per_s`` of the last log record; for LAPGAN one image feeds all 6 networks);
* peak memory: peak resident set size of the training subprocess (``resource.getrusage`` ``ru_maxrss``),
  read right after training, before evaluation — it includes Python, torch and the MNIST arrays;
* Parzen-window log-likelihood of the MNIST test set (nats), the protocol of Goodfellow et al. 2014
  as used by Li et al. 2015: Gaussian KDE on 10,000 samples, bandwidth by grid search on the
  validation split (``genzoo.metrics.parzen``);
* FID and precision/recall with the reference MNIST classifier's features, when that classifier is
  cached (``genzoo classifier mnist --data-dir ...``); otherwise they are reported as not run.

Usage::

    PYTHONPATH=. python benchmarks/moment_matching.py --out /tmp/genzoo-mm [--budget 420] \
        [--models gmmn gmmn-ae lapgan] [--data-dir /work/shared/data]

``--eval-only`` recomputes FID / precision-recall (and the sample grid) of finished runs, e.g. once
the reference classifier exists. Writes ``OUT/<model>/summary.json``, ``OUT/<model>/samples.png`` and
prints a markdown table (pasted into
``benchmarks/results/moment_matching.md``). Run directories (checkpoints, sample grids) go to
``OUT/<model>/run``; nothing is written inside the repository.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.common import flat_result

#: named config + overrides that make a run fit a single shared CPU core
SETTINGS: dict[str, dict[str, Any]] = {
    "gmmn": {"config": "gmmn-mnist", "overrides": {}},
    "gmmn-ae": {
        # stage 1 (auto-encoder) for 300 updates of 1000 images (6 epochs), then the code-space GMMN
        "config": "gmmn-ae-mnist",
        "overrides": {"model.ae_steps": 300},
    },
    "lapgan": {
        # narrower band GANs with smaller kernels than the CIFAR-10 setting: ~10x fewer FLOPs
        "config": "lapgan-mnist",
        "overrides": {
            "model.g_channels": 32, "model.d_channels": 32, "model.g_kernels": [5, 5, 3],
            "train.batch_size": 64,
        },
    },
}

PAPER = {
    "real data": "—",
    "gmmn": "147 ± 2 (Li et al. 2015, Table 1)",
    "gmmn-ae": "282 ± 2 (Li et al. 2015, Table 1)",
    "lapgan": "— (not reported on MNIST; CIFAR-10 Parzen in Denton et al. 2015)",
}


def _peak_rss_mib() -> float:
    # ru_maxrss is KiB on Linux, bytes on macOS
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def train_and_evaluate(
    model: str, out: Path, data_dir: str, budget: float, eval_samples: int
) -> dict[str, Any]:
    """Runs in the child process: train under a time budget, then evaluate."""
    import torch

    torch.set_num_threads(1)
    import genzoo.api as api

    setting = SETTINGS[model]
    run_dir = out / model / "run"
    if run_dir.exists():  # genzoo.train would resume it, and the timing would be meaningless
        raise SystemExit(f"{run_dir} already exists; choose a fresh --out or remove it")
    overrides = {
        "train.steps": 1_000_000,  # the time budget stops training
        "train.progress": False,
        "train.sample_every": 1_000_000,
        "train.checkpoint_every": 1_000_000,
        "train.eval_every": 1_000_000,
        "train.log_every": 10,
        **setting["overrides"],
    }
    t0: list[float] = []

    def budget_hook(trainer: Any, done: int) -> None:
        if not t0:
            t0.append(time.perf_counter())
        if time.perf_counter() - t0[0] > budget:
            trainer.total_steps = done  # ends the loop after this step; the engine then checkpoints

    start = time.perf_counter()
    run = api.train(
        config=setting["config"], data_dir=data_dir, run_dir=run_dir, overrides=overrides,
        hooks=[budget_hook], seed=0,
    )
    train_seconds = time.perf_counter() - start
    peak = _peak_rss_mib()
    records = [json.loads(line) for line in open(run.run_dir / "metrics.jsonl")]
    train_records = [r for r in records if r.get("split") == "train"]
    last = train_records[-1]
    summary: dict[str, Any] = {
        "model": model,
        "config": setting["config"],
        "overrides": setting["overrides"],
        "steps": run.step,
        "batch_size": run.config.train.batch_size,
        "epochs": run.step * run.config.train.batch_size / 50000,
        "train_wall_s": round(train_seconds, 1),
        "images_per_s": round(last["images_per_s"], 1),
        "peak_rss_mib": round(peak, 1),
        "last_losses": {k: v for k, v in last.items() if k not in ("step", "epoch", "split", "images_per_s")},
        "torch": torch.__version__,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores shared with other jobs, 1 torch thread",
    }
    if model == "gmmn-ae":
        rates = [r["images_per_s"] for r in train_records]
        summary["note"] = f"auto-encoder for the first {SETTINGS[model]['overrides']['model.ae_steps']} steps"
        summary["images_per_s_range"] = [round(min(rates), 1), round(max(rates), 1)]

    t1 = time.perf_counter()
    opts = {"n_samples": eval_samples}
    res = api.evaluate(run.run_dir, metrics=["parzen"], data_dir=data_dir, options=opts)
    summary["parzen"] = flat_result(res["parzen"])
    summary["parzen_eval_s"] = round(time.perf_counter() - t1, 1)
    summary.update(classifier_metrics(run.run_dir, data_dir, eval_samples))
    save_sample_grid(run.run_dir, out / model / "samples.png")
    (out / model).mkdir(parents=True, exist_ok=True)
    (out / model / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    return summary


def classifier_metrics(run_dir: Path, data_dir: str, eval_samples: int) -> dict[str, Any]:
    """FID and precision/recall in the reference MNIST classifier's feature space (if it is cached)."""
    import genzoo.api as api

    out: dict[str, Any] = {}
    for metric in ("fid", "precision-recall"):
        try:
            out[metric] = flat_result(api.evaluate(
                run_dir, metrics=[metric], data_dir=data_dir,
                options={"n_samples": eval_samples, "extractor": "classifier:mnist"},
            )[metric])
        except Exception as e:  # the reference classifier may not be trained yet
            out[metric] = {"unavailable": f"{type(e).__name__}: {e}"}
    return out


def save_sample_grid(run_dir: Path, path: Path, n: int = 64) -> None:
    import genzoo.api as api
    from genzoo.images import save_grid

    save_grid(api.sample(str(run_dir), n=n, seed=0), path)


def reevaluate(model: str, out: Path, data_dir: str, eval_samples: int) -> None:
    """``--eval-only``: redo the classifier metrics and the sample grid of an existing run."""
    import torch

    torch.set_num_threads(1)
    path = out / model / "summary.json"
    summary = json.loads(path.read_text())
    run_dir = out / model / "run"
    summary.update(classifier_metrics(run_dir, data_dir, eval_samples))
    save_sample_grid(run_dir, out / model / "samples.png")
    path.write_text(json.dumps(summary, indent=2, default=str))


def table(summaries: list[dict[str, Any]]) -> str:
    rows = [
        "| model | steps × batch (epochs) | train time | images/s | peak RSS | Parzen test LL (ours, nats) "
        "| sigma | Parzen (paper) | FID (MNIST clf) | precision / recall |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in summaries:
        p = s.get("parzen", {})

        ll = "—"
        if "parzen_log_likelihood" in p:
            ll = f"{p['parzen_log_likelihood']:.1f} ± {p['parzen_stderr']:.1f}"
        sig = f"{p['sigma']:.3f}" if "sigma" in p else "—"
        fid = s.get("fid", {})
        fid_s = f"{fid['fid']:.2f}" if "fid" in fid else "not run"
        pr = s.get("precision-recall", {})
        pr_s = f"{pr['precision']:.3f} / {pr['recall']:.3f}" if "precision" in pr else "not run"
        if s["model"] == "real data":
            rows.append(f"| real MNIST (train images as 'samples') | — | — | — | — | {ll} | {sig} | — "
                        f"| {fid_s} | {pr_s} |")
            continue
        rate = f"{s['images_per_s']:.0f}"
        if "images_per_s_range" in s:
            rate += f" (last log; {s['images_per_s_range'][0]:.0f}–{s['images_per_s_range'][1]:.0f})"
        rows.append(
            f"| {s['model']} | {s['steps']} × {s['batch_size']} ({s['epochs']:.1f}) "
            f"| {s['train_wall_s']:.0f} s | {rate} | {s['peak_rss_mib']:.0f} MiB | {ll} | {sig} "
            f"| {PAPER[s['model']]} | {fid_s} | {pr_s} |"
        )
    return "\n".join(rows)


def real_baseline(out: Path, data_dir: str, eval_samples: int) -> dict[str, Any]:
    """The metrics' real-data reference: real MNIST images in place of samples (same protocols)."""
    import torch

    torch.set_num_threads(1)
    import genzoo.api as api

    summary: dict[str, Any] = {"model": "real data"}
    kw: dict[str, Any] = {"data": "mnist", "data_dir": data_dir, "real_baseline": True}
    parzen = api.evaluate(metrics=["parzen"], options={"n_samples": eval_samples}, **kw)["parzen"]
    summary["parzen"] = flat_result(parzen)
    for metric in ("fid", "precision-recall"):
        opts = {"n_samples": eval_samples, "extractor": "classifier:mnist"}
        summary[metric] = flat_result(api.evaluate(metrics=[metric], options=opts, **kw)[metric])
    (out / "real").mkdir(parents=True, exist_ok=True)
    (out / "real" / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    return summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("/tmp/genzoo-moment-matching"))
    ap.add_argument("--models", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    ap.add_argument("--data-dir", default=os.environ.get("GENZOO_SHARED_DATA", "/work/shared/data"))
    ap.add_argument("--budget", type=float, default=420.0, help="training seconds per model")
    ap.add_argument("--eval-samples", type=int, default=10000)
    ap.add_argument("--table-only", action="store_true", help="print the table of existing summaries")
    ap.add_argument(
        "--eval-only", action="store_true",
        help="recompute FID / precision-recall and the sample grid of existing runs (no training)",
    )
    ap.add_argument(
        "--real-baseline", action="store_true",
        help="also score real MNIST images with the same metrics (the KDE on train images, etc.)",
    )
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.real_baseline:
        real_baseline(args.out, args.data_dir, args.eval_samples)
    if args.child:
        train_and_evaluate(args.child, args.out, args.data_dir, args.budget, args.eval_samples)
        return
    summaries = []
    for model in args.models:
        path = args.out / model / "summary.json"
        if args.eval_only:
            reevaluate(model, args.out, args.data_dir, args.eval_samples)
        elif not args.table_only:
            cmd = [
                sys.executable, __file__, "--child", model, "--out", str(args.out),
                "--data-dir", args.data_dir, "--budget", str(args.budget),
                "--eval-samples", str(args.eval_samples),
            ]
            print(f"== {model}: {' '.join(cmd)}", flush=True)
            subprocess.run(cmd, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
        if path.is_file():
            summaries.append(json.loads(path.read_text()))
    real = args.out / "real" / "summary.json"
    if real.is_file():
        summaries.append(json.loads(real.read_text()))
    print(table(summaries))


if __name__ == "__main__":
    main()
