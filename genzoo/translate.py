"""Translate user image files with a trained image-to-image model (pix2pix, Isola et al. 2017): the logic
behind ``genzoo translate RUN INPUT... -o OUT``.

Every input is checked before anything is computed or written: it must be a readable image whose size
and channel count are those of the model's ``source`` condition (greyscale files are 1 channel; RGB and
palette files 3; files with an alpha channel are refused). One bad file is one error naming it, and
nothing is written. Outputs are 8-bit PNGs: ``OUT`` is the file when there is one input and ``OUT`` ends
in ``.png``, otherwise a folder receiving ``<input name>.png`` per input. ``side_by_side`` writes
``input | output`` instead (the A|B layout of the pix2pix releases).

Outputs depend on the seed (the dropout noise) and, since the paper normalises with the statistics of
the test batch, on which images are translated together: inputs go through in the order given, in
batches of ``batch_size``.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor

from genzoo import defaults
from genzoo.core import ImageSpec, UsageError
from genzoo.fileio import atomic_write_bytes
from genzoo.models.base import GenerativeModel

_GREY_MODES = ("L", "1", "I", "I;16", "F")
_RGB_MODES = ("RGB", "P", "YCbCr", "CMYK")


def read_source_image(path: Path, shape: tuple[int, ...]) -> Tensor:
    """One image file as floats ``(C, H, W)`` in [0, 1], or a :class:`UsageError` naming the file when it
    is unreadable or its size / channel count is not ``shape``."""
    c, h, w = shape
    try:
        with Image.open(path) as im:
            im.load()
            img = im.copy()
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except (UnidentifiedImageError, OSError) as e:
        raise UsageError(f"{path}: not a readable image ({e})") from None
    if img.mode in _GREY_MODES:
        got = 1
    elif img.mode in _RGB_MODES and "transparency" not in img.info:
        got = 3
    else:
        bands = len(img.getbands())
        raise UsageError(
            f"{path}: image mode {img.mode} ({bands} channels, alpha or unsupported); the translator takes "
            f"{c}-channel {w}x{h} images ({'greyscale' if c == 1 else 'RGB'})"
        )
    if got != c or img.size != (w, h):
        raise UsageError(
            f"{path}: image is {img.size[0]}x{img.size[1]} with {got} channel(s); the translator takes "
            f"{w}x{h} images with {c} channel(s) ({'greyscale' if c == 1 else 'RGB'})"
        )
    arr = np.asarray(img.convert("L" if c == 1 else "RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(arr[None] if c == 1 else arr.transpose(2, 0, 1).copy())


def _png_bytes(image: Tensor) -> bytes:
    arr = (image.clamp(0, 1) * 255.0).round().to(torch.uint8).numpy()
    pil = Image.fromarray(arr[0], "L") if arr.shape[0] == 1 else Image.fromarray(arr.transpose(1, 2, 0), "RGB")
    buf = io.BytesIO()
    pil.save(buf, format="PNG")
    return buf.getvalue()


def output_paths(inputs: Sequence[Path], out: Path) -> list[Path]:
    """Where each input's translation goes (see the module docstring); duplicate names are an error."""
    if len(inputs) == 1 and out.suffix.lower() == ".png":
        return [out]
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out}: exists and is not a folder; for several inputs -o names a folder")
    paths = [out / f"{Path(p).stem}.png" for p in inputs]
    seen: dict[Path, Path] = {}
    for src, dst in zip(inputs, paths):
        if dst in seen:
            raise UsageError(f"{src} and {seen[dst]} would both be written to {dst}; rename one")
        seen[dst] = Path(src)
    return paths


def translate_files(
    run_or_model: GenerativeModel | str | os.PathLike[str],
    inputs: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    seed: int = defaults.SEED,
    batch_size: int = 64,
    side_by_side: bool = False,
    device: str = defaults.DEVICE,
) -> list[Path]:
    """Translate image files with a run's model (or a loaded model); returns the paths written."""
    if isinstance(run_or_model, GenerativeModel):
        model = run_or_model
    else:
        from genzoo.api import load

        model = load(run_or_model, device)
    specs = model.condition_specs()
    spec = specs.get("source")
    if not isinstance(spec, ImageSpec) or set(specs) != {"source"}:
        takes = ", ".join(specs) or "no condition"
        raise UsageError(f"model {model.name!r} does not translate images (it takes {takes})")
    if not inputs:
        raise UsageError("no input images given")
    if batch_size < 1:
        raise UsageError(f"batch_size must be >= 1, got {batch_size}")
    in_paths = [Path(p) for p in inputs]
    sources = torch.stack([read_source_image(p, tuple(spec.shape)) for p in in_paths])
    targets = output_paths(in_paths, Path(out))
    outputs = translate_tensor(model, sources, seed, batch_size)
    if side_by_side:
        shown = sources.expand(-1, outputs.shape[1], -1, -1) if sources.shape[1] == 1 else sources
        if shown.shape[1] != outputs.shape[1]:  # RGB source, greyscale output: show the output as RGB
            outputs = outputs.expand(-1, 3, -1, -1)
        outputs = torch.cat([shown, outputs], dim=3)
    blobs = [_png_bytes(o) for o in outputs]
    for path, blob in zip(targets, blobs):
        atomic_write_bytes(path, blob)
    return targets


@torch.no_grad()
def translate_tensor(
    model: GenerativeModel, sources: Tensor, seed: int = defaults.SEED, batch_size: int = 64
) -> Tensor:
    """Outputs ``(N, C, H, W)`` in [0, 1] for sources in [0, 1], in batches, all noise from one seeded generator."""
    g = torch.Generator(device=model.device).manual_seed(seed)
    parts = []
    for start in range(0, len(sources), batch_size):
        chunk = sources[start : start + batch_size]
        parts.append(model.sample(len(chunk), condition={"source": chunk}, generator=g).float().cpu())
    return torch.cat(parts)
