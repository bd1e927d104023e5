"""Writing files so that a crash never leaves a half-written one under the final name; checking that an
output can be written before long work starts; removing genzoo's own temporaries left by a kill."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from genzoo.core.errors import UsageError

#: the temporary file :func:`atomic_write_bytes` writes beside ``NAME`` is ``.NAME.<8 random chars>.tmp``
#: (the random part is :mod:`tempfile`'s: lowercase letters, digits and ``_``)
_ATOMIC_TMP_RE = re.compile(r"^\.(?P<name>.+)\.[a-z0-9_]{8}\.tmp$")


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file + fsync + rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _check_folder(folder: Path, path: Path, what: str) -> None:
    """``folder`` (where ``path`` would go) exists as a writable directory, or could be created."""
    base = folder
    while not base.exists() and base != base.parent:
        base = base.parent
    if not base.is_dir():
        raise UsageError(f"cannot write {what} {path}: {base} is a file, not a directory")
    if not os.access(base, os.W_OK | os.X_OK):
        raise UsageError(f"cannot write {what} {path}: {base} is not writable (permission denied)")


def check_writable_dir(path: str | os.PathLike[str], what: str = "output directory") -> Path:
    """Raise :class:`UsageError` unless ``path`` is, or could be created as, a writable directory.

    Creates nothing, so a command can check its outputs before doing (or writing) anything.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UsageError(f"{what} {path} is a file, not a directory; choose another path")
    _check_folder(path.absolute(), path, what)
    return path


def check_writable_file(path: str | os.PathLike[str], what: str = "output file") -> Path:
    """Raise :class:`UsageError` unless a file could be written at ``path``: not a directory, its folder
    existing or creatable, writable. Creates nothing."""
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"{what} {path} is a directory; give a file path")
    if path.exists() and not os.access(path, os.W_OK):
        raise UsageError(f"{what} {path} is not writable (permission denied); choose another path")
    _check_folder(path.absolute().parent, path, what)
    return path


def stale_temporaries(directory: str | os.PathLike[str]) -> list[Path]:
    """Files in ``directory`` (not below it) that :func:`atomic_write_bytes` left when it was killed between
    creating its temporary and renaming it: ``.NAME.<random>.tmp``. Nothing else matches."""
    d = Path(directory)
    if not d.is_dir():
        return []
    return sorted(p for p in d.iterdir() if _ATOMIC_TMP_RE.match(p.name) and p.is_file() and not p.is_symlink())


def clean_stale_temporaries(run_dir: str | os.PathLike[str]) -> list[Path]:
    """Remove the temporaries a killed writer left in a run directory and its ``checkpoints/`` and
    ``samples/`` folders (``.step-N.safetensors.<random>.tmp``, ``.state-N.pt.<random>.tmp``,
    ``.config.yaml.<random>.tmp``, ...); return what was removed.

    Only genzoo's own pattern is touched (:func:`stale_temporaries`). Call it while holding the run
    directory for writing (the training engine does on start), never while another process writes there.
    """
    run_dir = Path(run_dir)
    removed = []
    for d in (run_dir, run_dir / "checkpoints", run_dir / "samples"):
        for p in stale_temporaries(d):
            try:
                p.unlink()
            except FileNotFoundError:
                continue
            removed.append(p)
    return removed
