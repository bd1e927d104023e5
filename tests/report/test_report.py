"""The HTML report: self-contained, every picture loads in a real browser, curves are plotted."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from genzoo.report import html as report
from genzoo.report.plots import line_chart, nice_ticks

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def _browser() -> str | None:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


def _fake_run(root: Path) -> Path:
    run = root / "run"
    (run / "samples").mkdir(parents=True)
    rng = np.random.default_rng(0)
    grid = (rng.random((80, 80)) * 255).astype(np.uint8)
    Image.fromarray(grid, mode="L").save(run / "samples.png")
    Image.fromarray(grid[:40, :40], mode="L").save(run / "samples" / "step-00000100.png")
    Image.fromarray(np.full((20, 60, 3), 200, np.uint8)).save(run / "nearest_neighbours.png")
    lines = []
    for step in range(0, 200, 10):
        lines.append({"step": step, "split": "train", "loss": 100.0 / (step + 1) + 1.0, "lr": 1e-3})
        if step % 50 == 0:
            lines.append({"step": step, "split": "eval", "loss": 120.0 / (step + 1) + 1.5})
    text = "\n".join(json.dumps(x) for x in lines) + '\n{"step": 200, "spl'  # half-written last line
    (run / "metrics.jsonl").write_text(text)
    evals = [
        {
            "metric": "fid",
            "fid": 12.5,
            "n_samples": 100,
            "source": "samples",
            "extractor": "classifier:mnist",
        },
        {
            "metric": "fid",
            "fid": 0.75,
            "n_samples": 100,
            "source": "real:test",
            "extractor": "classifier:mnist",
        },
        {"metric": "nll", "nll_nats": 90.1, "bits_per_dim": 0.166, "protocol": {"split": "test"}},
    ]
    (run / "eval.jsonl").write_text("\n".join(json.dumps(x) for x in evals) + "\n")
    (run / "config.yaml").write_text("model: {name: nade}\ndata: {name: binarized-mnist}\n")
    return run


def test_page_is_self_contained_and_complete(tmp_path: Path) -> None:
    run = _fake_run(tmp_path)
    out = report.write_report(run)
    assert out == run / "report.html"
    page = out.read_text()
    # no external assets: every src/href is inline
    for ref in re.findall(r'(?:src|href)="([^"]*)"', page):
        assert ref.startswith("data:image/"), ref
    assert "<script" not in page
    imgs = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(imgs) == 2  # the sample grid and the nearest-neighbour picture
    # curves are plotted: a polyline per split for the loss (train and eval)
    assert 'data-series="train"' in page and 'data-series="eval"' in page
    # metrics table: value, the run's own real-data line as baseline, the paper's NADE number
    assert "12.50" in page and "0.75" in page
    assert "88.86" in page and "Larochelle" in page


def test_metrics_rows_baselines_and_papers() -> None:
    recs = [
        {"metric": "fid", "fid": 10.0, "source": "samples"},
        {"metric": "fid", "fid": 2.0, "source": "samples"},  # a later line of the same metric wins
        {"metric": "fid", "fid": 0.5, "source": "real:test"},
        {"metric": "nll", "nll_nats": 81.0, "bits_per_dim": 0.15, "n": 10000},
        {"metric": "kid", "real_baseline": True, "kid": 0.01, "time": 1.7e9},  # flagged, no source
        {"metric": "kid", "real_baseline": False, "kid": 0.2, "source": "samples", "time": 1.7e9},
        {"metric": "parzen", "unavailable": "no samples", "seconds": 0.1},
    ]
    rows = report.metrics_rows(recs, "pixelcnn", "binarized-mnist")
    by = {(r["metric"], r["score"], r["real"]): r for r in rows}
    assert by[("fid", "fid", False)]["value"] == 2.0
    assert by[("fid", "fid", False)]["baseline"] == 0.5
    assert by[("nll", "nll_nats", False)]["paper"] == pytest.approx(81.30)
    assert ("nll", "n", False) not in by  # a sample count is protocol, not a score
    assert by[("nll", "nll_nats", False)]["protocol"]["n"] == 10000
    assert by[("kid", "kid", False)]["baseline"] == 0.01
    assert ("kid", "time", False) not in by  # a timestamp is not a score
    assert by[("parzen", "unavailable", False)]["text"] == "no samples"
    assert "no samples" in report._metrics_table(rows)


def test_latest_sample_image_is_picked(tmp_path: Path) -> None:
    (tmp_path / "samples").mkdir()
    for step in (5, 100, 20):
        Image.new("L", (4, 4)).save(tmp_path / "samples" / f"step-{step:08d}.png")
    assert report.find_samples(tmp_path).name == "step-00000100.png"


def test_folder_of_images_is_a_gallery(tmp_path: Path) -> None:
    for i in range(3):
        Image.new("RGB", (8, 8), (40 * i, 0, 0)).save(tmp_path / f"img{i}.png")
    Image.new("RGB", (8, 8)).save(tmp_path / "other.bmp")  # re-encoded to PNG
    page = report.write_report(tmp_path, tmp_path / "out" / "r.html").read_text()
    assert page.count("<img ") == 4
    assert "data:image/bmp" not in page


def test_empty_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nothing to report"):
        report.write_report(tmp_path)


def test_chart_maps_points_into_the_plot() -> None:
    svg = line_chart({"a": [(0, 1.0), (10, 3.0), (5, float("nan"))]}, title="t", width=200, height=100)
    pts = re.search(r'points="([^"]+)"', svg).group(1).split()
    assert len(pts) == 2  # the NaN point is dropped
    (x0, y0), (x1, y1) = ([float(v) for v in p.split(",")] for p in pts)
    assert x1 > x0 and y1 < y0  # larger y is drawn higher
    assert all(0 <= v <= 200 for v in (x0, x1)) and all(0 <= v <= 100 for v in (y0, y1))
    ticks = nice_ticks(0.0, 1.0)
    assert ticks[0] == 0.0 and ticks[-1] == pytest.approx(1.0) and len(ticks) >= 3


_PROBE = """<script>
window.addEventListener('load', () => {
  const imgs = Array.from(document.images);
  const ok = imgs.length > 0 && imgs.every(i => i.complete && i.naturalWidth > 0);
  document.body.setAttribute('data-images-ok', ok ? 'yes' : 'no');
  document.body.setAttribute('data-images-count', String(imgs.length));
  const lines = document.querySelectorAll('svg polyline');
  document.body.setAttribute('data-polylines', String(lines.length));
});
</script></body>"""


@pytest.mark.skipif(_browser() is None, reason="no headless Chromium installed")
def test_renders_in_headless_chromium(tmp_path: Path) -> None:
    run = _fake_run(tmp_path)
    page = report.render_report(run)
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("</body>", _PROBE))  # the probe only reads the DOM; the page has no script
    profile = tmp_path / "profile"
    cmd = [
        _browser(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--virtual-time-budget=5000",
        "--dump-dom",
        probe.as_uri(),
    ]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    dom = res.stdout
    assert 'data-images-ok="yes"' in dom, dom[:500]
    assert 'data-images-count="2"' in dom
    count = int(re.search(r'data-polylines="(\d+)"', dom).group(1))
    assert count >= 3  # loss (train + eval) and lr


def test_stored_baselines_need_the_same_extractor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(report.REAL_BASELINES, ("binarized-mnist", "fid"), (2.5, "classifier:mnist"))
    monkeypatch.setitem(report.REAL_BASELINES, ("binarized-mnist", "ms_ssim"), (0.12, ""))
    recs = [
        {"metric": "fid", "fid": 30.0, "source": "samples", "extractor": "auto"},
        {"metric": "ms-ssim", "ms_ssim": 0.2, "source": "samples"},
    ]
    by = {r["score"]: r for r in report.metrics_rows(recs, "nade", "binarized-mnist")}
    assert by["fid"]["baseline"] == 2.5  # auto -> the mnist reference classifier
    assert by["ms_ssim"]["baseline"] == 0.12  # pixel metric
    recs[0]["extractor"] = "inception"
    by = {r["score"]: r for r in report.metrics_rows(recs, "nade", "binarized-mnist")}
    assert by["fid"]["baseline"] is None  # a classifier-feature baseline is no baseline for Inception FID
