"""GAN, cGAN, DCGAN and AC-GAN on MNIST: throughput, peak memory, Parzen / FID / precision-recall.

    PYTHONPATH=. python benchmarks/gans.py --data-dir /work/shared/data --models gan cgan dcgan acgan \
        --minutes 6 --threads 1 --workdir /tmp/genzoo-gans

Each model trains in its own subprocess (so its peak memory is its own) with the named config
``<model>-mnist`` for a fixed wall-clock budget (the engine stops at the first step after it), then
draws 10,000 samples with seed 0 (class ``i % 10`` for sample ``i`` of the conditional models), saves
them to ``WORKDIR/<model>/samples.npy`` and evaluates them with the registered metrics:

* ``parzen``: Gaussian Parzen window on the 10,000 samples, sigma by grid search on the MNIST valid
  split, log-likelihood of the 10,000 test images (Goodfellow et al. 2014 protocol);
* ``fid`` and ``precision-recall``: features of genzoo's reference MNIST classifier;
* class accuracy of the samples under the reference classifier (conditional models), and the spread
  of predicted classes (all models: a collapsed generator covers few classes).

Throughput = mean training images/s over the engine's logged windows (first window dropped); one
"image" is one real example of the minibatch, whose step updates D (and G). Peak memory = ru_maxrss
of the training subprocess, read before evaluation (includes the Python/torch runtime and the data).
DCGAN also writes a slerp interpolation grid and a vector-arithmetic example to its work folder.

Results are appended as JSON lines to ``--out`` and rendered into ``--md``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

PAPER = {
    "gan": "Parzen 225 ± 2 (Goodfellow et al. 2014, Table 1)",
    "cgan": "Parzen 132 ± 1.8 (Mirza & Osindero 2014, Table 1)",
    "dcgan": "no MNIST numbers in the paper (qualitative MNIST samples, Fig. 9 of the arXiv version)",
    "acgan": "no MNIST numbers in the paper (CIFAR-10 Inception score 8.25 ± 0.07)",
}


def run_one(a: argparse.Namespace, model: str) -> dict[str, Any]:
    import numpy as np
    import torch

    torch.set_num_threads(a.threads)
    import genzoo.api as api
    from benchmarks.common import hardware, peak_memory_mib, train_throughput
    from genzoo.config import parse_override
    from genzoo.train.checkpoint import list_checkpoints

    variant = ",".join(a.set)
    work = Path(a.workdir) / (model + (f"-{a.tag}" if a.tag else ""))
    run_dir = work / "run"
    if list_checkpoints(run_dir) if run_dir.exists() else False:
        raise SystemExit(f"{run_dir} already holds a run; remove it or choose another --workdir")
    budget = a.minutes * 60.0
    t0 = time.perf_counter()

    def stop_on_budget(trainer: Any, done: int) -> None:
        # stop right after a logged window, so the last window is in metrics.jsonl
        if time.perf_counter() - t0 > budget and done % trainer.train_cfg.log_every == 0:
            trainer.total_steps = done  # the engine's loop ends; fit() saves the final checkpoint

    run = api.train(
        config=f"{model}-mnist",
        data_dir=a.data_dir,
        run_dir=run_dir,
        seed=0,
        hooks=[stop_on_budget],
        overrides={
            **dict(parse_override(o) for o in a.set),
            "train.progress": False,
            "train.sample_every": 500,
            "train.checkpoint_every": 2000,
            "train.log_every": 25,
        },
    )
    train_s = time.perf_counter() - t0
    mem = peak_memory_mib()
    logs = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    last = [r for r in logs if r.get("split") == "train"][-1]
    m = run.model
    result: dict[str, Any] = {
        "benchmark": "gans",
        "model": model,
        "config": f"{model}-mnist",
        "variant": variant,
        "steps": run.step,
        "epochs": round(last["epoch"], 3),
        "train_seconds": round(train_s, 1),
        "train_images_per_s": round(train_throughput(run_dir), 1),
        **{k: round(v, 1) for k, v in mem.items()},
        "params_generator": sum(p.numel() for p in m.generator.parameters()),
        "params_discriminator": sum(p.numel() for p in m.discriminator.parameters()),
        "final_log": {k: round(v, 4) for k, v in last.items() if isinstance(v, float)},
        "paper": PAPER.get(model, ""),
        "hardware": hardware() + " (2-core CPU shared with other jobs)",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    t1 = time.perf_counter()
    samples = api.sample(m, a.samples, seed=0)
    np.save(work / "samples.npy", (samples.numpy() * 255).round().astype(np.uint8))
    from genzoo.images import save_grid

    save_grid(samples[:100], work / "samples-100.png", nrow=10)
    result["sample_seconds"] = round(time.perf_counter() - t1, 1)
    result["samples_file"] = str(work / "samples.npy")

    # class accuracy / class spread under the reference MNIST classifier
    try:
        from genzoo.metrics.features import class_probabilities

        probs = class_probabilities(samples, "classifier:mnist")
        pred = probs.argmax(1)
        counts = torch.bincount(pred, minlength=10).float() / len(pred)
        result["sample_class_fractions"] = [round(float(c), 4) for c in counts]
        if m.is_conditional:
            want = torch.arange(len(samples)) % 10
            result["sample_class_accuracy"] = round(float((pred == want).float().mean()), 4)
    except Exception as e:  # noqa: BLE001 - report, don't lose the run
        result["class_error"] = f"{type(e).__name__}: {e}"

    if not a.no_eval:
        t2 = time.perf_counter()
        try:
            scores = api.evaluate(
                run_dir,
                ["parzen", "fid", "precision-recall"],
                samples=samples,
                data_dir=a.data_dir,
                seed=0,
                options={"n_samples": len(samples)},
            )
            result["metrics"] = scores
        except Exception as e:  # noqa: BLE001
            result["metrics_error"] = f"{type(e).__name__}: {e}"
        result["eval_seconds"] = round(time.perf_counter() - t2, 1)

    if model == "dcgan":
        from genzoo import latent

        save_grid(
            latent.interpolation_grid(m, pairs=8, steps=10, seed=0), work / "interpolation.png", nrow=10
        )
        arith = latent.arithmetic_from_samples(
            m, {"a": [0, 1, 2], "b": [3, 4, 5], "c": [6, 7, 8]}, "a - b + c"
        )
        save_grid(arith, work / "arithmetic.png", nrow=arith.shape[0])
        result["latent_files"] = [str(work / "interpolation.png"), str(work / "arithmetic.png")]
    return result


def _torch_version() -> str:
    import torch

    return torch.__version__


def fmt(v: Any, digits: int = 1) -> str:
    return "—" if v is None else f"{v:.{digits}f}"


def label(r: dict[str, Any]) -> str:
    return r["model"] + (f" ({r['variant']})" if r.get("variant") else "")


def render(results: list[dict[str, Any]], path: Path, command: str) -> None:
    lines = [
        "# GANs on MNIST (genzoo.models.adversarial.mlp_gan / dcgan / acgan)",
        "",
        f"Command(s): `{command}`",
        "",
        f"Hardware: 2-core CPU shared with other jobs, 1 torch thread per run; torch {_torch_version()}.",
        "Each model: its named config `<model>-mnist` (optimiser: see the config file), trained for a fixed",
        "wall-clock budget, so a fraction of an epoch to a few epochs — far from the papers' training",
        "lengths; read the metrics as a check of the pipeline, not as reproductions.",
        "",
        "Throughput = mean training images/s over the engine's logged windows (one image = one real",
        "example; each step updates D and G). Peak memory = ru_maxrss of the training process",
        "(runtime + data + model), read before evaluation.",
        "Samples: 10,000 with seed 0 (class i % 10 for conditional models).",
        "Parzen: Gaussian kernel on the 10,000 samples, sigma by grid search (logspace(-1, 0, 10)) on the",
        "valid split, mean log-likelihood (nats) of the 10,000 MNIST test images ± s.e. FID and",
        "precision/recall (k=3): features of genzoo's reference MNIST classifier vs the train split.",
        "",
        "| model | steps | epochs | train time | images/s | peak RSS (MiB) | params G / D | Parzen (nats) | "
        "FID (clf feats) | precision / recall | class acc. of samples | paper |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        mt = r.get("metrics", {})
        pz, fid, pr = mt.get("parzen", {}), mt.get("fid", {}), mt.get("precision-recall", {})
        parzen = (
            f"{pz['parzen_log_likelihood']:.1f} ± {pz['parzen_stderr']:.1f} (σ={pz['sigma']:.3f})"
            if "parzen_log_likelihood" in pz
            else pz.get("unavailable", "not run")
        )
        fid_s = fmt(fid.get("fid"), 2) if "fid" in fid else fid.get("unavailable", "not run")
        pr_s = (
            f"{pr['precision']:.3f} / {pr['recall']:.3f}"
            if "precision" in pr
            else pr.get("unavailable", "not run")
        )
        acc = r.get("sample_class_accuracy")
        lines.append(
            f"| {label(r)} | {r['steps']} | {r['epochs']:.2f} | {r['train_seconds'] / 60:.1f} min | "
            f"{fmt(r['train_images_per_s'])} | {fmt(r.get('peak_rss_mib'), 0)} | "
            f"{r['params_generator'] / 1e6:.2f}M / {r['params_discriminator'] / 1e6:.2f}M | "
            f"{parzen} | {fid_s} | "
            f"{pr_s} | {'—' if acc is None else f'{100 * acc:.1f}%'} | {r['paper']} |"
        )
    lines += ["", "Class spread of the samples (fraction predicted as 0..9 by the reference classifier):", ""]
    for r in results:
        if "sample_class_fractions" in r:
            lines.append(f"- {label(r)}: {r['sample_class_fractions']}")
    lines += ["", "Last logged training window per model:", ""]
    for r in results:
        keep = {k: v for k, v in r["final_log"].items() if not k.endswith("/loss") and k != "epoch"}
        lines.append(f"- {label(r)}: `{json.dumps(keep)}`")
        if "metrics_error" in r or "class_error" in r:
            lines.append(f"  - errors: {r.get('metrics_error', '')} {r.get('class_error', '')}")
    lines.append("")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default="../shared/data")
    p.add_argument("--models", nargs="+", default=["gan", "cgan", "dcgan", "acgan"])
    p.add_argument("--minutes", type=float, default=6.0, help="training budget per model")
    p.add_argument("--samples", type=int, default=10000)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--workdir", default="/tmp/genzoo-gans")
    p.add_argument("--no-eval", action="store_true", help="skip Parzen / FID / precision-recall")
    p.add_argument("--out", default=None, help="JSON lines of results (default: WORKDIR/gans.jsonl)")
    p.add_argument("--md", default="benchmarks/results/gans.md")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="config override for every model, e.g. --set model.real_label=0.9 (recorded as variant)",
    )
    p.add_argument("--tag", default="", help="suffix of the per-model work folder (for variants)")
    p.add_argument("--render-only", action="store_true", help="rewrite --md from the results file")
    p.add_argument("--one", default=None, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.one:
        print("RESULT " + json.dumps(run_one(a, a.one), default=str), flush=True)
        return
    command = " ".join(["python", *sys.argv])
    Path(a.workdir).mkdir(parents=True, exist_ok=True)
    out = Path(a.out) if a.out else Path(a.workdir) / "gans.jsonl"
    if a.render_only:
        render_file(out, Path(a.md))
        return
    for model in a.models:
        args = [sys.executable, __file__, "--one", model, *sys.argv[1:]]
        proc = subprocess.run(args, capture_output=True, text=True)
        found = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
        if proc.returncode != 0 or not found:
            print(f"{model} failed:\n{proc.stderr[-3000:]}", file=sys.stderr)
            continue
        res = json.loads(found[-1][len("RESULT ") :])
        res["command"] = command
        with open(out, "a") as f:
            f.write(json.dumps(res, default=str) + "\n")
        print(json.dumps({k: v for k, v in res.items() if k != "metrics"}, default=str), flush=True)
        render_file(out, Path(a.md))


def render_file(out: Path, md: Path) -> None:
    """The table holds the latest result of every (model, variant) in the results file."""
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for line in out.read_text().splitlines():
        r = json.loads(line)
        latest[(r["model"], r.get("variant", ""))] = r
    order = list(PAPER)
    results = sorted(latest.values(), key=lambda r: (order.index(r["model"]), r.get("variant", "")))
    render(results, md, " ; ".join(dict.fromkeys(r["command"] for r in results)))


if __name__ == "__main__":
    main()
