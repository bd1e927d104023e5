"""VAE on MNIST: test NLL from importance sampling, training throughput, peak memory.

    python benchmarks/vae.py --data-dir ../shared/data --config vae-binarized-mnist --epochs 5 \
        --importance-samples 5000 --test-subset 1000

Paper figures (Burda et al. 2016, appendix, VAE with k=1 training, NLL from 5000 importance samples):
fixed binarization 88.71 (one stochastic layer) / 88.08 (two); dynamic binarization 86.76 / 85.33.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

import genzoo
from benchmarks.common import command_line, hardware, peak_memory_mib, train_throughput, write_result

PAPER = {"vae-binarized-mnist": 88.71, "vae-dynamic-mnist": 86.76}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="vae-binarized-mnist")
    p.add_argument("--data-dir", default="../shared/data")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--importance-samples", type=int, default=5000)
    p.add_argument("--test-subset", type=int, default=None, help="evenly spaced test images (default: all)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--run-dir", default=None)
    p.add_argument("--out", default="benchmarks/results/vae.jsonl")
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    run_dir = Path(a.run_dir or f"runs/bench-{a.config}-{a.epochs}ep")
    t0 = time.perf_counter()
    run = genzoo.train(config=a.config, data_dir=a.data_dir, run_dir=run_dir, epochs=a.epochs, device=a.device,
                       overrides={"train.progress": False})
    train_s = time.perf_counter() - t0
    options = {"importance_samples": a.importance_samples}
    if a.test_subset:
        options["subset"] = a.test_subset
    t1 = time.perf_counter()
    scores = genzoo.evaluate(run.run_dir, ["nll"], options=options, data_dir=a.data_dir, device=a.device)["nll"]
    write_result(Path(a.out), {
        "benchmark": "vae", "config": a.config, "epochs": a.epochs, "steps": run.step,
        "test_nll_nats": scores["nll_nats"], "stderr": scores["nll_stderr"], "bits_per_dim": scores["bits_per_dim"],
        "protocol": scores["protocol"], "paper_nll_nats": PAPER.get(a.config),
        "train_images_per_s": train_throughput(run.run_dir), "train_seconds": train_s,
        "eval_seconds": time.perf_counter() - t1, **peak_memory_mib(),
        "hardware": hardware(), "command": command_line(), "date": time.strftime("%Y-%m-%d"),
    })


if __name__ == "__main__":
    main()
