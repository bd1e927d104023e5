"""DGN-AM vs PPGN-h on one feature-inverting generator: class accuracy under an independent classifier,
same-class MS-SSIM diversity beside the real data's, and distances to the nearest training images.

    genzoo classifier mnist --data-dir ../shared/data                          # E and the condition network
    genzoo classifier mnist --data-dir ../shared/data --seed 1 --out-dir indep   # the independent judge
    nice -n 10 python benchmarks/guided.py --data-dir ../shared/data --config ppgn-mnist --minutes 8 \
        --judge indep/mnist-v2.safetensors --per-class 30

One PPGN run is trained (generator + discriminator + DAE on h); DGN-AM is the same generator sampled by
activation maximisation (its weights loaded into a ``dgn-am`` model), so the two samplers are compared on
one G, as in Nguyen et al. 2016a (Sec. 4, Fig. 3/S). The judge is a classifier trained independently of
E (another seed), never the condition network. Paper claim: PPGN's same-class samples are more diverse
than DGN-AM's at similar class quality (Nguyen et al. 2016a, Sec. 4.1, qualitative, ImageNet).
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import torch
import torch.nn.functional as F

import genzoo
from benchmarks.common import command_line, hardware, write_result
from genzoo.data import load_dataset
from genzoo.images import save_grid
from genzoo.metrics.classifier import read_classifier_file
from genzoo.metrics.memorisation import memorisation_check
from genzoo.metrics.msssim import mean_pairwise_ms_ssim
from genzoo.models.guided.dgn_am import DGNAM, DGNAMConfig


def as_dgn_am(ppgn: torch.nn.Module) -> DGNAM:
    shared = {f.name: getattr(ppgn.config, f.name) for f in dataclasses.fields(DGNAMConfig)
              if hasattr(ppgn.config, f.name)}
    model = DGNAM(DGNAMConfig(**shared), ppgn.data_info)
    missing, unexpected = model.load_state_dict(ppgn.state_dict(), strict=False)
    assert not missing and all(k.startswith("dae.") for k in unexpected), (missing, unexpected)
    return model.eval()


def score(images: torch.Tensor, labels: torch.Tensor, judge: torch.nn.Module, train: torch.Tensor,
          test: torch.Tensor, seed: int) -> dict[str, float]:
    with torch.no_grad():
        probs = torch.cat([F.softmax(judge(images[i : i + 500]), 1) for i in range(0, len(images), 500)])
    diversity = mean_pairwise_ms_ssim(images, n_pairs=200, seed=seed, labels=labels)
    mem = memorisation_check(images, train, test, k=1)["pixel"]
    return {
        "judge_target_prob": float(probs.gather(1, labels[:, None]).mean()),
        "judge_accuracy": float((probs.argmax(1) == labels).float().mean()),
        "within_class_ms_ssim": diversity["mean"],
        "nn_train_dist_median": float(torch.as_tensor(mem["sample_dist"][:, 0]).median()),
        "test_nn_train_dist_median": float(torch.as_tensor(mem["test_dist"]).median()),
        "flagged_copies": int(mem["flags"].sum()),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="ppgn-mnist")
    p.add_argument("--data-dir", default="../shared/data")
    p.add_argument("--minutes", type=float, default=8.0)
    p.add_argument("--judge", required=True, help="an independently trained classifier file")
    p.add_argument("--per-class", type=int, default=30)
    p.add_argument("--chain-steps", type=int, default=None)
    p.add_argument("--ppgn-option", action="append", default=[], metavar="KEY=VALUE",
                   help="PPGN sampler option, e.g. eps3=0.15 (a float)")
    p.add_argument("--train-subset", type=int, default=10000, help="training images for the memorisation check")
    p.add_argument("--run-dir", default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="benchmarks/results/guided.jsonl")
    a = p.parse_args()
    run_dir = Path(a.run_dir or f"runs/bench-{a.config}-{int(time.time())}")
    t0 = time.perf_counter()
    overrides = {"train.progress": False, "train.max_minutes": a.minutes, "train.tensorboard": False}
    if (run_dir / "config.yaml").is_file():
        ppgn = genzoo.load(run_dir, "cpu")
        steps = None
    else:
        run = genzoo.train(config=a.config, data_dir=a.data_dir, run_dir=run_dir, device="cpu", overrides=overrides)
        ppgn, steps = run.model.eval(), run.step
    train_s = time.perf_counter() - t0
    if a.chain_steps:
        ppgn.configure_sampler(chain_steps=a.chain_steps)
    ppgn.configure_sampler(**{k: float(v) for k, v in (o.split("=", 1) for o in a.ppgn_option)})
    dgn = as_dgn_am(ppgn)
    dgn.configure_sampler(chain_steps=ppgn.config.chain_steps)
    judge, _ = read_classifier_file(a.judge)
    data_name = genzoo.config.load_run_config(run_dir).data["name"]
    train = load_dataset(data_name, "train", a.data_dir).tensor(a.seed)[: a.train_subset]
    test_ds = load_dataset(data_name, "test", a.data_dir)
    test = test_ds.tensor(a.seed)
    k = int(ppgn.condition_network().num_classes)
    labels = torch.arange(k).repeat_interleave(a.per_class)
    results: dict[str, dict[str, float]] = {}
    for name, model in (("dgn-am", dgn), ("ppgn", ppgn)):
        t1 = time.perf_counter()
        frames = genzoo.api.canvas_sequence(model, len(labels), a.seed, {"label": labels})
        images = frames[:, -1]
        results[name] = {**score(images, labels, judge, train, test[:2000], a.seed),
                         "sample_seconds": round(time.perf_counter() - t1, 1)}
        save_grid(images.view(k, a.per_class, *images.shape[1:])[:, :10].flatten(0, 1),
                  run_dir / f"bench-{name}-samples.png", nrow=10)
        save_grid(frames[:: a.per_class][:4].flatten(0, 1), run_dir / f"bench-{name}-chains.png", nrow=frames.shape[1])
    real_labels = test_ds.labels[:2000]
    real = test[:2000]
    with torch.no_grad():
        real_acc = float((judge(real).argmax(1) == real_labels).float().mean())
    results["real test data"] = {
        "judge_accuracy": real_acc,
        "within_class_ms_ssim": mean_pairwise_ms_ssim(real, n_pairs=200, seed=a.seed, labels=real_labels)["mean"],
    }
    write_result(Path(a.out), {
        "benchmark": "guided", "config": a.config, "train_steps": steps, "train_seconds": round(train_s, 1),
        "data": data_name, "chain_steps": ppgn.config.chain_steps, "per_class": a.per_class, "sampler": {
            "ppgn": {k_: getattr(ppgn.config, k_) for k_ in ("eps1", "eps2", "eps3")},
            "dgn-am": {k_: getattr(dgn.config, k_) for k_ in ("lr", "decay")}},
        "results": results, "judge": a.judge, "hardware": hardware(), "command": command_line(),
        "date": time.strftime("%Y-%m-%d"),
    })


if __name__ == "__main__":
    main()
