"""Autoregressive models (NADE, PixelCNN, gated PixelCNN): sampler speed, training cost, short training runs.

    PYTHONPATH=. .venv/bin/python benchmarks/autoregressive.py sampler [--n 64] [--naive-rows 2]
    PYTHONPATH=. .venv/bin/python benchmarks/autoregressive.py throughput [--steps 10] [--batch-size 64]
    PYTHONPATH=. .venv/bin/python benchmarks/autoregressive.py train --model nade --steps 200
    PYTHONPATH=. .venv/bin/python benchmarks/autoregressive.py train --model pixelcnn --steps 250
        [--set train.lr=0.003]   (config overrides, as genzoo train --set)
        [--data dynamic-mnist]   (MNIST binarized afresh per batch; test split binarized once, seed 0)

Models are built from the named configs ``<model>-binarized-mnist`` (1x28x28, 2 levels), i.e. what
``genzoo train MODEL --config <model>-binarized-mnist`` trains. Everything runs single-threaded
(``torch.set_num_threads(1)``).

* ``sampler``: seconds to draw ``n`` images with the fast (per-position cache), row-cache and naive
  (whole network per pixel) samplers from the same generator state; asserts identical images. The
  naive PixelCNN samplers take minutes per row on a CPU, so with ``--naive-rows R`` they draw only
  the first ``R`` rows and the full time is extrapolated as ``28 / R`` times that (every naive step
  costs one whole-image pass, so its time is linear in the rows). NADE's naive sampler runs in full.
* ``throughput``: training images/s (forward + backward + Adam step) and peak memory, each model in a
  fresh subprocess; peak memory is the process's peak resident set size (``getrusage`` ru_maxrss),
  reported together with the RSS before the model was built.
* ``train``: ``genzoo.train`` on binarized MNIST for ``--steps`` steps, then ``genzoo.evaluate`` of the
  exact test NLL on the 10,000 test images. The same row comes from the CLI:
  ``genzoo train nade --config nade-binarized-mnist --data-dir DIR --steps N`` then
  ``genzoo eval RUN_DIR --metric nll``.

Results are appended as JSON lines to ``--out`` (default benchmarks/results/autoregressive.jsonl).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import hardware, write_result  # noqa: E402
from genzoo.config import resolve  # noqa: E402
from genzoo.models.base import DataInfo, GenerativeModel  # noqa: E402
from genzoo.train.loop import build_model  # noqa: E402

MODELS = ("nade", "pixelcnn", "gated-pixelcnn")
INFO = DataInfo((1, 28, 28), 2)
PAPER_NLL = {  # test NLL in nats on binarized MNIST: fixed binarization / dynamic, as listed in issue 4
    "nade": {"fixed": 88.86, "dynamic": 85.65, "source": "Larochelle & Murray 2011; issue 4"},
    "pixelcnn": {"fixed": 81.30, "dynamic": 81.45, "source": "van den Oord et al. 2016 PixelRNN; issue 4"},
}


def build(name: str, overrides: dict[str, Any] | None = None) -> GenerativeModel:
    cfg = resolve(name, None, f"{name}-binarized-mnist", overrides or {})
    return build_model(cfg, INFO)


def timed_sample(model: GenerativeModel, n: int, seed: int, **kw: Any) -> tuple[torch.Tensor, float]:
    t0 = time.perf_counter()
    x = model.sample(n, generator=torch.Generator().manual_seed(seed), **kw)
    return x, time.perf_counter() - t0


def bench_sampler(args: argparse.Namespace) -> None:
    for name in args.models:
        torch.manual_seed(0)
        model = build(name).eval()
        fast, t_fast = timed_sample(model, args.n, args.seed)
        row: dict[str, Any] = {
            "part": "sampler",
            "model": name,
            "n": args.n,
            "hardware": hardware(),
            "fast_s": t_fast,
            "fast_images_per_s": args.n / t_fast,
        }
        if name == "nade":
            naive, t_naive = timed_sample(model, args.n, args.seed, method="naive")
            row.update(naive_s=t_naive, naive_extrapolated=False, identical=bool(torch.equal(fast, naive)))
        else:
            rows = args.naive_rows
            h = INFO.shape[1]
            if not args.skip_row:
                by_row, t_row = timed_sample(model, args.n, args.seed, method="row")
                row.update(
                    row_s=t_row,
                    row_images_per_s=args.n / t_row,
                    row_identical=bool(torch.equal(fast, by_row)),
                )
            naive, t_part = timed_sample(model, args.n, args.seed, method="naive", rows=rows)
            t_naive = t_part * h / rows
            row.update(
                naive_s=t_naive,
                naive_extrapolated=rows < h,
                naive_rows_timed=rows,
                identical=bool(torch.equal(fast[:, :, :rows], naive[:, :, :rows])),
            )
        row["naive_images_per_s"] = args.n / row["naive_s"]
        row["speedup"] = row["naive_s"] / t_fast
        write_result(args.out, row)


def _throughput_child(name: str, steps: int, batch_size: int, data_dir: str) -> dict[str, Any]:
    """Runs in a fresh process: images/s of training steps on real binarized MNIST, peak RSS."""
    from genzoo.data import load_dataset

    x = load_dataset("binarized-mnist", "train", data_dir=data_dir).tensor()[: batch_size * (steps + 2)]
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    torch.manual_seed(0)
    model = build(name)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    t0 = 0.0
    for step in range(steps + 2):
        if step == 2:  # two warm-up steps
            t0 = time.perf_counter()
        out = model.training_step({"x": x[step * batch_size : (step + 1) * batch_size]}, step, "model")
        opt.zero_grad(set_to_none=True)
        out["loss"].backward()
        opt.step()
    dt = time.perf_counter() - t0
    return {
        "part": "throughput",
        "model": name,
        "batch_size": batch_size,
        "steps": steps,
        "images_per_s": steps * batch_size / dt,
        "seconds_per_step": dt / steps,
        "parameters": sum(p.numel() for p in model.parameters()),
        "rss_before_model_mib": rss0,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "memory_method": "getrusage ru_maxrss (process peak resident set)",
        "hardware": hardware(),
    }


def bench_throughput(args: argparse.Namespace) -> None:
    for name in args.models:
        cmd = [
            sys.executable,
            __file__,
            "_throughput_child",
            "--models",
            name,
            "--steps",
            str(args.steps),
            "--batch-size",
            str(args.batch_size),
            "--data-dir",
            str(args.data_dir),
        ]
        res = subprocess.run(
            cmd, capture_output=True, text=True, check=True, env={**os.environ, "PYTHONPATH": str(ROOT)}
        )
        write_result(args.out, json.loads(res.stdout.strip().splitlines()[-1]))


def bench_train(args: argparse.Namespace) -> None:
    import genzoo

    name = args.model
    tag = "".join("-" + o.split("=", 1)[0].split(".")[-1] + o.split("=", 1)[1] for o in args.set)
    run_dir = Path(args.run_root) / f"{name}-{args.data}-{args.steps}steps{tag}"
    from genzoo.config import parse_override

    overrides = {
        "train.progress": False, "train.log_every": 25, "data.name": args.data,
        **dict(parse_override(o) for o in args.set),
    }
    t0 = time.perf_counter()
    run = genzoo.train(
        config=f"{name}-binarized-mnist",
        overrides=overrides,
        run_dir=run_dir,
        data_dir=args.data_dir,
        steps=args.steps,
        seed=args.seed,
    )
    t_train = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = genzoo.evaluate(run.run_dir, metrics=["nll"], data_dir=args.data_dir)["nll"]
    t_eval = time.perf_counter() - t0
    from benchmarks.common import train_throughput

    cfg = run.config.to_dict()
    row = {
        "part": "train",
        "model": name,
        "config": f"{name}-binarized-mnist",
        "data": args.data,
        "binarization": "dynamic" if args.data == "dynamic-mnist" else "fixed",
        "model_config": cfg["model"],
        "steps": args.steps,
        "batch_size": cfg["train"]["batch_size"],
        "epochs": args.steps * cfg["train"]["batch_size"] / 50000,
        "train_seconds": t_train,
        "eval_seconds": t_eval,
        "images_per_s": train_throughput(run.run_dir),
        "test_nll_nats": res.get("nll_nats"),
        "test_nll_stderr": res.get("nll_stderr"),
        "test_bits_per_dim": res.get("bits_per_dim"),
        "n_test": res.get("n"),
        "paper_nll_nats": PAPER_NLL.get(name),
        "run_dir": str(run.run_dir),
        "hardware": hardware(),
        "overrides": args.set,
        "command": " ".join(sys.argv),
    }
    write_result(args.out, row)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("part", choices=["sampler", "throughput", "train", "_throughput_child"])
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    p.add_argument("--model", default="nade", choices=MODELS, help="model of the `train` part")
    p.add_argument("--n", type=int, default=64, help="images per sampler call")
    p.add_argument("--naive-rows", type=int, default=2, help="rows drawn by the naive conv samplers")
    p.add_argument("--skip-row", action="store_true", help="do not time the row-cache sampler")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override (train)")
    p.add_argument(
        "--data", default="binarized-mnist", choices=["binarized-mnist", "dynamic-mnist"],
        help="train: the fixed binarization (Larochelle & Murray) or MNIST binarized afresh per batch",
    )
    p.add_argument(
        "--data-dir", default=os.environ.get("GENZOO_SHARED_DATA", str(ROOT.parent / "shared" / "data"))
    )
    p.add_argument("--run-root", default=str(ROOT / "runs" / "bench-autoregressive"))
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "autoregressive.jsonl")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    if args.part == "_throughput_child":
        print(json.dumps(_throughput_child(args.models[0], args.steps, args.batch_size, args.data_dir)))
    elif args.part == "sampler":
        bench_sampler(args)
    elif args.part == "throughput":
        bench_throughput(args)
    else:
        bench_train(args)


if __name__ == "__main__":
    main()
