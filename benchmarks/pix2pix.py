"""pix2pix (Isola et al. 2017) on the derived paired tasks: the Table 1 ablation and per-task scores.

    nice -n 10 env PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/pix2pix.py --data-dir /work/shared/data \
        --steps 250 --workdir /tmp/genzoo-pix2pix

Every run starts from the named config ``pix2pix-<task>`` (the paper's objective, optimiser, dropout and
test-time statistics) with the widths, minibatch and step count given here (short CPU runs), then is
scored by the registered metrics through ``genzoo.evaluate``:

* ``translation`` on the first ``--n-eval`` test pairs: L1 and SSIM of outputs to their targets, and the
  reference classifier's accuracy on the outputs against the source image's class label (the paper's
  FCN-score idea), beside the same classifier on the real targets;
* ``fid`` of those outputs against the whole test split's targets (``reference_split=test``), features of
  the reference classifier of the base dataset (``classifier:fashion-mnist``, ``:mnist``, ``:cifar10``).

A strip of input | output | target for the first 8 test pairs of each run goes to
``benchmarks/results/pix2pix-<task>-<objective>.png``; results are appended to ``--out`` as JSON lines.
The reference classifiers must exist (``genzoo classifier fashion-mnist|mnist|cifar10``).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch

import genzoo
from benchmarks.common import hardware, train_throughput, write_result
from genzoo.data import load_dataset
from genzoo.images import save_grid
from genzoo.metrics.classifier import classifier_path

RUNS = [
    ("edges2fashion", "l1"), ("edges2fashion", "cgan"), ("edges2fashion", "l1+cgan"),
    ("edges2digits", "l1+cgan"), ("grey2cifar", "l1+cgan"),
]


def strip(run_dir: Path, task: str, data_dir: str, out: Path, k: int = 8) -> None:
    """Rows input | output | target of the first ``k`` test pairs (translated with the first 64, seed 0)."""
    test = load_dataset(task, "test", data_dir).subset(slice(0, 64))
    batch = test.batch(torch.arange(len(test)))
    outputs = genzoo.sample(run_dir, len(test), seed=0, condition={"source": batch["source"]})
    rows = []
    for i in range(k):
        tiles = [batch["source"][i], outputs[i], batch["x"][i]]
        tiles = [t.expand(3, -1, -1) if t.shape[0] == 1 else t for t in tiles]
        rows += tiles
    save_grid(torch.stack(rows), out, nrow=3 * 2, scale=2)


PAPER_TABLE_1 = {  # Isola et al. 2017, Table 1: FCN-scores on Cityscapes labels -> photo (per-pixel accuracy)
    "l1": 0.42, "gan": 0.22, "cgan": 0.57, "l1+gan": 0.64, "l1+cgan": 0.66, "ground truth": 0.80,
}


def render(jsonl: Path) -> str:
    """A markdown table of the runs in ``jsonl`` (the last record of each task/objective)."""
    rows: dict[tuple[str, str, int], dict[str, Any]] = {}
    for line in jsonl.read_text().splitlines():
        r = json.loads(line)
        rows[(r["task"], r["objective"], r["steps"])] = r
    out = [
        "| task | objective | steps x batch | train time | classifier accuracy of outputs (of real targets) "
        "| FID vs test targets | L1 | SSIM | paper (Table 1, per-pixel FCN acc.) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for (task, objective, _), r in rows.items():
        t, f = r["translation"], r["fid"]
        acc = f"{t['accuracy']:.3f} ({t['accuracy_real']:.3f})" if "accuracy" in t else "—"
        out.append(
            f"| {task} | {objective} | {r['steps']} x {r['batch_size']} | {r['train_seconds'] / 60:.1f} min "
            f"| {acc} | {f['fid']:.2f} | {t['l1']:.4f} | {t['ssim']:.3f} | {PAPER_TABLE_1.get(objective, '—')} |"
        )
    return "\n".join(out) + "\n"


def grey_baseline(data_dir: str, n: int) -> dict[str, Any]:
    """Scores of the trivial colouriser that copies the grey input to R, G and B (grey2cifar's floor)."""
    test = load_dataset("grey2cifar", "test", data_dir)
    grey = test.condition_values()["source"][:n].expand(-1, 3, -1, -1).contiguous()
    return genzoo.evaluate(
        data="grey2cifar", data_dir=data_dir, samples=grey, metrics=["translation", "fid"],
        options={"translation.n_samples": n, "fid.n_samples": n, "fid.reference_split": "test"},
    )


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--data-dir", required=True)
    p.add_argument("--workdir", default="/tmp/genzoo-pix2pix")
    p.add_argument("--steps", type=int, default=250)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--width", type=int, default=32, help="g_features = d_features")
    p.add_argument("--n-eval", type=int, default=1000)
    p.add_argument("--only", nargs="*", help="task:objective pairs to run (default: all)")
    p.add_argument("--out", default="benchmarks/results/pix2pix.jsonl")
    p.add_argument("--md", default="benchmarks/results/pix2pix.md")
    p.add_argument("--tag", default="", help="suffix of the run folders and strip names")
    p.add_argument("--grey-baseline", action="store_true", help="only score grey copied to RGB on grey2cifar")
    a = p.parse_args()
    if a.grey_baseline:
        write_result(Path(a.out).with_name("pix2pix-grey-baseline.jsonl"), grey_baseline(a.data_dir, a.n_eval))
        return
    runs = [tuple(r.split(":", 1)) for r in a.only] if a.only else RUNS
    for task, objective in runs:
        run_dir = Path(a.workdir) / f"{task}-{objective}{a.tag}"
        t0 = time.time()
        genzoo.train(
            config=f"pix2pix-{task}", data_dir=a.data_dir, run_dir=run_dir, steps=a.steps,
            overrides={"model.objective": objective, "model.g_features": a.width, "model.d_features": a.width,
                       "train.batch_size": a.batch_size, "train.progress": False, "train.tensorboard": False,
                       "train.sample_every": a.steps, "train.num_samples": 32},
        )
        train_s = time.time() - t0
        while not classifier_path(task).is_file():  # trained by `genzoo classifier` (possibly still running)
            time.sleep(20)
        t1 = time.time()
        scores: dict[str, Any] = genzoo.evaluate(
            run_dir, ["translation", "fid"], data_dir=a.data_dir,
            options={"translation.n_samples": a.n_eval, "fid.n_samples": a.n_eval, "fid.reference_split": "test"},
        )
        png = Path("benchmarks/results") / f"pix2pix-{task}-{objective.replace('+', '-')}{a.tag}.png"
        strip(run_dir, task, a.data_dir, png)
        write_result(Path(a.out), {
            "task": task, "objective": objective, "steps": a.steps, "batch_size": a.batch_size,
            "width": a.width, "train_seconds": round(train_s, 1), "eval_seconds": round(time.time() - t1, 1),
            "images_per_s": round(train_throughput(run_dir), 1), "hardware": hardware(),
            "translation": scores["translation"], "fid": scores["fid"], "strip": str(png),
        })
    Path(a.md).write_text(render(Path(a.out)))
    print(json.dumps({"done": len(runs)}))


if __name__ == "__main__":
    main()
