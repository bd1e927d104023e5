"""Finding data files on disk and fetching them from a URL with SHA-256 verification.

A download always starts from zero (a stale ``.part`` file is discarded, never resumed), is written
to a temporary file ``NAME.<random>.part`` beside the target and renamed into place only after its
length and checksum are verified, so a failed or interrupted download leaves nothing half-written
under the final name; the temporaries a killed download left are removed by the next download of
that dataset (only files matching that pattern for the dataset's own file names).
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from genzoo.core.errors import UsageError
from genzoo.data.base import DataFileError

#: where ``genzoo download NAME`` fetches from by default (override with --url)
DEFAULT_SOURCES: dict[str, str] = {"mnist": "https://ossci-datasets.s3.amazonaws.com/mnist/"}

_VERIFIED: dict[tuple[str, str, int, int], str] = {}


def file_digest(path: str | os.PathLike[str], algorithm: str = "sha256", chunk: int = 1 << 20) -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    return file_digest(path, "sha256", chunk)


def verify_digest(path: str | os.PathLike[str], expected: str, algorithm: str = "sha256") -> None:
    """Raise :class:`DataFileError` naming ``path`` if its ``algorithm`` digest is not ``expected``.

    Results are memoised per (path, size, mtime) so repeated loads of one file hash it once.
    """
    path = Path(path)
    try:
        st = path.stat()
        key = (algorithm, str(path.resolve()), st.st_size, st.st_mtime_ns)
        actual = _VERIFIED.get(key) or file_digest(path, algorithm)
    except IsADirectoryError:
        raise DataFileError(path, "is a directory, not a file") from None
    except OSError as e:
        raise DataFileError(path, f"cannot read ({e.strerror or e})") from None
    if actual != expected.lower():
        raise DataFileError(path, f"wrong checksum: {algorithm} {actual}, expected {expected.lower()}")
    _VERIFIED[key] = actual


def verify_sha256(path: str | os.PathLike[str], expected: str) -> None:
    """:func:`verify_digest` with SHA-256."""
    verify_digest(path, expected, "sha256")


def find_file(
    data_dir: Path, filename: str, subdir: str, checksums: dict[str, str] | None = None
) -> Path:
    """``data_dir/subdir/filename`` or ``data_dir/filename``, checksum-verified when one is known."""
    for candidate in (data_dir / subdir / filename, data_dir / filename):
        if candidate.is_dir():
            raise DataFileError(candidate, "is a directory, not the data file of that name")
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
    if dest.is_dir():
        raise DataFileError(dest, "is a directory; cannot download a file to its place")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataFileError(dest.parent, f"cannot create the download folder ({e.strerror or e})") from None
    clean_stale_downloads(dest.parent, [dest.name])  # never resume: partial files are discarded
    fd, tmp_name = tempfile.mkstemp(prefix=dest.name + ".", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        received = 0
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
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
    except http.client.IncompleteRead:
        raise DataFileError(dest, f"download from {url} was cut off mid-stream (the server closed the "
                                  f"connection inside a chunk); nothing was kept, try again") from None
    except urllib.error.HTTPError as e:
        raise DataFileError(dest, f"download from {url} failed: HTTP {e.code} {e.reason}") from None
    except urllib.error.URLError as e:
        raise DataFileError(dest, f"download from {url} failed: {e.reason}") from None
    except (http.client.HTTPException, ValueError) as e:  # a broken response, or a malformed URL
        raise DataFileError(dest, f"download from {url} failed: {type(e).__name__} {e}".rstrip()) from None
    except OSError as e:
        raise DataFileError(dest, f"download from {url} failed: {e.strerror or e}") from None
    finally:
        if tmp.exists():
            tmp.unlink()


#: a temporary of :func:`download`: ``NAME.part`` (older versions) or ``NAME.<tempfile's 8 random chars>.part``
_PART_RE = re.compile(r"^(?P<name>.+?)(\.[a-z0-9_]{8})?\.part$")


def clean_stale_downloads(folder: str | os.PathLike[str], names: list[str]) -> list[Path]:
    """Remove the partial files that killed downloads of ``names`` left in ``folder``; return them.

    Only ``NAME.part`` and ``NAME.<random>.part`` for the given names match; nothing else is touched.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    wanted = set(names)
    for p in folder.iterdir():
        m = _PART_RE.match(p.name)
        if m and m.group("name") in wanted and p.is_file() and not p.is_symlink():
            p.unlink(missing_ok=True)
            removed.append(p)
    return sorted(removed)


def download_dataset(name: str, data_dir: Path, base_url: str | None = None, force: bool = False) -> list[Path]:
    """Download every file of a dataset with known checksums into ``data_dir/name/``."""
    from genzoo.data.idx import MNIST_FILES

    known = {"mnist": MNIST_FILES}
    if name not in known:
        raise UsageError(f"no download source known for {name!r}; downloadable: {', '.join(known)}")
    base = base_url or DEFAULT_SOURCES[name]
    if not base.endswith("/"):
        base += "/"
    clean_stale_downloads(data_dir / name, list(known[name]))
    out = []
    for filename, digest in known[name].items():
        target = data_dir / name / filename
        if target.exists() and not target.is_dir() and not force:
            verify_sha256(target, digest)
        else:
            download(base + filename, target, digest)
        out.append(target)
    return out
