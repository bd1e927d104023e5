"""The package users install: a wheel built from this tree imports and runs in a fresh virtual environment.

No network: the wheel is built with ``python -m build --no-isolation`` (the test venv's setuptools) from a
copy of the tree, installed with ``pip --no-index --no-deps`` into a venv created without pip, whose
dependencies (torch, numpy, ...) come from this interpreter's site-packages through a ``.pth`` path line
(a path line, unlike a site directory, does not run the editable genzoo install's hook, so the import can
only find the wheel's copy).
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytest.importorskip("build")


def _run(cmd: list[str], cwd: Path, env: dict[str, str]) -> str:
    res = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, f"{cmd}\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    return res.stdout


@pytest.mark.slow  # ~15 s idle, up to a minute on the shared 2-core machine; in the default suite
def test_wheel_installs_and_runs_in_a_fresh_venv(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, src / name)
    shutil.copytree(ROOT / "genzoo", src / "genzoo", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    _run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp_path / "dist"),
          str(src)], tmp_path, env)
    wheel = next((tmp_path / "dist").glob("genzoo-*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        meta = zf.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert {"genzoo/py.typed", "genzoo/references.yaml", "genzoo/configs/vae-digits.yaml"} <= names
    assert any(n.endswith("licenses/LICENSE") for n in names)
    assert "License-Expression: MIT" in meta and "Requires-Dist: torch>=2.1" in meta

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp_path, env)
    py = venv / "bin" / "python"
    fresh_site = Path(_run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                           tmp_path, env).strip())
    deps = [sysconfig.get_paths()["purelib"], *site.getsitepackages()]
    (fresh_site / "deps.pth").write_text("\n".join(dict.fromkeys(deps)) + "\n")
    _run([str(py), "-m", "pip", "install", "--quiet", "--no-index", "--no-deps", "--ignore-installed",
          str(wheel)], tmp_path, env)
    probe = (
        "import genzoo, importlib.resources as r; from pathlib import Path\n"
        "print(Path(genzoo.__file__).resolve())\n"
        "from genzoo.report.references import load_references\n"
        "assert load_references().paper('nade', 'binarized-mnist', 'nll_nats') is not None\n"
        "assert (r.files('genzoo') / 'configs' / 'vae-digits.yaml').is_file()\n"
        "x = genzoo.sample(genzoo.train('vae', 'digits', steps=1, run_dir='run', "
        "overrides={'train.progress': False}).model, 4, seed=0)\n"
        "assert tuple(x.shape) == (4, 1, 8, 8)\n"
    )
    where = _run([str(py), "-c", probe], tmp_path, env).strip().splitlines()[0]
    assert Path(where).is_relative_to(fresh_site), where
    listing = _run([str(venv / "bin" / "genzoo"), "list"], tmp_path, env)
    assert "vae" in listing and "density-coverage" in listing
