"""Finding data files on disk and fetching them from a URL with SHA-256 verification.

A download always starts from zero (a stale ``.part`` file is discarded, never resumed), is written
to a temporary file beside the target and renamed into place only after its length and checksum
are verified, so a failed or interrupted download leaves nothing half-written under the final name.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.request
from collections.abc import Callable
from pathlib import Path

from genzoo.data.base import DataFileError
from genzoo.fileio import default_file_mode

#: where ``genzoo download NAME`` fetches from by default (override with --url)
DEFAULT_SOURCES: dict[str, str] = {"mnist": "https://ossci-datasets.s3.amazonaws.com/mnist/"}

_VERIFIED: dict[tuple[str, int, int], str] = {}


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def verify_sha256(path: str | os.PathLike[str], expected: str) -> None:
    """Raise :class:`DataFileError` naming ``path`` if its SHA-256 is not ``expected``.

    Results are memoised per (path, size, mtime) so repeated loads of one file hash it once.
    """
    path = Path(path)
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    actual = _VERIFIED.get(key) or sha256_file(path)
    if actual != expected.lower():
        raise DataFileError(path, f"wrong checksum: sha256 {actual}, expected {expected.lower()}")
    _VERIFIED[key] = actual


def find_file(
    data_dir: Path, filename: str, subdir: str, checksums: dict[str, str] | None = None
) -> Path:
    """``data_dir/subdir/filename`` or ``data_dir/filename``, checksum-verified when one is known."""
    for candidate in (data_dir / subdir / filename, data_dir / filename):
        if candidate.is_file():
            if checksums and filename in checksums:
                verify_sha256(candidate, checksums[filename])
            return candidate
    hint = f" (run `genzoo download {subdir} --data-dir {data_dir}`)" if subdir in DEFAULT_SOURCES else ""
    raise DataFileError(
        data_dir / subdir / filename, f"file not found; looked in {data_dir / subdir} and {data_dir}{hint}"
    )


def download(
    url: str,
    dest: str | os.PathLike[str],
    sha256: str | None,
    progress: Callable[[int, int | None], None] | None = None,
    timeout: float = 60.0,
) -> Path:
    """Fetch ``url`` to ``dest`` atomically; verify length and SHA-256; return ``dest``."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    stale = dest.with_name(dest.name + ".part")
    if stale.exists():
        stale.unlink()  # never resume: a partial file of unknown origin is discarded
    fd, tmp_name = tempfile.mkstemp(prefix=dest.name + ".", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        received = 0
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            os.fchmod(out.fileno(), default_file_mode())  # mkstemp makes 0600; data files follow the umask
            length = response.headers.get("Content-Length")
            total = int(length) if length is not None else None
            while block := response.read(1 << 16):
                out.write(block)
                digest.update(block)
                received += len(block)
                if progress is not None:
                    progress(received, total)
            out.flush()
            os.fsync(out.fileno())
        if total is not None and received != total:
            raise DataFileError(dest, f"truncated download from {url}: {received} of {total} bytes")
        actual = digest.hexdigest()
        if sha256 is not None and actual != sha256.lower():
            raise DataFileError(dest, f"wrong checksum for {url}: sha256 {actual}, expected {sha256.lower()}")
        os.replace(tmp, dest)
        return dest
    except OSError as e:
        raise DataFileError(dest, f"download from {url} failed: {e}") from None
    finally:
        if tmp.exists():
            tmp.unlink()


def download_dataset(name: str, data_dir: Path, base_url: str | None = None, force: bool = False) -> list[Path]:
    """Download every file of a dataset with known checksums into ``data_dir/name/``."""
    from genzoo.data.idx import MNIST_FILES

    known = {"mnist": MNIST_FILES}
    if name not in known:
        raise ValueError(f"no download source known for {name!r}; downloadable: {', '.join(known)}")
    base = base_url or DEFAULT_SOURCES[name]
    if not base.endswith("/"):
        base += "/"
    out = []
    for filename, digest in known[name].items():
        target = data_dir / name / filename
        if target.exists() and not force:
            verify_sha256(target, digest)
        else:
            download(base + filename, target, digest)
        out.append(target)
    return out
