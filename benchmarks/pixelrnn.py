"""PixelRNN (Row LSTM, Diagonal BiLSTM) benchmarks, CPU, one thread. Each subcommand stays under ~8 minutes.

    python benchmarks/pixelrnn.py sampling            # fast vs naive sampler, 64 binary 28x28 images
    python benchmarks/pixelrnn.py throughput          # training images/s and peak memory
    python benchmarks/pixelrnn.py train --model diagonal-bilstm --minutes 6 --data-dir /work/shared/data
    python benchmarks/pixelrnn.py verify --run-dir RUN_DIR --n 4  # fast == naive at 28x28, trained weights

``sampling``: the paper-sized MNIST models (random weights; the speed does not depend on them). The fast
sampler is timed end to end at 28x28. The naive sampler recomputes the whole network for each of the
784 sub-pixels, and every one of those passes costs the same, so at 28x28 it is timed as 784 x the mean
time of a full forward pass (``--probe`` passes); both samplers are also run end to end on 10x10 images
and compared with ``torch.equal``.

``throughput``: training steps (forward + backward + Adam) of the paper-sized MNIST models, each in a
fresh subprocess. Peak memory is the process's peak resident set size (``ru_maxrss``) after the steps,
minus the resident set size after building the model and loading one batch, i.e. the extra memory that
training needs (activations, gradients, optimiser state).

``train``: ``genzoo.train`` with the named config (``<model>-binarized-mnist``), stopped after
``--minutes`` of training, then the exact test NLL on every 10th test image (1000 images; the test split
is sorted by label) and 64 fast samples (``samples.png`` in the run directory).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

torch.set_num_threads(1)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from genzoo.core import DataInfo  # noqa: E402
from genzoo.models.autoregressive.pixelrnn import DiagonalBiLSTM, PixelRNN, RowLSTM  # noqa: E402

MODELS: dict[str, type[PixelRNN]] = {"row-lstm": RowLSTM, "diagonal-bilstm": DiagonalBiLSTM}
PAPER_NLL = {"row-lstm": "80.54", "diagonal-bilstm": "79.20 (7 layers, h=16); 80.75 (1 layer, h=32)"}


def _clock() -> tuple[float, float]:
    return time.process_time(), time.perf_counter()


def _since(t: tuple[float, float]) -> tuple[float, float]:
    return time.process_time() - t[0], time.perf_counter() - t[1]


def paper_model(name: str, shape: tuple[int, int, int] = (1, 28, 28), seed: int = 0) -> PixelRNN:
    torch.manual_seed(seed)
    cls = MODELS[name]
    return cls(cls.Config(), DataInfo(shape, 2)).eval()


def cmd_sampling(args: argparse.Namespace) -> dict:
    out: dict = {}
    for name in args.models:
        model = paper_model(name)
        t = _clock()
        model.sample(args.batch, generator=torch.Generator().manual_seed(0), method="fast")
        fast_cpu, fast_wall = _since(t)
        x = torch.zeros(args.batch, 1, 28, 28)
        with torch.no_grad():
            model._head(model._stream(model._input(x)))  # warm up
            t = _clock()
            for _ in range(args.probe):
                model._head(model._stream(model._input(x)))
        per_cpu, per_wall = (v / args.probe for v in _since(t))
        naive_cpu, naive_wall = per_cpu * 784, per_wall * 784
        small = paper_model(name, (1, 10, 10))
        t = _clock()
        a = small.sample(args.batch, generator=torch.Generator().manual_seed(1), method="fast")
        small_fast = _since(t)
        t = _clock()
        b = small.sample(args.batch, generator=torch.Generator().manual_seed(1), method="naive")
        small_naive = _since(t)
        out[name] = {
            "28x28_fast_cpu_s": fast_cpu,
            "28x28_fast_wall_s": fast_wall,
            "28x28_fast_images_per_cpu_s": args.batch / fast_cpu,
            "28x28_naive_cpu_s_extrapolated": naive_cpu,
            "28x28_naive_wall_s_extrapolated": naive_wall,
            "28x28_naive_images_per_cpu_s": args.batch / naive_cpu,
            "28x28_speedup_cpu": naive_cpu / fast_cpu,
            "10x10_fast_cpu_s": small_fast[0],
            "10x10_naive_cpu_s": small_naive[0],
            "10x10_speedup_cpu": small_naive[0] / small_fast[0],
            "10x10_identical": bool(torch.equal(a, b)),
        }
        print(name, json.dumps(out[name], indent=1), flush=True)
    return out


def _throughput_one(name: str, batch: int, steps: int) -> dict:
    model = paper_model(name).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.bernoulli(torch.full((batch, 1, 28, 28), 0.15), generator=torch.Generator().manual_seed(0))
    base_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    def step() -> None:
        loss = model.training_step({"x": x}, 0, "model")["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()

    step()  # warm-up (also allocates the optimiser state)
    t = _clock()
    for _ in range(steps):
        step()
    cpu, wall = _since(t)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "batch": batch,
        "steps": steps,
        "cpu_s_per_step": cpu / steps,
        "wall_s_per_step": wall / steps,
        "images_per_cpu_s": batch * steps / cpu,
        "images_per_wall_s": batch * steps / wall,
        "peak_rss_mb": peak_kb / 1024,
        "training_extra_mb": (peak_kb - base_kb) / 1024,
        "params": sum(p.numel() for p in model.parameters()),
    }


def cmd_throughput(args: argparse.Namespace) -> dict:
    out: dict = {}
    for name in args.models:
        for batch in args.batches:
            cmd = [
                sys.executable,
                __file__,
                "_throughput_one",
                "--model",
                name,
                "--batch",
                str(batch),
                "--steps",
                str(args.steps),
            ]
            res = subprocess.run(cmd, capture_output=True, text=True, check=True)
            out[f"{name}/batch{batch}"] = json.loads(res.stdout.strip().splitlines()[-1])
            print(name, json.dumps(out[f"{name}/batch{batch}"]), flush=True)
    return out


def cmd_train(args: argparse.Namespace) -> dict:
    import genzoo
    from genzoo.data import load_dataset
    from genzoo.images import save_grid

    deadline = time.perf_counter() + 60 * args.minutes

    def stop_at_deadline(trainer, step_done: int) -> None:  # type: ignore[no-untyped-def]
        if time.perf_counter() > deadline:
            trainer.total_steps = step_done  # ends the loop after this step

    run_dir = args.run_dir or tempfile.mkdtemp(prefix=f"pixelrnn-{args.model}-")
    overrides = {
        "train.steps": 10**7,
        "train.progress": False,
        "train.tensorboard": False,
        "train.log_every": 25,
        "train.eval_every": 10**8,
        "train.sample_every": 10**8,
        "train.checkpoint_every": 10**8,
    }
    for kv in args.set:
        key, value = kv.split("=", 1)
        overrides[key] = json.loads(value) if value[:1].isdigit() or value[:1] in "[{-" else value
    t = _clock()
    run = genzoo.train(
        config=f"{args.model}-binarized-mnist",
        data_dir=args.data_dir,
        run_dir=run_dir,
        overrides=overrides,
        seed=0,
        hooks=[stop_at_deadline],
    )
    train_cpu, train_wall = _since(t)
    model = run.model.eval()
    test = load_dataset("binarized-mnist", "test", data_dir=args.data_dir).tensor()[::10]
    t = _clock()
    with torch.no_grad():
        nll = torch.cat([-model.log_prob(test[i : i + 100]) for i in range(0, len(test), 100)])
    eval_cpu, eval_wall = _since(t)
    t = _clock()
    samples = model.sample(64, generator=torch.Generator().manual_seed(0))
    sample_cpu, _ = _since(t)
    save_grid(samples, Path(run_dir) / "samples.png")
    last = [json.loads(line) for line in open(Path(run_dir) / "metrics.jsonl") if '"train"' in line][-1]
    out = {
        "model": args.model,
        "config": model.config_dict(),
        "steps": run.step,
        "batch_size": run.config.train.batch_size,
        "images_seen": run.step * run.config.train.batch_size,
        "epochs": run.step * run.config.train.batch_size / 50000,
        "train_wall_s": train_wall,
        "train_cpu_s": train_cpu,
        "last_train_nll": last.get("nll"),
        "test_images": len(test),
        "test_nll_nats": nll.mean().item(),
        "test_nll_stderr": (nll.std() / len(nll) ** 0.5).item(),
        "test_bits_per_dim": nll.mean().item() / (784 * 0.6931471805599453),
        "eval_cpu_s": eval_cpu,
        "sample64_cpu_s": sample_cpu,
        "paper_nll": PAPER_NLL[args.model],
        "run_dir": str(run_dir),
    }
    print(json.dumps(out, indent=1), flush=True)
    return out


def cmd_verify(args: argparse.Namespace) -> dict:
    """Fast == naive at full size, for a trained run (the naive sampler takes minutes even for 4 images)."""
    import genzoo

    model = genzoo.load(args.run_dir).eval()
    t = _clock()
    a = model.sample(args.n, generator=torch.Generator().manual_seed(args.seed), method="fast")
    fast = _since(t)
    t = _clock()
    b = model.sample(args.n, generator=torch.Generator().manual_seed(args.seed), method="naive")
    naive = _since(t)
    out = {
        "run_dir": args.run_dir,
        "n": args.n,
        "identical": bool(torch.equal(a, b)),
        "fast_cpu_s": fast[0],
        "naive_cpu_s": naive[0],
        "speedup_cpu": naive[0] / fast[0],
    }
    print(json.dumps(out, indent=1), flush=True)
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("sampling")
    s.add_argument("--models", nargs="+", default=list(MODELS))
    s.add_argument("--batch", type=int, default=64)
    s.add_argument("--probe", type=int, default=3, help="full passes timed for the naive sampler at 28x28")
    s = sub.add_parser("throughput")
    s.add_argument("--models", nargs="+", default=list(MODELS))
    s.add_argument("--batches", nargs="+", type=int, default=[16, 64])
    s.add_argument("--steps", type=int, default=3)
    s = sub.add_parser("_throughput_one")
    s.add_argument("--model", required=True)
    s.add_argument("--batch", type=int, required=True)
    s.add_argument("--steps", type=int, required=True)
    s = sub.add_parser("train")
    s.add_argument("--model", choices=list(MODELS), required=True)
    s.add_argument("--minutes", type=float, default=6.0, help="training wall-clock budget")
    default_data = os.environ.get("GENZOO_SHARED_DATA", str(ROOT.parent / "shared" / "data"))
    s.add_argument("--data-dir", default=default_data)
    s.add_argument("--run-dir", default=None)
    s.add_argument("--set", action="append", default=[], help="override key=value, e.g. model.layers=1")
    s.add_argument("--json", default=None, help="also write the result here")
    s = sub.add_parser("verify")
    s.add_argument("--run-dir", required=True)
    s.add_argument("--n", type=int, default=4)
    s.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.cmd == "_throughput_one":
        print(json.dumps(_throughput_one(args.model, args.batch, args.steps)))
        return
    commands = {
        "sampling": cmd_sampling,
        "throughput": cmd_throughput,
        "train": cmd_train,
        "verify": cmd_verify,
    }
    result = commands[args.cmd](args)
    if getattr(args, "json", None):
        Path(args.json).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
