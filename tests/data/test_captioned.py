"""captioned-mnist: deterministic scenes whose boxes hold their digits, captions from measured attributes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from genzoo.core.errors import ConfigError
from genzoo.data import load_dataset
from genzoo.data.captioned import ALPHABET, DIGIT_WORDS, MAX_LENGTH, position_word, size_word, slant, stroke_thickness


def _load(data_dir: Path, split: str = "test", **kw: object):  # noqa: ANN202
    return load_dataset("captioned-mnist", split, data_dir, size=32, count=40, eval_count=40, **kw)


def test_same_seed_same_scenes_other_seed_other_scenes(data_dir: Path) -> None:
    a, b, c = _load(data_dir), _load(data_dir), _load(data_dir, seed=1)
    assert torch.equal(a.codes, b.codes) and a.captions == b.captions
    assert torch.equal(a.extra["box"], b.extra["box"]) and torch.equal(a.extra["keypoints"], b.extra["keypoints"])
    assert not torch.equal(a.codes, c.codes) and a.captions != c.captions
    train = _load(data_dir, "train")
    assert not torch.equal(a.codes, train.codes)  # another split draws other (MNIST train) digits
    bigger = load_dataset("captioned-mnist", "test", data_dir, size=32, eval_count=50)
    assert torch.equal(bigger.codes[:40], a.codes) and bigger.captions[:40] == a.captions  # the test set is fixed


def test_boxes_contain_the_digits_and_keypoints_lie_in_them(data_dir: Path) -> None:
    d = _load(data_dir, max_digits=3, min_digits=2)
    assert d.codes.shape == (40, 1, 32, 32) and d.info.condition_specs["keypoints"].points == 3
    for n, digits in enumerate(d.scenes):
        canvas = d.codes[n, 0]
        covered = torch.zeros(32, 32, dtype=torch.bool)
        for j, digit in enumerate(digits):
            x0, y0, x1, y1 = (round(v * 32) for v in digit.box)
            assert canvas[y0:y1, x0:x1].max() > 100  # ink in every box
            covered[y0:y1, x0:x1] = True
            kx, ky, vis = d.extra["keypoints"][n, j].tolist()
            assert vis == 1 and digit.box[0] <= kx <= digit.box[2] and digit.box[1] <= ky <= digit.box[3]
        assert int(canvas[~covered].max()) == 0  # no ink outside the boxes
        assert d.extra["keypoints"][n, len(digits):].abs().sum() == 0  # empty slots are invisible
        assert torch.allclose(d.extra["box"][n, 0], torch.tensor(digits[0].box))
        assert int(d.labels[n]) == digits[0].label


def test_captions_name_the_measured_attributes(data_dir: Path) -> None:
    d = _load(data_dir, max_digits=1)
    spec = d.info.condition_specs["text"]
    for caps, (digit,) in zip(d.captions, d.scenes):
        assert len(caps) == 5 and len(set(caps)) > 1
        spec.validate(caps, len(caps))  # every caption is valid for the declared alphabet and length
        full = caps[0]
        assert str(digit.label) in full and digit.size in full and digit.position in full
        for word in (digit.thickness, digit.slant):
            assert word in full
        for c in caps:  # every caption names the digit, as a numeral or a word
            assert str(digit.label) in c or DIGIT_WORDS[digit.label] in c
        x0, y0, x1, y1 = digit.box
        assert digit.position == position_word((x0 + x1) / 2, (y0 + y1) / 2)
        assert digit.size == size_word(y1 - y0)
    assert set("".join(c for caps in d.captions for c in caps)) <= set(ALPHABET)
    assert max(len(c) for caps in d.captions for c in caps) <= MAX_LENGTH


def test_batches_draw_one_of_the_scenes_captions_per_step(data_dir: Path) -> None:
    d = _load(data_dir)
    idx = torch.arange(10)
    b1 = d.batch(idx, torch.Generator().manual_seed(5))
    b2 = d.batch(idx, torch.Generator().manual_seed(5))
    assert b1["text"] == b2["text"] and all(t in d.captions[i] for i, t in enumerate(b1["text"]))
    many = {tuple(d.batch(idx, torch.Generator().manual_seed(s))["text"]) for s in range(6)}
    assert len(many) > 1
    assert d.batch(idx)["text"] == [c[0] for c in d.captions[:10]]  # no generator: the first captions
    sub = d.subset(slice(3, 6))
    assert sub.captions == d.captions[3:6] and sub.extra["text"] == [c[0] for c in d.captions[3:6]]


def test_slant_and_thickness_measures() -> None:
    img = np.zeros((3, 28, 28), dtype=np.uint8)
    for r in range(4, 24):
        img[0, r, 14:16] = 255  # upright, thin
        img[1, r, 14 + (24 - r) // 3 : 16 + (24 - r) // 3] = 255  # top leans right
        img[2, r, 12:18] = 255  # upright, thick
    s = slant(img)
    assert abs(s[0]) < 0.05 and s[1] > 0.25
    t = stroke_thickness(img)
    assert t[2] > 2.5 * t[0]


def test_bad_options_are_config_errors(data_dir: Path) -> None:
    with pytest.raises(ConfigError, match="size must be"):
        load_dataset("captioned-mnist", "test", data_dir, size=8)
    with pytest.raises(ConfigError, match="max_digits"):
        _load(data_dir, max_digits=4)
