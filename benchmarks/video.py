"""Video benchmarks: VPN nats/frame and sampler speed-up, VGAN frame FID / temporal change / mask IoU.

    nice -n 10 python -m benchmarks.video vpn RUN_DIR  --data-dir ../shared/data [--test 256]
    nice -n 10 python -m benchmarks.video vgan RUN_DIR --data-dir ../shared/data [--videos 256]

``RUN_DIR`` is a trained run (``genzoo train --config vpn-moving-mnist-small ...``). Results are appended
to ``benchmarks/results/video.jsonl`` and printed.

VPN: the paper's Moving MNIST score (Kalchbrenner et al. 2016, Sec. 5.1): the Bernoulli cross-entropy
of the sigmoid outputs against the grey-level targets, nats per *predicted* frame, on the run's test
split (the first ``--test`` sequences), beside the targets' own entropy (the lower bound; 86.3 on the
paper's 64x64 test set). An exact-likelihood ``vpn`` run reports nats per frame and bits/dim instead.
Sampler speed-up: wall time of the naive and the fast sampler for the same videos and seed (and whether
they drew the same frames).

VGAN: frame FID with the MNIST reference classifier (:mod:`genzoo.metrics.video`: whole frames,
grey, area-resized to 28x28) of samples against the test split, and the same for as many videos of
the valid split (its size raised to match) against the test split (the real-vs-real floor); temporal
change of samples and of real videos; mask IoU: with future generation (``conditional``), the mask
``m > 0.5`` of the videos generated from test contexts against the true digit masks of the real
continuations, and the soft mask's mean on and off those digits; always, the mask against the
sample's own bright pixels (``> 0.5``: on a black background, where its digits are), with the
all-ones mask as the baseline.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path
from typing import Any

import torch

from benchmarks.common import command_line, hardware, write_result
from genzoo import api
from genzoo.config import load_run_config
from genzoo.core import ExactLikelihood
from genzoo.data import load_dataset
from genzoo.metrics.video import frame_fid, frames_for_classifier, mask_iou, temporal_change

RESULTS = Path(__file__).parent / "results" / "video.jsonl"


def _data(run: Path, split: str, data_dir: str | None, **override: Any) -> Any:
    cfg = load_run_config(run)
    options = {**{k: v for k, v in cfg.data.items() if k != "name"}, **override}
    return load_dataset(cfg.data["name"], split, data_dir, **options), cfg


def _run_facts(run: Path) -> dict[str, Any]:
    import json

    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines() if '"train"' in x]
    last = lines[-1] if lines else {}
    return {"steps": last.get("step"), "epochs": last.get("epoch"), "train_log_last": last}


@torch.no_grad()
def bench_vpn(run: Path, data_dir: str | None, n_test: int, batch: int, sample_videos: int) -> dict[str, Any]:
    model = api.load(run, "cpu")
    test, cfg = _data(run, "test", data_dir)
    test = test.subset(slice(0, min(n_test, len(test))))
    per_frame, bound = [], []
    t0 = time.time()
    for start in range(0, len(test), batch):
        b = test.batch(torch.arange(start, min(start + batch, len(test))))
        cond = {"context": b["context"]} if model.condition_keys() else None
        if isinstance(model, ExactLikelihood):
            per_frame.append(-model.log_prob_frames(b["x"], cond).double())
        else:
            per_frame.append(model.cross_entropy(b["x"], cond).double())
        from genzoo.models.video.vpn import grey_target_entropy

        bound.append(grey_target_entropy(b["x"]))
    score_s = time.time() - t0
    pf = torch.cat(per_frame)
    per_video_frame = pf.mean(1)
    out: dict[str, Any] = {
        "benchmark": "vpn", "run": str(run), "model": model.name, "data": cfg.data,
        "test_videos": len(test), "predicted_frames": int(pf.shape[1]),
        "nats_per_frame": float(per_video_frame.mean()),
        "nats_per_frame_stderr": float(per_video_frame.std() / math.sqrt(len(per_video_frame))),
        "target_entropy_nats_per_frame": float(torch.cat(bound).mean()),
        "paper": {"nats_per_frame": 87.6, "lower_bound": 86.3, "frames": "64x64, 10 predicted from 10"},
        "score_seconds": score_s,
    }
    if isinstance(model, ExactLikelihood):
        out["bits_per_dim"] = float(pf.sum(1).mean()) / (model.data_info.dims * math.log(2))
    # sampler speed-up, same seed and contexts
    b = test.batch(torch.arange(sample_videos))
    cond = {"context": b["context"]} if model.condition_keys() else None
    times, draws = {}, {}
    for method in ("fast", "naive"):
        t0 = time.time()
        draws[method] = model.sample(sample_videos, cond, torch.Generator().manual_seed(0), method=method)
        times[method] = time.time() - t0
    out.update(sample_videos=sample_videos, fast_seconds=times["fast"], naive_seconds=times["naive"],
               speedup=times["naive"] / times["fast"], same_frames=bool(torch.equal(draws["fast"], draws["naive"])),
               decoder_reach=model.reach)
    return out


@torch.no_grad()
def bench_vgan(run: Path, data_dir: str | None, n: int, batch: int) -> dict[str, Any]:
    from genzoo.metrics.features import extract_features

    model = api.load(run, "cpu")
    test, cfg = _data(run, "test", data_dir)
    n = min(n, len(test))
    valid, _ = _data(run, "valid", data_dir, valid_size=n)  # the real-vs-real floor with as many videos
    idx = torch.arange(n)
    real = test.batch(idx)
    real_valid = valid.batch(idx)["x"]
    g = torch.Generator().manual_seed(0)
    vids, masks = [], []
    for start in range(0, n, batch):
        part = slice(start, min(start + batch, n))
        cond = {"context": real["context"][part]} if model.condition_keys() else None
        s = model.sample_streams(part.stop - part.start, cond, g)
        vids.append(s["video"])
        masks.append(s["mask"])
    fake, soft_mask = torch.cat(vids), torch.cat(masks)
    fake_mask = soft_mask > 0.5

    def feats(v: torch.Tensor) -> torch.Tensor:
        return extract_features(frames_for_classifier(v), "classifier:mnist", batch_size=512)

    f_real, f_fake, f_valid = feats(real["x"]), feats(fake), feats(real_valid)
    bright = fake.mean(2, keepdim=True) > 0.5
    out: dict[str, Any] = {
        "benchmark": "vgan", "run": str(run), "data": cfg.data, "model_config": cfg.model, "videos": n,
        "frame_fid_samples_vs_test": frame_fid(f_fake, f_real),
        "frame_fid_valid_vs_test": frame_fid(f_valid, f_real),
        "frames": "whole frames, channel mean, area-resized to 28x28; classifier:mnist features",
        "temporal_change_samples": temporal_change(fake), "temporal_change_real": temporal_change(real["x"]),
        "mask_mean": float(fake_mask.float().mean()),
        "mask_iou_vs_own_bright_pixels": mask_iou(fake_mask, bright),
        "all_ones_mask_iou_vs_own_bright_pixels": mask_iou(torch.ones_like(bright), bright),
    }
    if model.condition_keys():
        k = test.opts.context_frames
        true = test.masks(idx)[:, k:]
        out["mask_iou_vs_true_digit_masks"] = mask_iou(fake_mask, true)
        out["all_ones_mask_iou_vs_true_digit_masks"] = mask_iou(torch.ones_like(true), true)
        out["true_mask_iou_first_predicted_frame"] = mask_iou(fake_mask[:, :1], true[:, :1])
        # the soft mask on and off the true digits: does the mask follow the digits at all?
        out["mask_on_true_digits"] = float(soft_mask[true].mean())
        out["mask_off_true_digits"] = float(soft_mask[~true].mean())
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("which", choices=["vpn", "vgan"])
    p.add_argument("run_dir")
    p.add_argument("--data-dir")
    p.add_argument("--test", type=int, default=256, help="vpn: test sequences scored")
    p.add_argument("--videos", type=int, default=256, help="vgan: videos sampled / real videos compared")
    p.add_argument("--sample-videos", type=int, default=2, help="vpn: videos drawn by each sampler")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--gif", help="also write sampled videos as this GIF (and a .png strip)")
    a = p.parse_args()
    torch.set_num_threads(1)
    run = Path(a.run_dir)
    t0 = time.time()
    if a.which == "vpn":
        result = bench_vpn(run, a.data_dir, a.test, a.batch, a.sample_videos)
    else:
        result = bench_vgan(run, a.data_dir, a.videos, a.batch)
    result.update(_run_facts(run))
    result.update(hardware=hardware(), benchmark_seconds=time.time() - t0, command=command_line(),
                  note="short CPU run on a shared 2-core machine (nice -n 10)")
    if a.gif:
        from genzoo.cli_video import _video  # the same code path as `genzoo video`

        _video(argparse.Namespace(run_dir=str(run), real=None, split="test", options=[], n=8, out=a.gif,
                                  seed=0, fps=4.0, device="cpu", data_dir=a.data_dir))
    write_result(RESULTS, result)


if __name__ == "__main__":
    main()
