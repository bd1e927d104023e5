"""The next families need no special case: a caption-conditioned model and a video model, with their datasets,
defined in this file only, train, sample, evaluate and report through the public API and the engine."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

import genzoo
from genzoo.core import Batch, ConditionError, DataInfo, FramesSpec, TextSpec
from genzoo.data import ImageData, load_dataset
from genzoo.models.base import GenerativeModel
from genzoo.registry import register_dataset, register_model
from genzoo.report.html import write_report

ALPHABET = "abcdefghijklmnopqrstuvwxyz "
NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
FAST = {"train.batch_size": 16, "train.progress": False, "train.log_every": 2, "train.eval_batches": 1,
        "train.tensorboard": False}


# ----- a dataset of digits with captions of varying length --------------------------------------------
@register_dataset("toy-captioned-digits", "8x8 digits with a caption each (test of the condition contract)")
def captioned_digits(split: str, data_dir: Path) -> ImageData:
    digits = load_dataset("digits", split)
    assert digits.labels is not None
    captions = [("the number " if i % 2 else "a ") + NAMES[int(y)] for i, y in enumerate(digits.labels)]
    info = DataInfo(digits.info.shape, digits.info.levels, conditions=(TextSpec(alphabet=ALPHABET, max_length=24),))
    return ImageData("toy-captioned-digits", split, digits.codes, None, info, digits.raw_levels,
                     extra={"text": captions})


@dataclass
class CaptionPixelsConfig:
    hidden: int = 16


@register_model("toy-caption-pixels")
class CaptionPixels(GenerativeModel):
    """Independent categorical pixels whose logits are a function of the caption's bag of characters."""

    Config = CaptionPixelsConfig

    def __init__(self, config: CaptionPixelsConfig, data_info: DataInfo) -> None:
        super().__init__(config, data_info)
        self.spec = self.condition_specs()["text"]
        assert isinstance(self.spec, TextSpec)
        self.embed = nn.EmbeddingBag(len(ALPHABET) + 1, config.hidden, mode="mean", padding_idx=0)
        self.out = nn.Linear(config.hidden, data_info.dims * data_info.levels)

    def condition_keys(self) -> tuple[str, ...]:
        return ("text",)

    def _logits(self, texts: list[str]) -> Tensor:
        ids = self.spec.encode(texts).to(self.device)
        return self.out(self.embed(ids)).view(len(texts), self.data_info.levels, -1)

    def log_prob(self, x: Tensor, condition: object = None) -> Tensor:
        texts = self.check_condition(len(x), condition)["text"]
        codes = (x.flatten(1) * (self.data_info.levels - 1)).round().long()
        return -F.cross_entropy(self._logits(texts), codes, reduction="none").sum(1)

    def training_step(self, batch: Batch, step: int, group: str) -> dict[str, Tensor]:
        nll = -self.log_prob(batch["x"], self.batch_condition(batch)).mean()
        return {"loss": nll}

    @torch.no_grad()
    def sample(self, n: int, condition: object = None, generator: torch.Generator | None = None) -> Tensor:
        texts = self.check_condition(n, condition)["text"]
        probs = torch.softmax(self._logits(texts), 1).transpose(1, 2).reshape(-1, self.data_info.levels)
        codes = torch.multinomial(probs.cpu(), 1, generator=generator).view(n, *self.data_info.shape)
        return codes.float() / (self.data_info.levels - 1)


# ----- a video dataset: a dot moving right, continued from a context frame ------------------------------
def _dot_videos(n: int, seed: int, frames: int = 3, size: int = 4) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    rows = torch.randint(0, size, (n,), generator=g)
    start = torch.randint(0, size, (n,), generator=g)
    v = torch.zeros(n, frames + 1, 1, size, size, dtype=torch.uint8)
    for t in range(frames + 1):
        v[torch.arange(n), t, 0, rows, (start + t) % size] = 1
    return v


@register_dataset("toy-dots", "a dot moving right in 4x4 frames (test of the video contract)")
def dots(split: str, data_dir: Path) -> ImageData:
    v = _dot_videos({"train": 64, "trainval": 80}.get(split, 16), {"train": 0, "valid": 1, "test": 2}.get(split, 0))
    info = DataInfo((3, 1, 4, 4), 2, conditions=(FramesSpec(shape=(1, 1, 4, 4)),))
    return ImageData("toy-dots", split, v[:, 1:].contiguous(), None, info, 2, extra={"context": v[:, :1].float()})


@dataclass
class NextFrameConfig:
    pass


@register_model("toy-next-frame")
class NextFrame(GenerativeModel):
    """Each frame's pixels are independent Bernoullis given the previous frame (the context for the first)."""

    Config = NextFrameConfig

    def __init__(self, config: NextFrameConfig, data_info: DataInfo) -> None:
        super().__init__(config, data_info)
        self.step_net = nn.Conv2d(1, 1, 3, padding=1)

    def condition_keys(self) -> tuple[str, ...]:
        return ("context",)

    def log_prob(self, x: Tensor, condition: object = None) -> Tensor:
        context = self.check_condition(len(x), condition)["context"]
        previous = torch.cat([context[:, -1:], x[:, :-1]], 1)
        logits = self.step_net(previous.flatten(0, 1)).view_as(x)
        return -F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)

    def training_step(self, batch: Batch, step: int, group: str) -> dict[str, Tensor]:
        return {"loss": -self.log_prob(batch["x"], self.batch_condition(batch)).mean()}

    @torch.no_grad()
    def sample(self, n: int, condition: object = None, generator: torch.Generator | None = None) -> Tensor:
        frame = self.check_condition(n, condition)["context"][:, -1]
        out = []
        for _ in range(self.data_info.shape[0]):
            p = torch.sigmoid(self.step_net(frame))
            frame = (torch.rand(p.shape, generator=generator, device=p.device) < p).float()
            out.append(frame)
        return torch.stack(out, 1)


# ----- the proof ----------------------------------------------------------------------------------------
def test_a_caption_conditioned_family_runs_end_to_end(tmp_path: Path) -> None:
    run = genzoo.train("toy-caption-pixels", "toy-captioned-digits", run_dir=tmp_path / "t", steps=30,
                       overrides={**FAST, "train.lr": 0.05})
    from PIL import Image

    # the sheet used the validation split's captions and shows each one beside its sample: 64 (caption,
    # sample) pairs of 64-pixel tiles, 8 pairs a row, 2-pixel padding
    assert Image.open(tmp_path / "t" / "samples.png").size == (16 * 66 + 2, 8 * 66 + 2)
    a = genzoo.sample(tmp_path / "t", 6, seed=1, condition={"text": "the number seven"})
    b = genzoo.sample(tmp_path / "t", 6, seed=1, condition={"text": "the number seven"})
    assert a.shape == (6, 1, 8, 8) and torch.equal(a, b)
    default = genzoo.sample(tmp_path / "t", 4, seed=1)  # captions from the run's test split
    assert default.shape == (4, 1, 8, 8)
    with pytest.raises(ConditionError, match="unknown character"):
        genzoo.sample(tmp_path / "t", 2, condition={"text": "the number 7!"})
    with pytest.raises(ConditionError, match="does not take condition 'label'"):
        genzoo.sample(tmp_path / "t", 2, condition={"text": "a one", "label": 1})
    scores = genzoo.evaluate(tmp_path / "t", ["nll"])["nll"]
    assert scores["method"] == "exact" and scores["protocol"]["conditional_on"] == ["text"]
    # the conditional NLL the evaluator reports is the mean of log p(x | its own caption)
    test = load_dataset("toy-captioned-digits", "test")
    direct = -run.model.log_prob(test.tensor(), {"text": test.extra["text"]}).mean().item()
    assert scores["nll_nats"] == pytest.approx(direct, rel=1e-6)
    assert "<html" in write_report(tmp_path / "t").read_text().lower()


def test_a_video_family_runs_end_to_end(tmp_path: Path) -> None:
    run = genzoo.train("toy-next-frame", "toy-dots", run_dir=tmp_path / "v", steps=40,
                       overrides={**FAST, "train.lr": 0.1})
    video = genzoo.sample(tmp_path / "v", 5, seed=3)
    assert video.shape == (5, 3, 1, 4, 4) and set(video.unique().tolist()) <= {0.0, 1.0}
    context = torch.zeros(2, 1, 1, 4, 4)
    context[:, 0, 0, 1, 1] = 1
    assert genzoo.sample(run.model, 2, seed=3, condition={"context": context}).shape == (2, 3, 1, 4, 4)
    with pytest.raises(ConditionError, match="context frames, but the model takes at most 1"):
        genzoo.sample(run.model, 2, condition={"context": torch.zeros(2, 2, 1, 4, 4)})
    scores = genzoo.evaluate(tmp_path / "v", ["nll"])["nll"]
    assert scores["bits_per_dim"] < 1.0  # it learned something: a coin per pixel is 1 bit
    assert math.isfinite(scores["nll_nats"])
    assert "<html" in write_report(tmp_path / "v").read_text().lower()
