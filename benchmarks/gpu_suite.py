"""The whole reproduction suite on one CUDA GPU in about 12 minutes of wall time (READY, NOT YET RUN:
no GPU has been lent to the sessions that wrote it).

The twelve MNIST entries of :data:`genzoo.reproduce.ENTRIES` (``SUITE``; ``--only`` picks others, such
as the DRAW, video, pix2pix and CIFAR-10 entries, which need more than a share of 12 minutes) run
through :func:`genzoo.reproduce.reproduce` with

* ``device="cuda"``; the training split's uint8 images (and labels) are moved to the GPU once, after
  the first step, by an engine hook, so batches are cut on the GPU (datasets with dynamic
  binarization keep their CPU-side Bernoulli draw, whose generator is a CPU generator);
* bfloat16 autocast (``train.amp``) for the sample-quality models (GANs, GMMNs), where the number is
  a statistic of samples; never for the likelihood models, whose exact/IW log-likelihoods sum 784
  terms and are reported to 0.01 nats;
* batch sizes for a large GPU where the paper's protocol does not fix them (``GPU_OVERRIDES``);
* a training budget per entry (``--minutes`` in all, split by ``WEIGHTS``) plus one curve point, and
  the final evaluation with each entry's full protocol.

Everything is written under one folder (default ``gpu-suite-<time>/``): ``runs/`` (run directories),
``reproduce.jsonl`` (one row per entry), ``summary.md`` (the rendered table), ``curves/*.svg``,
``environment.json`` and ``log.txt``. Usage::

    PYTHONPATH=. python benchmarks/gpu_suite.py --data-dir /path/to/data [--minutes 12] [--only gan vae]

Not done here: ``torch.compile`` (compile time would eat a 12-minute budget for these small models).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from genzoo.reproduce import ENTRIES, render_markdown, reproduce, write_curve_svg  # noqa: E402

#: sample-quality entries: bf16 autocast is safe (the metric is a statistic of samples)
AMP = {"gan", "cgan", "gmmn", "gmmn-ae", "dcgan", "acgan", "vgan", "pix2pix"}
#: larger batches where the paper's protocol does not hinge on them (GPU throughput)
GPU_OVERRIDES: dict[str, dict[str, Any]] = {
    "vae": {"train.batch_size": 256},
    "vae2": {"train.batch_size": 256},
    "nade": {"train.batch_size": 512},
    "pixelcnn": {"train.batch_size": 256},
    "row-lstm": {"train.batch_size": 128},
    "diagonal-bilstm": {"train.batch_size": 128},
    "dcgan": {"train.batch_size": 256},
    "acgan": {"train.batch_size": 256},
}
#: the default suite: the MNIST rows of issue 17 (paper numbers within a 12-minute budget)
SUITE = ["vae", "vae2", "nade", "pixelcnn", "row-lstm", "diagonal-bilstm", "gan", "cgan", "gmmn", "gmmn-ae", "dcgan",
         "acgan"]
#: share of the training time per entry (the slow-converging likelihood models get more)
WEIGHTS = {"vae": 1.0, "vae2": 1.0, "nade": 1.0, "pixelcnn": 1.0, "row-lstm": 1.0, "diagonal-bilstm": 1.0,
           "gan": 0.6, "cgan": 0.6, "gmmn": 0.6, "gmmn-ae": 0.6, "dcgan": 0.6, "acgan": 0.6}
#: wall time kept for evaluations, data loading and start-up (minutes, of --minutes)
OVERHEAD_MINUTES = 4.5


class DataOnDevice:
    """Engine hook: after the first step, move the training images and labels to the GPU once."""

    def __init__(self) -> None:
        self.done = False

    def __call__(self, trainer: Any, step: int) -> None:
        if self.done:
            return
        self.done = True
        data = trainer.train_data
        if data.binarize is None and trainer.device.type == "cuda":
            data.codes = data.codes.to(trainer.device)
            if data.labels is not None:
                data.labels = data.labels.to(trainer.device)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--out", type=Path, default=Path(f"gpu-suite-{time.strftime('%Y%m%d-%H%M%S')}"))
    ap.add_argument("--minutes", type=float, default=12.0, help="wall-time target for the whole suite")
    ap.add_argument("--only", nargs="+", choices=list(ENTRIES),
                    help=f"entries to run (default: {' '.join(SUITE)})")
    ap.add_argument("--device", default="cuda")
    a = ap.parse_args()
    if a.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("gpu_suite: no CUDA device is visible (torch.cuda.is_available() is False)")
    names = a.only or SUITE
    train_minutes = max(a.minutes - OVERHEAD_MINUTES, 1.0)
    total_w = sum(WEIGHTS.get(n, 1.0) for n in names)
    a.out.mkdir(parents=True, exist_ok=False)
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    torch.backends.cudnn.benchmark = True
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else a.device
    env = {"torch": torch.__version__, "device": gpu,
           "minutes": a.minutes, "train_minutes": train_minutes, "entries": names, "start": time.time()}
    (a.out / "environment.json").write_text(json.dumps(env, indent=2))
    log = open(a.out / "log.txt", "a")
    rows = []
    t0 = time.perf_counter()
    for name in names:
        budget = train_minutes * WEIGHTS.get(name, 1.0) / total_w
        overrides = {**GPU_OVERRIDES.get(name, {}), "train.amp": name in AMP, "train.tensorboard": False,
                     "train.sample_every": 10**9, "train.eval_every": 10**9, "train.checkpoint_every": 10**9}
        print(f"== {name}: {budget:.2f} min of training", flush=True, file=log)
        try:
            row = reproduce(name, budget, data_dir=a.data_dir, out_dir=a.out / "runs",
                            results_file=a.out / "reproduce.jsonl", curve_points=1, device=a.device,
                            overrides=overrides, hooks=[DataOnDevice()],
                            command=f"python benchmarks/gpu_suite.py --only {name} --minutes {a.minutes:g}")
            rows.append(row)
            write_curve_svg(row, a.out / "curves" / f"{name}.svg")
            print(json.dumps({k: row[k] for k in ("value", "paper", "epochs", "train_s", "eval_s")}), file=log,
                  flush=True)
        except Exception:  # noqa: BLE001 - one failing entry must not lose the others
            traceback.print_exc(file=log)
        (a.out / "summary.md").write_text(render_markdown(rows) + "\n")
    print(f"suite done in {(time.perf_counter() - t0) / 60:.1f} min; results in {a.out}", file=log, flush=True)
    print(f"wrote {a.out}/summary.md ({len(rows)} of {len(names)} entries)")


if __name__ == "__main__":
    os.environ.setdefault("GENZOO_NADE_KERNEL", "auto")
    main()
