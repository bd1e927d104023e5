"""Captioned scenes of real MNIST digits (``captioned-mnist``): the text-to-image data of genzoo.

Each example is a square canvas (``size`` pixels, 64 by default; 32 for tests and CPU runs) holding one
to three real MNIST digits (``min_digits``/``max_digits``), each cropped to its ink, resized to a drawn
height and pasted at a drawn place without overlapping the others. Every scene has ``captions``
captions in varied phrasings ("a small thick 7 at the top left", "top left: the digit seven, small")
generated from attributes *measured* on the digits and the canvas:

* digit: the MNIST label;
* size: the pasted digit's ink height as a fraction of the canvas, small (< 0.38), medium, large (>= 0.52);
* position: the ink box's centre in a 3 x 3 grid of the canvas (top left ... bottom right, centre);
* stroke thickness: ink mass per ink-box height of the 28 x 28 digit, called thin / thick when in the
  lowest / highest quartile of its own class in MNIST's training images (nothing said otherwise);
* slant: the shear ``-cov(x, y) / var(y)`` of the ink (second moments, the usual deskewing measure),
  slanted right above 0.25, slanted left below -0.25, nothing said otherwise.

The "where" annotation: ``box`` (a :class:`~genzoo.core.BoxSpec` with one box) is the ink box of the
*first* digit, the one every caption names first (as GAWWN's box is the bird's); ``keypoints``
(:class:`~genzoo.core.KeypointSpec`, ``max_digits`` points) are every digit's ink centroid, visible = 0
for the empty slots. ``label`` is the first digit's class. ``scenes`` keeps every digit's class, box
and attributes for evaluation.

Captions per step: :attr:`CaptionedData.captions` keeps all of a scene's captions; :meth:`batch` draws
one per example with the batch's generator (the engine's step-seeded one, so a step always sees the
same captions), while ``extra["text"]`` (default sample grids, evaluation) is each scene's first
caption, which names every measured attribute. Deterministic per ``seed``: the same options give the
same scenes, captions and boxes. Splits: train from MNIST's first 50,000 training digits, valid from
the last 10,000, test from the 10,000 test digits (a fixed set for a seed: ``eval_count`` scenes, 1,000 by
default; ``count``, 20,000, for training).

What this data cannot show: an open vocabulary (captions come from a few templates over a closed set
of words, so a text encoder learns those templates, not language), natural images (grey digits on a
black canvas, no texture, pose, background or occlusion), or fine-grained appearance beyond the
measured attributes.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from genzoo.core import Batch, BoxSpec, DataInfo, KeypointSpec, TextSpec
from genzoo.core.conditions import select
from genzoo.core.errors import ConfigError
from genzoo.data.base import ImageData
from genzoo.data.idx import load_mnist
from genzoo.registry import register_dataset

#: every character a caption may hold (captions are lower case)
ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789 ,.:;'-"
MAX_LENGTH = 200
DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
POSITIONS = (
    ("top left", "top", "top right"),
    ("left", "centre", "right"),
    ("bottom left", "bottom", "bottom right"),
)
SMALL, LARGE = 0.38, 0.52  # ink height / canvas thresholds of the size words
SLANT = 0.25  # |shear| above this is called slanted
SPLIT_SEED = {"train": 0, "valid": 1, "test": 2, "trainval": 3}


# ----- measured attributes -------------------------------------------------------------------------
def stroke_thickness(images: np.ndarray) -> np.ndarray:
    """Ink mass per ink-box height of each ``(N, 28, 28)`` uint8 digit (pixels of full ink per row)."""
    ink = images.astype(np.float64) / 255.0
    rows = (ink > 0.1).any(axis=2)
    height = np.maximum(rows.sum(axis=1), 1)
    return ink.sum(axis=(1, 2)) / height


def slant(images: np.ndarray) -> np.ndarray:
    """The shear ``-cov(x, y) / var(y)`` of each digit's ink (> 0: the top leans right; y points down)."""
    ink = images.astype(np.float64) / 255.0
    h, w = images.shape[1:]
    ys, xs = np.mgrid[0:h, 0:w]
    mass = ink.sum(axis=(1, 2)) + 1e-9
    mx = (ink * xs).sum(axis=(1, 2)) / mass
    my = (ink * ys).sum(axis=(1, 2)) / mass
    dx, dy = xs[None] - mx[:, None, None], ys[None] - my[:, None, None]
    cov = (ink * dx * dy).sum(axis=(1, 2)) / mass
    var = (ink * dy * dy).sum(axis=(1, 2)) / mass + 1e-9
    return -cov / var


@functools.lru_cache(maxsize=4)
def thickness_quartiles(data_dir: str) -> dict[int, np.ndarray]:
    """Class-wise quartiles of :func:`stroke_thickness` over MNIST's 50,000 training digits."""
    ref = load_mnist("train", Path(data_dir))
    thick, labels = stroke_thickness(ref.codes[:, 0].numpy()), ref.labels.numpy()
    return {c: np.quantile(thick[labels == c], [0.25, 0.75]) for c in range(10)}


def thickness_words(thickness: np.ndarray, labels: np.ndarray, q: dict[int, np.ndarray]) -> list[str]:
    """``"thin"`` / ``"thick"`` / ``""`` by the class-wise quartiles ``q`` of the reference digits."""
    words = []
    for t, c in zip(thickness, labels):
        lo, hi = q[int(c)]
        words.append("thin" if t < lo else "thick" if t > hi else "")
    return words


def slant_word(s: float) -> str:
    return "slanted right" if s > SLANT else "slanted left" if s < -SLANT else ""


def size_word(height_fraction: float) -> str:
    return "small" if height_fraction < SMALL else "large" if height_fraction >= LARGE else "medium"


def position_word(cx: float, cy: float) -> str:
    return POSITIONS[min(int(cy * 3), 2)][min(int(cx * 3), 2)]


# ----- captions --------------------------------------------------------------------------------------
@dataclass
class Digit:
    """One pasted digit and its measured attributes (``box`` in canvas fractions, x0, y0, x1, y1)."""

    label: int
    box: tuple[float, float, float, float]
    centroid: tuple[float, float]
    size: str
    position: str
    thickness: str
    slant: str


def _where(position: str, rng: np.random.Generator, canonical: bool = False) -> str:
    if canonical:
        return "in the centre" if position == "centre" else f"at the {position}"
    if position == "centre":
        return str(rng.choice(["in the centre", "in the middle", "at the centre"]))
    if " " in position:
        return str(rng.choice([f"at the {position}", f"in the {position} corner", f"at the {position}"]))
    return str(rng.choice([f"at the {position}", f"on the {position}", f"near the {position}"]))


def describe(d: Digit, rng: np.random.Generator, full: bool) -> str:
    """One phrase for one digit; ``full`` names every attribute, otherwise a random subset in a random template."""
    name = str(d.label) if (full or rng.random() < 0.6) else DIGIT_WORDS[d.label]
    keep = (lambda p: True) if full else (lambda p: rng.random() < p)
    size = d.size if keep(0.75) else ""
    thick = d.thickness if d.thickness and keep(0.5) else ""
    sl = d.slant if d.slant and keep(0.5) else ""
    where = d.position if keep(0.9) else ""
    adjectives = " ".join(w for w in (size, thick) if w)
    template = 0 if full else int(rng.integers(4))
    if template == 0:  # "a small thick 7 slanted right at the top left"
        words = ["a", adjectives, name, sl, _where(where, rng, full) if where else ""]
    elif template == 1:  # "the digit 7, small and thick, at the top left"
        adj = " and ".join(w for w in (size, thick, sl) if w)
        words = [f"the digit {name}" + (f", {adj}," if adj else ""), _where(where, rng) if where else ""]
    elif template == 2:  # "top left: a small 7"
        words = [f"{where}:" if where else "", "a", adjectives, name, sl]
    else:  # "a 7 at the top left, small and thick"
        adj = " and ".join(w for w in (size, thick, sl) if w)
        words = ["a", name, _where(where, rng) if where else "", f", {adj}" if adj else ""]
    text = " ".join(w for w in words if w).replace(" ,", ",").strip(" ,")
    return text.replace("a 8", "an 8").replace("a eight", "an eight").replace("a large", "a large")


def captions_for(digits: list[Digit], count: int, rng: np.random.Generator) -> list[str]:
    """``count`` captions of a scene: the first names every attribute, the others vary phrasing and detail
    (and, with several digits, the joining word); every caption names the first digit first."""
    out = [" and ".join(describe(d, rng, full=True) for d in digits)]
    tries = 0
    while len(out) < count and tries < 20 * count:
        tries += 1
        joiner = str(rng.choice([" and ", "; ", ", with ", ". also "]))
        text = joiner.join(describe(d, rng, full=False) for d in digits)
        if text not in out and len(text) <= MAX_LENGTH:
            out.append(text)
    while len(out) < count:
        out.append(out[len(out) % max(1, len(out))])
    return [t[:MAX_LENGTH] for t in out]


# ----- scenes ----------------------------------------------------------------------------------------
def _ink_crop(image: np.ndarray) -> np.ndarray:
    rows = np.where((image > 25).any(axis=1))[0]
    cols = np.where((image > 25).any(axis=0))[0]
    if len(rows) == 0:
        return image
    return image[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def compose_scene(
    images: np.ndarray, rng: np.random.Generator, size: int, k: int
) -> tuple[np.ndarray, list[tuple[int, tuple[int, int, int, int], np.ndarray]]]:
    """Paste ``k`` digits (indices drawn into ``images``) onto a ``size`` canvas without overlap.

    Returns the uint8 canvas and, per pasted digit, ``(index, (r0, c0, r1, c1) pixel ink box, patch)``.
    A digit that finds no free place in 30 tries is left out (a scene keeps at least one).
    """
    canvas = np.zeros((size, size), dtype=np.uint8)
    placed: list[tuple[int, tuple[int, int, int, int], np.ndarray]] = []
    occupied = np.zeros((size, size), dtype=bool)
    for _ in range(k):
        index = int(rng.integers(len(images)))
        crop = _ink_crop(images[index])
        frac = float(rng.uniform(0.28, 0.66)) if k == 1 else float(rng.uniform(0.28, 0.5))
        h = max(4, round(frac * size))
        w = max(2, min(size, round(crop.shape[1] * h / crop.shape[0])))
        patch = np.asarray(Image.fromarray(crop).resize((w, h), Image.BILINEAR))
        for _try in range(30):
            r0 = int(rng.integers(0, size - h + 1))
            c0 = int(rng.integers(0, size - w + 1))
            # one pixel of margin so boxes neither touch nor overlap
            if not occupied[max(r0 - 1, 0) : r0 + h + 1, max(c0 - 1, 0) : c0 + w + 1].any():
                break
        else:
            continue
        canvas[r0 : r0 + h, c0 : c0 + w] = np.maximum(canvas[r0 : r0 + h, c0 : c0 + w], patch)
        occupied[r0 : r0 + h, c0 : c0 + w] = True
        placed.append((index, (r0, c0, r0 + h, c0 + w), patch))
    return canvas, placed


@dataclass
class CaptionedData(ImageData):
    """An :class:`ImageData` whose scenes keep all their captions; :meth:`batch` draws one per example."""

    captions: list[list[str]] = field(default_factory=list)
    scenes: list[list[Digit]] = field(default_factory=list)

    def batch(self, index: Tensor, generator: torch.Generator | None = None) -> Batch:
        """The examples at ``index``, each with one of its scene's captions drawn with ``generator``
        (without a generator: each scene's first caption, so the batch is deterministic)."""
        out = super().batch(index, generator)
        if generator is None:
            return out
        idx = index.tolist() if isinstance(index, Tensor) else list(index)
        picks = torch.randint(0, 1 << 30, (len(idx),), generator=generator).tolist()
        out["text"] = [self.captions[i][p % len(self.captions[i])] for i, p in zip(idx, picks)]
        return out

    def subset(self, index: Tensor | slice) -> CaptionedData:
        base = super().subset(index)
        return CaptionedData(
            base.name, base.split, base.codes, base.labels, base.info, base.raw_levels, base.binarize,
            base.options, base.extra, select(self.captions, index), select(self.scenes, index),
        )


def captioned_info(size: int, max_digits: int) -> DataInfo:
    return DataInfo(
        (1, size, size), 256, 10,
        (TextSpec(key="text", alphabet=ALPHABET, max_length=MAX_LENGTH), BoxSpec(key="box", boxes=1),
         KeypointSpec(key="keypoints", points=max_digits)),
    )


def build_scenes(
    images: np.ndarray, labels: np.ndarray, thick_words: list[str], slants: np.ndarray, count: int, size: int,
    min_digits: int, max_digits: int, captions: int, seed: int,
) -> tuple[np.ndarray, list[list[str]], list[list[Digit]]]:
    """``count`` scenes from ``images``: canvases ``(count, size, size)``, captions and digits."""
    rng = np.random.default_rng(seed)
    canvases = np.zeros((count, size, size), dtype=np.uint8)
    all_caps: list[list[str]] = []
    all_digits: list[list[Digit]] = []
    for n in range(count):
        k = int(rng.integers(min_digits, max_digits + 1))
        canvas, placed = compose_scene(images, rng, size, k)
        digits = []
        for index, (r0, c0, r1, c1), patch in placed:
            ink = patch.astype(np.float64)
            ys, xs = np.mgrid[r0:r1, c0:c1]
            cy = float((ink * (ys + 0.5)).sum() / ink.sum()) / size
            cx = float((ink * (xs + 0.5)).sum() / ink.sum()) / size
            box = (c0 / size, r0 / size, c1 / size, r1 / size)
            digits.append(Digit(
                int(labels[index]), box, (cx, cy), size_word((r1 - r0) / size),
                position_word((box[0] + box[2]) / 2, (box[1] + box[3]) / 2),
                thick_words[index], slant_word(float(slants[index])),
            ))
        canvases[n] = canvas
        all_digits.append(digits)
        all_caps.append(captions_for(digits, captions, rng))
    return canvases, all_caps, all_digits


@register_dataset(
    "captioned-mnist",
    "captioned scenes of 1-3 real MNIST digits (text, box, keypoints); options size, count, eval_count, "
    "min/max_digits, captions, seed",
)
def load_captioned_mnist(
    split: str, data_dir: Path, size: int = 64, count: int = 20000, eval_count: int = 1000, min_digits: int = 1,
    max_digits: int = 3, captions: int = 5, seed: int = 0,
) -> CaptionedData:
    """One split of ``captioned-mnist`` (see the module docstring): ``count`` training scenes, ``eval_count``
    valid and test scenes (trainval: both), canvases ``size`` pixels on a side (at least 16). A scene depends
    only on the seed, the split and its index, so a smaller count is a prefix of a larger one's scenes."""
    if not isinstance(size, int) or size < 16:
        raise ConfigError(f"captioned-mnist: size must be an integer of at least 16 pixels, got {size!r}")
    if not 1 <= min_digits <= max_digits <= 3:
        raise ConfigError(
            f"captioned-mnist: need 1 <= min_digits <= max_digits <= 3, got {min_digits} and {max_digits}"
        )
    if captions < 1:
        raise ConfigError(f"captioned-mnist: captions must be at least 1, got {captions}")
    for name, value in (("count", count), ("eval_count", eval_count)):
        if not isinstance(value, int) or value < 1:
            raise ConfigError(f"captioned-mnist: {name} must be a positive integer, got {value!r}")
    count = {"train": count, "valid": eval_count, "test": eval_count, "trainval": count + eval_count}[split]
    source = load_mnist(split, data_dir)
    images, labels = source.codes[:, 0].numpy(), source.labels.numpy()
    words = thickness_words(stroke_thickness(images), labels, thickness_quartiles(str(data_dir)))
    canvases, caps, digits = build_scenes(
        images, labels, words, slant(images), count, size, min_digits, max_digits, captions,
        seed * 10 + SPLIT_SEED[split],
    )
    boxes = torch.tensor([[d[0].box] for d in digits], dtype=torch.float32)
    keypoints = torch.zeros(count, max_digits, 3)
    for n, ds in enumerate(digits):
        for j, d in enumerate(ds):
            keypoints[n, j] = torch.tensor([d.centroid[0], d.centroid[1], 1.0])
    first = torch.tensor([d[0].label for d in digits], dtype=torch.long)
    options: dict[str, Any] = dict(size=size, count=count, eval_count=eval_count, min_digits=min_digits,
                                   max_digits=max_digits, captions=captions, seed=seed)
    return CaptionedData(
        "captioned-mnist", split, torch.from_numpy(canvases).unsqueeze(1), first, captioned_info(size, max_digits),
        256, None, options, {"text": [c[0] for c in caps], "box": boxes, "keypoints": keypoints}, caps, digits,
    )
