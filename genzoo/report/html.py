"""``genzoo report``: one self-contained HTML page per run (or per folder of images).

The page has no external assets: pictures are inlined as base64 data URIs, training curves are
inline SVG charts drawn by :mod:`genzoo.report.plots`, and there is no script. It shows, when present
in the run folder:

- the sample grid: ``samples.png``, else the newest image in ``samples/``;
- a nearest-neighbour picture (any image named ``*nearest*``, ``*neighbo*`` or ``memorisation*``, in
  the run folder or ``eval/``);
- training curves from ``metrics.jsonl`` (one JSON object per line, ``{"step": int, "split": "train"
  | "valid", "loss": float, ...}``): one chart per scalar, one line per split; a scalar equal to another
  is drawn once, constants are listed instead of drawn, a resumed run's records replace the tail it
  re-logs, and a validation curve's best step is marked;
- the metrics table from ``eval.jsonl`` (:class:`genzoo.core.MetricResult` records): one row per metric
  with its headline ``value ± error``, its other scores, notes (small samples, the collapse check), the
  real-data baseline only when measured under the same protocol (this run's own real-data line, else
  one of ``genzoo/references.yaml``), the paper's number with its citation (also from
  ``genzoo/references.yaml``) and the protocol folded away;
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

from genzoo.core.results import MetricResult
from genzoo.fileio import atomic_write_bytes
from genzoo.report.plots import line_chart
from genzoo.report.references import References, load_references

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp", ".ppm", ".pgm", ".tif", ".tiff")
_MIME = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
}
MAX_GALLERY = 256

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
#: split names whose curves are validation curves (their best step is marked)
VALIDATION_SPLITS = ("valid", "eval", "validation", "test")
#: words in a curve's name that mean higher is better (everything else logged is a loss or a cost)
_HIGHER_IS_BETTER = ("accuracy", "log_likelihood", "score", "precision", "recall", "coverage", "density")


def curve_series(records: list[dict[str, Any]]) -> dict[str, dict[str, list[tuple[float, float]]]]:
    """``{scalar: {split: [(step, value), ...]}}`` from metrics.jsonl records.

    A resumed run appends records again from its checkpoint's step: a point at or before the last step
    of its series starts that series over from there (the resumed run's records replace the tail that
    was logged after the checkpoint), so a curve never doubles back.
    """
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
            if key.endswith(("_stderr", "_std")) or not math.isfinite(float(value)):
                continue  # an error of another curve, not a curve of its own
            name = f"{split}/{group}" if isinstance(group, str) and group else split
            pts = out.setdefault(key, {}).setdefault(name, [])
            while pts and pts[-1][0] >= float(step):
                pts.pop()
            pts.append((float(step), float(value)))
    return out


def _same_series(a: dict[str, list[tuple[float, float]]], b: dict[str, list[tuple[float, float]]]) -> bool:
    if a.keys() != b.keys():
        return False
    for name in a:
        pa, pb = a[name], b[name]
        if len(pa) != len(pb):
            return False
        for (xa, ya), (xb, yb) in zip(pa, pb):
            if xa != xb or abs(ya - yb) > 1e-9 * max(1.0, abs(ya), abs(yb)):
                return False
    return True


def _is_constant(series: dict[str, list[tuple[float, float]]]) -> bool:
    values = [y for pts in series.values() for _, y in pts]
    return len(values) > 1 and max(values) - min(values) <= 1e-12 * max(1.0, abs(values[0]))


def _chart_order(key: str) -> tuple[int, str]:
    leaf = key.rpartition("/")[2]
    return (0 if leaf == "loss" else 1, key)


def best_point(key: str, points: list[tuple[float, float]]) -> tuple[float, float] | None:
    """The best point of a validation curve: the lowest value, or the highest for names that say higher
    is better (accuracy, log-likelihood, ...); None for fewer than 2 points."""
    if len(points) < 2:
        return None
    higher = any(word in key.lower() for word in _HIGHER_IS_BETTER)
    return (max if higher else min)(points, key=lambda p: p[1])


def training_charts(records: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """SVG charts of the logged scalars (``*/loss`` first, at most 12) and a list of what was not drawn.

    A scalar equal to another at every logged step (a GAN's ``d_loss`` and its discriminator ``loss``)
    is drawn once, titled with both names; a constant is not drawn but listed; a validation curve's best
    step is marked.
    """
    series = curve_series(records)
    keys = sorted(series, key=_chart_order)
    drawn: list[tuple[str, list[str]]] = []
    constant: list[str] = []
    for key in keys:
        if _is_constant(series[key]):
            value = next(y for pts in series[key].values() for _, y in pts)
            constant.append(f"{key} = {_fmt_value(value)}")
            continue
        twin = next((d for d in drawn if _same_series(series[d[0]], series[key])), None)
        if twin is not None:
            twin[1].append(key)
        else:
            drawn.append((key, []))
    charts = []
    for key, twins in drawn[:_MAX_CHARTS]:
        values = [y for pts in series[key].values() for _, y in pts]
        positive = all(v > 0 for v in values)
        log_y = positive and len(values) > 1 and max(values) / min(values) > 50
        marks = []
        for split, pts in series[key].items():
            if split.partition("/")[0] in VALIDATION_SPLITS:
                best = best_point(key, pts)
                if best is not None:
                    label = f"best {split}: step {best[0]:.0f}, {_fmt_value(best[1])}"
                    marks.append((split, best[0], best[1], label))
        title = key + "".join(f" (= {t})" for t in twins)
        charts.append(line_chart(series[key], title=title, xlabel="step", log_y=log_y, marks=marks))
    notes = constant + [f"{key} (not drawn: more than {_MAX_CHARTS} charts)" for key, _ in drawn[_MAX_CHARTS:]]
    return charts, notes


# ----- metrics table -----------------------------------------------------------------------------------
def _source(result: MetricResult, rec: dict[str, Any]) -> str:
    source = str(result.protocol.get("source", rec.get("source", "samples")))
    if rec.get("real_baseline") is True and not source.startswith("real"):
        source = "real"
    return source


def _comparable(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Two protocols that differ at most in where the judged images came from."""
    strip = ("source", "error")
    return {k: v for k, v in a.items() if k not in strip} == {k: v for k, v in b.items() if k not in strip}


def _fmt_value(v: float | None) -> str:
    if v is None:
        return ""
    if not math.isfinite(v):
        return str(v)
    if v != 0 and (abs(v) >= 1e5 or abs(v) < 1e-3):
        return f"{v:.3e}"
    return f"{v:.4g}" if abs(v) < 10 else f"{v:.2f}"


def _fmt_error(v: float | None) -> str:
    if v is None or not math.isfinite(v):
        return ""
    return f"{v:.2g}" if v != 0 and (abs(v) >= 1e-3 and abs(v) < 1e5) else f"{v:.1e}"


def metrics_rows(
    records: list[dict[str, Any]], model: str | None, dataset: str | None, references: References | None = None,
) -> list[dict[str, Any]]:
    """One row per (metric, source), the latest ``eval.jsonl`` line of each, read through MetricResult.

    Row keys: ``metric``, ``score`` (the headline), ``value``, ``error``, ``others`` (the other scores),
    ``baseline`` / ``baseline_note`` (this run's real-data line of the same metric under the same protocol,
    else a stored baseline of genzoo/references.yaml measured under it), ``paper`` / ``paper_note`` /
    ``paper_score`` (the published number of any of the row's scores), ``protocol``, ``details``,
    ``notes``, ``real``, and ``text`` for a metric that was unavailable.
    """
    refs = references if references is not None else load_references()
    latest: dict[tuple[str, str], tuple[MetricResult, dict[str, Any]]] = {}
    for rec in records:
        if "metric" in rec:
            result = MetricResult.from_dict(rec)
            latest[(result.metric, _source(result, rec))] = (result, rec)
    real = {metric: res for (metric, source), (res, _) in latest.items() if source.startswith("real")}
    rows = []
    for (metric, source), (res, _rec) in latest.items():
        is_real = source.startswith("real")
        row: dict[str, Any] = {
            "metric": metric, "score": res.headline, "value": res.value, "error": res.error, "others": {},
            "baseline": None, "baseline_note": "", "paper": None, "paper_note": "", "paper_score": "",
            "protocol": dict(res.protocol), "details": dict(res.details), "notes": list(res.notes),
            "real": is_real,
        }
        if res.unavailable is not None:
            row.update(score="unavailable", text=res.unavailable)
            rows.append(row)
            continue
        row["others"] = {k: v for k, v in res.scores.items() if k != res.headline}
        baselines: dict[str, tuple[float, str]] = {}
        own = None if is_real else real.get(metric)
        for key in res.scores if not is_real else ():
            if own is not None and _comparable(own.protocol, res.protocol) and key in own.scores:
                baselines[key] = (own.scores[key], "this run's real-data line")
                continue
            stored = refs.baseline(dataset, metric, key, res.protocol)
            if stored is not None:
                baselines[key] = (stored.value, f"{stored.source or 'genzoo/references.yaml'}, same protocol")
        if res.headline in baselines:
            row["baseline"], row["baseline_note"] = baselines[res.headline]
        row["other_baselines"] = {k: v for k, (v, _) in baselines.items() if k != res.headline}
        for key in res.scores:
            paper = refs.paper(model, dataset, key)
            if paper is not None:
                row.update(paper=paper.value, paper_note=paper.citation, paper_score=key)
                if paper.error is not None:
                    row["paper_error"] = paper.error
                break
        rows.append(row)
    return rows


def _kv_table(d: dict[str, Any]) -> str:
    def text(v: Any) -> str:
        return html.escape(v if isinstance(v, str) else json.dumps(v, default=str))

    cells = "".join(f"<tr><td>{html.escape(str(k))}</td><td>{text(v)}</td></tr>" for k, v in d.items())
    return f'<table class="kv">{cells}</table>'


def _metrics_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "<p>No evaluation results (eval.jsonl) yet: run <code>genzoo eval RUN_DIR</code>.</p>"
    out = [
        '<table class="metrics"><thead><tr><th>metric</th><th>value</th><th>other scores</th>'
        "<th>real-data baseline<br><small>same protocol</small></th><th>paper</th><th>notes</th>"
        "<th>protocol</th></tr></thead><tbody>"
    ]
    for r in rows:
        label = " <em>(real data)</em>" if r["real"] else ""
        if r.get("text"):
            value = f'<span class="unavailable">unavailable: {html.escape(r["text"])}</span>'
        else:
            err = _fmt_error(r["error"])
            value = (f'<b>{html.escape(r["score"])}</b> {_fmt_value(r["value"])}'
                     + (f" &plusmn; {err}" if err else ""))
        real_others = r.get("other_baselines", {})
        others = "<br>".join(
            f"{html.escape(k)} {_fmt_value(v)}"
            + (f' <small title="real-data baseline, same protocol">(real {_fmt_value(real_others[k])})</small>'
               if k in real_others else "")
            for k, v in r["others"].items()
        )
        paper = ""
        if r["paper"] is not None:
            perr = f" &plusmn; {_fmt_error(r['paper_error'])}" if r.get("paper_error") is not None else ""
            shown = f"{html.escape(r['paper_score'])} " if r["paper_score"] != r["score"] else ""
            paper = f"{shown}{_fmt_value(r['paper'])}{perr}<br><small>{html.escape(r['paper_note'])}</small>"
        notes = "".join(
            f'<li class="{"warn" if "collapse" in n or "small sample" in n else "note"}">{html.escape(n)}</li>'
            for n in r["notes"]
        )
        protocol = (f"<details><summary>protocol</summary>{_kv_table(r['protocol'])}"
                    + (f"<p>details</p>{_kv_table(r['details'])}" if r["details"] else "") + "</details>")
        out.append(
            f"<tr><td>{html.escape(r['metric'])}{label}</td><td class=\"num\">{value}</td>"
            f'<td class="num">{others}</td>'
            f'<td class="num" title="{html.escape(r["baseline_note"])}">{_fmt_value(r["baseline"])}</td>'
            f'<td class="num">{paper}</td><td><ul class="notes">{notes}</ul></td>'
            f'<td class="proto">{protocol}</td></tr>'
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
td.num{text-align:right;font-variant-numeric:tabular-nums}
td.proto details{font-size:11px} table.kv td{border:none;padding:0 6px 0 0;font-size:11px}
ul.notes{margin:0;padding-left:16px;font-size:12px} li.warn{color:#b00020} .unavailable{color:#777}
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
        charts, not_drawn = training_charts(curves)
        body.append(f'<h2>Training curves</h2><div class="charts" id="curves">{"".join(charts)}</div>')
        if not_drawn:
            body.append(f"<p><small>Constant, not drawn: {html.escape(', '.join(not_drawn))}</small></p>")
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
