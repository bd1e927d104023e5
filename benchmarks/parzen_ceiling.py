"""What Parzen score a latent-space generator could reach if it matched its encoder's codes exactly.

A GMMN+AE (Li et al. 2015, Sec. 3.2) draws codes and decodes them, so its samples can at best be as good
as the decoded codes of real images: the auto-encoder's reconstructions. Scoring those reconstructions
with the same Parzen protocol (Goodfellow et al. 2014: 10,000 points, sigma by grid search on MNIST's
validation split, mean log-likelihood of the 10,000 test images) splits the distance to a paper's number
into the auto-encoder's share (reconstructions below the paper: a better auto-encoder is needed) and the
code generator's share (samples below the reconstructions). The model's samples and the raw training
images are scored beside them. Works for every model with an encoder (``genzoo.core.Reconstructs``).

    PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/parzen_ceiling.py RUN_DIR --data-dir /work/shared/data

One JSON line per scored set is appended to ``benchmarks/results/parzen_ceiling.jsonl``.
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
from genzoo.config import load_run_config  # noqa: E402
from genzoo.core import Reconstructs  # noqa: E402
from genzoo.core.errors import GenzooError  # noqa: E402
from genzoo.metrics.parzen import DEFAULT_SIGMAS, parzen_estimate  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "parzen_ceiling.jsonl"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run_dir", help="a trained run of a model with an encoder (e.g. a gmmn-ae reproduction)")
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--n", type=int, default=10000, help="training images reconstructed, and samples drawn")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(1)
    model = api.load(a.run_dir)
    if not isinstance(model, Reconstructs):
        sys.exit(f"parzen_ceiling.py: {a.run_dir} holds a {type(model).__name__}, which has no encoder")
    dataset = load_run_config(Path(a.run_dir)).data["name"]
    train, valid, test = (flat_pixels(dataset, split, a.data_dir) for split in ("train", "valid", "test"))
    chosen = train[torch.randperm(len(train), generator=torch.Generator().manual_seed(a.seed))[: a.n]]
    with torch.no_grad():
        rec = model.reconstruct(chosen.float().view(-1, *model.data_info.shape)).flatten(1).double()
    sets = {"reconstructions of training images": rec,
            "samples": api.sample(a.run_dir, n=a.n, seed=a.seed).flatten(1).double(),
            "training images": chosen}
    for name, points in sets.items():
        t0 = time.perf_counter()
        r = parzen_estimate(test, points, valid, DEFAULT_SIGMAS)
        row = {"bench": "parzen-ceiling", "run_dir": a.run_dir, "set": name, "n": a.n, "seed": a.seed,
               "parzen": round(r["log_likelihood"], 2), "stderr": round(r["stderr"], 2),
               "sigma": round(r["sigma"], 4), "eval_s": round(time.perf_counter() - t0, 1),
               **stamp()}
        write_result(RESULTS, row)
        print(f"{name}: Parzen {row['parzen']:.1f} ± {row['stderr']:.1f} (sigma {row['sigma']:.3f})")


if __name__ == "__main__":
    try:
        main()
    except GenzooError as e:  # a bad run directory, checkpoint or data path: one line
        sys.exit(f"parzen_ceiling.py: {e}")
