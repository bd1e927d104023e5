"""End to end in a real browser: headless Chromium (the system's) driven by Playwright for Python.

The server runs as its own process (``python -m genzoo study serve``) so it can be killed mid-study.
Skips only when no Chromium or no Playwright driver can be had (``.ci/run`` installs chromium).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from genzoo.web.results import study_results
from genzoo.web.store import open_study

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[2]
TOKEN = "browser-test-admin-token"
ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return "/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    exe = _chromium()
    if exe is None:
        pytest.skip("no chromium installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    pytest.importorskip("uvicorn")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=ARGS)
        yield b
        b.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``genzoo study serve`` in a child process; ``kill`` is SIGKILL (no clean shutdown)."""

    def __init__(self, study: Path, port: int) -> None:
        self.study, self.port = study, port
        self.base = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "genzoo", "study", "serve", str(self.study), "--port", str(self.port),
             "--token", TOKEN], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(self.proc.stdout.read().decode())  # type: ignore[union-attr]
            try:
                with urllib.request.urlopen(self.base + "/", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("server did not start")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def server(make_study) -> Iterator[Server]:
    path = make_study("t", trials=4, pool=10, practice=1, attention_checks=1, presentation_ms=300)
    srv = Server(path, _free_port())
    srv.start()
    yield srv
    srv.kill()


def _answers(study: Path) -> list[tuple[int, int, str]]:
    con = open_study(study).connect()
    try:
        return con.execute("SELECT participant, idx, response FROM answers ORDER BY participant, idx").fetchall()
    finally:
        con.close()


def _wait_ready(page, index: int) -> None:
    page.wait_for_selector(f'body[data-ready="yes"][data-next="{index}"]', timeout=20_000)


def _wait_answers(study: Path, n: int) -> None:
    deadline = time.time() + 20
    while len(_answers(study)) < n:
        assert time.time() < deadline, f"expected {n} stored answers, have {_answers(study)}"
        time.sleep(0.1)


def test_answer_kill_restart_resume(browser, server: Server) -> None:
    ctx = browser.new_context()
    page = ctx.new_page()
    page.goto(server.base + "/s/t/")
    page.click("#start")
    page.wait_for_url("**/s/t/p/**")
    given = []
    for i in range(3):  # practice, then judged trials; mouse and keyboard
        _wait_ready(page, i)
        if i == 1:  # the image is hidden after the presentation time (300 ms)
            page.wait_for_timeout(500)
            assert page.eval_on_selector("#stage img", "e => getComputedStyle(e).visibility") == "hidden"
        response = "real" if i % 2 else "fake"
        if i == 0:
            page.click(f'[data-response="{response}"]')
        else:
            page.keyboard.press("r" if response == "real" else "f")
        given.append(response)
    _wait_answers(server.study, 3)
    _wait_ready(page, 3)
    server.kill()  # mid-study, no clean shutdown
    page.click('[data-response="real"]')  # answered while the server is down: retried until it is back
    given.append("real")
    page.wait_for_selector("#feedback:has-text('retrying')", timeout=10_000)
    server.start()
    _wait_answers(server.study, 4)
    page.close()  # the tab is closed; the participant comes back through the study link
    page = ctx.new_page()
    page.goto(server.base + "/s/t/")
    assert "Continue" in page.inner_text("#start")
    page.click("#start")
    for i in (4, 5):
        _wait_ready(page, i)
        page.keyboard.press("f")
        given.append("fake")
    page.wait_for_selector('body[data-done="yes"]', timeout=20_000)
    assert _answers(server.study) == [(0, i, r) for i, r in enumerate(given)]
    res = study_results(server.study)
    assert res["participants"]["joined"] == 1 and res["participants"]["completed"] == 1
    assert res["models"][0]["n"] + res["real"]["n"] == 4  # the judged trials (no practice, no check)
    # the admin page shows the same results table
    admin = ctx.new_page()
    admin.goto(f"{server.base}/admin/?token={TOKEN}")
    text = admin.inner_text("main")
    assert "1 participants, 1 completed" in text and "arr" in text
    ctx.close()


def test_two_participants_at_once(browser, server: Server) -> None:
    contexts = [browser.new_context() for _ in range(2)]  # separate browsers' storage
    pages = [c.new_page() for c in contexts]
    for p in pages:
        p.goto(server.base + "/s/t/")
        p.click("#start")
        p.wait_for_url("**/s/t/p/**")
    tokens = {p.url.rsplit("/", 1)[1] for p in pages}
    assert len(tokens) == 2
    for i in range(6):  # interleaved answers
        for k, p in enumerate(pages):
            _wait_ready(p, i)
            p.keyboard.press("r" if (i + k) % 2 else "f")
    for p in pages:
        p.wait_for_selector('body[data-done="yes"]', timeout=20_000)
    stored = _answers(server.study)
    assert len(stored) == 12 and len(set(stored)) == 12
    for k in range(2):
        mine = [(idx, r) for part, idx, r in stored if part == k]
        assert [idx for idx, _ in mine] == list(range(6))
    res = study_results(server.study)
    assert res["participants"]["completed"] == 2
    for c in contexts:
        c.close()


def test_explorer_page_in_the_browser(browser, tiny_runs) -> None:
    """The explorer's page draws a grid, shows a clicked sample's neighbours, and walks the latent space."""
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, "-m", "genzoo", "explore", str(tiny_runs["dcgan"]), "--port", str(port)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.time() + 60
        while True:
            assert proc.poll() is None and time.time() < deadline, "explorer did not start"
            try:
                urllib.request.urlopen(base + "/", timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        page = browser.new_page()
        page.goto(f"{base}/r/dcgan/")
        page.wait_for_function("document.getElementById('grid').naturalWidth > 0", timeout=20_000)
        # click the centre of the second tile of the first row: 8x8 images at scale 8, padding 2 (scaled)
        page.eval_on_selector("#grid", "e => { e.style.width = e.naturalWidth + 'px'; }")
        scale, pad, w = 8, 2, 8
        x = (pad + (w + pad) * 1 + w / 2) * scale
        y = (pad + w / 2) * scale
        page.click("#grid", position={"x": x, "y": y})
        page.wait_for_selector("body[data-nn-index='1']", timeout=20_000)
        assert "nearest training images" in page.inner_text("#nn-text")
        assert page.eval_on_selector("#nn-img", "e => e.naturalWidth") > 0
        page.click("#interp-form button")
        page.wait_for_function("(document.querySelector('#interp img') || {}).naturalWidth > 0", timeout=20_000)
        page.fill("#arith-form input[name=groups]", "a:0,1;b:2;c:99")
        page.click("#arith-form button")
        page.wait_for_selector("#arith p.error", timeout=20_000)
        assert "indices must be in [0, 64)" in page.inner_text("#arith p.error")
        page.close()
    finally:
        proc.kill()
        proc.wait(10)


def test_2afc_with_arrow_keys_and_buttons(browser, make_study) -> None:
    path = make_study("pair", design="2afc", trials=4, pool=10, practice=0, attention_checks=0, presentation_ms=0)
    srv = Server(path, _free_port())
    srv.start()
    try:
        page = browser.new_page()
        page.goto(srv.base + "/s/pair/")
        page.click("#start")
        for i, how in enumerate(["ArrowLeft", "ArrowRight", "2", "click-left"]):
            _wait_ready(page, i)
            assert page.locator("#stage img").count() == 2
            if how == "click-left":
                page.click('[data-response="left"]')
            else:
                page.keyboard.press(how)
        page.wait_for_selector('body[data-done="yes"]', timeout=20_000)
        assert [r for _, _, r in _answers(path)] == ["left", "right", "right", "left"]
        page.close()
    finally:
        srv.kill()
