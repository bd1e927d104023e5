"""Training speed per CPU-second and achieved GFLOP/s, measured with the engine's own training step.

Two measurements, each in ONE process so that the machine's load (shared with other jobs) affects
every variant alike, timed with ``time.process_time`` (CPU seconds of this process, not wall time):

``nade``
    NADE (``nade-binarized-mnist``: H = 500, batch 100, Adam) with its likelihood computed three
    ways, interleaved step by step: ``reference`` (plain autograd over (N, block, H) tensors, what
    genzoo ran before), ``torch`` (blocked triangular GEMMs, recomputing autograd function) and
    ``native`` (the C++ kernel, :mod:`genzoo.nn.nade_fused`). Same weights, same batches.
``acgan``
    AC-GAN (``acgan-mnist``) with its discriminator's dropout as ``torch.nn.Dropout`` (one Bernoulli
    draw per element) and as :class:`genzoo.nn.dropout.Dropout` (bits of random bytes), interleaved.
``gmmn``
    GMMN (``gmmn-mnist``: batch 1000) steps with the kernel sum eager or fused by ``torch.compile``
    (``model.compile_kernel``) and with subnormal floats kept or flushed to zero (``train.flush_denormal``),
    interleaved, from the weights of a trained run (``--weights RUN``: its saturated sigmoid outputs are
    what produce subnormal gradients) or from initialisation.
``engine``
    the engine's per-step overhead on small-batch configs (``vae-binarized-mnist``: batch 20, where the
    optimiser and bookkeeping weigh most), interleaved in blocks of steps: as the engine ran up to
    3c0cfa6 (Adam as PyTorch's per-tensor loop, the epoch's example order drawn again every step, the
    group names listed every step) and as it runs now (fused Adam, order drawn once an epoch, names
    once). Same weights at the start; the two optimisers then keep their own state.
``gan-update``
    the MLP GAN (``gan-mnist``) with ``model.update`` alternating (Algorithm 1: the generator's step draws
    its own samples and passes them through the updated D) and simultaneous (the released code: one
    batch of samples and one D pass give both gradients), interleaved in blocks of steps.
``models``
    every model's named config, a few engine steps each (``Trainer.train_step``: batch, forward,
    backward, clip, optimiser step of every scheduled group).

FLOPs come from ``torch.utils.flop_counter.FlopCounterMode`` over one training step: it counts
matrix products and convolutions (forward and backward), not elementwise work, so GFLOP/s measures
how close a model gets to the core's matrix-multiply peak. NADE's FLOPs are counted on the reference
formulation for every variant (the native kernel is invisible to the counter, the blocked one does
extra multiplications by zero), so the three NADE rows divide the same useful work by their times.

Usage (one torch thread; a few minutes in all)::

    PYTHONPATH=. OMP_NUM_THREADS=1 nice -n 10 python benchmarks/speed.py nade --repeats 5
    PYTHONPATH=. OMP_NUM_THREADS=1 nice -n 10 python benchmarks/speed.py acgan --repeats 5
    PYTHONPATH=. OMP_NUM_THREADS=1 nice -n 10 python benchmarks/speed.py gmmn --repeats 3 --weights RUN
    PYTHONPATH=. OMP_NUM_THREADS=1 nice -n 10 python benchmarks/speed.py engine --repeats 5 --steps 300
    PYTHONPATH=. OMP_NUM_THREADS=1 nice -n 10 python benchmarks/speed.py gan-update --repeats 5 --steps 50
    PYTHONPATH=. OMP_NUM_THREADS=1 nice -n 10 python benchmarks/speed.py models --steps 3

Rows are appended to ``benchmarks/results/speed.jsonl``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import stamp, write_result  # noqa: E402
from genzoo.config import resolve  # noqa: E402
from genzoo.nn.nade_fused import nade_logits, native_library  # noqa: E402
from genzoo.train.loop import Trainer  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "speed.jsonl"
DATA_DIR = os.environ.get("GENZOO_SHARED_DATA", "/work/shared/data")

#: named config -> overrides for the throughput measurement (none: the config's own batch size)
MODEL_CONFIGS: dict[str, dict[str, Any]] = {
    "vae-binarized-mnist": {},
    "vae2-binarized-mnist": {},
    "nade-binarized-mnist": {},
    "pixelcnn-binarized-mnist": {},
    "gated-pixelcnn-binarized-mnist": {},
    "row-lstm-binarized-mnist": {},
    "diagonal-bilstm-binarized-mnist": {},
    "gan-mnist": {},
    "cgan-mnist": {},
    "dcgan-mnist": {},
    "acgan-mnist": {},
    "gmmn-mnist": {},
    "gmmn-ae-mnist": {"model.ae_steps": 0},  # time the GMMN stage
    "lapgan-mnist": {},
}


def make_trainer(config: str, overrides: dict[str, Any], workdir: Path) -> Trainer:
    cfg = resolve(config=config, overrides={"train.progress": False, "train.tensorboard": False, **overrides})
    return Trainer(cfg, workdir / config, data_dir=DATA_DIR)


def count_flops(trainer: Trainer, step: int) -> int:
    with FlopCounterMode(display=False) as counter:
        trainer.train_step(step)
    return int(counter.get_total_flops())


def nade(repeats: int, batch: int) -> None:
    """reference vs blocked torch vs native NADE training steps, interleaved, per CPU-second."""
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = make_trainer("nade-binarized-mnist", {"train.batch_size": batch}, Path(tmp))
        model = trainer.model
        variants = {"reference": model.logits_reference}
        variants["torch"] = lambda x: nade_logits(x, model.W, model.c, model.V, model.b, model.FUSED_BLOCK, "torch")
        if native_library() is not None:
            variants["native"] = lambda x: nade_logits(
                x, model.W, model.c, model.V, model.b, model.FUSED_BLOCK, "native"
            )
        model.logits = variants["reference"]  # type: ignore[method-assign]
        flops = count_flops(trainer, 0)
        times: dict[str, list[float]] = {k: [] for k in variants}
        for fn in variants.values():  # warm-up (builds the native library, first allocations)
            model.logits = fn  # type: ignore[method-assign]
            trainer.train_step(0)
        for r in range(repeats):
            for name, fn in variants.items():
                model.logits = fn  # type: ignore[method-assign]
                t0 = time.process_time()
                trainer.train_step(1 + r)
                times[name].append(time.process_time() - t0)
    ref = statistics.median(times["reference"])
    for name, ts in times.items():
        med = statistics.median(ts)
        row = {
            "bench": "nade", "variant": name, "batch": batch, "repeats": repeats,
            "cpu_s_per_step_median": round(med, 4), "cpu_s_per_step_all": [round(t, 4) for t in ts],
            "images_per_cpu_s": round(batch / med, 1), "gflop_per_step": round(flops / 1e9, 3),
            "gflop_per_cpu_s": round(flops / 1e9 / med, 2), "speedup_vs_reference": round(ref / med, 2),
            **stamp(),
        }
        write_result(RESULTS, row)


def acgan(repeats: int) -> None:
    """AC-GAN steps with torch's dropout vs genzoo's p = 0.5 dropout, interleaved, per CPU-second."""
    from genzoo.nn.dropout import Dropout

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = make_trainer("acgan-mnist", {}, Path(tmp))
        net = trainer.model.discriminator
        spots = [(parent, name) for parent in net.modules() for name, child in parent.named_children()
                 if isinstance(child, Dropout)]
        variants = {"torch.nn.Dropout": lambda p: torch.nn.Dropout(p), "genzoo Dropout": Dropout}
        times: dict[str, list[float]] = {k: [] for k in variants}
        batch = trainer.train_cfg.batch_size
        trainer.train_step(0)
        for r in range(repeats):
            for name, make in variants.items():
                for parent, child in spots:
                    setattr(parent, child, make(0.5))
                t0 = time.process_time()
                trainer.train_step(1 + r)
                times[name].append(time.process_time() - t0)
    ref = statistics.median(times["torch.nn.Dropout"])
    for name, ts in times.items():
        med = statistics.median(ts)
        write_result(RESULTS, {
            "bench": "acgan-dropout", "variant": name, "batch": batch, "repeats": repeats, "dropout_layers": len(spots),
            "cpu_s_per_step_median": round(med, 4), "images_per_cpu_s": round(batch / med, 1),
            "speedup_vs_torch_dropout": round(ref / med, 2), **stamp(),
        })


def gmmn(repeats: int, weights: str | None) -> None:
    """GMMN steps: eager / compiled kernel sum x subnormals kept / flushed, interleaved, per CPU-second."""
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = make_trainer("gmmn-mnist", {}, Path(tmp))
        if weights:
            import genzoo

            trainer.model.load_state_dict(genzoo.load(weights, device="cpu").state_dict())
        variants = {(compiled, flush): f"{'compiled' if compiled else 'eager'} kernel, subnormals "
                                       f"{'flushed' if flush else 'kept'}"
                    for compiled in (False, True) for flush in (False, True)}
        times: dict[tuple[bool, bool], list[float]] = {k: [] for k in variants}
        batch = trainer.train_cfg.batch_size
        for r in range(repeats + 1):  # the first round warms up (compiles)
            for (compiled, flush) in variants:
                trainer.model.config.compile_kernel = compiled
                torch.set_flush_denormal(flush)
                t0 = time.process_time()
                trainer.train_step(r)
                if r:
                    times[(compiled, flush)].append(time.process_time() - t0)
        torch.set_flush_denormal(False)
    ref = statistics.median(times[(False, False)])
    for key, ts in times.items():
        med = statistics.median(ts)
        write_result(RESULTS, {
            "bench": "gmmn", "variant": variants[key], "weights": weights or "initialisation", "batch": batch,
            "repeats": repeats, "cpu_s_per_step_median": round(med, 4), "cpu_s_per_step_all": [round(t, 4) for t in ts],
            "images_per_cpu_s": round(batch / med, 1), "speedup_vs_eager_kept": round(ref / med, 2),
            **stamp(),
        })
        print(f"{variants[key]:40s} {med:.4f} CPU s/step  {ref / med:.2f}x")


def time_blocks(
    trainer: Trainer, setups: dict[str, Callable[[], None]], repeats: int, steps: int,
    every_step: dict[str, Callable[[], None]] | None = None,
) -> dict[str, list[float]]:
    """CPU seconds per engine step of each variant, measured in blocks of ``steps`` steps that take turns
    ``repeats`` times (``setups[v]()`` before each block of ``v``, ``every_step[v]()`` before each of its
    steps), after one warm-up step; the step number runs on across blocks."""
    trainer.train_step(0)
    times: dict[str, list[float]] = {v: [] for v in setups}
    step = 1
    for _ in range(repeats):
        for variant, setup in setups.items():
            setup()
            per_step = (every_step or {}).get(variant)
            t0 = time.process_time()
            for _ in range(steps):
                if per_step is not None:
                    per_step()
                trainer.train_step(step)
                step += 1
            times[variant].append((time.process_time() - t0) / steps)
    return times


def write_block_rows(bench: str, config: str, times: dict[str, list[float]], reference: str, batch: int,
                     steps: int, repeats: int) -> None:
    """One result row per variant of :func:`time_blocks`: median CPU ms per step and speed-up over ``reference``."""
    ref = statistics.median(times[reference])
    for variant, ts in times.items():
        med = statistics.median(ts)
        write_result(RESULTS, {
            "bench": bench, "config": config, "variant": variant, "batch": batch, "steps": steps,
            "repeats": repeats, "cpu_ms_per_step_median": round(med * 1e3, 3),
            "cpu_ms_per_step_all": [round(t * 1e3, 3) for t in ts], "images_per_cpu_s": round(batch / med, 1),
            f"speedup_vs_{reference}": round(ref / med, 2), **stamp(),
        })
        print(f"{config:28s} {variant:12s} {med * 1e3:.3f} CPU ms/step  {ref / med:.2f}x")


def engine(repeats: int, steps: int, names: list[str]) -> None:
    """Engine steps as the engine ran up to 3c0cfa6 vs now, interleaved in blocks, per CPU-second."""
    torch.set_num_threads(1)
    for config in names:
        with tempfile.TemporaryDirectory() as tmp:
            trainer = make_trainer(config, {}, Path(tmp))
            times = _engine_before_and_now(trainer, repeats, steps)
            write_block_rows("engine", config, times, "before", trainer.train_cfg.batch_size, steps, repeats)


def _engine_before_and_now(trainer: Trainer, repeats: int, steps: int) -> dict[str, list[float]]:
    fused = trainer.optimizers
    loop = {}
    for g, opt in fused.items():  # the same hyperparameters, PyTorch's per-tensor loop
        pg = opt.param_groups[0]
        loop[g] = type(opt)(trainer.groups[g], lr=pg["lr"], betas=pg["betas"], eps=pg["eps"],
                            weight_decay=pg["weight_decay"], foreach=False)

    def redo_per_step_work() -> None:  # what the engine redid every step up to 3c0cfa6
        trainer._order = None
        trainer.model.__dict__.pop("_group_names", None)

    return time_blocks(
        trainer,
        {"before": lambda: setattr(trainer, "optimizers", loop), "now": lambda: setattr(trainer, "optimizers", fused)},
        repeats, steps, every_step={"before": redo_per_step_work},
    )


def gan_update(repeats: int, steps: int) -> None:
    """gan-mnist steps with alternating vs simultaneous updates, interleaved in blocks, per CPU-second."""
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = make_trainer("gan-mnist", {}, Path(tmp))
        config = trainer.model.config
        times = time_blocks(
            trainer,
            {"alternating": lambda: setattr(config, "update", "alternating"),
             "simultaneous": lambda: setattr(config, "update", "simultaneous")},
            repeats, steps,
        )
        write_block_rows("gan-update", "gan-mnist", times, "alternating", trainer.train_cfg.batch_size, steps, repeats)


def models(steps: int, names: list[str]) -> None:
    """images per CPU-second and GFLOP per CPU-second of each named config's engine step."""
    torch.set_num_threads(1)
    for config in names:
        with tempfile.TemporaryDirectory() as tmp:
            trainer = make_trainer(config, MODEL_CONFIGS.get(config, {}), Path(tmp))
            batch = trainer.train_cfg.batch_size
            fast_logits = getattr(trainer.model, "logits", None)
            if hasattr(trainer.model, "logits_reference"):  # NADE: count the useful work (see the docstring)
                trainer.model.logits = trainer.model.logits_reference
            flops = count_flops(trainer, 0)
            if hasattr(trainer.model, "logits_reference"):
                trainer.model.logits = fast_logits
            trainer.train_step(1)  # warm-up
            ts = []
            for s in range(steps):
                t0 = time.process_time()
                trainer.train_step(2 + s)
                ts.append(time.process_time() - t0)
        med = statistics.median(ts)
        write_result(RESULTS, {
            "bench": "models", "config": config, "batch": batch, "steps": steps,
            "cpu_s_per_step_median": round(med, 4), "images_per_cpu_s": round(batch / med, 1),
            "gflop_per_step": round(flops / 1e9, 3), "gflop_per_cpu_s": round(flops / 1e9 / med, 2),
            **stamp(),
        })


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="what", required=True)
    p = sub.add_parser("nade")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--batch", type=int, default=100)
    p = sub.add_parser("acgan")
    p.add_argument("--repeats", type=int, default=5)
    p = sub.add_parser("gmmn")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--weights", default=None, help="a trained gmmn-mnist run to take the weights from")
    p = sub.add_parser("engine")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--steps", type=int, default=300, help="steps per timed block")
    p.add_argument("--configs", nargs="+", default=["vae-binarized-mnist", "nade-binarized-mnist"])
    p = sub.add_parser("gan-update")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--steps", type=int, default=50, help="steps per timed block")
    p = sub.add_parser("models")
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--configs", nargs="+", default=list(MODEL_CONFIGS))
    a = ap.parse_args()
    if a.what == "nade":
        nade(a.repeats, a.batch)
    elif a.what == "acgan":
        acgan(a.repeats)
    elif a.what == "gmmn":
        gmmn(a.repeats, a.weights)
    elif a.what == "engine":
        engine(a.repeats, a.steps, a.configs)
    elif a.what == "gan-update":
        gan_update(a.repeats, a.steps)
    else:
        models(a.steps, a.configs)


if __name__ == "__main__":
    main()
