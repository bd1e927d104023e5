"""Text-to-image benchmark: GAN-INT-CLS vs GAWWN on captioned-mnist (short CPU runs).

    # train (one process per model; they may run side by side), then evaluate both
    nice -n 10 python -m benchmarks.text_to_image train gan-int-cls --data-dir ../shared/data --minutes 8
    nice -n 10 python -m benchmarks.text_to_image train gawwn --data-dir ../shared/data --minutes 8
    nice -n 10 python -m benchmarks.text_to_image eval --data-dir ../shared/data

Protocol (what differs from the papers is listed in the report): single-digit 32x32 scenes (so the
caption's box is unambiguous), char-CNN-RNN text encoder trained alone first, then the GAN; the test
split's first (fully descriptive) caption of each scene is the prompt. Measured on the samples (the
measures of the ``caption-alignment`` metric, :mod:`genzoo.metrics.captions`):

* ``digit@box``: an independent MNIST classifier (genzoo's reference classifier, trained on MNIST's
  28x28 digits, never on canvases) on the crop of the *captioned* box (the real scene's digit box),
  padded square, resized to 20x20 and centred in 28x28 as MNIST is; accuracy against the caption's
  digit (chance 10%).
* ``digit@ink``: the same on the crop of the sample's own ink box (pixels > 0.3): is the digit drawn
  anywhere?
* ``position``: the 3x3 cell of the sample's ink-box centre equals the caption's position word (chance
  1/9 for a uniform guess; the majority-cell rate of the test captions is reported beside it).
* ``ink in box``: share of the sample's ink inside the captioned box; ``IoU``: ink box vs captioned
  box (the ink box is the detection).
* ``FID (pixels)``: Frechet distance of 2x2-average-pooled pixels (16x16 = 256-d) of the samples and
  of the test canvases; the real valid canvases against the test canvases give the floor.

The same measures on the real test canvases are the ceiling of each.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from benchmarks.common import hardware
from genzoo import api
from genzoo.data import load_dataset
from genzoo.data.captioned import POSITIONS
from genzoo.images import save_sheet
from genzoo.metrics.captions import alignment_scores
from genzoo.metrics.classifier import load_reference_classifier, train_reference_classifier
from genzoo.metrics.fid import fid_from_features

RESULTS = Path(__file__).parent / "results"
RUNS = Path("runs/bench-text2img")
DATA = {"size": 32, "min_digits": 1, "max_digits": 1, "count": 10000}
TEST_COUNT = 1000
COMMON = {"embed_dim": 128, "encoder_width": 64, "text_dim": 64, "g_features": 32, "d_features": 16,
          "encoder_steps": 250, "sje_loss": "softmax"}
TRAIN = {"batch_size": 32, "steps": 100000, "log_every": 25, "sample_every": 200, "checkpoint_every": 100,
         "progress": False, "tensorboard": False, "num_samples": 16, "lr": 0.0002, "betas": [0.5, 0.999]}


def overrides(model: str, minutes: float) -> dict[str, Any]:
    out = {f"data.{k}": v for k, v in DATA.items()}
    out.update({f"model.{k}": v for k, v in COMMON.items()})
    out.update({f"train.{k}": v for k, v in TRAIN.items()})
    out["train.max_minutes"] = minutes
    out["train.per_group"] = {g: {"lr": 0.0002, "betas": [0.5, 0.999]}
                              for g in ("discriminator", "generator")}
    out["train.per_group"]["encoder"] = {"lr": 0.001, "betas": [0.9, 0.999]}
    out["train.per_group"]["location"] = {"lr": 0.001, "betas": [0.9, 0.999]}
    return out


def train(model: str, data_dir: str, minutes: float, resume: bool = False) -> None:
    """Train ``model`` for ``minutes`` of training time (or continue the run for that long more)."""
    start = time.time()
    run = RUNS / model
    wall_file = run / "wall.json"
    before = json.loads(wall_file.read_text()) if resume and wall_file.is_file() else {"wall_s": 0.0, "minutes": 0.0}
    if resume:
        api.train(data_dir=data_dir, run_dir=run, resume=True, overrides={"train.max_minutes": minutes})
    else:
        api.train(model, "captioned-mnist", data_dir=data_dir, run_dir=run, overrides=overrides(model, minutes))
    wall_file.write_text(json.dumps({"wall_s": before["wall_s"] + time.time() - start,
                                     "minutes": before["minutes"] + minutes}))


# ----- measures ------------------------------------------------------------------------------------------
def measures(images: Tensor, boxes: Tensor, labels: Tensor, words: list[str], clf: Any) -> dict[str, float]:
    """The caption-alignment scores (:mod:`genzoo.metrics.captions`) of single-digit canvases."""
    def classify(x: Tensor) -> Tensor:
        with torch.no_grad():
            return clf(x).argmax(1)

    single = torch.ones(len(images), dtype=torch.bool)
    scores = alignment_scores(images, boxes, labels, words, single, classify)
    names = {"digit_at_box": "digit@box", "digit_at_ink": "digit@ink", "position": "position",
             "ink_in_box": "ink_in_box", "iou": "iou"}
    return {names[k]: float(v.mean()) for k, v in scores.items()}


def pooled(x: Tensor) -> Tensor:
    return F.avg_pool2d(x, 2).flatten(1).double()


def evaluate(data_dir: str, test_count: int = TEST_COUNT) -> None:
    cache = RUNS / "cache"
    try:
        clf = load_reference_classifier("mnist", cache_dir=cache)
    except FileNotFoundError:
        train_reference_classifier("mnist", data_dir, out_dir=cache)
        clf = load_reference_classifier("mnist", cache_dir=cache)
    opts = {**DATA, "eval_count": test_count}
    test = load_dataset("captioned-mnist", "test", data_dir, **opts)
    valid = load_dataset("captioned-mnist", "valid", data_dir, **opts)
    real = test.tensor()
    texts = test.extra["text"]
    boxes = test.extra["box"][:, 0]
    labels = test.labels
    words = [s[0].position for s in test.scenes]
    majority = max(words.count(w) for row in POSITIONS for w in row) / len(words)
    rows: dict[str, dict[str, float]] = {"real test canvases": measures(real, boxes, labels, words, clf)}
    rows["real test canvases"]["fid"] = fid_from_features(pooled(valid.tensor()), pooled(real))
    facts: dict[str, Any] = {}
    for name in ("gan-int-cls", "gawwn"):
        run = RUNS / name
        if not (run / "checkpoints").is_dir():
            continue
        model = api.load(run, "cpu")
        wall = json.loads((run / "wall.json").read_text()) if (run / "wall.json").is_file() else {}
        log = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
        facts[name] = {"steps": log[-1]["step"], "epochs": round(log[-1]["epoch"], 2), **wall}
        variants = [(name, None)]
        if name == "gawwn":
            variants = [("gawwn (box given)", "given"), ("gawwn (box from text)", "generated")]
        for label, mode in variants:
            if mode:
                model.config.location = mode
            cond: dict[str, Any] = {"text": texts}
            if mode == "given":
                cond.update(box=test.extra["box"], keypoints=test.extra["keypoints"])
            x = torch.cat([api.sample(model, len(texts[i:i + 250]), seed=i,
                                      condition={k: v[i:i + 250] for k, v in cond.items()})
                           for i in range(0, len(texts), 250)])
            rows[label] = measures(x, boxes, labels, words, clf)
            rows[label]["fid"] = fid_from_features(pooled(x), pooled(real))
            save_sheet(x[:64], RESULTS / f"text2img-{name}-{mode or 'text'}-samples.png", nrow=8)
        # interpolation between two captions (fixed z per row), the paper's Fig. 8 idea
        if name == "gawwn":
            model.config.location = "given"
        a = {"text": "a small 7 at the top left"}
        b = {"text": "a large 3 at the bottom right"}
        if name == "gawwn":
            a.update(box=[[[0.05, 0.05, 0.35, 0.4]]], keypoints=[[[0.2, 0.22, 1.0]]])
            b.update(box=[[[0.4, 0.35, 0.95, 0.95]]], keypoints=[[[0.68, 0.65, 1.0]]])
        grid = model.interpolate_text(a if name == "gawwn" else a["text"], b if name == "gawwn" else b["text"],
                                      steps=8, generator=torch.Generator().manual_seed(0), rows=4)
        save_sheet(grid, RESULTS / f"text2img-{name}-interpolation.png", nrow=8)
    (RESULTS / "text_to_image.json").write_text(json.dumps(
        {"rows": rows, "runs": facts, "majority_position": majority, "data": DATA, "common": COMMON,
         "train": TRAIN, "hardware": hardware(), "classifier_test_accuracy": clf.facts.get("test_accuracy")},
        indent=1))
    lines = ["| samples | digit@box | digit@ink | position | ink in box | IoU | FID (pixels) |",
             "|---|---|---|---|---|---|---|"]
    for label, r in rows.items():
        lines.append(f"| {label} | {r['digit@box']:.3f} | {r['digit@ink']:.3f} | {r['position']:.3f} | "
                     f"{r['ink_in_box']:.3f} | {r['iou']:.3f} | {r['fid']:.1f} |")
    lines.append(f"| chance | 0.100 | 0.100 | {1 / 9:.3f} (majority cell {majority:.3f}) | | | |")
    (RESULTS / "text_to_image.md").write_text("\n".join(lines) + "\n\n" + json.dumps(facts) + "\n")
    print("\n".join(lines))
    print(facts)


def main() -> None:
    global RUNS
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=["train", "eval"])
    p.add_argument("model", nargs="?", choices=["gan-int-cls", "gawwn"])
    p.add_argument("--data-dir", required=True)
    p.add_argument("--minutes", type=float, default=8.0)
    p.add_argument("--test-count", type=int, default=TEST_COUNT)
    p.add_argument("--resume", action="store_true", help="continue the model's run for --minutes more")
    p.add_argument("--runs", default="runs/bench-text2img", help="folder of the benchmark's run directories")
    a = p.parse_args()
    torch.set_num_threads(1)
    RUNS = Path(a.runs)
    if a.what == "train":
        if not a.model:
            p.error("train needs a model")
        train(a.model, a.data_dir, a.minutes, a.resume)
    else:
        evaluate(a.data_dir, a.test_count)


if __name__ == "__main__":
    main()
