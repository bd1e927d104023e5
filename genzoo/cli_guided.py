"""``genzoo steps`` (how samples are drawn: DRAW's canvases, a guided chain's progress) and ``genzoo synthesize``
(guided synthesis with DGN-AM / PPGN: chain length, step sizes, a swapped condition network)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from genzoo import defaults
from genzoo.cli import _key_value, _option_key, _parse_value, command


def _condition(a: argparse.Namespace) -> dict[str, Any] | None:
    condition = {k.replace("-", "_"): _parse_value(v) for k, v in (_key_value(c) for c in a.condition)}
    if a.label is not None:
        condition["label"] = a.label
    return condition or None


def _write_sequences(frames: Any, out: Path, duration_ms: int) -> list[Path]:
    """One PNG strip per sample, all strips in one PNG, and an animated GIF of the grid."""
    from genzoo.images import save_grid
    from genzoo.video_io import write_gif

    n, f = frames.shape[:2]
    paths = []
    for i in range(n):
        paths.append(out / f"sample-{i:03d}.png")
        save_grid(frames[i], paths[-1], nrow=f)
    paths.append(out / "strips.png")
    save_grid(frames.flatten(0, 1), paths[-1], nrow=f)
    paths.append(out / "canvas.gif")
    write_gif(frames, paths[-1], fps=1000 / duration_ms, hold_last=3)
    return paths


def _common(p: argparse.ArgumentParser, n: int) -> None:
    p.add_argument("run_dir")
    p.add_argument("-n", type=int, default=n, help="number of samples")
    p.add_argument("--seed", type=int, default=defaults.SEED)
    p.add_argument("--class", dest="label", type=int, help="class label for class-conditional models")
    p.add_argument("--condition", action="append", default=[], metavar="KEY=VALUE", help="any condition by key")
    p.add_argument("--duration-ms", type=int, default=120, help="time per GIF frame")
    p.add_argument("--device", default=defaults.DEVICE, help="auto (CUDA if available), cpu, cuda, cuda:1, ...")
    p.add_argument("--data-dir")


@command("steps", "show samples being drawn: a PNG strip per sample and an animated GIF (DRAW canvases, chains)")
def _steps_args(p: argparse.ArgumentParser) -> None:
    _common(p, 8)
    p.add_argument("-o", "--out", help="folder to write into (default: RUN_DIR/steps-seedS)")


@_steps_args.run
def _steps(a: argparse.Namespace) -> int:
    from genzoo import api

    frames = api.canvas_sequence(a.run_dir, a.n, a.seed, _condition(a), a.device, a.data_dir)
    out = Path(a.out) if a.out else Path(a.run_dir) / f"steps-seed{a.seed}"
    paths = _write_sequences(frames, out, a.duration_ms)
    print(f"wrote {len(paths) - 2} strips of {frames.shape[1]} frames, {paths[-2]} and {paths[-1]}")
    return 0


@command("synthesize", "guided synthesis (dgn-am, ppgn): chain length, step sizes, another condition network")
def _synthesize_args(p: argparse.ArgumentParser) -> None:
    _common(p, 16)
    p.add_argument("--chain-steps", type=int, help="iterations of the code update")
    p.add_argument("--frames", type=int, help="frames kept along each chain for the progress picture")
    p.add_argument("--eps1", type=float, help="PPGN: weight of the prior term R(h) - h")
    p.add_argument("--eps2", type=float, help="PPGN: weight of the condition gradient")
    p.add_argument("--eps3", type=float, help="PPGN: std of the noise per step")
    p.add_argument("--lr", type=float, help="DGN-AM: normalised step size")
    p.add_argument("--decay", type=float, help="DGN-AM: L2 decay of the code per step")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE", help="any other sampler option")
    p.add_argument("--condition-net", help="the condition network: a reference classifier's dataset or a "
                                           ".safetensors classifier file (default: the model's)")
    p.add_argument("-o", "--out", help="samples PNG (default: RUN_DIR/synthesis-seedS.png); the chains' "
                                       "strips and GIF go into a folder beside it")


@_synthesize_args.run
def _synthesize(a: argparse.Namespace) -> int:
    from genzoo import api
    from genzoo.images import save_grid

    options = {_option_key(k): _parse_value(v) for k, v in (_key_value(o) for o in a.option)}
    for name in ("chain_steps", "frames", "eps1", "eps2", "eps3", "lr", "decay"):
        if getattr(a, name) is not None:
            options[name] = getattr(a, name)
    frames = api.synthesize(a.run_dir, a.n, a.seed, _condition(a), options, a.condition_net, a.device, a.data_dir)
    out = Path(a.out) if a.out else Path(a.run_dir) / f"synthesis-seed{a.seed}.png"
    save_grid(frames[:, -1], out)
    paths = _write_sequences(frames, out.with_suffix(""), a.duration_ms)
    print(f"wrote {out}; chain progress: {paths[-2]} and {paths[-1]}")
    return 0
