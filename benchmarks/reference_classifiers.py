"""Train genzoo's reference classifiers and record their test accuracies.

    PYTHONPATH=. python benchmarks/reference_classifiers.py --data-dir /work/shared/data \
        --datasets digits mnist cifar10 [--cache-dir DIR] [--threads 1]

Writes benchmarks/results/reference_classifiers.md. The classifiers are cached where
:func:`genzoo.metrics.classifier.load_reference_classifier` finds them (``$GENZOO_CACHE`` or
``~/.cache/genzoo``, or ``--cache-dir``), so the metrics can use them afterwards.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from genzoo.data import load_dataset
from genzoo.metrics.classifier import (
    CLASSIFIER_VERSION,
    RECIPES,
    accuracy,
    classifier_path,
    load_reference_classifier,
    train_reference_classifier,
)

RESULTS = Path(__file__).resolve().parent / "results" / "reference_classifiers.md"

# published accuracies of comparable small convnets, for orientation only (not the same networks)
REFERENCE = {
    "digits": "~98-99% for small convnets / SVMs on the 8x8 UCI digits",
    "mnist": "99.2-99.5% for LeNet-style convnets (LeCun et al. 1998: LeNet-5 99.05%)",
    "cifar10": "~80% for a 4-conv net on the full 50k training set; lower expected on the 3,600-image subset",
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default="/work/shared/data")
    ap.add_argument("--datasets", nargs="+", default=["digits", "mnist"])
    ap.add_argument("--cache-dir", default=None)
    ap.add_argument("--epochs", type=int, default=None, help="override every recipe's epochs")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(RESULTS))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    for name in args.datasets:
        t0 = time.time()
        path = train_reference_classifier(
            name, args.data_dir, args.cache_dir, epochs=args.epochs, seed=0, verbose=True
        )
        rec = json.loads(path.with_suffix(".json").read_text())
        print(f"{name}: test accuracy {rec['test_accuracy']:.4f} ({time.time() - t0:.0f}s)")
    # the table lists every classifier in the cache, so datasets can be trained in separate runs
    rows = []
    for name in ["digits", "mnist", "cifar10"]:
        record = classifier_path(name, args.cache_dir).with_suffix(".json")
        if record.is_file():
            rows.append((name, json.loads(record.read_text())))
    binarized = None
    if any(name == "mnist" for name, _ in rows):  # the same classifier on binary images
        model = load_reference_classifier("mnist", args.cache_dir)
        test = load_dataset("mnist", "test", data_dir=args.data_dir, binarize="dynamic")
        binarized = accuracy(model, test.tensor(seed=0), test.labels)

    lines = [
        "# Reference classifiers (genzoo.metrics.classifier)",
        "",
        f"Command: `PYTHONPATH=. python benchmarks/reference_classifiers.py --data-dir {args.data_dir} "
        "--datasets NAME... --threads 1` (datasets trained in separate runs; each row is one run)",
        "",
        f"Hardware: 2-core CPU shared with other jobs, {args.threads} torch thread(s); "
        f"torch {torch.__version__}, "
        f"Python {platform.python_version()}. Classifier version {CLASSIFIER_VERSION}, seed 0.",
        "",
        "Network: 2 x [conv3x3-ReLU-conv3x3-ReLU-maxpool] (width w, 2w) -> FC 128 (features) -> FC 10; "
        "Adam + one-cycle LR, trained on the `train` split, accuracy on the `test` split.",
        "",
        "| dataset | train images | test images | epochs | width | augmentation | test accuracy "
        "| train accuracy "
        "| train time | comparable published numbers |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, rec in rows:
        r = rec["recipe"]
        lines.append(
            f"| {name}{' (staged subset)' if name == 'cifar10' else ''} | {rec['train_size']} "
            f"| {rec['test_size']} | "
            f"{rec['epochs']} | {r['width']} | {r['augment']} | **{100 * rec['test_accuracy']:.2f}%** | "
            f"{100 * rec['train_accuracy']:.2f}% | {rec['train_seconds']:.0f} s | {REFERENCE.get(name, '')} |"
        )
    lines += [
        "",
        "Notes:",
        *(
            [
                f"- The `mnist` classifier on the MNIST test images Bernoulli-binarized once (seed 0): "
                f"**{100 * binarized:.2f}%** test accuracy."
            ]
            if binarized is not None
            else []
        ),
        "- `mnist` is trained on grayscale MNIST with half the images Bernoulli-binarized, "
        "so the same classifier "
        "serves `binarized-mnist` and `dynamic-mnist` samples.",
        "- `cifar10`, where present, uses the staged 4,000-image subset of `data_batch_1` "
        "(3,600 train / 400 valid) "
        "and the first 1,000 test images: it is NOT comparable with full-CIFAR-10 classifiers.",
        f"- Weights: `{classifier_path('DATASET', args.cache_dir).name}` in the cache folder; "
        "the recipes are "
        f"`genzoo.metrics.classifier.RECIPES` = {json.dumps(RECIPES)}.",
        "",
    ]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
