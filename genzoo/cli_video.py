"""``genzoo video``: write sampled or real videos as an animated GIF and a PNG frame strip.

    genzoo video RUN -n 8 --seed 0 -o out.gif        # samples of a trained video model (+ out.png strip)
    genzoo video --real moving-mnist -n 8 -o real.gif --set size=32 --data-dir ../shared/data

A conditional model (VPN, VGAN future generation) is given the first ``n`` context clips of its run's
test split and the GIF shows the context frames followed by the generated ones.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from genzoo import defaults
from genzoo.cli import _parse_value, command
from genzoo.core.errors import UsageError


@command("video", "write sampled (or real) videos as an animated GIF and a PNG frame strip")
def _video_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", nargs="?", help="a run of a video model (omit with --real)")
    p.add_argument("--real", metavar="DATASET", help="write real sequences of this video dataset instead")
    p.add_argument("--split", default="test", help="--real: the split (default test)")
    p.add_argument("--set", dest="options", action="append", default=[], metavar="OPTION=VALUE",
                   help="--real: a dataset option, e.g. --set size=32")
    p.add_argument("-n", type=int, default=8, help="number of videos")
    p.add_argument("-o", "--out", default=None, help="GIF path (default: RUN_DIR/videos-seedS.gif); the strip "
                   "goes beside it as .png")
    p.add_argument("--seed", type=int, default=defaults.SEED)
    p.add_argument("--fps", type=float, default=5.0)
    p.add_argument("--device", default=defaults.DEVICE, help="auto (CUDA if available), cpu, cuda, cuda:1, ...")
    p.add_argument("--data-dir")


@_video_args.run
def _video(a: argparse.Namespace) -> int:
    import torch

    from genzoo.video_io import check_video, write_gif, write_strip

    if (a.run_dir is None) == (a.real is None):
        raise UsageError("give a run directory or --real DATASET (one of them)")
    if a.n < 1:
        raise UsageError(f"-n must be at least 1, got {a.n}")
    if a.real:
        from genzoo.data import load_dataset

        options = {}
        for item in a.options:
            if "=" not in item:
                raise UsageError(f"--set {item!r} is not of the form option=value")
            key, value = item.split("=", 1)
            options[key.strip()] = _parse_value(value)
        data = load_dataset(a.real, a.split, a.data_dir, **options)
        n = min(a.n, len(data))
        batch = data.batch(torch.arange(n), torch.Generator().manual_seed(a.seed))
        videos = batch["x"] if "context" not in batch else torch.cat([batch["context"], batch["x"]], 1)
        out = Path(a.out or f"{a.real}-{a.split}.gif")
    else:
        from genzoo import api
        from genzoo.core import default_condition

        run = Path(a.run_dir)
        model = api.load(run, a.device)
        source = api.condition_source(model, run, a.data_dir)
        specs = model.condition_specs()
        condition = default_condition(specs, a.n, source.condition_values() if source is not None else None)
        videos = api.sample(model, a.n, seed=a.seed, condition=condition, device=a.device)
        if condition is not None and "context" in condition:
            videos = torch.cat([condition["context"].float().cpu(), videos], 1)
        out = Path(a.out) if a.out else run / f"videos-seed{a.seed}.gif"
    videos = check_video(videos)
    write_gif(videos, out, fps=a.fps)
    strip = out.with_suffix(".png")
    write_strip(videos, strip)
    print(f"wrote {out}\nwrote {strip}")
    return 0
