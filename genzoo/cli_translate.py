"""``genzoo translate RUN INPUT... -o OUT``: thin wrapper over :func:`genzoo.translate.translate_files`."""

from __future__ import annotations

import argparse

from genzoo import defaults
from genzoo.cli import command


@command("translate", "map image files through a trained image-to-image model (pix2pix)")
def _translate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="a run directory of an image-to-image model")
    p.add_argument("inputs", nargs="+", help="image files of the model's source size and channel count")
    p.add_argument("-o", "--out", required=True, help="a .png for one input, else a folder (<name>.png each)")
    p.add_argument("--seed", type=int, default=defaults.SEED, help="seed of the dropout noise")
    p.add_argument("--batch-size", type=int, default=64, help="images translated together (batch statistics)")
    p.add_argument("--side-by-side", action="store_true", help="write input | output pairs")
    p.add_argument("--device", default=defaults.DEVICE, help="auto (CUDA if available), cpu, cuda, ...")


@_translate_args.run
def _translate(a: argparse.Namespace) -> int:
    from genzoo.translate import translate_files

    written = translate_files(a.run_dir, a.inputs, a.out, a.seed, a.batch_size, a.side_by_side, a.device)
    for path in written:
        print(path)
    return 0
