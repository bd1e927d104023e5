"""Is a trained GMMN's minibatch MMD still a training signal, or already below its batches' noise?

A GMMN (Li et al. 2015, Eq. 2) descends a minibatch estimate of MMD² between ``n`` samples and ``n`` data
points. Its signal is the true MMD² between the two distributions; its noise is how much that estimate
moves from batch to batch. This script measures both, at several batch sizes, in the space the model
matches (pixels for ``gmmn``, auto-encoder codes for ``gmmn-ae``) with the model's own kernels:

* ``mmd2``: the unbiased U-statistic (Gretton et al. 2012, Eq. 3) between samples and data, whose
  expectation is the true MMD² (mean and standard error over ``--repeats`` batch pairs);
* ``null_std``: the standard deviation of the same statistic between two disjoint batches of data (its
  expectation is 0): the noise a batch of this size puts on the training signal;
* ``signal_to_noise`` = mmd2 / null_std; and, for reference, the biased estimate the model trains on
  (sample vs data, and data vs data: the biased estimator's floor, ``(2 - 2 E k(x, x')) / n``).

Once the signal is well under the noise at the training batch size, more steps at that size mostly follow
the batches' noise. One JSON line per size goes to ``benchmarks/results/mmd_floor.jsonl``:

    PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/mmd_floor.py RUN_DIR --data-dir /work/shared/data \
        --sizes 1000 4000 --repeats 20
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import stamp, write_result  # noqa: E402
from genzoo import api  # noqa: E402
from genzoo.config import load_run_config  # noqa: E402
from genzoo.core.errors import GenzooError  # noqa: E402
from genzoo.data import load_dataset  # noqa: E402
from genzoo.models.moment_matching.gmmn import mmd_loss  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "mmd_floor.jsonl"


def estimates(model: torch.nn.Module, features: torch.Tensor, n: int, repeats: int,
              seed: int) -> dict[str, list[float]]:
    """Per batch pair: the unbiased MMD² of ``n`` samples against ``n`` data points and of two disjoint
    data batches, and the model's own (training) estimate of both."""
    c = model.config
    unbiased = functools.partial(mmd_loss, sigmas=list(c.sigmas), loss="mmd2", unbiased=True,
                                 kernel_scale=c.kernel_scale)
    g = torch.Generator().manual_seed(seed)
    out: dict[str, list[float]] = {"mmd2": [], "null": [], "trained_fit": [], "trained_floor": []}
    for r in range(repeats):
        order = torch.randperm(len(features), generator=g)
        a, b = features[order[:n]].double(), features[order[n:2 * n]].double()
        samples = model.generate_features(n, torch.Generator().manual_seed(seed + r)).double()
        out["mmd2"].append(float(unbiased(samples, b)[1]))
        out["null"].append(float(unbiased(a, b)[1]))
        out["trained_fit"].append(float(model.matching_loss(samples.float(), b.float())[1]))
        out["trained_floor"].append(float(model.matching_loss(a.float(), b.float())[1]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run_dir", help="a trained gmmn or gmmn-ae run")
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 4000])
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(1)
    model = api.load(a.run_dir)
    model.eval()
    if not hasattr(model, "matching_loss"):
        sys.exit(f"mmd_floor.py: {a.run_dir} holds a {type(model).__name__}, not a GMMN or GMMN+AE")
    data = load_dataset(load_run_config(Path(a.run_dir)).data["name"], "train", a.data_dir).tensor()
    with torch.no_grad():
        features = model.matched_features(data.float())
        for n in a.sizes:
            if 2 * n > len(features):
                sys.exit(f"mmd_floor.py: --sizes {n} needs {2 * n} training images; the split has {len(features)}")
            t0 = time.perf_counter()
            est = estimates(model, features, n, a.repeats, a.seed)
            mean, null_std = statistics.mean(est["mmd2"]), statistics.stdev(est["null"])
            row = {
                "bench": "mmd-floor", "run_dir": a.run_dir, "batch": n, "repeats": a.repeats, "seed": a.seed,
                "mmd2": mean, "mmd2_stderr": statistics.stdev(est["mmd2"]) / len(est["mmd2"]) ** 0.5,
                "null_mean": statistics.mean(est["null"]), "null_std": null_std,
                "signal_to_noise": mean / null_std,
                "trained_fit": statistics.mean(est["trained_fit"]),
                "trained_floor": statistics.mean(est["trained_floor"]),
                "raw": est, "eval_s": round(time.perf_counter() - t0, 1),
                **stamp(),
            }
            write_result(RESULTS, row)
            print(f"n = {n}: MMD² {mean:.3g} ± {row['mmd2_stderr']:.2g}, null std {null_std:.3g} "
                  f"(signal/noise {row['signal_to_noise']:.2f}); trained estimate {row['trained_fit']:.3g} "
                  f"against its floor {row['trained_floor']:.3g}")


if __name__ == "__main__":
    try:
        main()
    except GenzooError as e:  # a bad run directory, checkpoint or data path: one line
        sys.exit(f"mmd_floor.py: {e}")
