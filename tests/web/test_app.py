"""The web apps in-process (Starlette TestClient): request validation, file safety, the admin token."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("starlette")
pytest.importorskip("httpx")

from starlette.testclient import TestClient  # noqa: E402

from genzoo.web.results import study_results  # noqa: E402
from genzoo.web.store import open_study  # noqa: E402

TOKEN = "admin-token-for-tests-0123"
KEY_WORDS = ("truth", "model", "kind", "source", "real\"", "fake\"", "arr", "noise", "check")


def _answers(path: Path) -> int:
    con = open_study(path).connect()
    try:
        return con.execute("SELECT COUNT(*) FROM answers").fetchone()[0]
    finally:
        con.close()


@pytest.fixture
def study_client(make_study):
    from genzoo.web.study_app import create_app

    path = make_study("t", trials=6, pool=10, practice=1, attention_checks=1)
    client = TestClient(create_app([open_study(path)], TOKEN))
    return client, path


def test_participant_flow_reveals_no_key(study_client) -> None:
    client, path = study_client
    assert client.get("/s/t/").status_code == 200
    joined = client.post("/s/t/join").json()
    token = joined["token"]
    assert joined["url"] == f"/s/t/p/{token}"
    assert client.get(joined["url"]).status_code == 200
    state = client.get(f"/s/t/api/{token}").json()
    assert state["next"] == 0 and state["total"] == 8 and state["trial"]["practice"] is True
    seen = []
    for i in range(8):
        text = json.dumps(state)
        assert not any(w in text for w in KEY_WORDS), text  # no key, no source, no check flag
        images = state["trial"]["images"]
        assert len(images) == 1 and images[0].startswith("/s/t/img/")
        r = client.get(images[0])
        assert r.status_code == 200 and r.headers["content-type"] == "image/png"
        seen.append(images[0])
        out = client.post(f"/s/t/api/{token}/answer", json={"index": i, "response": "fake", "rt_ms": 321})
        assert out.status_code == 200, out.text
        body = out.json()
        assert ("feedback" in body) == (i == 0)  # feedback only on the practice trial
        state = body["state"]
    assert state["done"] and state["trial"] is None
    assert _answers(path) == 8
    # a second participant sees other images, and neither token reads the other's answers
    other = client.post("/s/t/join").json()["token"]
    assert client.get(f"/s/t/api/{other}").json()["next"] == 0
    assert client.get("/s/t/api/answers").status_code == 404


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{not json", 400),
        (b"[1, 2]", 422),
        (json.dumps({"index": 0}).encode(), 422),
        (json.dumps({"index": 0, "response": "real", "extra": 1}).encode(), 422),
        (json.dumps({"index": 0, "response": "REAL"}).encode(), 422),
        (json.dumps({"index": "0", "response": "real"}).encode(), 422),
        (json.dumps({"index": 0.0, "response": "real"}).encode(), 422),
        (json.dumps({"index": 0, "response": "real", "rt_ms": "fast"}).encode(), 422),
        (json.dumps({"index": 99, "response": "real"}).encode(), 404),
        (json.dumps({"index": 3, "response": "real"}).encode(), 409),
        (b"x" * 10_000, 413),
    ],
)
def test_malformed_answers_are_refused_and_write_nothing(study_client, body: bytes, status: int) -> None:
    client, path = study_client
    token = client.post("/s/t/join").json()["token"]
    r = client.post(f"/s/t/api/{token}/answer", content=body, headers={"content-type": "application/json"})
    assert r.status_code == status, r.text
    assert "error" in r.json()
    assert _answers(path) == 0


def test_duplicate_unknown_and_closed_are_4xx(study_client) -> None:
    client, path = study_client
    token = client.post("/s/t/join").json()["token"]
    ok = {"index": 0, "response": "real"}
    assert client.post(f"/s/t/api/{token}/answer", json=ok).status_code == 200
    assert client.post(f"/s/t/api/{token}/answer", json=ok).status_code == 409  # duplicate
    assert client.post("/s/nope/api/x/answer", json=ok).status_code == 404  # unknown study
    assert client.post("/s/t/api/AAAAAAAAAAAAAAAAAAAAAAAA/answer", json=ok).status_code == 404  # unknown participant
    assert client.post("/s/t/api/../answer", json=ok).status_code == 404
    assert client.get("/s/t/p/not-a-participant-token").status_code == 404
    assert client.get(f"/s/t/api/{token}/answer").status_code == 405
    assert client.post("/admin/t/close", headers={"Authorization": f"Bearer {TOKEN}"}).json()["closed"] is True
    r = client.post(f"/s/t/api/{token}/answer", json={"index": 1, "response": "real"})
    assert r.status_code == 403 and "closed" in r.json()["error"]
    assert client.post("/s/t/join").status_code == 403
    assert _answers(path) == 1
    client.post("/admin/t/open", headers={"X-Genzoo-Token": TOKEN})
    assert client.post(f"/s/t/api/{token}/answer", json={"index": 1, "response": "real"}).status_code == 200


def test_images_only_from_the_store(study_client, tmp_path: Path) -> None:
    client, path = study_client
    st = open_study(path)
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"\x89PNG secret")
    some_id = sorted(st.image_ids)[0]
    for url in [
        "/s/t/img/..%2fstudy.sqlite", "/s/t/img/%2e%2e%2fstudy.sqlite", "/s/t/img/../study.sqlite",
        "/s/t/img/" + "0" * 32, "/s/t/img/" + some_id + ".png", "/s/t/img/%2e%2e", "/static/..%2fstudy_app.py",
        "/static/%2e%2e%2f__init__.py", "/s/t/img/" + some_id.upper(),
    ]:
        r = client.get(url)
        assert r.status_code == 404, url
        assert b"secret" not in r.content and b"SQLite" not in r.content
    assert client.get(f"/s/t/img/{some_id}").status_code == 200
    # an image replaced by a symlink to a file outside the store is not served
    target = st.image_dir / f"{some_id}.png"
    target.unlink()
    os.symlink(secret, target)
    r = client.get(f"/s/t/img/{some_id}")
    assert r.status_code == 404 and b"secret" not in r.content


def test_admin_needs_the_token(study_client) -> None:
    client, path = study_client
    token = client.post("/s/t/join").json()["token"]
    client.post(f"/s/t/api/{token}/answer", json={"index": 0, "response": "real"})
    for url in ("/admin/", "/admin/t/results.json", "/admin/t/answers.csv"):
        assert client.get(url).status_code == 401
        assert client.get(url, params={"token": "wrong"}).status_code == 403
        assert client.get(url, params={"token": TOKEN}).status_code == 200
    assert client.post("/admin/t/close").status_code == 401
    assert client.get("/admin/nope/results.json", params={"token": TOKEN}).status_code == 404
    res = client.get("/admin/t/results.json", params={"token": TOKEN}).json()
    assert res == json.loads(json.dumps(study_results(path)))
    csv_text = client.get("/admin/t/answers.csv", headers={"Authorization": f"Bearer {TOKEN}"}).text
    assert csv_text.splitlines()[0].startswith("participant,trial,kind") and len(csv_text.splitlines()) == 2
    page = client.get("/admin/", params={"token": TOKEN}).text
    assert "Study results" in page and "answers.csv" in page


# ----- explorer -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def explore_client(tiny_runs):
    from genzoo.web.explore import create_app, open_runs

    return TestClient(create_app(open_runs([tiny_runs["dcgan"], tiny_runs["cgan"]])))


def test_explorer_grid_is_the_api_sample(explore_client, tiny_runs) -> None:
    from io import BytesIO

    from PIL import Image

    from genzoo.api import sample
    from genzoo.images import grid_image

    r = explore_client.get("/r/dcgan/grid.png", params={"seed": 7, "n": 6, "nrow": 3})
    assert r.status_code == 200
    expected = grid_image(sample(tiny_runs["dcgan"], 6, seed=7), 3, 8)
    assert np.array_equal(np.asarray(Image.open(BytesIO(r.content))), np.asarray(expected))
    assert r.content == explore_client.get("/r/dcgan/grid.png", params={"seed": 7, "n": 6, "nrow": 3}).content
    assert r.content != explore_client.get("/r/dcgan/grid.png", params={"seed": 8, "n": 6, "nrow": 3}).content
    info = explore_client.get("/r/cgan/api/info").json()
    assert info["conditional"] and info["num_classes"] == 10 and info["latent"]
    assert explore_client.get("/r/cgan/grid.png", params={"label": 4, "n": 4}).status_code == 200
    page = explore_client.get("/r/dcgan/").text
    assert 'id="grid-form"' in page and 'id="interp-form"' in page and "<svg" in page


def test_explorer_neighbours_match_a_direct_search(explore_client, tiny_runs) -> None:
    from genzoo.api import sample
    from genzoo.data import load_dataset

    r = explore_client.get("/r/dcgan/api/neighbours", params={"seed": 3, "n": 10, "index": 4, "k": 3})
    assert r.status_code == 200, r.text
    got = r.json()
    x = sample(tiny_runs["dcgan"], 10, seed=3)[4].reshape(1, -1)
    train = load_dataset("digits", "train").tensor(0).reshape(-1, x.shape[1])
    d = torch.cdist(x.double(), train.double())[0]
    order = torch.argsort(d)[:3]
    assert got["train_index"] == order.tolist()
    assert got["distance"] == pytest.approx(d[order].tolist(), abs=1e-4)
    png = explore_client.get("/r/dcgan/neighbours.png", params={"seed": 3, "n": 10, "index": 4, "k": 3})
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("/r/nope/grid.png", 404),
        ("/r/dcgan/grid.png?n=0", 422),
        ("/r/dcgan/grid.png?n=257", 422),
        ("/r/dcgan/grid.png?seed=-1", 422),
        ("/r/dcgan/grid.png?seed=abc", 422),
        ("/r/dcgan/grid.png?label=2", 422),  # not conditional
        ("/r/cgan/grid.png?label=10", 422),
        ("/r/dcgan/api/neighbours?index=64", 422),
        ("/r/dcgan/api/neighbours", 422),
        ("/r/dcgan/interpolate.png?mode=cubic", 422),
        ("/r/dcgan/interpolate.png?steps=1", 422),
        ("/r/dcgan/arithmetic.png?expr=a-b&groups=a:1", 422),
        ("/r/dcgan/arithmetic.png?expr=a&groups=a:64", 422),
        ("/r/dcgan/arithmetic.png?expr=a%2A%2A2&groups=a:1", 422),
    ],
)
def test_explorer_rejects_bad_parameters(explore_client, url: str, status: int) -> None:
    r = explore_client.get(url)
    assert r.status_code == status, r.text
    assert r.json()["error"]


def test_explorer_serves_only_the_run_folder(explore_client, tiny_runs, tmp_path: Path) -> None:
    run = tiny_runs["dcgan"]
    assert explore_client.get("/r/dcgan/files/samples.png").status_code == 200
    assert explore_client.get("/r/dcgan/files/config.yaml").status_code == 200
    outside = tmp_path / "outside.txt"
    outside.write_text("secret")
    (run / "link.txt").symlink_to(outside)
    try:
        for url in [
            "/r/dcgan/files/link.txt", "/r/dcgan/files/..%2fcgan%2fconfig.yaml",
            "/r/dcgan/files/%2e%2e/cgan/config.yaml",
            "/r/dcgan/files/%2e%2e%2f%2e%2e%2fetc%2fpasswd", "/r/dcgan/files//etc/passwd", "/r/dcgan/files/checkpoints",
            "/r/dcgan/files/..\\cgan\\config.yaml", "/r/dcgan/files/samples.png%00.txt",
        ]:
            r = explore_client.get(url)
            assert r.status_code == 404, url
            assert b"secret" not in r.content and b"model" not in r.content
        ckpt = next((run / "checkpoints").iterdir())
        assert explore_client.get(f"/r/dcgan/files/checkpoints/{ckpt.name}").status_code == 404  # not a picture/log
    finally:
        (run / "link.txt").unlink()


def test_admin_creates_a_study_only_with_the_token(study_client, tmp_path: Path, monkeypatch) -> None:
    from .conftest import write_study_config

    client, path = study_client
    cfg = write_study_config(tmp_path / "new", name="fresh", trials=4, pool=10)
    monkeypatch.chdir(tmp_path / "new")  # relative paths in a posted config are the server's
    text = cfg.read_text()
    assert client.post("/admin/create", content=text).status_code == 401
    assert client.post("/admin/create", content=text, params={"token": "nope"}).status_code == 403
    assert client.get("/s/fresh/").status_code == 404
    bad = client.post("/admin/create", content="name: [", params={"token": TOKEN})
    assert bad.status_code == 422 and "YAML" in bad.json()["error"]
    bad = client.post("/admin/create", content=text.replace("pool: 10", "pool: 1"), params={"token": TOKEN})
    assert bad.status_code == 422 and "pool = 1" in bad.json()["error"]
    assert not (tmp_path / "new" / "studies").exists()
    r = client.post("/admin/create", content=text, params={"token": TOKEN})
    assert r.status_code == 200, r.text
    assert r.json()["url"] == "/s/fresh/"
    token = client.post("/s/fresh/join").json()["token"]
    image = client.get(f"/s/fresh/api/{token}").json()["trial"]["images"][0]
    assert client.get(image).status_code == 200
    assert client.post("/admin/create", content=text, params={"token": TOKEN}).status_code == 409
