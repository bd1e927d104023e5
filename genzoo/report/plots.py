"""Inline SVG line charts for the HTML report (no plotting library, no external assets)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values covering ``[lo, hi]`` (steps of 1, 2 or 5 times a power of 10)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return []
    if hi <= lo:
        hi = lo + (abs(lo) or 1.0)
    raw = (hi - lo) / max(count, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    start = math.ceil(lo / step - 1e-9) * step
    ticks = []
    t = start
    while t <= hi + 1e-9 * step:
        ticks.append(0.0 if abs(t) < step * 1e-9 else t)
        t += step
    return ticks


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1e5 or abs(v) < 1e-3:
        return f"{v:.1e}"
    return f"{v:.4g}"


def downsample(points: Sequence[tuple[float, float]], max_points: int = 800) -> list[tuple[float, float]]:
    """Every k-th point so at most ``max_points`` remain (the last point is always kept)."""
    pts = list(points)
    if len(pts) <= max_points:
        return pts
    k = math.ceil(len(pts) / max_points)
    out = pts[::k]
    if out[-1] != pts[-1]:
        out.append(pts[-1])
    return out


def line_chart(
    series: dict[str, Sequence[tuple[float, float]]],
    title: str = "",
    xlabel: str = "step",
    width: int = 560,
    height: int = 300,
    log_y: bool = False,
    marks: Sequence[tuple[str, float, float, str]] = (),
) -> str:
    """An SVG chart with one polyline per named series of ``(x, y)`` points; non-finite ``y`` are dropped.

    ``log_y`` plots ``log10(y)`` (only when every ``y`` is positive): ticks at whole decades when the
    range spans two or more, else at round values of ``y`` itself. ``marks`` are ``(series, x, y, label)``
    points to highlight (e.g. a validation curve's best step): a ring, a dashed line to the x axis and the
    label. Returns the ``<svg>`` markup.
    """
    clean = {
        name: downsample(
            sorted((float(x), float(y)) for x, y in pts if math.isfinite(x) and math.isfinite(y))
        )
        for name, pts in series.items()
    }
    clean = {k: v for k, v in clean.items() if v}
    left, right, top, bottom = 64, 12, 28, 40
    pw, ph = width - left - right, height - top - bottom
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#fff"/>',
        f'<text x="{width / 2:.0f}" y="18" text-anchor="middle" font-size="14" font-weight="bold">'
        f"{escape(title)}</text>",
    ]
    if not clean:
        parts.append(
            f'<text x="{width / 2:.0f}" y="{height / 2:.0f}" text-anchor="middle">no data</text></svg>'
        )
        return "".join(parts)
    if log_y and any(y <= 0 for pts in clean.values() for _, y in pts):
        log_y = False
    tf = (lambda y: math.log10(y)) if log_y else (lambda y: y)
    xs = [x for pts in clean.values() for x, _ in pts]
    ys = [tf(y) for pts in clean.values() for _, y in pts]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    if x1 == x0:
        x0, x1 = x0 - 0.5, x1 + 0.5
    if y1 == y0:
        pad = abs(y0) * 0.05 or 0.5
        y0, y1 = y0 - pad, y1 + pad
    else:
        pad = (y1 - y0) * 0.04
        y0, y1 = y0 - pad, y1 + pad

    def px(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * pw

    def py(y: float) -> float:
        return top + (1 - (y - y0) / (y1 - y0)) * ph

    parts.append(
        f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#999" stroke-width="1"/>'
    )
    yticks = nice_ticks(y0, y1)
    if log_y:  # whole decades when the range spans at least two of them, else round values of y
        decades = [float(d) for d in range(math.ceil(y0), math.floor(y1) + 1)]
        round_values = [v for v in nice_ticks(10**y0, 10**y1) if v > 0]
        yticks = decades if len(decades) >= 2 else [math.log10(v) for v in round_values]
    for t in yticks:
        if y0 <= t <= y1:
            label = _fmt(10**t) if log_y else _fmt(t)
            parts.append(
                f'<line x1="{left}" x2="{left + pw}" y1="{py(t):.1f}" y2="{py(t):.1f}" stroke="#eee"/>'
                f'<text x="{left - 6}" y="{py(t) + 4:.1f}" text-anchor="end" font-size="11">{label}</text>'
            )
    for t in nice_ticks(x0, x1):
        if x0 <= t <= x1:
            parts.append(
                f'<line x1="{px(t):.1f}" x2="{px(t):.1f}" y1="{top + ph}" y2="{top + ph + 4}" stroke="#999"/>'
                f'<text x="{px(t):.1f}" y="{top + ph + 16}" text-anchor="middle" font-size="11">'
                f"{_fmt(t)}</text>"
            )
    parts.append(
        f'<text x="{left + pw / 2:.0f}" y="{height - 6}" text-anchor="middle" font-size="12">'
        f"{escape(xlabel)}</text>"
    )
    if log_y:
        parts.append(f'<text x="6" y="{top - 8}" font-size="11">log scale</text>')
    for i, (name, pts) in enumerate(clean.items()):
        color = PALETTE[i % len(PALETTE)]
        if len(pts) == 1:
            x, y = pts[0]
            parts.append(f'<circle cx="{px(x):.1f}" cy="{py(tf(y)):.1f}" r="3" fill="{color}"/>')
        else:
            coords = " ".join(f"{px(x):.1f},{py(tf(y)):.1f}" for x, y in pts)
            parts.append(
                f'<polyline class="series" data-series="{escape(name)}" fill="none" stroke="{color}" '
                f'stroke-width="1.5" points="{coords}"/>'
            )
        lx, ly = left + 10 + 110 * i, top + 14
        parts.append(
            f'<rect x="{lx}" y="{ly - 9}" width="12" height="3" fill="{color}"/>'
            f'<text x="{lx + 16}" y="{ly - 4}" font-size="11">{escape(name)}</text>'
        )
    colors = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(clean)}
    for j, (name, x, y, label) in enumerate(marks):
        if not (math.isfinite(x) and math.isfinite(y)) or (log_y and y <= 0):
            continue
        color = colors.get(name, "#000")
        cx, cy = px(x), py(tf(y))
        parts.append(
            f'<g class="best" data-series="{escape(name)}" data-step="{x:g}">'
            f'<line x1="{cx:.1f}" x2="{cx:.1f}" y1="{cy:.1f}" y2="{top + ph}" stroke="{color}" '
            f'stroke-dasharray="3,3"/><circle cx="{cx:.1f}" cy="{cy:.1f}" r="5" fill="none" stroke="{color}" '
            f'stroke-width="2"/><text x="{left + pw - 4}" y="{top + ph - 8 - 14 * j}" text-anchor="end" '
            f'font-size="11" fill="{color}">{escape(label)}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)
