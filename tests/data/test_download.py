"""The downloader, against an HTTP server this test starts on 127.0.0.1."""

from __future__ import annotations

import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from genzoo.data import DataFileError
from genzoo.data.download import download, download_dataset

PAYLOAD = bytes(range(256)) * 400


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        if self.path == "/good.bin":
            self._send(PAYLOAD, len(PAYLOAD))
        elif self.path == "/truncated.bin":  # promises more than it sends, then hangs up
            self._send(PAYLOAD[:1000], len(PAYLOAD))
        elif self.path == "/chunked-cut.bin":  # chunked transfer, the connection drops inside a chunk
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(b"%x\r\n" % 4096 + PAYLOAD[:4096] + b"\r\n")
            self.wfile.write(b"%x\r\n" % 4096 + PAYLOAD[:100])
            self.wfile.flush()
            self.close_connection = True
        elif self.path.startswith("/mnist/"):
            name = self.path.rsplit("/", 1)[1]
            body = self.server.files.get(name)  # type: ignore[attr-defined]
            if body is None:
                self.send_error(404)
            else:
                self._send(body, len(body))
        else:
            self.send_error(404)

    def _send(self, body: bytes, length: int) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(length))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[http.server.HTTPServer]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.files = {}  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _url(httpd: http.server.HTTPServer, path: str) -> str:
    return f"http://127.0.0.1:{httpd.server_address[1]}{path}"


def test_download_verifies_checksum(server: http.server.HTTPServer, tmp_path: Path) -> None:
    digest = hashlib.sha256(PAYLOAD).hexdigest()
    out = download(_url(server, "/good.bin"), tmp_path / "good.bin", digest)
    assert out.read_bytes() == PAYLOAD
    with pytest.raises(DataFileError, match="other.bin: wrong checksum"):
        download(_url(server, "/good.bin"), tmp_path / "other.bin", "0" * 64)
    assert not (tmp_path / "other.bin").exists()
    assert list(tmp_path.iterdir()) == [tmp_path / "good.bin"]  # no temporary file left behind


def test_truncated_download_leaves_nothing(server: http.server.HTTPServer, tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match="cut.bin"):
        download(_url(server, "/truncated.bin"), tmp_path / "cut.bin", None, timeout=5)
    assert list(tmp_path.iterdir()) == []


def test_stale_partial_file_is_not_resumed(server: http.server.HTTPServer, tmp_path: Path) -> None:
    (tmp_path / "good.bin.part").write_bytes(b"garbage from an earlier attempt")
    download(_url(server, "/good.bin"), tmp_path / "good.bin", hashlib.sha256(PAYLOAD).hexdigest())
    assert (tmp_path / "good.bin").read_bytes() == PAYLOAD
    assert not (tmp_path / "good.bin.part").exists()


def test_download_mnist_from_local_mirror(server: http.server.HTTPServer, tmp_path: Path, data_dir: Path) -> None:
    from genzoo.data import load_dataset

    src = data_dir / "mnist"
    server.files = {p.name: p.read_bytes() for p in src.iterdir()}  # type: ignore[attr-defined]
    paths = download_dataset("mnist", tmp_path, base_url=_url(server, "/mnist/"))
    assert len(paths) == 4
    assert len(load_dataset("mnist", "test", tmp_path)) == 10000
    server.files["t10k-labels-idx1-ubyte.gz"] = b"tampered"  # type: ignore[attr-defined]
    with pytest.raises(DataFileError, match="t10k-labels-idx1-ubyte.gz: wrong checksum"):
        download_dataset("mnist", tmp_path / "again", base_url=_url(server, "/mnist/"))


def test_download_cut_mid_stream_is_a_named_error(server: http.server.HTTPServer, tmp_path: Path) -> None:
    """http.client raises IncompleteRead when a chunked body ends inside a chunk: a DataFileError, no files."""
    with pytest.raises(DataFileError, match=r"cut.bin: download from .* was cut off mid-stream"):
        download(_url(server, "/chunked-cut.bin"), tmp_path / "cut.bin", None, timeout=5)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(DataFileError, match="missing.bin: download from .* failed: HTTP 404"):
        download(_url(server, "/nothing-here"), tmp_path / "missing.bin", None, timeout=5)
    with pytest.raises(DataFileError, match="x.bin: download from nonsense://x failed"):
        download("nonsense://x", tmp_path / "x.bin", None, timeout=5)
    assert list(tmp_path.iterdir()) == []


def test_partial_files_of_a_killed_download_are_removed_next_time(
    server: http.server.HTTPServer, tmp_path: Path
) -> None:
    """A kill leaves ``NAME.<random>.part`` (tempfile's name); the next download of the dataset removes the
    ones of its own file names and nothing else."""
    from genzoo.data.idx import MNIST_FILES

    folder = tmp_path / "mnist"
    folder.mkdir()
    names = list(MNIST_FILES)
    stale = [folder / f"{names[0]}.x7_k2p9q.part", folder / f"{names[3]}.part", folder / f"{names[1]}.abcdefgh.part"]
    kept = [folder / "notes.part", folder / "other.gz.abcdefgh.part", folder / f"{names[0]}.ABCDEFGH.part",
            folder / "README"]
    for p in stale + kept:
        p.write_bytes(b"partial")
    server.files = {}  # type: ignore[attr-defined]  # every file 404s: the run fails after the cleanup
    with pytest.raises(DataFileError, match="HTTP 404"):
        download_dataset("mnist", tmp_path, base_url=_url(server, "/mnist/"))
    assert not any(p.exists() for p in stale)
    assert all(p.read_bytes() == b"partial" for p in kept)
    assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in kept)
