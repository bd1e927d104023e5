"""How much of a generator's Parzen score its faint pixels cost: the score with every sample pixel below
a threshold set to 0.

A pixel-space Parzen window (Goodfellow et al. 2014 protocol: 10,000 samples, sigma by grid search on
MNIST's validation split, mean log-likelihood of the 10,000 test images) charges every test image for
each pixel where a sample differs from it, so faint background speckle on samples lowers the score of
every test digit. If speckle were what keeps a GAN below its paper's number, zeroing faint pixels would
raise the score; if it lowers it, the faint pixels carry stroke edges the test digits share.

    PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/parzen_threshold.py RUN_DIR \
        --data-dir /work/shared/data --thresholds 0 0.05 0.1 0.2

One JSON line per threshold is appended to ``benchmarks/results/parzen_threshold.jsonl``, with the
fraction of sample pixels that are exactly 0 and in (0, 0.1) beside the same fractions of the test set.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import flat_pixels, stamp, write_result  # noqa: E402
from genzoo import api  # noqa: E402
from genzoo.core.errors import GenzooError  # noqa: E402
from genzoo.metrics.parzen import DEFAULT_SIGMAS, parzen_estimate  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "parzen_threshold.jsonl"


def faint_fractions(x: torch.Tensor) -> dict[str, float]:
    return {"exact_zero": round(float((x == 0).double().mean()), 4),
            "in_0_0.1": round(float(((x > 0) & (x < 0.1)).double().mean()), 4)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run_dir", help="a trained MNIST run (e.g. a gan-mnist reproduction)")
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--thresholds", type=float, nargs="+", default=[0.0, 0.05, 0.1, 0.2])
    ap.add_argument("--samples", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(1)
    samples = api.sample(a.run_dir, n=a.samples, seed=a.seed).flatten(1).double()
    valid, test = flat_pixels("mnist", "valid", a.data_dir), flat_pixels("mnist", "test", a.data_dir)
    for t in a.thresholds:
        kept = torch.where(samples < t, torch.zeros_like(samples), samples)
        t0 = time.perf_counter()
        r = parzen_estimate(test, kept, valid, DEFAULT_SIGMAS)
        row = {
            "bench": "parzen-threshold", "run_dir": a.run_dir, "threshold": t, "samples": a.samples,
            "seed": a.seed, "parzen": round(r["log_likelihood"], 2), "stderr": round(r["stderr"], 2),
            "sigma": round(r["sigma"], 4), "sample_pixels": faint_fractions(kept),
            "test_pixels": faint_fractions(test), "eval_s": round(time.perf_counter() - t0, 1),
            **stamp(),
        }
        write_result(RESULTS, row)
        print(f"threshold {t:g}: Parzen {row['parzen']:.1f} ± {row['stderr']:.1f} (sigma {row['sigma']:.3f})")


if __name__ == "__main__":
    try:
        main()
    except GenzooError as e:  # a bad run directory, checkpoint or data path: one line
        sys.exit(f"parzen_threshold.py: {e}")
