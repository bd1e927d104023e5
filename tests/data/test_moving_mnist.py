"""Moving MNIST: bounce physics, fixed test set, on-the-fly training data, masks; the GIF writer."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genzoo.core import ConfigError, Dataset, UsageError
from genzoo.data import load_dataset
from genzoo.data.moving_mnist import bounce
from genzoo.video_io import gif_bytes, read_gif, write_gif, write_strip


def test_bounce_stays_inside_and_reflects_at_the_borders():
    rng = np.random.default_rng(0)
    limit = 36.0
    start = rng.uniform(0, limit, size=(200, 2))
    theta = rng.uniform(0, 2 * np.pi, size=200)
    vel = 5.0 * np.stack([np.sin(theta), np.cos(theta)], -1)
    pos, v = bounce(start, vel, 60, limit)
    assert pos.min() >= 0.0 and pos.max() <= limit
    assert np.allclose(np.abs(v), np.abs(vel)[None])  # speed per axis is kept
    flipped = np.sign(v[1:]) != np.sign(v[:-1])
    assert flipped.any()
    for t, k, a in zip(*np.nonzero(flipped)):
        # the step that flips a velocity component would have left the box without the reflection
        free = pos[t, k, a] + v[t, k, a]
        assert free < 0 or free > limit
        assert np.isclose(pos[t + 1, k, a], -free if free < 0 else 2 * limit - free)
    unflipped = ~flipped
    step = pos[1:] + 0 - pos[:-1]
    assert np.allclose(step[unflipped], v[:-1][unflipped])


def test_digits_stay_inside_every_frame(data_dir):
    d = load_dataset("moving-mnist", "test", data_dir, size=32, digit_size=14, speed=6.0, frames=12, test_size=8)
    for seq in d.sequences(torch.arange(8)):
        corners = np.rint(seq["pos"])
        assert corners.min() >= 0 and corners.max() <= 32 - 14
    x = d.batch(torch.arange(8))["x"]
    assert x.shape == (8, 12, 1, 32, 32)
    masks = d.masks(torch.arange(8))
    assert masks.shape == (8, 12, 1, 32, 32) and masks.any(dim=(2, 3, 4)).all()
    # on a black background the mask is where the frame is bright (up to the 8-bit rounding at the threshold)
    assert (masks >= (x > 0.502)).all() and (masks <= (x > 0.498)).all()


def test_test_set_is_identical_on_every_call_and_built_from_test_digits(data_dir):
    a = load_dataset("moving-mnist", "test", data_dir, test_size=20)
    b = load_dataset("moving-mnist", "test", data_dir, test_size=20)
    assert isinstance(a, Dataset) and len(a) == 20
    xa = a.batch(torch.tensor([3, 17]))["x"]
    assert torch.equal(xa, b.batch(torch.tensor([3, 17]))["x"])
    assert torch.equal(xa, a.batch(torch.tensor([3, 17]), torch.Generator().manual_seed(9))["x"])
    assert torch.equal(a.subset(slice(3, 5)).batch(torch.tensor([0]))["x"], xa[:1])
    assert a.info.shape == (20, 1, 64, 64) and a.info.levels == 256
    assert len(a.digit_images) == 10000  # the MNIST test digits
    assert torch.equal((xa * 255).round() / 255, xa)


def test_training_sequences_are_fresh_per_step_and_deterministic_per_generator(data_dir):
    d = load_dataset("moving-mnist", "train", data_dir, size=32, digit_size=14, frames=4)
    idx = torch.arange(4)
    g1, g2, g3 = (torch.Generator().manual_seed(s) for s in (1, 1, 2))
    a, b, c = d.batch(idx, g1)["x"], d.batch(idx, g2)["x"], d.batch(idx, g3)["x"]
    assert torch.equal(a, b) and not torch.equal(a, c)
    g = torch.Generator().manual_seed(1)
    assert torch.equal(d.masks(idx, g), d.masks(idx, torch.Generator().manual_seed(1)))


def test_context_condition_splits_the_sequence(data_dir):
    d = load_dataset("moving-mnist", "valid", data_dir, size=32, digit_size=14, frames=6, context_frames=2,
                     condition=True, valid_size=5)
    b = d.batch(torch.arange(3))
    full = d.codes(torch.arange(3)).float() / 255
    assert torch.equal(b["context"], full[:, :2]) and torch.equal(b["x"], full[:, 2:])
    assert d.info.shape == (4, 1, 32, 32) and d.info.condition_specs["context"].shape == (2, 1, 32, 32)
    assert d.condition_values()["context"].shape == (5, 2, 1, 32, 32)


def test_cifar_background_variant_is_rgb_with_a_static_background(data_dir):
    d = load_dataset("moving-mnist-cifar", "test", data_dir, size=32, digit_size=14, frames=5, test_size=3,
                     mask_threshold=1e-3)
    x = d.batch(torch.arange(3))["x"]
    m = d.masks(torch.arange(3))
    assert x.shape == (3, 5, 3, 32, 32)
    # outside every frame's digits the background does not move
    still = ~m.any(1, keepdim=True).expand_as(m).expand(-1, -1, 3, -1, -1)
    assert torch.allclose(x.masked_fill(~still, 0)[:, 1:], x.masked_fill(~still, 0)[:, :1].expand(-1, 4, -1, -1, -1),
                          atol=1 / 255)


@pytest.mark.parametrize(
    "options,match",
    [({"context_frames": 20}, "context_frames=20"), ({"digit_size": 80}, "digit_size"),
     ({"frames": 0}, "frames"), ({"speed": -1}, "speed"), ({"colour": 1}, r"unknown data\.\* key\(s\) colour")],
)
def test_bad_options_are_one_clear_error(data_dir, options, match):
    with pytest.raises(ConfigError, match=match):
        load_dataset("moving-mnist", "test", data_dir, **options)


def test_gif_and_strip_round_trip(tmp_path):
    videos = torch.zeros(2, 3, 1, 8, 8)
    videos[0, :, 0, 2, 2] = 1.0
    videos[1, 1] = 0.5
    write_gif(videos, tmp_path / "v.gif", nrow=2, scale=1)
    frames = read_gif(tmp_path / "v.gif")
    assert frames.shape[0] == 3 and frames.shape[1] == 1
    assert float(frames[0, 0, 4, 4]) == 1.0  # padding 2 + pixel (2, 2)
    write_strip(videos, tmp_path / "v.png", scale=1)
    assert (tmp_path / "v.png").stat().st_size > 0
    assert gif_bytes(videos[0])[:6] == b"GIF89a"
    with pytest.raises(UsageError, match="got \\(2, 8, 8\\)"):
        write_gif(torch.zeros(2, 8, 8), tmp_path / "bad.gif")
    assert not (tmp_path / "bad.gif").exists()


def test_read_gif_names_a_bad_file(tmp_path):
    from genzoo.core import DataFileError

    bad = tmp_path / "x.gif"
    bad.write_bytes(b"not a gif")
    with pytest.raises(DataFileError, match="x.gif: not a readable GIF"):
        read_gif(bad)
