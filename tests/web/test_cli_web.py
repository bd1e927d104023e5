"""`genzoo study ...` and `genzoo explore` through the CLI entry point."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from genzoo.cli import main
from genzoo.web.store import open_study, trials_of

from .conftest import write_study_config


def test_create_results_export_close(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = write_study_config(tmp_path / "cfg", name="cli", trials=4, pool=10, practice=0, attention_checks=1)
    out = tmp_path / "studies" / "cli"
    assert main(["study", "create", str(cfg), "-o", str(out)]) == 0
    st = open_study(out)
    con = st.connect()
    tok = st.join(con)
    for t in trials_of(st, 0):
        st.answer(con, tok, t.index, "fake", 100)
    capsys.readouterr()
    assert main(["study", "results", str(out), "--csv", str(tmp_path / "a.csv")]) == 0
    text = capsys.readouterr().out
    assert "study cli (single): 1 participants, 1 completed, 0 excluded" in text
    assert "arr" in text and "Wilson" in text
    rows = list(csv.DictReader((tmp_path / "a.csv").open()))
    assert len(rows) == 5 and {r["response"] for r in rows} == {"fake"}
    assert main(["study", "export", str(out), "-o", str(tmp_path / "b.csv")]) == 0
    assert (tmp_path / "b.csv").read_text() == (tmp_path / "a.csv").read_text()
    assert main(["study", "close", str(out)]) == 0
    assert st.is_closed(con)
    assert main(["study", "open", str(out)]) == 0
    assert not st.is_closed(con)


def test_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = write_study_config(tmp_path / "cfg", design="abx")
    assert main(["study", "create", str(cfg), "-o", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("genzoo study: error:") and "design = 'abx'" in err and "\n" not in err
    assert not (tmp_path / "s").exists()
    assert main(["study", "results", str(tmp_path)]) == 2
    assert "not a study folder" in capsys.readouterr().err
    assert main(["explore", str(tmp_path)]) == 2
    assert "not a run directory" in capsys.readouterr().err


@pytest.mark.parametrize(("host", "warns"), [("127.0.0.1", False), ("0.0.0.0", True), ("::1", False)])
def test_serve_binds_loopback_by_default_and_warns_when_exposed(
    make_study, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], host: str, warns: bool
) -> None:
    uvicorn = pytest.importorskip("uvicorn")
    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append(kw))
    path = make_study("srv")
    args = ["study", "serve", str(path), "--token", "tok-123456789012345"]
    assert main(args + (["--host", host] if host != "127.0.0.1" else [])) == 0
    assert calls[0]["host"] == host
    out = capsys.readouterr()
    assert ("warning" in out.err) == warns
    assert "/s/srv/" in out.out and "token=tok-123456789012345" in out.out


def test_serve_without_paths_serves_the_studies_dir(
    make_study, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    uvicorn = pytest.importorskip("uvicorn")
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: None)
    a, b = make_study("one"), make_study("two")
    assert a.parent == b.parent
    assert main(["study", "serve", "--studies-dir", str(a.parent), "--token", "t" * 20]) == 0
    out = capsys.readouterr().out
    assert "/s/one/" in out and "/s/two/" in out
