"""Conditions as data: what a generated image may be conditioned on, and how each kind behaves.

A *condition spec* describes one kind of conditioning input a dataset offers and a model may accept:
a class label, a source image (image-to-image translation), a caption (text-to-image), boxes or
keypoints (where to draw), or context frames (video prediction). A spec knows how to

* ``validate`` a user's value for ``n`` samples (broadcasting a single label, checking ranges,
  shapes, characters) into its canonical form, raising :class:`ConditionError` naming the problem;
* ``select`` examples by index and move a value ``to`` a device (so batches shard and travel, whatever
  the value is: tensors, or lists of strings for text);
* make a ``default_grid`` for a sample sheet (labels: every class in turn; the other kinds take the
  first ``n`` values of a real split, since only data can supply a caption or a source image);
* ``render`` itself as small RGB pictures, so a sample sheet can show what each sample was asked for.

A value's batch key and condition-mapping key are the spec's ``key``; ``DataInfo.conditions`` lists the
specs a dataset offers and a model declares which keys it takes
(:meth:`genzoo.models.base.GenerativeModel.condition_keys`). The one policy, applied by
:func:`check_condition` everywhere: a model is given exactly the conditions it takes; a missing or
unexpected one is a :class:`ConditionError`. Callers that want a default (the engine's sample grids,
the evaluator, ``genzoo sample``) ask :func:`default_condition`, never the model's family.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor

from genzoo.core.errors import ConditionError

#: kind name -> spec class, for rebuilding specs from checkpoint metadata
SPEC_KINDS: dict[str, type[ConditionSpec]] = {}


def _register(cls: type[ConditionSpec]) -> type[ConditionSpec]:
    SPEC_KINDS[cls.kind] = cls
    return cls


def select(value: Any, index: Tensor | slice | Sequence[int]) -> Any:
    """``value`` restricted to ``index`` along its first axis: tensors are indexed, lists picked."""
    if isinstance(value, Tensor):
        return value[index]
    if isinstance(value, (list, tuple)):
        if isinstance(index, slice):
            return list(value[index])
        idx = index.tolist() if isinstance(index, Tensor) else list(index)
        return [value[int(i)] for i in idx]
    raise TypeError(f"cannot index a condition value of type {type(value).__name__}")


def move(value: Any, device: torch.device | str) -> Any:
    """Tensors go to ``device``; other values (lists of captions) stay where they are."""
    return value.to(device, non_blocking=True) if isinstance(value, Tensor) else value


def count(value: Any) -> int:
    return len(value)


@dataclass(frozen=True)
class ConditionSpec:
    """One kind of condition; subclasses set ``kind`` and implement :meth:`validate` and :meth:`render`."""

    kind: ClassVar[str] = ""
    key: str = ""

    def validate(self, value: Any, n: int) -> Any:
        raise NotImplementedError

    def default_grid(self, n: int, examples: Any | None = None) -> Any:
        """Conditions for an ``n``-sample sheet; ``examples`` are real values (e.g. a test split's)."""
        if examples is None or count(examples) == 0:
            raise ConditionError(
                f"condition {self.key!r} ({self.kind}) has no default: give one, or data to take it from"
            )
        reps = -(-n // count(examples))
        idx = torch.arange(n) % count(examples) if reps > 1 else torch.arange(n)
        return self.validate(select(examples, idx), n)

    def render(self, value: Any, size: int) -> Tensor:
        """``(n, 3, size, size)`` RGB pictures in [0, 1] of each sample's condition."""
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **dataclasses.asdict(self)}

    @staticmethod
    def from_dict(d: Mapping[str, Any]) -> ConditionSpec:
        d = dict(d)
        kind = d.pop("kind")
        if kind not in SPEC_KINDS:
            raise ConditionError(f"unknown condition kind {kind!r}; known: {', '.join(sorted(SPEC_KINDS))}")
        cls = SPEC_KINDS[kind]
        fields = {f.name: f.type for f in dataclasses.fields(cls)}
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items() if k in fields})

    def _n(self, got: int, n: int) -> None:
        if got != n:
            raise ConditionError(f"condition {self.key!r} has {got} values for {n} samples")


def _as_float_images(value: Any, key: str, rank: int, what: str) -> Tensor:
    t = torch.as_tensor(value)
    if t.dim() == rank - 1:
        t = t.unsqueeze(0)
    if t.dim() != rank:
        raise ConditionError(f"condition {key!r} must be {what}, got shape {tuple(t.shape)}")
    t = t.float()
    if t.numel() and (not torch.isfinite(t).all() or float(t.min()) < 0.0 or float(t.max()) > 1.0):
        raise ConditionError(f"condition {key!r} must hold finite values in [0, 1]")
    return t


def _broadcast(t: Tensor, n: int) -> Tensor:
    return t.expand(n, *t.shape[1:]) if len(t) == 1 and n != 1 else t


def _to_rgb(images: Tensor, size: int) -> Tensor:
    """``(n, C, H, W)`` in [0, 1] -> ``(n, 3, size, size)`` by nearest resizing."""
    import torch.nn.functional as F

    x = images.float().cpu()
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    elif x.shape[1] != 3:
        x = x[:, :1].expand(-1, 3, -1, -1)
    return F.interpolate(x, size=(size, size), mode="nearest").clamp(0, 1)


def _text_tiles(texts: Sequence[str], size: int) -> Tensor:
    """Each string drawn in black on white, wrapped to a ``size`` square (PIL's built-in font)."""
    import numpy as np
    from PIL import Image, ImageDraw

    tiles = []
    per_line = max(4, size // 6)
    for text in texts:
        img = Image.new("L", (size, size), 255)
        draw = ImageDraw.Draw(img)
        words, lines, line = str(text).split(), [], ""
        for w in words:
            if len(line) + len(w) + 1 > per_line and line:
                lines.append(line)
                line = w
            else:
                line = f"{line} {w}".strip()
        lines.append(line)
        for i, ln in enumerate(lines[: max(1, size // 11)]):
            draw.text((1, 1 + 11 * i), ln, fill=0)
        tiles.append(torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0))
    if not tiles:
        return torch.zeros(0, 3, size, size)
    return torch.stack(tiles).unsqueeze(1).expand(-1, 3, -1, -1).contiguous()


@_register
@dataclass(frozen=True)
class LabelSpec(ConditionSpec):
    """A class label in ``0..num_classes-1`` (cGAN, AC-GAN, class-conditional PixelCNN). Value: int64 ``(n,)``."""

    kind: ClassVar[str] = "label"
    key: str = "label"
    num_classes: int = 0
    names: tuple[str, ...] = ()

    def validate(self, value: Any, n: int) -> Tensor:
        try:
            t = torch.as_tensor(value)
        except (TypeError, ValueError, RuntimeError):
            raise ConditionError(f"condition {self.key!r} must be class labels, got {value!r}") from None
        if t.is_floating_point() and bool((t != t.round()).any()):
            raise ConditionError(f"condition {self.key!r} must be integer class labels, got {value!r}")
        t = _broadcast(t.long().reshape(-1), n)
        self._n(len(t), n)
        if len(t) and (int(t.min()) < 0 or int(t.max()) >= self.num_classes):
            bad = int(t.min()) if int(t.min()) < 0 else int(t.max())
            raise ConditionError(
                f"condition {self.key!r}: class {bad} does not exist; classes are 0..{self.num_classes - 1}"
            )
        return t

    def default_grid(self, n: int, examples: Any | None = None) -> Tensor:
        """Every class in turn: ``0, 1, ..., K-1, 0, 1, ...`` (a class-balanced sheet, one class per column
        when the sheet is ``K`` wide)."""
        return torch.arange(n) % self.num_classes

    def render(self, value: Any, size: int) -> Tensor:
        labels = torch.as_tensor(value).reshape(-1).tolist()
        return _text_tiles([self.names[i] if i < len(self.names) else str(i) for i in labels], size)


@_register
@dataclass(frozen=True)
class ImageSpec(ConditionSpec):
    """A source image (pix2pix: edges, labels or grey -> photo). Value: float ``(n, C, H, W)`` in [0, 1]."""

    kind: ClassVar[str] = "image"
    key: str = "source"
    shape: tuple[int, ...] = ()

    def validate(self, value: Any, n: int) -> Tensor:
        t = _broadcast(_as_float_images(value, self.key, 4, "images (n, C, H, W)"), n)
        self._n(len(t), n)
        if self.shape and tuple(t.shape[1:]) != tuple(self.shape):
            raise ConditionError(
                f"condition {self.key!r} must be images of shape {tuple(self.shape)}, got {tuple(t.shape[1:])}"
            )
        return t

    def render(self, value: Any, size: int) -> Tensor:
        return _to_rgb(torch.as_tensor(value), size)


@_register
@dataclass(frozen=True)
class TextSpec(ConditionSpec):
    """A caption (text-to-image). Value: a list of ``n`` non-empty strings over ``alphabet`` (all characters
    allowed when the alphabet is empty) of at most ``max_length`` characters. Models tokenise it
    themselves (e.g. :meth:`encode` for a character-level encoder)."""

    kind: ClassVar[str] = "text"
    key: str = "text"
    alphabet: str = ""
    max_length: int = 0

    def validate(self, value: Any, n: int) -> list[str]:
        texts = [value] if isinstance(value, str) else list(value) if isinstance(value, (list, tuple)) else None
        if texts is None or not all(isinstance(t, str) for t in texts):
            raise ConditionError(f"condition {self.key!r} must be a caption or a list of captions")
        if len(texts) == 1 and n != 1:
            texts = texts * n
        self._n(len(texts), n)
        for t in texts:
            if not t.strip():
                raise ConditionError(f"condition {self.key!r}: an empty caption; write what to draw")
            if self.max_length and len(t) > self.max_length:
                raise ConditionError(
                    f"condition {self.key!r}: caption {t!r} has {len(t)} characters; at most {self.max_length}"
                )
            if self.alphabet:
                unknown = sorted(set(t.lower()) - set(self.alphabet))
                if unknown:
                    raise ConditionError(
                        f"condition {self.key!r}: caption {t!r} has unknown character(s) {''.join(unknown)!r}; "
                        f"known: {self.alphabet!r}"
                    )
        return texts

    def encode(self, texts: Sequence[str], length: int | None = None) -> Tensor:
        """Character ids ``(n, length)`` (0 = padding, ``1 + alphabet.index(c)`` otherwise), lower-cased."""
        length = length or self.max_length or max(len(t) for t in texts)
        out = torch.zeros(len(texts), length, dtype=torch.long)
        for i, t in enumerate(texts):
            ids = [1 + self.alphabet.index(c) for c in t.lower()[:length] if c in self.alphabet]
            out[i, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        return out

    def render(self, value: Any, size: int) -> Tensor:
        return _text_tiles(list(value), size)


@_register
@dataclass(frozen=True)
class BoxSpec(ConditionSpec):
    """Where to draw: ``boxes`` boxes per sample as ``(x0, y0, x1, y1)`` fractions of the canvas, with
    ``0 <= x0 < x1 <= 1`` and ``0 <= y0 < y1 <= 1`` (GAWWN). Value: float ``(n, boxes, 4)``."""

    kind: ClassVar[str] = "box"
    key: str = "box"
    boxes: int = 1

    def validate(self, value: Any, n: int) -> Tensor:
        t = torch.as_tensor(value).float()
        if t.dim() == 1:
            t = t.reshape(1, 1, -1)
        elif t.dim() == 2:
            t = t.unsqueeze(1) if self.boxes == 1 else t.unsqueeze(0)
        if t.dim() != 3 or t.shape[1:] != (self.boxes, 4):
            raise ConditionError(
                f"condition {self.key!r} must be (n, {self.boxes}, 4) boxes (x0, y0, x1, y1), got {tuple(t.shape)}"
            )
        t = _broadcast(t, n)
        self._n(len(t), n)
        x0, y0, x1, y1 = t.unbind(-1)
        ok = torch.isfinite(t).all() and (x0 >= 0).all() and (y0 >= 0).all() and (x1 <= 1).all() and (y1 <= 1).all()
        if not ok or not ((x0 < x1).all() and (y0 < y1).all()):
            raise ConditionError(
                f"condition {self.key!r}: boxes must lie inside the canvas, 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1"
            )
        return t

    def render(self, value: Any, size: int) -> Tensor:
        t = torch.as_tensor(value).float()
        out = torch.ones(len(t), 3, size, size)
        for i, boxes in enumerate(t):
            for x0, y0, x1, y1 in (boxes * (size - 1)).round().long().tolist():
                out[i, :, y0 : y1 + 1, x0] = out[i, :, y0 : y1 + 1, x1] = 0.0
                out[i, :, y0, x0 : x1 + 1] = out[i, :, y1, x0 : x1 + 1] = 0.0
                out[i, 0, y0 : y1 + 1, x0] = out[i, 0, y0 : y1 + 1, x1] = 1.0
                out[i, 0, y0, x0 : x1 + 1] = out[i, 0, y1, x0 : x1 + 1] = 1.0
        return out


@_register
@dataclass(frozen=True)
class KeypointSpec(ConditionSpec):
    """Part locations: ``points`` keypoints per sample as ``(x, y, visible)``, ``x, y`` fractions of the
    canvas in [0, 1] and ``visible`` 0 or 1 (GAWWN). Value: float ``(n, points, 3)``."""

    kind: ClassVar[str] = "keypoints"
    key: str = "keypoints"
    points: int = 1

    def validate(self, value: Any, n: int) -> Tensor:
        t = torch.as_tensor(value).float()
        if t.dim() == 2:
            t = t.unsqueeze(0)
        if t.dim() != 3 or t.shape[1:] != (self.points, 3):
            raise ConditionError(
                f"condition {self.key!r} must be (n, {self.points}, 3) keypoints (x, y, visible), "
                f"got {tuple(t.shape)}"
            )
        t = _broadcast(t, n)
        self._n(len(t), n)
        if not torch.isfinite(t).all() or float(t[..., :2].min()) < 0 or float(t[..., :2].max()) > 1:
            raise ConditionError(f"condition {self.key!r}: keypoints must lie inside the canvas (x, y in [0, 1])")
        if not ((t[..., 2] == 0) | (t[..., 2] == 1)).all():
            raise ConditionError(f"condition {self.key!r}: the visibility flag must be 0 or 1")
        return t

    def render(self, value: Any, size: int) -> Tensor:
        t = torch.as_tensor(value).float()
        out = torch.ones(len(t), 3, size, size)
        for i, pts in enumerate(t):
            for x, y, v in pts.tolist():
                if v:
                    cx, cy = round(x * (size - 1)), round(y * (size - 1))
                    out[i, :, max(cy - 1, 0) : cy + 2, max(cx - 1, 0) : cx + 2] = 0.0
                    out[i, 0, max(cy - 1, 0) : cy + 2, max(cx - 1, 0) : cx + 2] = 1.0
        return out


@_register
@dataclass(frozen=True)
class FramesSpec(ConditionSpec):
    """Context frames of a video (the frames a video model continues). Value: float ``(n, T, C, H, W)``
    in [0, 1]; ``shape`` is ``(T, C, H, W)`` (``T`` may be fewer than the data's frames, never more)."""

    kind: ClassVar[str] = "frames"
    key: str = "context"
    shape: tuple[int, ...] = ()

    def validate(self, value: Any, n: int) -> Tensor:
        t = _broadcast(_as_float_images(value, self.key, 5, "frames (n, T, C, H, W)"), n)
        self._n(len(t), n)
        if self.shape:
            if tuple(t.shape[2:]) != tuple(self.shape[1:]):
                raise ConditionError(
                    f"condition {self.key!r}: frames must be {tuple(self.shape[1:])} (C, H, W), "
                    f"got {tuple(t.shape[2:])}"
                )
            if t.shape[1] > self.shape[0]:
                raise ConditionError(
                    f"condition {self.key!r}: {t.shape[1]} context frames, but the model takes at most {self.shape[0]}"
                )
        return t

    def render(self, value: Any, size: int) -> Tensor:
        return _to_rgb(torch.as_tensor(value)[:, -1], size)


# ----- the one policy ---------------------------------------------------------------------------------
def check_condition(
    specs: Mapping[str, ConditionSpec], n: int, condition: Any, who: str = "this model"
) -> dict[str, Any]:
    """Validate ``condition`` for ``n`` samples of a model taking ``specs``; the canonical values by key.

    ``condition`` is ``None`` or a mapping ``{key: value}``; a bare value is accepted for a model that
    takes exactly one condition. Missing or unexpected keys raise :class:`ConditionError`.
    """
    if condition is None:
        condition = {}
    elif not isinstance(condition, Mapping):
        if len(specs) != 1:
            takes = ", ".join(specs) or "no condition"
            raise ConditionError(f"{who} takes {takes}; pass the condition as a mapping {{key: value}}")
        condition = {next(iter(specs)): condition}
    unexpected = sorted(set(condition) - set(specs))
    if unexpected:
        takes = ", ".join(f"{k!r}" for k in specs) or "no condition"
        raise ConditionError(f"{who} does not take condition {', '.join(map(repr, unexpected))}; it takes {takes}")
    missing = [k for k in specs if condition.get(k) is None]
    if missing:
        what = ", ".join(f"{k!r} ({specs[k].kind})" for k in missing)
        raise ConditionError(f"{who} needs condition {what}")
    return {k: specs[k].validate(condition[k], n) for k in specs}


def default_condition(
    specs: Mapping[str, ConditionSpec], n: int, examples: Mapping[str, Any] | None = None
) -> dict[str, Any] | None:
    """The default conditions of an ``n``-sample sheet (``None`` for an unconditional model):
    each spec's :meth:`~ConditionSpec.default_grid`, from ``examples`` (real values by key) where needed."""
    if not specs:
        return None
    examples = examples or {}
    return {k: spec.default_grid(n, examples.get(k)) for k, spec in specs.items()}


def render_conditions(specs: Mapping[str, ConditionSpec], condition: Mapping[str, Any], size: int) -> list[Tensor]:
    """One ``(n, 3, size, size)`` picture row per condition key, for a sample sheet."""
    return [spec.render(condition[k], size) for k, spec in specs.items() if k in condition]
