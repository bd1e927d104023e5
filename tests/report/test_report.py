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

from genzoo.core import MetricResult
from genzoo.report import html as report
from genzoo.report.plots import line_chart, nice_ticks
from genzoo.report.references import Baseline, References, load_references

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
        lines.append({"step": step, "split": "train", "loss": 100.0 / (step + 1) + 1.0, "lr": 1e-3 * (1 - step / 400)})
        if step % 50 == 0:
            lines.append({"step": step, "split": "eval", "loss": 120.0 / (step + 1) + 1.5})
    text = "\n".join(json.dumps(x) for x in lines) + '\n{"step": 200, "spl'  # half-written last line
    (run / "metrics.jsonl").write_text(text)
    proto = {"n_samples": 100, "reference_split": "train", "extractor": "classifier:mnist", "seed": 0}
    evals = [
        MetricResult("fid", {"fid": 12.5}, protocol={**proto, "source": "samples"}).to_dict(),
        MetricResult("fid", {"fid": 0.75}, protocol={**proto, "source": "real:test"}).to_dict(),
        MetricResult("nll", {"nll_nats": 90.1, "bits_per_dim": 0.166}, errors={"nll_nats": 0.4},
                     protocol={"split": "test"}).to_dict(),
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
    same = {"n_samples": 1000, "extractor": "classifier:mnist", "seed": 0}
    recs = [
        MetricResult("fid", {"fid": 10.0}, protocol={**same, "source": "samples"}).to_dict(),
        MetricResult("fid", {"fid": 2.0}, protocol={**same, "source": "samples"}).to_dict(),  # a later line wins
        MetricResult("fid", {"fid": 0.5}, protocol={**same, "source": "real:test"}).to_dict(),
        MetricResult("nll", {"nll_nats": 81.0, "bits_per_dim": 0.15}, errors={"nll_nats": 0.3},
                     protocol={"n": 10000}, details={"time": 1.7e9}).to_dict(),
        # a real-data line under another protocol (10,000 images) is no baseline for 1,000 samples
        MetricResult("kid", {"kid": 0.01}, errors={"kid": 0.002},
                     protocol={**same, "n_samples": 10000, "source": "real:test"}).to_dict(),
        MetricResult("kid", {"kid": 0.2}, errors={"kid": 0.01}, protocol={**same, "source": "samples"}).to_dict(),
        MetricResult("parzen", {}, unavailable="no samples").to_dict(),
    ]
    rows = report.metrics_rows(recs, "pixelcnn", "binarized-mnist")
    by = {(r["metric"], r["real"]): r for r in rows}
    assert len(rows) == 6  # one row per (metric, source)
    assert by[("fid", False)]["value"] == 2.0
    assert by[("fid", False)]["baseline"] == 0.5
    nll = by[("nll", False)]
    assert nll["score"] == "nll_nats" and nll["error"] == 0.3 and nll["others"] == {"bits_per_dim": 0.15}
    assert nll["paper"] == pytest.approx(81.30) and "PixelRNN" in nll["paper_note"]
    assert nll["protocol"]["n"] == 10000 and "n" not in nll["others"]  # a sample count is protocol, not a score
    assert "time" not in nll["others"]  # a timestamp is not a score
    assert by[("kid", False)]["baseline"] is None
    assert by[("parzen", False)]["text"] == "no samples"
    table = report._metrics_table(rows)
    assert "no samples" in table
    assert "&plusmn; 0.3" in table  # value ± error
    assert table.count("<details>") == len(rows)  # the protocol is folded away


def test_stored_baselines_need_the_same_protocol() -> None:
    refs = References(baselines=[
        Baseline("binarized-mnist", "fid", "fid", 2.5, {"n_samples": 10000, "extractor": "classifier:mnist"}, "bench"),
        Baseline("binarized-mnist", "ms-ssim", "ms_ssim", 0.12, {"n_samples": 2000, "n_pairs": 1000}, "bench"),
    ])
    proto = {"n_samples": 10000, "extractor": "classifier:mnist", "seed": 0, "source": "samples"}
    recs = [
        MetricResult("fid", {"fid": 30.0}, protocol=proto).to_dict(),
        MetricResult("ms-ssim", {"ms_ssim": 0.2}, protocol={"n_samples": 2000, "n_pairs": 1000}).to_dict(),
    ]
    by = {r["score"]: r for r in report.metrics_rows(recs, "nade", "binarized-mnist", refs)}
    assert by["fid"]["baseline"] == 2.5 and by["ms_ssim"]["baseline"] == 0.12
    for change in ({"extractor": "inception"}, {"n_samples": 1000}):
        recs[0] = MetricResult("fid", {"fid": 30.0}, protocol={**proto, **change}).to_dict()
        by = {r["score"]: r for r in report.metrics_rows(recs, "nade", "binarized-mnist", refs)}
        assert by["fid"]["baseline"] is None  # another extractor or sample count: no baseline


def test_references_file_is_one_readable_source() -> None:
    refs = load_references()
    nade = refs.paper("nade", "binarized-mnist", "nll_nats")
    assert nade is not None and nade.value == pytest.approx(88.86) and "Larochelle" in nade.citation
    assert refs.baselines and all(b.protocol for b in refs.baselines)
    assert "PAPER_NUMBERS" not in vars(report) and "PROTOCOL_KEYS" not in vars(report)


def test_notes_are_flagged_in_the_table() -> None:
    rec = MetricResult("fid", {"fid": 3.0}, protocol={"n_samples": 64},
                       notes=["small sample: 64 images", "collapse check: spread 0.1x"]).to_dict()
    table = report._metrics_table(report.metrics_rows([rec], None, None))
    assert table.count('class="warn"') == 2 and "small sample: 64 images" in table


def test_curves_drop_duplicates_and_constants_and_mark_the_best_step() -> None:
    recs = []
    for step in range(10, 110, 10):
        d = 1.0 / step
        recs.append({"step": step, "split": "train", "discriminator/loss": d, "discriminator/d_loss": d,
                     "generator/loss": 2.0 - d, "instance_noise": 0.0})
    recs += [{"step": s, "split": "valid", "bits_per_dim": v, "nll_stderr": 0.1}
             for s, v in ((20, 2.6), (40, 2.45), (60, 2.5), (80, 2.7))]
    charts, notes = report.training_charts(recs)
    titles = [re.search(r'aria-label="([^"]*)"', c).group(1) for c in charts]
    assert titles[0].startswith("discriminator/loss") and "(= discriminator/d_loss)" in titles[0]
    assert not any(t.startswith("discriminator/d_loss") for t in titles)
    assert not any(t.startswith(("instance_noise", "nll_stderr")) for t in titles)
    assert notes == ["instance_noise = 0"]
    bpd = charts[titles.index("bits_per_dim")]
    assert 'class="best" data-series="valid" data-step="40"' in bpd and "best valid: step 40" in bpd


def test_a_resumed_run_replaces_the_tail_it_relogs() -> None:
    recs = [{"step": s, "loss": 10.0 - s} for s in range(1, 8)]  # crashed after step 7, checkpoint at 5
    recs += [{"step": s, "loss": 20.0 - s} for s in range(6, 9)]  # resumed from 5
    series = report.curve_series(recs)["loss"]["train"]
    assert [x for x, _ in series] == [1, 2, 3, 4, 5, 6, 7, 8]
    assert dict(series)[6.0] == 14.0  # the resumed run's value


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


def test_every_score_gets_its_same_protocol_baseline() -> None:
    proto = {"n_samples": 500, "k": 3}
    refs = References(baselines=[Baseline("mnist", "precision-recall", "precision", 0.9, proto),
                                 Baseline("mnist", "precision-recall", "recall", 0.8, proto)])
    rec = MetricResult("precision-recall", {"precision": 0.5, "recall": 0.1}, protocol=proto).to_dict()
    (row,) = report.metrics_rows([rec], "gan", "mnist", refs)
    assert row["baseline"] == 0.9 and row["other_baselines"] == {"recall": 0.8}
    assert "(real 0.8)" in report._metrics_table([row])
