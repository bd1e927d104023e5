"""Paired-image data: the A|B folder reader and its direction option, parallel folders and unmatched names,
the deterministic transforms behind the derived tasks, and Fashion-MNIST."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from genzoo.core import DataFileError, ImageSpec
from genzoo.data import load_dataset
from genzoo.data.paired import LABEL_PALETTE, digit_label_map, edge_map, luma


def _half(seed: int, size: int, rgb: bool) -> np.ndarray:
    rng = np.random.RandomState(seed)
    shape = (size, size, 3) if rgb else (size, size)
    return rng.randint(0, 256, shape).astype(np.uint8)


def write_combined(folder: Path, names: list[str], size: int = 8, rgb: bool = False) -> dict[str, tuple]:
    """Side-by-side A|B PNGs; A's pixels from seed 2i, B's from seed 2i + 1. Returns name -> (A, B)."""
    folder.mkdir(parents=True, exist_ok=True)
    halves = {}
    for i, name in enumerate(names):
        a, b = _half(2 * i + 100 * len(name), size, rgb), _half(2 * i + 1 + 100 * len(name), size, rgb)
        Image.fromarray(np.concatenate([a, b], axis=1)).save(folder / f"{name}.png")
        halves[name] = (a, b)
    return halves


def _chw(a: np.ndarray) -> torch.Tensor:
    t = torch.from_numpy(a).float() / 255.0
    return t.unsqueeze(0) if t.dim() == 2 else t.permute(2, 0, 1)


def test_combined_pairs_split_a_b_and_direction_swaps(tmp_path: Path) -> None:
    names = ["p0", "p1", "p2"]
    halves = write_combined(tmp_path / "train", names, rgb=True)
    write_combined(tmp_path / "test", ["q0"], rgb=True)
    a2b = load_dataset("paired-folder", "train", path=str(tmp_path))
    b2a = load_dataset("paired-folder", "train", path=str(tmp_path), direction="BtoA")
    assert len(a2b) == 3 and a2b.options["layout"] == "combined"
    assert a2b.info.condition_specs["source"] == ImageSpec(key="source", shape=(3, 8, 8))
    batch, swapped = a2b.batch(torch.arange(3)), b2a.batch(torch.arange(3))
    for i, name in enumerate(names):  # files are read in sorted order
        a, b = halves[name]
        assert torch.equal(batch["source"][i], _chw(a)) and torch.equal(batch["x"][i], _chw(b))
        assert torch.equal(swapped["source"][i], _chw(b)) and torch.equal(swapped["x"][i], _chw(a))
    # the test split comes from test/, and the split's conditions are the sources in order
    test = load_dataset("paired-folder", "test", path=str(tmp_path))
    assert len(test) == 1 and torch.equal(test.condition_values()["source"], test.batch(torch.arange(1))["source"])


def test_a_release_without_test_folder_tests_on_val(tmp_path: Path) -> None:
    write_combined(tmp_path / "train", ["t0", "t1"])
    write_combined(tmp_path / "val", ["v0"])
    for split in ("valid", "test"):
        assert len(load_dataset("paired-folder", split, path=str(tmp_path))) == 1
    assert len(load_dataset("paired-folder", "trainval", path=str(tmp_path))) == 3


def test_combined_pairs_without_split_folders_are_carved(tmp_path: Path) -> None:
    write_combined(tmp_path, [f"n{i:02d}" for i in range(20)])
    sizes = {s: len(load_dataset("paired-folder", s, path=str(tmp_path))) for s in ("train", "valid", "test")}
    assert sizes == {"train": 16, "valid": 2, "test": 2}
    assert load_dataset("paired-folder", "train", path=str(tmp_path)).info.shape == (1, 8, 8)


def test_odd_width_and_mixed_sizes_name_the_file(tmp_path: Path) -> None:
    write_combined(tmp_path / "train", ["a", "b"])
    Image.fromarray(np.zeros((8, 15), np.uint8)).save(tmp_path / "train" / "odd.png")
    with pytest.raises(DataFileError, match="odd.png.*even width"):
        load_dataset("paired-folder", "train", path=str(tmp_path))
    (tmp_path / "train" / "odd.png").unlink()
    Image.fromarray(np.zeros((10, 20), np.uint8)).save(tmp_path / "train" / "big.png")
    with pytest.raises(DataFileError, match="big.png"):
        load_dataset("paired-folder", "train", path=str(tmp_path))
    resized = load_dataset("paired-folder", "train", path=str(tmp_path), size=8)
    assert resized.info.shape == (1, 8, 8) and len(resized) == 3


def _write_parallel(root: Path, a_names: list[str], b_names: list[str]) -> None:
    """A/<name> filled with 10 * k, B/<name> with 10 * k + 1, k the name's index in sorted order of all names."""
    order = sorted(set(a_names) | set(b_names))
    for folder, names, offset in (("A", a_names, 0), ("B", b_names, 1)):
        (root / folder).mkdir(parents=True, exist_ok=True)
        for n in names:
            value = 10 * order.index(n) + offset
            Image.fromarray(np.full((6, 6), value, np.uint8)).save(root / folder / f"{n}.png")


def test_parallel_folders_pair_by_name(tmp_path: Path) -> None:
    names = [f"img{k}" for k in range(10)]
    _write_parallel(tmp_path, names, names[::-1])
    (tmp_path / "B" / "img3.png").rename(tmp_path / "B" / "img3.jpg.png")  # a stray name breaks the match
    with pytest.raises(DataFileError, match="img3"):
        load_dataset("paired-folder", "train", path=str(tmp_path))
    (tmp_path / "B" / "img3.jpg.png").unlink()
    Image.fromarray(np.full((6, 6), 31, np.uint8)).save(tmp_path / "B" / "img3.jpg")  # another extension is fine
    seen = 0
    for split in ("train", "valid", "test"):
        part = load_dataset("paired-folder", split, path=str(tmp_path))  # auto finds A/ and B/
        assert part.options["layout"] == "parallel"
        a = part.source_codes.flatten(1)[:, 0].long()
        b = part.codes.flatten(1)[:, 0].long()
        assert torch.equal(b, a + 1)  # every source A/<name> sits beside B/<name>
        seen += len(part)
    assert seen == 10
    swapped = load_dataset("paired-folder", "train", path=str(tmp_path), direction="BtoA")
    assert torch.equal(swapped.source_codes.flatten(1)[:, 0].long(), swapped.codes.flatten(1)[:, 0].long() + 1)


def test_unmatched_names_are_an_error_naming_the_files(tmp_path: Path) -> None:
    _write_parallel(tmp_path, ["k1", "k2", "onlyA"], ["k1", "k2", "onlyB"])
    with pytest.raises(DataFileError) as err:
        load_dataset("paired-folder", "train", path=str(tmp_path))
    message = str(err.value)
    assert "unmatched" in message and "onlyA.png" in message and "onlyB.png" in message
    assert "k1" not in message


def test_bad_options_are_one_line_errors(tmp_path: Path) -> None:
    write_combined(tmp_path, ["a"])
    with pytest.raises(ValueError, match="AtoB, BtoA"):
        load_dataset("paired-folder", "train", path=str(tmp_path), direction="sideways")
    with pytest.raises(DataFileError, match="not found"):
        load_dataset("paired-folder", "train", path=str(tmp_path / "missing"))


# ----- the transforms --------------------------------------------------------------------------------
def test_edge_map_marks_the_boundary_of_a_square_only() -> None:
    codes = torch.zeros(1, 1, 16, 16, dtype=torch.uint8)
    codes[..., 4:12, 4:12] = 255
    edges = edge_map(codes)[0, 0] > 0
    inside = torch.zeros(16, 16, dtype=torch.bool)
    inside[6:10, 6:10] = True
    assert edges[4:12, 3].all() and edges[3, 4:12].all()  # both sides of the step are marked
    assert not edges[inside].any() and not edges[0].any() and not edges[:, 0].any()
    assert set(edge_map(codes).unique().tolist()) <= {0, 255}


def test_luma_is_bt601() -> None:
    codes = torch.randint(0, 256, (4, 3, 5, 5), generator=torch.Generator().manual_seed(0)).to(torch.uint8)
    y = luma(codes)
    r, g, b = (codes[:, i].double() for i in range(3))
    assert torch.equal(y[:, 0], (0.299 * r + 0.587 * g + 0.114 * b).round().to(torch.uint8))


def test_digit_label_map_colours_strokes_by_class() -> None:
    codes = torch.zeros(2, 1, 4, 4, dtype=torch.uint8)
    codes[0, 0, 1, 1] = 200
    codes[1, 0, 2, 2] = 127  # below the ink threshold: background
    maps = digit_label_map(codes, torch.tensor([3, 5]))
    assert tuple(maps[0, :, 1, 1].tolist()) == LABEL_PALETTE[4]
    assert tuple(maps[0, :, 0, 0].tolist()) == LABEL_PALETTE[0]
    assert maps[1].sum() == 0


def test_derived_tasks_from_real_data(data_dir: Path) -> None:
    fashion = load_dataset("fashion-mnist", "test", data_dir)
    assert len(fashion) == 10000 and fashion.labels[:5].tolist() == [9, 2, 1, 1, 6]
    assert fashion.info.condition_specs["label"].names[9] == "Ankle boot"
    task = load_dataset("edges2fashion", "test", data_dir)
    assert torch.equal(task.codes, fashion.codes) and torch.equal(task.labels, fashion.labels)
    assert torch.equal(task.source_codes, edge_map(fashion.codes))
    swapped = load_dataset("edges2fashion", "test", data_dir, direction="BtoA")
    assert torch.equal(swapped.codes, task.source_codes) and torch.equal(swapped.source_codes, task.codes)
    grey = load_dataset("grey2cifar", "test", data_dir)
    assert grey.info.shape == (3, 32, 32) and grey.info.condition_specs["source"].shape == (1, 32, 32)
    assert torch.equal(grey.source_codes, luma(grey.codes))
