"""A folder of images (PNG, JPEG, BMP, GIF, WebP), loaded into memory as 8-bit images.

Sub-folders are classes (sorted names -> labels 0..K-1); images directly in the folder are
unlabelled. Every image is converted to the mode of ``channels`` (1 = grayscale, 3 = RGB; default:
1 if every image is grayscale) and resized to ``size`` x ``size`` (default: the first image's size,
which then must be square). Splits: a fixed permutation (seed 0) carved 80% / 10% / 10%.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor

from genzoo.core import DataInfo
from genzoo.data.base import DataFileError, ImageData
from genzoo.data.digits import split_indices
from genzoo.registry import register_dataset

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"}


def list_images(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def read_images(paths: list[Path], channels: int | None = None, size: int | None = None) -> np.ndarray:
    """Read image files into uint8 ``(N, C, H, W)``; a broken file is a :class:`DataFileError`."""
    opened = []
    for p in paths:
        try:
            with Image.open(p) as im:
                im.load()
                opened.append(im.copy())
        except (UnidentifiedImageError, OSError) as e:
            raise DataFileError(p, f"unreadable image ({e})") from None
    if not opened:
        raise ValueError("no images to read")
    if channels is None:
        channels = 1 if all(im.mode in ("L", "1", "I;16", "I") for im in opened) else 3
    if size is None:
        w, h = opened[0].size
        if w != h:
            raise DataFileError(paths[0], f"image is {w}x{h}; pass size=N to resize to a square")
        size = w
    mode = "L" if channels == 1 else "RGB"
    arrays = []
    for im in opened:
        im = im.convert(mode)
        if im.size != (size, size):
            im = im.resize((size, size), Image.Resampling.BILINEAR)
        arr = np.asarray(im, dtype=np.uint8)
        arrays.append(arr[None] if channels == 1 else arr.transpose(2, 0, 1))
    return np.stack(arrays)


@register_dataset("folder", "a folder of images (option path=DIR, or DIR given as --data-dir); sub-folders = classes")
def load_folder(
    split: str, data_dir: Path, path: str | None = None, channels: int | None = None, size: int | None = None
) -> ImageData:
    root = Path(path).expanduser() if path else data_dir
    if not root.is_dir():
        raise DataFileError(root, "image folder not found")
    files = list_images(root)
    if not files:
        raise DataFileError(root, f"no image files ({', '.join(sorted(IMAGE_SUFFIXES))}) in folder")
    classes = sorted({p.parent.name for p in files if p.parent != root})
    labelled = bool(classes) and all(p.parent != root for p in files)
    n = len(files)
    n_valid, n_test = n // 10, n // 10
    idx = split_indices(n, {"train": n - n_valid - n_test, "valid": n_valid, "test": n_test}, split)
    chosen = [files[i] for i in idx]
    codes = torch.from_numpy(read_images(chosen, channels, size))
    labels = torch.tensor([classes.index(p.parent.name) for p in chosen]) if labelled else None
    info = DataInfo(tuple(codes.shape[1:]), 256, len(classes) if labelled else 0)
    return ImageData("folder", split, codes, labels, info, 256, options={"path": str(root)})


def read_image_set(path: str | os.PathLike[str]) -> Tensor:
    """Images to score from a folder of image files or an .npz (array ``images``, else its only array):
    floats in [0, 1] or 8-bit codes 0..255, (N, C, H, W). Every problem is a DataFileError naming the file."""
    import zipfile

    p = Path(path)
    if not p.exists():
        raise DataFileError(p, "--samples: no such file or folder; give a folder of images or an .npz")
    if p.is_dir():
        files = list_images(p)
        if not files:
            raise DataFileError(p, "--samples: no image files (.png, .jpg, ...) in this folder")
        return torch.from_numpy(read_images(files)).float() / 255.0
    with open(p, "rb") as f:
        magic = f.read(4)
    if magic[:2] != b"PK":
        raise DataFileError(p, "--samples: not an .npz file (a zip of arrays, as numpy.savez writes)")
    try:
        with np.load(p, allow_pickle=False) as npz:
            if not npz.files:
                raise DataFileError(p, "--samples: the .npz holds no arrays; save the images as array 'images'")
            if "images" not in npz and len(npz.files) > 1:
                raise DataFileError(p, f"--samples: no array 'images' among {', '.join(npz.files)}")
            arr = npz["images"] if "images" in npz else npz[npz.files[0]]
    except DataFileError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise DataFileError(p, f"--samples: not a readable .npz of images ({e})") from None
    if arr.dtype.kind not in "uif":
        raise DataFileError(p, f"--samples: images of dtype {arr.dtype}; expected floats in [0, 1] or uint8")
    x = torch.from_numpy(np.asarray(arr, dtype=np.float32))
    if x.numel() == 0:
        raise DataFileError(p, f"--samples: the image array is empty (shape {tuple(arr.shape)})")
    finite = x[torch.isfinite(x)]
    if arr.dtype.kind in "ui" or (finite.numel() and float(finite.max()) > 1.0):
        if finite.numel() and (float(finite.min()) < 0 or float(finite.max()) > 255):
            raise DataFileError(p, "--samples: values outside [0, 255]; expected floats in [0, 1] or 8-bit codes")
        x = x / 255.0
    return x
