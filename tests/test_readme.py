"""Every ```python block of README.md runs as written, on tiny settings.

Generic over the README (sections added later are picked up): each block is executed in a fresh
namespace from a scratch project folder whose ``../shared/data`` is the staged data, with two shrinks so
the suite stays fast: ``genzoo.train`` runs 2 steps (whatever ``epochs``/``steps`` the block asks), and
integer literals of 1000 or more (``k=5000`` importance samples, sample counts) become 4. Nothing else
is changed: paths, names, options and the order of calls are the README's.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import shared_data_dir

ROOT = Path(__file__).resolve().parent.parent
BLOCK = re.compile(r"^```python[ \t]*\n(.*?)^```", re.M | re.S)
BIG_INT = re.compile(r"(?<![\w.])[1-9]\d{3,}(?![\w.])")


def python_blocks(text: str) -> list[str]:
    return [m.group(1) for m in BLOCK.finditer(text)]


BLOCKS = python_blocks((ROOT / "README.md").read_text())


def test_readme_has_python_blocks() -> None:
    assert BLOCKS, "README.md has no ```python block"
    assert python_blocks("x\n```python\na = 1\n```\n```bash\nls\n```\n```python\nb = 2\n```\n") == [
        "a = 1\n", "b = 2\n"]
    assert BIG_INT.sub("4", "f(k=5000, n=64, lr=1e-3, x=2.5000)") == "f(k=4, n=64, lr=1e-3, x=2.5000)"


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_python_block_runs(index: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import genzoo

    code = BLOCKS[index]
    if "shared/data" in code:
        data = shared_data_dir()
        if data is None:
            pytest.skip("the block reads the staged data (../shared/data), which is not available")
        (tmp_path / "shared").mkdir()
        (tmp_path / "shared" / "data").symlink_to(data, target_is_directory=True)
    project = tmp_path / "project"
    project.mkdir()
    monkeypatch.chdir(project)
    monkeypatch.delenv("GENZOO_DATA_DIR", raising=False)
    real_train = genzoo.train

    def tiny_train(*args: Any, **kwargs: Any) -> Any:
        kwargs.pop("epochs", None)
        kwargs["steps"] = 2
        overrides = kwargs.get("overrides") or {}
        if isinstance(overrides, dict):
            kwargs["overrides"] = {**overrides, "train.progress": False}
        return real_train(*args, **kwargs)

    monkeypatch.setattr(genzoo, "train", tiny_train)
    exec(compile(BIG_INT.sub("4", code), f"README.md python block {index}", "exec"), {"__name__": "__readme__"})
