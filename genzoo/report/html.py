"""``genzoo report``: one self-contained HTML page per run (or per folder of images).

The page has no external assets: pictures are inlined as base64 data URIs, training curves are
inline SVG charts drawn by :mod:`genzoo.report.plots`, and there is no script. It shows, when present
in the run folder:

- the sample grid: ``samples.png``, else the newest image in ``samples/``;
- a nearest-neighbour picture (any image named ``*nearest*``, ``*neighbo*`` or ``memorisation*``, in
  the run folder or ``eval/``);
- training curves from ``metrics.jsonl`` (one JSON object per line, ``{"step": int, "split": "train"
  | "eval", "loss": float, ...}``): one chart per scalar, one line per split;
- the metrics table from ``eval.jsonl`` (lines ``{"metric": name, <scores>, "protocol": {...}}``), each
  score next to its real-data baseline (an ``eval.jsonl`` line of the same metric whose ``source`` is
  ``real:<split>``, else :data:`REAL_BASELINES`) and the paper's number where known
  (:data:`PAPER_NUMBERS`);
- the run config (``config.yaml`` / ``config.json``).

A folder without any of these is shown as a gallery of its images.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import os
import re
from pathlib import Path
from typing import Any

from genzoo.fileio import atomic_write_bytes
from genzoo.report.plots import line_chart

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp", ".ppm", ".pgm", ".tif", ".tiff")
_MIME = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
}
MAX_GALLERY = 256

#: published numbers, keyed (model, dataset, score key) -> (value, source). Likelihoods in nats per image
#: (lower is better for ``nll_nats``) or bits/dim; Parzen log-likelihoods in nats (higher is better).
PAPER_NUMBERS: dict[tuple[str, str, str], tuple[float, str]] = {
    ("nade", "binarized-mnist", "nll_nats"): (88.86, "Larochelle & Murray 2011, Table 2"),
    ("pixelcnn", "binarized-mnist", "nll_nats"): (81.30, "van den Oord et al. 2016 (PixelRNN), Table 4"),
    ("row-lstm", "binarized-mnist", "nll_nats"): (80.54, "van den Oord et al. 2016 (PixelRNN), Table 4"),
    ("diagonal-bilstm", "binarized-mnist", "nll_nats"): (
        79.20,
        "van den Oord et al. 2016 (PixelRNN), Table 4, 7 layers",
    ),
    ("pixelcnn", "cifar10", "bits_per_dim"): (3.14, "van den Oord et al. 2016 (PixelRNN), Table 5"),
    ("row-lstm", "cifar10", "bits_per_dim"): (3.07, "van den Oord et al. 2016 (PixelRNN), Table 5"),
    ("diagonal-bilstm", "cifar10", "bits_per_dim"): (3.00, "van den Oord et al. 2016 (PixelRNN), Table 5"),
    ("gated-pixelcnn", "cifar10", "bits_per_dim"): (
        3.03,
        "van den Oord et al. 2016 (Gated PixelCNN), Table 1",
    ),
    ("vae", "dynamic-mnist", "nll_nats"): (
        86.76,
        "Burda et al. 2016 (IWAE), Table 1: VAE, 1 stochastic layer, k=1 (test NLL estimated with k=5000)",
    ),
    ("gan", "mnist", "parzen_log_likelihood"): (225.0, "Goodfellow et al. 2014, Table 1 (225 +- 2)"),
    ("gmmn", "mnist", "parzen_log_likelihood"): (147.0, "Li et al. 2015, Table 1 (147 +- 2)"),
    ("gmmn-ae", "mnist", "parzen_log_likelihood"): (282.0, "Li et al. 2015, Table 1 (282 +- 2)"),
}

#: real-data baselines (the test split scored as if it were samples, against the training split), keyed
#: (dataset, score key) -> (value, feature extractor or "" for pixel metrics). Measured with the default
#: protocols by benchmarks/real_baselines.py with reference classifiers of version 2; see
#: benchmarks/results/real_baselines.md. Shown only for results computed with the same extractor.
REAL_BASELINES: dict[tuple[str, str], tuple[float, str]] = {
    ("digits", "fid"): (1.15, "classifier:digits"),
    ("digits", "kid"): (0.01514, "classifier:digits"),
    ("digits", "precision"): (0.8694, "classifier:digits"),
    ("digits", "recall"): (0.9101, "classifier:digits"),
    ("digits", "ms_ssim"): (0.1812, ""),
    ("digits", "inception_score"): (8.288, "classifier:digits"),
    ("mnist", "fid"): (0.1798, "classifier:mnist"),
    ("mnist", "kid"): (0.0008219, "classifier:mnist"),
    ("mnist", "precision"): (0.8887, "classifier:mnist"),
    ("mnist", "recall"): (0.8708, "classifier:mnist"),
    ("mnist", "ms_ssim"): (0.1385, ""),
    ("mnist", "inception_score"): (9.497, "classifier:mnist"),
    ("binarized-mnist", "fid"): (0.1992, "classifier:mnist"),
    ("binarized-mnist", "kid"): (0.001958, "classifier:mnist"),
    ("binarized-mnist", "precision"): (0.8848, "classifier:mnist"),
    ("binarized-mnist", "recall"): (0.8674, "classifier:mnist"),
    ("binarized-mnist", "ms_ssim"): (0.1199, ""),
    ("binarized-mnist", "inception_score"): (9.445, "classifier:mnist"),
    # cifar10: the staged subset (1,000 test vs 3,600 train images), NOT the full data set
    ("cifar10", "fid"): (0.9385, "classifier:cifar10"),
    ("cifar10", "kid"): (-0.001786, "classifier:cifar10"),
    ("cifar10", "precision"): (0.838, "classifier:cifar10"),
    ("cifar10", "recall"): (0.8464, "classifier:cifar10"),
    ("cifar10", "ms_ssim"): (0.07805, ""),
    ("cifar10", "inception_score"): (3.076, "classifier:cifar10"),
}

#: top-level keys of an eval.jsonl line that describe the protocol rather than a result
PROTOCOL_KEYS = {
    "metric",
    "protocol",
    "source",
    "n_samples",
    "n_reference",
    "n_valid",
    "n_test",
    "n_train",
    "n",
    "splits",
    "k",
    "n_subsets",
    "subset_size",
    "feature_dim",
    "scales",
    "window",
    "window_sigma",
    "seed",
    "step",
    "time",
    "seconds",
    "num_classes",
    "sigma",
    "sigma_grid",
    "importance_samples",
}
#: keys of metrics.jsonl lines that are not curves
_NOT_CURVES = {"step", "split", "epoch", "time", "wall_time", "elapsed", "seconds", "group", "n"}
_MAX_CHARTS = 12


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The JSON objects of a JSON-lines file; blank and malformed lines (e.g. a half-written last line)
    are skipped."""
    out: list[dict[str, Any]] = []
    if not path.is_file():
        return out
    for line in path.read_text(errors="replace").splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict):
            out.append(obj)
    return out


def read_config(run_dir: Path) -> tuple[dict[str, Any], str]:
    """The run config (``config.yaml`` / ``config.yml`` / ``config.json``) as a dict, and its text."""
    for name in ("config.yaml", "config.yml", "config.json", "run.json"):
        path = run_dir / name
        if path.is_file():
            text = path.read_text(errors="replace")
            try:
                if name.endswith(".json"):
                    cfg = json.loads(text)
                else:
                    import yaml

                    cfg = yaml.safe_load(text)
            except Exception:  # a broken config still shows as text
                cfg = {}
            return (cfg if isinstance(cfg, dict) else {}), text
    return {}, ""


def _name_of(section: Any) -> str | None:
    if isinstance(section, dict):
        name = section.get("name")
        return str(name) if name is not None else None
    return str(section) if isinstance(section, str) else None


def _step_of(path: Path) -> tuple[int, float]:
    nums = re.findall(r"\d+", path.stem)
    return (int(nums[-1]) if nums else -1, path.stat().st_mtime)


def find_samples(run_dir: Path) -> Path | None:
    """``samples.png``, else the image in ``samples/`` with the highest step number (then newest)."""
    for name in ("samples.png", "samples.jpg"):
        if (run_dir / name).is_file():
            return run_dir / name
    folder = run_dir / "samples"
    if folder.is_dir():
        images = [p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()]
        if images:
            return max(images, key=_step_of)
    return None


def find_nearest_neighbours(run_dir: Path) -> Path | None:
    for folder in (run_dir, run_dir / "eval"):
        if not folder.is_dir():
            continue
        for p in sorted(folder.iterdir()):
            low = p.name.lower()
            if p.suffix.lower() in IMAGE_SUFFIXES and (
                "nearest" in low or "neighbo" in low or low.startswith("memorisation")
            ):
                return p
    return None


def image_data_uri(path: Path) -> tuple[str, int, int]:
    """A ``data:`` URI of the image (re-encoded as PNG unless the browser reads it as is) and its size."""
    from PIL import Image

    raw = path.read_bytes()
    with Image.open(io.BytesIO(raw)) as im:
        w, h = im.size
        mime = _MIME.get(path.suffix.lower())
        if mime is None:
            buf = io.BytesIO()
            im.save(buf, format="PNG")
            raw, mime = buf.getvalue(), "image/png"
    return f"data:{mime};base64,{base64.b64encode(raw).decode('ascii')}", w, h


def _img_tag(path: Path, alt: str, min_width: int = 256, max_width: int = 900) -> str:
    uri, w, h = image_data_uri(path)
    scale = max(1, min_width // max(w, 1)) if w < min_width else 1
    shown = min(w * scale, max_width)
    return (
        f'<img src="{uri}" alt="{html.escape(alt)}" title="{html.escape(path.name)}" '
        f'width="{shown}" height="{round(h * shown / max(w, 1))}" class="pix">'
    )


# ----- training curves ---------------------------------------------------------------------------------
def curve_series(records: list[dict[str, Any]]) -> dict[str, dict[str, list[tuple[float, float]]]]:
    """``{scalar: {split: [(step, value), ...]}}`` from metrics.jsonl records."""
    out: dict[str, dict[str, list[tuple[float, float]]]] = {}
    for i, rec in enumerate(records):
        step = rec.get("step", i)
        if not isinstance(step, (int, float)) or isinstance(step, bool):
            continue
        split = str(rec.get("split", "train"))
        group = rec.get("group")
        for key, value in rec.items():
            if key in _NOT_CURVES or isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            if not math.isfinite(float(value)):
                continue
            name = f"{split}/{group}" if isinstance(group, str) and group else split
            out.setdefault(key, {}).setdefault(name, []).append((float(step), float(value)))
    return out


def training_charts(records: list[dict[str, Any]]) -> list[str]:
    """One SVG chart per scalar (``loss`` first), at most 12."""
    series = curve_series(records)
    keys = sorted(series, key=lambda k: (k != "loss", k))[:_MAX_CHARTS]
    charts = []
    for key in keys:
        values = [y for pts in series[key].values() for _, y in pts]
        positive = all(v > 0 for v in values)
        log_y = positive and len(values) > 1 and max(values) / min(values) > 50
        charts.append(line_chart(series[key], title=key, xlabel="step", log_y=log_y))
    return charts


# ----- metrics table -----------------------------------------------------------------------------------
def _source(rec: dict[str, Any]) -> str:
    proto = rec.get("protocol") if isinstance(rec.get("protocol"), dict) else {}
    source = str(rec.get("source", proto.get("source", "samples")))
    if rec.get("real_baseline") is True and not source.startswith("real"):
        source = "real"
    return source


def _extractor_of(proto: dict[str, Any], dataset: str) -> str:
    """The feature extractor a result used, with ``"auto"`` resolved as the evaluator resolves it."""
    name = proto.get("extractor")
    if not isinstance(name, str) or name in ("", "none"):
        return ""
    from genzoo.metrics.features import resolve_extractor

    resolved = resolve_extractor(name, dataset)
    if resolved.startswith("classifier:"):
        from genzoo.metrics.classifier import classifier_name

        resolved = "classifier:" + classifier_name(resolved.partition(":")[2])
    return resolved


def split_scores(rec: dict[str, Any]) -> tuple[dict[str, float], dict[str, Any]]:
    """(scores, protocol) of an eval.jsonl line: numbers that are results vs everything else."""
    scores: dict[str, float] = {}
    proto: dict[str, Any] = dict(rec["protocol"]) if isinstance(rec.get("protocol"), dict) else {}
    for key, value in rec.items():
        if key in ("metric", "protocol"):
            continue
        if key not in PROTOCOL_KEYS and isinstance(value, (int, float)) and not isinstance(value, bool):
            scores[key] = float(value)
        else:
            proto[key] = value
    return scores, proto


def _fmt_value(v: float | None) -> str:
    if v is None:
        return ""
    if not math.isfinite(v):
        return str(v)
    if v != 0 and (abs(v) >= 1e5 or abs(v) < 1e-3):
        return f"{v:.3e}"
    return f"{v:.4g}" if abs(v) < 10 else f"{v:.2f}"


def metrics_rows(
    records: list[dict[str, Any]], model: str | None, dataset: str | None
) -> list[dict[str, Any]]:
    """Table rows ``{metric, score, value, baseline, baseline_note, paper, paper_note, protocol, real}``.

    The latest line of each (metric, source) wins; lines scoring real data feed the baseline column.
    """
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for rec in records:
        if "metric" in rec:
            latest[(str(rec["metric"]), _source(rec))] = rec
    real: dict[str, dict[str, float]] = {}
    for (metric, source), rec in latest.items():
        if source.startswith("real"):
            real[metric] = split_scores(rec)[0]
    rows = []
    for (metric, source), rec in latest.items():
        scores, proto = split_scores(rec)
        is_real = source.startswith("real")
        if not scores and "unavailable" in rec:
            rows.append(
                {
                    "metric": metric,
                    "score": "unavailable",
                    "value": None,
                    "text": str(rec["unavailable"]),
                    "baseline": None,
                    "baseline_note": "",
                    "paper": None,
                    "paper_note": "",
                    "protocol": {k: v for k, v in proto.items() if k != "unavailable"},
                    "real": is_real,
                }
            )
        for key, value in scores.items():
            baseline, bnote = None, ""
            if not is_real:
                if key in real.get(metric, {}):
                    baseline, bnote = real[metric][key], "this run's real-data line"
                elif dataset is not None and (dataset, key) in REAL_BASELINES:
                    value_b, extractor_b = REAL_BASELINES[(dataset, key)]
                    if _extractor_of(proto, dataset) == extractor_b:
                        baseline = value_b
                        bnote = "benchmarks/real_baselines.py" + (f", {extractor_b}" if extractor_b else "")
            paper = PAPER_NUMBERS.get((model or "", dataset or "", key))
            rows.append(
                {
                    "metric": metric,
                    "score": key,
                    "value": value,
                    "baseline": baseline,
                    "baseline_note": bnote,
                    "paper": None if paper is None else paper[0],
                    "paper_note": "" if paper is None else paper[1],
                    "protocol": proto,
                    "real": is_real,
                }
            )
    return rows


def _metrics_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "<p>No evaluation results (eval.jsonl) yet: run <code>genzoo eval RUN_DIR</code>.</p>"
    out = [
        '<table class="metrics"><thead><tr><th>metric</th><th>score</th><th>value</th>'
        "<th>real-data baseline</th><th>paper</th><th>protocol</th></tr></thead><tbody>"
    ]
    for r in rows:
        proto = json.dumps(r["protocol"], sort_keys=True, default=str)
        label = " <em>(real data)</em>" if r["real"] else ""
        out.append(
            f"<tr><td>{html.escape(r['metric'])}{label}</td><td>{html.escape(r['score'])}</td>"
            f'<td class="num">{html.escape(r.get("text", "")) or _fmt_value(r["value"])}</td>'
            f'<td class="num" title="{html.escape(r["baseline_note"])}">{_fmt_value(r["baseline"])}</td>'
            f'<td class="num" title="{html.escape(r["paper_note"])}">{_fmt_value(r["paper"])}'
            f"{'<br><small>' + html.escape(r['paper_note']) + '</small>' if r['paper_note'] else ''}</td>"
            f'<td class="proto"><code>{html.escape(proto)}</code></td></tr>'
        )
    out.append("</tbody></table>")
    return "".join(out)


# ----- page ----------------------------------------------------------------------------------------------
_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px;color:#222}
body{max-width:1200px}
h1{font-size:22px} h2{font-size:18px;margin-top:28px;border-bottom:1px solid #ddd}
img.pix{image-rendering:pixelated;border:1px solid #ccc;background:#fff}
.charts{display:flex;flex-wrap:wrap;gap:12px}
table.metrics{border-collapse:collapse;font-size:13px}
table.metrics td,table.metrics th{border:1px solid #ccc;padding:4px 8px;vertical-align:top}
td.num{text-align:right;font-variant-numeric:tabular-nums} td.proto code{font-size:11px;word-break:break-all}
.gallery{display:flex;flex-wrap:wrap;gap:6px} .gallery figure{margin:0;font-size:11px;text-align:center}
pre{background:#f6f6f6;padding:8px;overflow:auto;font-size:12px}
"""


def _gallery(images: list[Path]) -> str:
    shown = images[:MAX_GALLERY]
    items = [
        f"<figure>{_img_tag(p, p.name, min_width=64, max_width=256)}<figcaption>{html.escape(p.name)}"
        "</figcaption></figure>"
        for p in shown
    ]
    more = f"<p>{len(images) - len(shown)} more images not shown.</p>" if len(images) > len(shown) else ""
    return f'<div class="gallery">{"".join(items)}</div>{more}'


def render_report(run_dir: str | os.PathLike[str], title: str | None = None) -> str:
    """The report page of ``run_dir`` as an HTML string (see the module docstring)."""
    run = Path(run_dir)
    if not run.is_dir():
        raise FileNotFoundError(f"{run}: not a folder (expected a run directory or a folder of images)")
    cfg, cfg_text = read_config(run)
    model, dataset = _name_of(cfg.get("model")), _name_of(cfg.get("data"))
    data_cfg = cfg.get("data") if isinstance(cfg.get("data"), dict) else {}
    if dataset == "mnist" and data_cfg.get("binarize") == "dynamic":
        dataset = "dynamic-mnist"  # same data as the dynamic-mnist dataset, not grey MNIST
    samples = find_samples(run)
    nearest = find_nearest_neighbours(run)
    curves = read_jsonl(run / "metrics.jsonl")
    evals = read_jsonl(run / "eval.jsonl")
    title = title or run.resolve().name
    head = " &middot; ".join(
        html.escape(x) for x in (f"model {model}" if model else "", f"data {dataset}" if dataset else "") if x
    )
    body = [f"<h1>genzoo report: {html.escape(title)}</h1>", f"<p>{head}</p>" if head else ""]
    is_run = any([samples, nearest, curves, evals, cfg_text])
    if samples is not None:
        body.append(f'<h2>Samples</h2><div id="samples">{_img_tag(samples, "samples")}</div>')
        body.append(f"<p><small>{html.escape(str(samples.relative_to(run)))}</small></p>")
    if nearest is not None:
        body.append(
            "<h2>Nearest training images</h2>"
            f'<div id="nearest">{_img_tag(nearest, "nearest neighbours")}</div>'
            f"<p><small>{html.escape(str(nearest.relative_to(run)))}</small></p>"
        )
    if curves:
        charts = training_charts(curves)
        body.append(f'<h2>Training curves</h2><div class="charts" id="curves">{"".join(charts)}</div>')
    if is_run:
        body.append(
            f'<h2>Metrics</h2><div id="metrics">{_metrics_table(metrics_rows(evals, model, dataset))}</div>'
        )
    if cfg_text:
        body.append(f"<h2>Config</h2><pre>{html.escape(cfg_text)}</pre>")
    if not is_run:
        images = sorted(p for p in run.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not images:
            raise FileNotFoundError(
                f"{run}: nothing to report (no samples.png, samples/, metrics.jsonl, eval.jsonl, config "
                "or images)"
            )
        body.append(f'<h2>Images ({len(images)})</h2><div id="images">{_gallery(images)}</div>')
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head>"
        f"<body>{''.join(body)}</body></html>\n"
    )


def write_report(
    run_dir: str | os.PathLike[str], out: str | os.PathLike[str] | None = None, title: str | None = None
) -> Path:
    """Write the self-contained HTML report of ``run_dir`` (default ``run_dir/report.html``)."""
    page = render_report(run_dir, title)
    path = Path(out) if out is not None else Path(run_dir) / "report.html"
    atomic_write_bytes(path, page.encode("utf-8"))
    return path
