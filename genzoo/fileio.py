"""Writing files so that a crash never leaves a half-written one under the final name; checking that an
output can be written before long work starts; removing genzoo's own temporaries left by a kill.

Files get the mode a plain ``open(path, "w")`` would give them: ``0o666`` less the process umask (the
temporary file behind an atomic write is created ``0o600`` by :func:`tempfile.mkstemp`, and is widened to
that mode before it is renamed into place), so reports, configs and pictures are as readable as the
user's other files.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import threading
from pathlib import Path
from typing import Any

from genzoo.core.errors import UsageError

_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process umask (read by setting and restoring it, under a lock)."""
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def default_file_mode() -> int:
    """``0o666 & ~umask``: the mode ``open(path, "w")`` gives a new file."""
    return 0o666 & ~current_umask()


#: the temporary file :func:`atomic_write_bytes` writes beside ``NAME`` is ``.NAME.<8 random chars>.tmp``
#: (the random part is :mod:`tempfile`'s: lowercase letters, digits and ``_``)
_ATOMIC_TMP_RE = re.compile(r"^\.(?P<name>.+)\.[a-z0-9_]{8}\.tmp$")


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file + fsync + rename, with the user's umask applied."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), default_file_mode())
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


def clean_stale_temporaries(directory: str | os.PathLike[str]) -> list[Path]:
    """Remove the temporaries a killed writer left in ``directory`` and, for a run directory, in its
    ``checkpoints/`` and ``samples/`` folders (``.step-N.safetensors.<random>.tmp``, ``.state-N.pt.<random>.tmp``,
    ``.config.yaml.<random>.tmp``, ...); return what was removed.

    Only genzoo's own pattern is touched (:func:`stale_temporaries`). Call it while holding the run
    directory for writing (the training loop does on start), never while another process writes there.
    """
    directory = Path(directory)
    removed = []
    for d in (directory, directory / "checkpoints", directory / "samples"):
        for p in stale_temporaries(d):
            try:
                p.unlink()
            except FileNotFoundError:
                continue
            removed.append(p)
    return removed


def append_jsonl(path: str | os.PathLike[str], record: dict[str, Any]) -> None:
    """Append one JSON object as a line (non-JSON values written with ``str``), flushed to disk."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(record, default=str) + "\n"
    with open(path, "a") as f:
        f.write(line)
        f.flush()
        os.fsync(f.fileno())
