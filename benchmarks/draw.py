"""DRAW on the fixed binarized MNIST: test variational bound (k = 1) and importance-weighted bound, with and
without attention, after a time-limited run.

    nice -n 10 python benchmarks/draw.py --data-dir ../shared/data --config draw-small-binarized-mnist \
        --minutes 8 --bound-subset 1000 --importance-samples 20 --test-subset 200 [--set model.attention=false]

Paper (Gregor et al. 2015, Table 2, fixed binarization, T = 64, 256 LSTM units): DRAW <= 80.97 nats,
DRAW without attention <= 87.40 nats (the test variational bound).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

import genzoo
from benchmarks.common import command_line, hardware, peak_memory_mib, train_throughput, write_result

PAPER = {True: 80.97, False: 87.40}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="draw-small-binarized-mnist")
    p.add_argument("--data-dir", default="../shared/data")
    p.add_argument("--minutes", type=float, default=6.0, help="training time limit (train.max_minutes)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--bound-subset", type=int, default=None, help="evenly spaced test images for the k=1 bound")
    p.add_argument("--importance-samples", type=int, default=20)
    p.add_argument("--test-subset", type=int, default=200, help="evenly spaced test images for the IW bound")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--run-dir", default=None)
    p.add_argument("--out", default="benchmarks/results/draw.jsonl")
    a = p.parse_args()
    overrides = [*a.overrides, "train.progress=false", f"train.max_minutes={a.minutes}", "train.tensorboard=false"]
    run_dir = Path(a.run_dir or f"runs/bench-{a.config}-{int(time.time())}")
    t0 = time.perf_counter()
    run = genzoo.train(config=a.config, data_dir=a.data_dir, run_dir=run_dir, device=a.device, overrides=overrides)
    train_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    elbo = genzoo.evaluate(run.run_dir, ["nll"], data_dir=a.data_dir, device=a.device,
                           options={"importance_samples": 1, "subset": a.bound_subset})["nll"]
    iw = genzoo.evaluate(run.run_dir, ["nll"], data_dir=a.data_dir, device=a.device,
                         options={"importance_samples": a.importance_samples, "subset": a.test_subset})["nll"]
    model = run.config.model
    write_result(Path(a.out), {
        "benchmark": "draw", "config": a.config, "overrides": a.overrides, "attention": model["attention"],
        "steps_T": model["steps"], "lstm": model["enc_size"], "train_steps": run.step,
        "epochs": run.step * run.config.train.batch_size / 50000,
        "test_bound_nats": elbo, "test_iw_bound": iw, "paper_bound_nats": PAPER[bool(model["attention"])],
        "train_images_per_s": train_throughput(run.run_dir), "train_seconds": train_s,
        "eval_seconds": time.perf_counter() - t1, **peak_memory_mib(),
        "hardware": hardware(), "command": command_line(), "date": time.strftime("%Y-%m-%d"),
    })


if __name__ == "__main__":
    main()
