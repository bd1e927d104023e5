"""Moving MNIST (Srivastava, Mansimov & Salakhutdinov 2015, "Unsupervised Learning of Video
Representations using LSTMs", Sec. 3), generated here from the real MNIST digits.

Each sequence shows ``digits`` (default 2) MNIST digits of ``digit_size`` pixels (28) moving inside a
``size`` x ``size`` frame (64) for ``frames`` frames (20: the first ``context_frames`` (default half: 10) are the
context a predictive model is given, the other 10 are to be predicted). Every digit starts at a
uniformly random position of the free canvas ``[0, size - digit_size]^2`` and moves with constant
``speed`` pixels per frame (3.6 = 0.1 of the free 36-pixel canvas, the step length of Srivastava et
al.'s released generator as we recall it; not re-checked offline) in a uniformly random direction;
when it would leave the frame it is reflected at the border (the overshoot is mirrored back and that
velocity component changes sign), so digits always stay entirely inside the frame. A frame is the
pixel-wise maximum of its digits (pasted at the rounded positions), 8-bit grey (256 levels).

Splits and determinism
----------------------
* ``test``: ``test_size`` (default 10,000) sequences of MNIST **test** digits, sequence ``i`` built
  from ``numpy.random.default_rng([seed, 2, i])`` with the fixed ``seed`` 2015: the same frames on every
  call and every machine, without keeping 3 GB of frames in memory (each sequence is rebuilt from its
  index when asked for).
* ``valid``: ``valid_size`` (1,000) sequences of the last 10,000 MNIST training digits (the genzoo MNIST
  validation images), fixed the same way.
* ``train`` / ``trainval``: generated on the fly from the first 50,000 (all 60,000) training digits.
  ``batch(index, generator)`` draws one seed from the generator and builds sequence ``i`` from
  ``(that seed, i)``, so every training step sees fresh sequences, and since the engine's generator is
  a function of the step, a resumed run sees exactly the sequences it would have seen.
  Without a generator, sequence ``i`` is fixed by ``(seed, i)`` like the test set. ``train_size`` only
  sets how many steps make an "epoch".

How it differs from ``mnist_test_seq.npy``
-------------------------------------------
Most papers (the VPN included) report on the 10,000 fixed sequences Srivastava et al. released as
``mnist_test_seq.npy`` (20 x 10000 x 64 x 64 uint8). That file is not available offline. This test set
follows the same recipe (2 digits, 64x64, 20 frames, bouncing, max-combined), but the sequences are
not the same ones: the digits are drawn from the MNIST test images with genzoo's seed, the start
positions/directions are genzoo's, and the released file's exact speed distribution and paste
rounding are not known to us. Numbers on it are therefore close to, not identical with, numbers on
the released file.

Options (``data.<option>`` in a run config): ``size``, ``frames``, ``context_frames``, ``digits``,
``digit_size`` (digits are area-resized when not 28), ``speed``, ``test_size``, ``valid_size``,
``train_size``, ``seed`` (of the fixed splits), ``condition`` (``True``: the first ``context_frames``
frames become the ``context`` condition, declared as a :class:`genzoo.core.FramesSpec`, and ``x`` holds
the frames to predict; ``False``: ``x`` is the whole sequence), ``mask_threshold`` (digit masks, see
:meth:`MovingMNIST.masks`).

``moving-mnist-cifar`` is the same with the digits (white) alpha-composited over a static background,
a random crop of a CIFAR-10 image (the staged subset; test backgrounds from the CIFAR test images),
bilinearly enlarged first when the frame is larger than 3/4 of 32 pixels, so a foreground/background
model (VGAN) has a background to learn. Frames are RGB there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from genzoo.core import Batch, DataInfo, FramesSpec
from genzoo.core.errors import ConfigError
from genzoo.registry import register_dataset

TEST_SEED = 2015
CONDITION_VALUES_MAX = 2000
_SPLIT_STREAM = {"train": 0, "trainval": 0, "valid": 1, "test": 2}


@dataclass(frozen=True)
class MovingMNISTOptions:
    """The generator's settings (defaults: Srivastava et al. 2015's Moving MNIST)."""

    size: int = 64
    frames: int = 20
    context_frames: int | None = None  # None: half the frames (10 of 20)
    digits: int = 2
    digit_size: int = 28
    speed: float = 3.6
    test_size: int = 10000
    valid_size: int = 1000
    train_size: int = 100000
    seed: int = TEST_SEED
    condition: bool = False
    mask_threshold: float = 0.5

    def __post_init__(self) -> None:
        def bad(name: str, what: str) -> ConfigError:
            return ConfigError(f"moving-mnist option {name}={getattr(self, name)!r}: {what}")

        if self.context_frames is None:
            object.__setattr__(self, "context_frames", self.frames // 2 if isinstance(self.frames, int) else 0)
        for name in ("size", "frames", "digits", "digit_size", "test_size", "valid_size", "train_size"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise bad(name, "must be a positive integer")
        if self.digit_size > self.size:
            raise bad("digit_size", f"digits must fit in the {self.size}-pixel frame")
        if not isinstance(self.context_frames, int) or not 0 <= self.context_frames < self.frames:
            raise bad("context_frames", f"must be 0..{self.frames - 1} (the sequence has {self.frames} frames)")
        if self.condition and self.context_frames == 0:
            raise bad("context_frames", "condition=True needs at least one context frame")
        if not 0 <= float(self.speed) <= self.size - self.digit_size:
            raise bad("speed", f"must be in [0, {self.size - self.digit_size}] pixels per frame")
        if not 0.0 < float(self.mask_threshold) < 1.0:
            raise bad("mask_threshold", "must be in (0, 1)")


def bounce(
    start: np.ndarray, velocity: np.ndarray, frames: int, limit: float
) -> tuple[np.ndarray, np.ndarray]:
    """Positions ``(frames, ..., 2)`` and velocities of points moving at constant speed in ``[0, limit]^2``,
    reflected at the borders: a step that would leave the box is mirrored back into it and the velocity
    component normal to that border changes sign (an elastic bounce)."""
    pos = np.empty((frames, *start.shape), dtype=np.float64)
    vel = np.empty_like(pos)
    p, v = start.astype(np.float64).copy(), velocity.astype(np.float64).copy()
    for t in range(frames):
        pos[t], vel[t] = p, v
        p = p + v
        low, high = p < 0, p > limit
        p = np.where(low, -p, np.where(high, 2 * limit - p, p))
        v = np.where(low | high, -v, v)
    return pos, vel


@dataclass
class MovingMNIST:
    """One split of Moving MNIST (see the module docstring); implements :class:`genzoo.core.Dataset`.

    ``batch(index)["x"]`` is float ``(n, frames, C, size, size)`` on the grid ``k / 255``. With
    ``condition=True`` the first ``context_frames`` frames are the ``context`` condition and ``x`` holds
    the frames after them (what a predictive model is scored on), so ``info.shape`` has
    ``frames - context_frames`` frames. :meth:`codes` and :meth:`masks` always give all ``frames``.
    """

    name: str
    split: str
    digit_images: Tensor  # uint8 (K, 28, 28) source digits
    opts: MovingMNISTOptions
    backgrounds: Tensor | None = None  # uint8 (B, 3, h, w) or None (black background)
    index_map: Tensor | None = None  # a subset's indices into the full split
    info: DataInfo = field(init=False)

    def __post_init__(self) -> None:
        o = self.opts
        c = 1 if self.backgrounds is None else 3
        conds = (FramesSpec(shape=(o.context_frames, c, o.size, o.size)),) if o.condition else ()
        frames = o.frames - o.context_frames if o.condition else o.frames
        self.info = DataInfo((frames, c, o.size, o.size), 256, conditions=conds)
        digits = self.digit_images.float().unsqueeze(1) / 255.0
        if o.digit_size != digits.shape[-1]:
            digits = F.interpolate(digits, size=(o.digit_size, o.digit_size), mode="area")
        self._digits = digits.squeeze(1).numpy().astype(np.float32)
        if self.backgrounds is not None:
            bg = self.backgrounds.float() / 255.0
            grow = max(1.0, o.size / (0.75 * bg.shape[-1]))
            if grow > 1.0:
                bg = F.interpolate(bg, scale_factor=grow, mode="bilinear", align_corners=False)
            self._bg = bg.clamp(0, 1).numpy().astype(np.float32)

    # ----- sizes ----------------------------------------------------------------------------------
    @property
    def fixed(self) -> bool:
        return self.split in ("test", "valid")

    def __len__(self) -> int:
        if self.index_map is not None:
            return len(self.index_map)
        o = self.opts
        return {"test": o.test_size, "valid": o.valid_size}.get(self.split, o.train_size)

    def _global(self, index: Tensor | np.ndarray | list[int]) -> np.ndarray:
        idx = torch.as_tensor(index, dtype=torch.long).reshape(-1)
        if len(idx) and (int(idx.min()) < 0 or int(idx.max()) >= len(self)):
            raise IndexError(f"{self.name} {self.split}: index out of range 0..{len(self) - 1}")
        if self.index_map is not None:
            idx = self.index_map[idx]
        return idx.numpy()

    # ----- generation -----------------------------------------------------------------------------
    def _rng(self, i: int, stream_seed: int | None) -> np.random.Generator:
        if stream_seed is None:
            return np.random.default_rng([self.opts.seed, _SPLIT_STREAM[self.split], int(i)])
        return np.random.default_rng([int(stream_seed), 7, int(i)])

    def _draw(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """The random choices of one sequence: digits, start positions, directions, background crop."""
        o = self.opts
        limit = float(o.size - o.digit_size)
        which = rng.integers(0, len(self._digits), size=o.digits)
        start = rng.uniform(0.0, limit, size=(o.digits, 2))
        theta = rng.uniform(0.0, 2 * np.pi, size=o.digits)
        vel = o.speed * np.stack([np.sin(theta), np.cos(theta)], -1)  # (dy, dx) per digit
        pos, v = bounce(start, vel, o.frames, limit)
        out = {"which": which, "pos": pos, "vel": v}
        if self.backgrounds is not None:
            b = int(rng.integers(0, len(self._bg)))
            h, w = self._bg.shape[-2:]
            out["bg"] = np.array([b, rng.integers(0, h - o.size + 1), rng.integers(0, w - o.size + 1)])
        return out

    def _render(self, d: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """``(frames, C, size, size)`` uint8 codes and ``(frames, size, size)`` float digit intensity."""
        o = self.opts
        ink = np.zeros((o.frames, o.size, o.size), dtype=np.float32)
        top_left = np.rint(d["pos"]).astype(np.int64)
        s = o.digit_size
        for t in range(o.frames):
            for k, digit in enumerate(d["which"]):
                y, x = top_left[t, k]
                np.maximum(ink[t, y : y + s, x : x + s], self._digits[digit], out=ink[t, y : y + s, x : x + s])
        if self.backgrounds is None:
            frames = ink[:, None]
        else:
            b, y, x = d["bg"]
            bg = self._bg[b, :, y : y + o.size, x : x + o.size]
            frames = ink[:, None] + (1.0 - ink[:, None]) * bg[None]
        return np.rint(frames * 255.0).astype(np.uint8), ink

    def _stream_seed(self, generator: torch.Generator | None) -> int | None:
        if self.fixed or generator is None:
            return None
        return int(torch.randint(0, 2**62, (1,), generator=generator))

    def sequences(self, index: Any, generator: torch.Generator | None = None) -> list[dict[str, np.ndarray]]:
        """The random choices of each indexed sequence (``which`` digits, ``pos`` (frames, digits, 2)
        top-left corners (y, x), ``vel`` velocities, ``bg`` background crop)."""
        seed = self._stream_seed(generator)
        return [self._draw(self._rng(i, seed)) for i in self._global(index)]

    def codes(self, index: Any, generator: torch.Generator | None = None) -> Tensor:
        """uint8 frames ``(n, frames, C, size, size)``."""
        seqs = self.sequences(index, generator)
        return torch.from_numpy(np.stack([self._render(d)[0] for d in seqs])) if seqs else torch.zeros(
            0, *self.info.shape, dtype=torch.uint8)

    def masks(self, index: Any, generator: torch.Generator | None = None) -> Tensor:
        """The true digit masks ``(n, frames, 1, size, size)`` (bool): where a digit's intensity exceeds
        ``mask_threshold``. The same generator state as :meth:`batch` gives the masks of its frames."""
        seqs = self.sequences(index, generator)
        thr = self.opts.mask_threshold
        return torch.from_numpy(np.stack([self._render(d)[1] > thr for d in seqs])).unsqueeze(2)

    # ----- the Dataset protocol ---------------------------------------------------------------------
    def batch(self, index: Tensor, generator: torch.Generator | None = None) -> Batch:
        video = self.codes(index, generator).float() / 255.0
        if not self.opts.condition:
            return Batch(x=video)
        k = self.opts.context_frames
        return Batch(x=video[:, k:], context=video[:, :k])

    def subset(self, index: Tensor | slice) -> MovingMNIST:
        if isinstance(index, slice):
            index = torch.arange(len(self))[index]
        idx = torch.as_tensor(self._global(index), dtype=torch.long)
        return MovingMNIST(self.name, self.split, self.digit_images, self.opts, self.backgrounds, idx)

    def tensor(self, seed: int = 0) -> Tensor:
        """``x`` of every sequence of the split as floats (a training split: its fixed per-index sequences).
        Large: the 10,000 default test sequences are 3.3 GB; take a :meth:`subset`."""
        return self.batch(torch.arange(len(self)))["x"]

    def fingerprint(self) -> str:
        """A short SHA-256 of what the sequences are made from: the digits, the backgrounds and the options."""
        import hashlib

        h = hashlib.sha256(self.digit_images.contiguous().numpy().tobytes())
        if self.backgrounds is not None:
            h.update(self.backgrounds.contiguous().numpy().tobytes())
        h.update(repr((self.name, self.opts)).encode())
        return h.hexdigest()[:16]

    def condition_values(self) -> dict[str, Any]:
        """The ``context`` frames of every sequence when the split has at most ``CONDITION_VALUES_MAX``
        (2,000) of them; of the first 2,000 otherwise (10,000 test contexts would take 1.6 GB: score or
        sample a :meth:`subset`). Empty when the data has no condition."""
        if not self.opts.condition:
            return {}
        return {"context": self.batch(torch.arange(min(len(self), CONDITION_VALUES_MAX)))["context"]}


def _split_digits(data_dir: Path, split: str) -> Tensor:
    from genzoo.data.idx import load_mnist

    part = "test" if split == "test" else split
    return load_mnist(part, data_dir).codes[:, 0]


def _options(options: dict[str, Any]) -> MovingMNISTOptions:
    known = set(MovingMNISTOptions.__dataclass_fields__)
    unknown = sorted(set(options) - known)
    if unknown:
        raise ConfigError(f"unknown moving-mnist option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return MovingMNISTOptions(**options)


@register_dataset("moving-mnist", "Moving MNIST (Srivastava et al. 2015): 2 digits bouncing in 20 64x64 frames",
                  options=MovingMNISTOptions)
def load_moving_mnist(split: str, data_dir: Path, **options: Any) -> MovingMNIST:
    opts = _options(options)
    return MovingMNIST("moving-mnist", split, _split_digits(data_dir, split), opts)


@register_dataset("moving-mnist-cifar", "Moving MNIST over static CIFAR-10 background crops (RGB)",
                  options=MovingMNISTOptions)
def load_moving_mnist_cifar(split: str, data_dir: Path, **options: Any) -> MovingMNIST:
    from genzoo.data.cifar import load_cifar10

    opts = _options(options)
    backgrounds = load_cifar10("test" if split == "test" else split, data_dir).codes
    return MovingMNIST("moving-mnist-cifar", split, _split_digits(data_dir, split), opts, backgrounds)
