"""Paired images for image-to-image translation (pix2pix, Isola et al. 2017): a *source* image (the
``source`` condition, an :class:`~genzoo.core.ImageSpec`) beside each *target* image (``batch["x"]``).

Two kinds of data:

Paired folders (``paired-folder``, option ``path=DIR``), as pix2pix users keep them
    * ``combined``: one image file per pair with the two halves side by side, A on the left and B on the
      right (the layout of the pix2pix releases: facades, edges2shoes, maps, ...). The file's width must
      be even; the halves are ``[:, :W/2]`` and ``[:, W/2:]``.
    * ``parallel``: two folders ``DIR/A`` and ``DIR/B`` (names set by ``a_dir``/``b_dir``) holding files
      with matching names (matched by file name without its extension). A name in one folder but not the
      other is a :class:`DataFileError` naming the files.
    ``layout=auto`` (default) picks ``parallel`` when ``DIR/A`` and ``DIR/B`` exist. ``direction`` says
    which half is the input: ``AtoB`` (source = A, target = B) or ``BtoA`` (source = B, target = A; the
    facades release keeps the photo as A and the label map as B, so labels -> photo is ``BtoA``). Splits:
    sub-folders ``train/``, ``val/`` (or ``valid/``) and ``test/`` when present (the releases' layout;
    ``trainval`` = train + val; a release without ``test/``, like edges2shoes, tests on ``val/``, and one
    without ``val/`` validates on ``test/``), otherwise one fixed permutation (seed 0) carved 80% / 10% / 10%.
    Every pair must have one size (``size=N`` resizes each half to N x N); channels follow the files
    (1 if every image of that side is greyscale, else 3), or ``source_channels`` / ``target_channels``.

Paired tasks derived from real images by a fixed, documented transform (deterministic: no randomness)
    * ``edges2fashion`` (Fashion-MNIST) and ``edges2digits`` (MNIST): source = :func:`edge_map` of the
      image (a 3x3 binomial blur, then the Sobel gradient magnitude, normalised so a unit step gives 1,
      thresholded at ``edge_threshold``; 0.25 by default), a binary 1x28x28 outline, standing in for the
      HED edges + post-processing of the paper's edges -> shoes / handbags.
    * ``grey2cifar`` (the CIFAR-10 subset): source = :func:`luma`, the ITU-R BT.601 luma
      ``0.299 R + 0.587 G + 0.114 B`` rounded to 8 bits (1x32x32), target the RGB image (the paper's
      BW -> colour task on ImageNet).
    * ``labels2digits`` (MNIST): source = :func:`digit_label_map`, a per-pixel segmentation into
      background and "stroke of digit k" (ink >= 128 of 255) rendered as a colour-coded RGB label map
      (:data:`LABEL_PALETTE`; background black), as the facades / cityscapes label maps are; target the
      greyscale digit. The map fixes the shape exactly, so this task tests rendering stroke intensity and
      anti-aliasing from a hard mask, not inventing a layout.
    These keep the base dataset's splits and class labels (the ``label`` condition, for the reference
    classifier's accuracy on outputs: the paper's FCN-score idea). ``direction=BtoA`` swaps the roles
    (e.g. digit -> edges).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError
from torch import Tensor

from genzoo.core import Batch, DataInfo, ImageSpec, LabelSpec
from genzoo.core.conditions import select
from genzoo.data.base import DataFileError, ImageData
from genzoo.data.digits import split_indices
from genzoo.data.folder import IMAGE_SUFFIXES
from genzoo.registry import register_dataset

DIRECTIONS = ("AtoB", "BtoA")
LAYOUTS = ("auto", "combined", "parallel")
#: split name -> the sub-folder names the pix2pix releases use for it
_SPLIT_FOLDERS = {"train": ("train",), "valid": ("val", "valid"), "test": ("test",)}
_SPLIT_FALLBACK = {"valid": "test", "test": "valid"}
#: RGB colour of each label-map class: index 0 background, 1 + k the strokes of digit k
LABEL_PALETTE = (
    (0, 0, 0), (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48),
    (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212),
)


# ----- the dataset type ------------------------------------------------------------------------------
class PairedImageData(ImageData):
    """An :class:`ImageData` of targets with a uint8 source image beside each, handed out as the ``source``
    condition (floats in [0, 1]). Sources stay uint8 in memory and are converted per batch."""

    def __init__(
        self, name: str, split: str, codes: Tensor, source_codes: Tensor, labels: Tensor | None, info: DataInfo,
        options: dict[str, Any] | None = None,
    ) -> None:
        if len(source_codes) != len(codes):
            raise ValueError(f"{len(codes)} targets but {len(source_codes)} sources")
        super().__init__(name, split, codes, labels, info, 256, None, dict(options or {}))
        self.source_codes = source_codes

    def _sources(self, index: Tensor | slice) -> Tensor:
        return self.source_codes[index].float() / 255.0

    def batch(self, index: Tensor, generator: torch.Generator | None = None) -> Batch:
        out = Batch(x=self.to_float(self.codes[index]))
        if self.labels is not None:
            out["label"] = self.labels[index]
        out["source"] = self._sources(index)
        return out

    def condition_values(self) -> dict[str, Any]:
        values: dict[str, Any] = {} if self.labels is None else {"label": self.labels}
        return {**values, "source": self._sources(slice(None))}

    def subset(self, index: Tensor | slice) -> PairedImageData:
        labels = None if self.labels is None else select(self.labels, index)
        return PairedImageData(
            self.name, self.split, self.codes[index], self.source_codes[index], labels, self.info, self.options
        )


def _paired_info(target: Tensor, source: Tensor, label_spec: LabelSpec | None = None) -> DataInfo:
    specs = (() if label_spec is None else (label_spec,)) + (ImageSpec(key="source", shape=tuple(source.shape[1:])),)
    return DataInfo(tuple(target.shape[1:]), 256, conditions=specs)


def check_direction(direction: str) -> str:
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}, got {direction!r}")
    return direction


# ----- deterministic transforms ----------------------------------------------------------------------
def edge_map(codes: Tensor, threshold: float = 0.25) -> Tensor:
    """Binary edges of uint8 greyscale images ``(N, 1, H, W)`` -> uint8 ``{0, 255}`` of the same shape.

    ``x = codes / 255`` is blurred with the 3x3 binomial kernel ``[1, 2, 1]^T [1, 2, 1] / 16``, then the
    Sobel responses ``gx, gy`` are taken (replicate padding) and ``|g| = sqrt(gx^2 + gy^2) / 4`` (a unit step
    gives 1) is thresholded: edge where ``|g| >= threshold``.
    """
    if codes.dim() != 4 or codes.shape[1] != 1:
        raise ValueError(f"edge_map takes greyscale images (N, 1, H, W), got {tuple(codes.shape)}")
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"edge_threshold must be in (0, 1), got {threshold}")
    out = []
    b = torch.tensor([1.0, 2.0, 1.0], dtype=torch.float64)
    blur = (b[:, None] * b[None, :] / 16.0).view(1, 1, 3, 3)
    d = torch.tensor([-1.0, 0.0, 1.0], dtype=torch.float64)
    sx = (b[:, None] * d[None, :]).view(1, 1, 3, 3)
    sy = sx.transpose(2, 3)
    for start in range(0, len(codes), 4096):
        x = codes[start : start + 4096].double() / 255.0
        x = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), blur)
        xp = F.pad(x, (1, 1, 1, 1), mode="replicate")
        mag = torch.sqrt(F.conv2d(xp, sx) ** 2 + F.conv2d(xp, sy) ** 2) / 4.0
        out.append((mag >= threshold).to(torch.uint8) * 255)
    return torch.cat(out)


def luma(codes: Tensor) -> Tensor:
    """ITU-R BT.601 luma of uint8 RGB images ``(N, 3, H, W)``: ``round(0.299 R + 0.587 G + 0.114 B)``,
    uint8 ``(N, 1, H, W)``."""
    if codes.dim() != 4 or codes.shape[1] != 3:
        raise ValueError(f"luma takes RGB images (N, 3, H, W), got {tuple(codes.shape)}")
    w = torch.tensor([0.299, 0.587, 0.114], dtype=torch.float64).view(1, 3, 1, 1)
    return (codes.double() * w).sum(1, keepdim=True).round().clamp(0, 255).to(torch.uint8)


def digit_label_map(codes: Tensor, labels: Tensor, ink: int = 128) -> Tensor:
    """Colour-coded label maps of greyscale digits: class 0 (background) where ``code < ink``, class
    ``1 + label`` (the strokes of that digit) elsewhere, drawn with :data:`LABEL_PALETTE`; uint8
    ``(N, 3, H, W)``."""
    if codes.dim() != 4 or codes.shape[1] != 1 or len(labels) != len(codes):
        raise ValueError(f"digit_label_map takes (N, 1, H, W) images with N labels, got {tuple(codes.shape)}")
    classes = torch.where(codes[:, 0] >= ink, labels.view(-1, 1, 1).long() + 1, torch.zeros((), dtype=torch.long))
    palette = torch.tensor(LABEL_PALETTE, dtype=torch.uint8)  # (11, 3)
    return palette[classes].permute(0, 3, 1, 2).contiguous()


def _derived(
    name: str, split: str, base: ImageData, source: Tensor, direction: str, options: dict[str, Any],
    names: tuple[str, ...] = (),
) -> PairedImageData:
    """``A`` = the derived image, ``B`` = the real one; ``AtoB`` translates derived -> real."""
    real = base.codes
    src, tgt = (source, real) if check_direction(direction) == "AtoB" else (real, source)
    label_spec = None
    if base.labels is not None:
        label_spec = LabelSpec(num_classes=base.info.num_classes, names=names)
    return PairedImageData(
        name, split, tgt.contiguous(), src.contiguous(), base.labels, _paired_info(tgt, src, label_spec),
        {**options, "direction": direction},
    )


@register_dataset("edges2fashion", "Fashion-MNIST edges -> photo (1x28x28 pairs; Sobel edges, option edge_threshold)")
def load_edges2fashion(
    split: str, data_dir: Path, direction: str = "AtoB", edge_threshold: float = 0.25
) -> PairedImageData:
    from genzoo.data.fashion import FASHION_CLASSES, load_fashion_mnist

    base = load_fashion_mnist(split, data_dir)
    edges = edge_map(base.codes, edge_threshold)
    return _derived("edges2fashion", split, base, edges, direction, {"edge_threshold": edge_threshold},
                    FASHION_CLASSES)


@register_dataset("edges2digits", "MNIST edges -> digit (1x28x28 pairs; Sobel edges, option edge_threshold)")
def load_edges2digits(
    split: str, data_dir: Path, direction: str = "AtoB", edge_threshold: float = 0.25
) -> PairedImageData:
    from genzoo.data.idx import load_mnist

    base = load_mnist(split, data_dir)
    edges = edge_map(base.codes, edge_threshold)
    return _derived("edges2digits", split, base, edges, direction, {"edge_threshold": edge_threshold})


@register_dataset("grey2cifar", "CIFAR-10 subset, BT.601 grey -> colour (1x32x32 -> 3x32x32)")
def load_grey2cifar(split: str, data_dir: Path, direction: str = "AtoB") -> PairedImageData:
    from genzoo.data.cifar import LABEL_NAMES, load_cifar10

    base = load_cifar10(split, data_dir)
    return _derived("grey2cifar", split, base, luma(base.codes), direction, {}, LABEL_NAMES)


@register_dataset("labels2digits", "MNIST per-pixel label map (background / strokes of digit k) -> digit")
def load_labels2digits(split: str, data_dir: Path, direction: str = "AtoB") -> PairedImageData:
    from genzoo.data.idx import load_mnist

    base = load_mnist(split, data_dir)
    assert base.labels is not None
    return _derived("labels2digits", split, base, digit_label_map(base.codes, base.labels), direction, {})


# ----- paired folders --------------------------------------------------------------------------------
def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _open(path: Path) -> Image.Image:
    try:
        with Image.open(path) as im:
            im.load()
            return im.copy()
    except (UnidentifiedImageError, OSError) as e:
        raise DataFileError(path, f"unreadable image ({e})") from None


def _is_grey(im: Image.Image) -> bool:
    return im.mode in ("L", "1", "I;16", "I", "F")


def _to_codes(images: list[Image.Image], paths: list[Path], channels: int | None, size: int | None) -> Tensor:
    """PIL images -> uint8 ``(N, C, H, W)``; all one size (or resized to ``size``), else an error naming the file."""
    if channels is None:
        channels = 1 if all(_is_grey(im) for im in images) else 3
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    mode = "L" if channels == 1 else "RGB"
    want = (size, size) if size else images[0].size
    arrays = []
    for im, p in zip(images, paths):
        im = im.convert(mode)
        if im.size != want:
            if not size:
                raise DataFileError(
                    p, f"image (half) is {im.size[0]}x{im.size[1]} but {paths[0].name} is {want[0]}x{want[1]}; "
                    "every pair must have one size (or give the option size=N to resize)"
                )
            im = im.resize(want, Image.Resampling.BILINEAR)
        a = np.asarray(im, dtype=np.uint8)
        arrays.append(a[None] if channels == 1 else a.transpose(2, 0, 1))
    return torch.from_numpy(np.stack(arrays))


def split_combined(path: Path) -> tuple[Image.Image, Image.Image]:
    """The left (A) and right (B) halves of one side-by-side pair file."""
    im = _open(path)
    w, h = im.size
    if w % 2:
        raise DataFileError(path, f"a side-by-side pair must have an even width (A | B), got {w}x{h}")
    return im.crop((0, 0, w // 2, h)), im.crop((w // 2, 0, w, h))


def match_names(a_files: list[Path], b_files: list[Path]) -> list[tuple[Path, Path]]:
    """Pairs of files with the same name (without extension); unmatched names are a :class:`DataFileError`."""
    def by_stem(files: list[Path]) -> dict[str, Path]:
        out: dict[str, Path] = {}
        for f in files:
            if f.stem in out:
                raise DataFileError(f, f"two files named {f.stem!r} in one folder ({out[f.stem].name}, {f.name})")
            out[f.stem] = f
        return out

    a, b = by_stem(a_files), by_stem(b_files)
    only_a, only_b = sorted(set(a) - set(b)), sorted(set(b) - set(a))
    if only_a or only_b:
        def show(names: list[str], files: dict[str, Path]) -> str:
            more = f" and {len(names) - 5} more" if len(names) > 5 else ""
            return ", ".join(str(files[n]) for n in names[:5]) + more

        parts = []
        if only_a:
            parts.append(f"{len(only_a)} without a partner in the other folder: {show(only_a, a)}")
        if only_b:
            parts.append(f"{len(only_b)} without a partner in the other folder: {show(only_b, b)}")
        folder = (a_files or b_files)[0].parent.parent
        raise DataFileError(folder, "unmatched names in the paired folders; " + "; ".join(parts))
    return [(a[s], b[s]) for s in sorted(a)]


def _split_files(root: Path, split: str) -> tuple[list[Path], bool]:
    """Files of ``split`` under ``root``: its release sub-folder(s) when the folder has them."""
    has_release = any((root / f).is_dir() for names in _SPLIT_FOLDERS.values() for f in names)
    if not has_release:
        return _image_files(root), False

    def folders(part: str) -> list[Path]:
        return [root / f for f in _SPLIT_FOLDERS[part] if (root / f).is_dir()]

    if split == "trainval":
        chosen = folders("train") + folders("valid")
    else:
        # releases without a test/ (edges2shoes: train/ and val/) test on val/, and the reverse
        chosen = folders(split) or (folders(_SPLIT_FALLBACK[split]) if split in _SPLIT_FALLBACK else [])
    return [f for folder in chosen for f in _image_files(folder)], True


@register_dataset("paired-folder", "paired images (option path=DIR): A|B files or parallel A/ B/ folders; direction")
def load_paired_folder(
    split: str, data_dir: Path, path: str | None = None, layout: str = "auto", direction: str = "AtoB",
    a_dir: str = "A", b_dir: str = "B", size: int | None = None, source_channels: int | None = None,
    target_channels: int | None = None,
) -> PairedImageData:
    check_direction(direction)
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    root = Path(path).expanduser() if path else data_dir
    if not root.is_dir():
        raise DataFileError(root, "paired image folder not found")
    if layout == "auto":
        layout = "parallel" if (root / a_dir).is_dir() and (root / b_dir).is_dir() else "combined"
    if layout == "parallel":
        a_files, released = _split_files(root / a_dir, split)
        b_files, _ = _split_files(root / b_dir, split)
        pairs = match_names(a_files, b_files)
    else:
        files, released = _split_files(root, split)
        pairs = [(f, f) for f in files]
    if not pairs:
        raise DataFileError(root, f"no image pairs ({', '.join(sorted(IMAGE_SUFFIXES))}) for split {split!r}")
    if not released:
        n = len(pairs)
        sizes = {"train": n - 2 * (n // 10), "valid": n // 10, "test": n // 10}
        pairs = [pairs[i] for i in split_indices(n, sizes, split)]
        if not pairs:
            raise DataFileError(root, f"too few pairs ({n}) to carve a {split!r} split; add files or use train/")
    if layout == "parallel":
        a_imgs = [_open(a) for a, _ in pairs]
        b_imgs = [_open(b) for _, b in pairs]
    else:
        halves = [split_combined(f) for f, _ in pairs]
        a_imgs, b_imgs = [h[0] for h in halves], [h[1] for h in halves]
    a_paths, b_paths = [a for a, _ in pairs], [b for _, b in pairs]
    if direction == "AtoB":
        src_imgs, src_paths, tgt_imgs, tgt_paths = a_imgs, a_paths, b_imgs, b_paths
    else:
        src_imgs, src_paths, tgt_imgs, tgt_paths = b_imgs, b_paths, a_imgs, a_paths
    source = _to_codes(src_imgs, src_paths, source_channels, size)
    target = _to_codes(tgt_imgs, tgt_paths, target_channels, size)
    if source.shape[2:] != target.shape[2:]:
        raise DataFileError(
            src_paths[0], f"source is {tuple(source.shape[2:])} but target {tuple(target.shape[2:])}; "
            "give size=N to resize both"
        )
    options = {"path": str(root), "layout": layout, "direction": direction}
    return PairedImageData("paired-folder", split, target, source, None, _paired_info(target, source), options)
