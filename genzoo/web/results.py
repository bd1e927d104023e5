"""A study's results: "% judged real" per model with Wilson intervals, per-participant accuracy,
attention-check failures, and the per-trial CSV export.

"% judged real" is the fraction of judged trials in which the generated image was taken for real
(Denton et al. 2015, Sec. 4.3, Fig. 5; Isola et al. 2017, Table 1, "% Turkers labeled real"): in the
single-image design the answers "real" to generated images; in the 2AFC design the trials in which the
generated image of the pair was chosen (50% = indistinguishable). The binomial confidence interval is
Wilson's score interval (Wilson 1927; Brown, Cai & DasGupta 2001, Eq. 4):
``(p + z²/2n ± z sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n)``, which stays inside [0, 1] and is sensible for
small n and p near 0 or 1. Practice trials are never counted; attention checks are counted separately,
and a participant who fails more than ``max_check_failures`` of them is excluded from every number
except the exclusion counts. Trials answered by participants who did not finish are included (each
answer is an independent judgement); ``completed`` says who finished.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from pathlib import Path
from typing import Any

from scipy.stats import norm

from genzoo.web.store import Study, open_study
from genzoo.web.study import REAL, judged_real


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion; ``(0, 1)`` when ``n == 0``."""
    if n <= 0:
        return 0.0, 1.0
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be in [0, n={n}], got {successes}")
    z = float(norm.ppf(0.5 + confidence / 2))
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    lo = 0.0 if successes == 0 else max(0.0, centre - half)  # exact ends (rounding would miss them)
    hi = 1.0 if successes == n else min(1.0, centre + half)
    return lo, hi


def _rows(study: Study) -> list[dict[str, Any]]:
    con = study.connect()
    try:
        cur = con.execute(
            "SELECT t.participant, t.idx, t.kind, t.model, t.images, t.truth, a.response, a.rt_ms, a.answered_at "
            "FROM trials t LEFT JOIN answers a ON a.participant = t.participant AND a.idx = t.idx "
            "ORDER BY t.participant, t.idx"
        )
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r)) for r in cur.fetchall()]
    finally:
        con.close()


def study_results(study: str | os.PathLike[str] | Study, confidence: float = 0.95) -> dict[str, Any]:
    """The results of a study as plain data (a pure function of its database).

    Keys: ``study``, ``design``, ``closed``, ``confidence``, ``participants`` (counts), ``attention``
    (checks answered, failed, participants excluded), ``models`` (one row per model: ``n``,
    ``judged_real``, ``percent_real``, ``ci_low``, ``ci_high`` in percent), ``real`` (single design: real
    images judged real, same fields; None for 2AFC) and ``per_participant`` (answered, accuracy on judged
    trials, check failures, excluded, completed).
    """
    st = study if isinstance(study, Study) else open_study(study)
    cfg = st.config
    rows = _rows(st)
    con = st.connect()
    try:
        closed = st.is_closed(con)
    finally:
        con.close()
    people: dict[int, dict[str, Any]] = {}
    for r in rows:
        p = people.setdefault(r["participant"], {"participant": r["participant"], "trials": 0, "answered": 0,
                                                "judged": 0, "correct": 0, "checks": 0, "check_failures": 0})
        p["trials"] += 1
        if r["response"] is None:
            continue
        p["answered"] += 1
        right = r["response"] == r["truth"]
        if r["kind"] == "check":
            p["checks"] += 1
            p["check_failures"] += int(not right)
        elif r["kind"] == "main":
            p["judged"] += 1
            p["correct"] += int(right)
    for p in people.values():
        p["excluded"] = p["check_failures"] > cfg.max_check_failures
        p["completed"] = p["answered"] == p["trials"]
        p["accuracy"] = p["correct"] / p["judged"] if p["judged"] else None
    counts: dict[str, list[int]] = {m.name: [0, 0] for m in cfg.models}
    real = [0, 0]
    for r in rows:
        if r["kind"] != "main" or r["response"] is None or people[r["participant"]]["excluded"]:
            continue
        if cfg.design == "single" and r["truth"] == REAL:
            real[0] += int(r["response"] == REAL)
            real[1] += 1
        else:
            c = counts[r["model"]]
            c[0] += int(judged_real(cfg.design, r["truth"], r["response"]))
            c[1] += 1

    def row(name: str, k: int, n: int) -> dict[str, Any]:
        lo, hi = wilson_interval(k, n, confidence)
        return {"model": name, "n": n, "judged_real": k, "percent_real": 100.0 * k / n if n else None,
                "ci_low": 100.0 * lo, "ci_high": 100.0 * hi}

    excluded = [p for p in people.values() if p["excluded"]]
    return {
        "study": cfg.name,
        "design": cfg.design,
        "closed": closed,
        "confidence": confidence,
        "participants": {
            "joined": len(people),
            "completed": sum(p["completed"] for p in people.values()),
            "excluded": len(excluded),
            "included": len(people) - len(excluded),
        },
        "attention": {
            "checks_answered": sum(p["checks"] for p in people.values()),
            "failures": sum(p["check_failures"] for p in people.values()),
            "participants_excluded": len(excluded),
            "rule": f"excluded when more than {cfg.max_check_failures} attention check(s) failed",
        },
        "models": [row(name, k, n) for name, (k, n) in counts.items()],
        "real": row(REAL, real[0], real[1]) if cfg.design == "single" else None,
        "per_participant": [
            {k: p[k] for k in ("participant", "answered", "trials", "judged", "accuracy", "check_failures",
                               "excluded", "completed")}
            for p in sorted(people.values(), key=lambda q: q["participant"])
        ],
    }


CSV_FIELDS = ("participant", "trial", "kind", "model", "images", "truth", "response", "correct", "judged_real",
              "rt_ms", "answered_at", "excluded")


def answers_csv(study: str | os.PathLike[str] | Study) -> str:
    """One CSV row per answered trial (practice and checks included, marked by ``kind``)."""
    st = study if isinstance(study, Study) else open_study(study)
    res = study_results(st)
    excluded = {p["participant"] for p in res["per_participant"] if p["excluded"]}
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_FIELDS)
    for r in _rows(st):
        if r["response"] is None:
            continue
        generated = r["kind"] != "check" and not (st.config.design == "single" and r["truth"] == REAL)
        w.writerow([
            r["participant"], r["idx"], r["kind"], r["model"] or "", " ".join(json.loads(r["images"])), r["truth"],
            r["response"], int(r["response"] == r["truth"]),
            int(judged_real(st.config.design, r["truth"], r["response"])) if generated else "",
            "" if r["rt_ms"] is None else f"{r['rt_ms']:.1f}", f"{r['answered_at']:.3f}",
            int(r["participant"] in excluded),
        ])
    return buf.getvalue()


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.1f}%"


def format_results(res: dict[str, Any]) -> str:
    """The results as a plain-text table (what ``genzoo study results`` prints)."""
    conf = int(round(100 * res["confidence"]))
    pp, att = res["participants"], res["attention"]
    lines = [
        f"study {res['study']} ({res['design']}{', closed' if res['closed'] else ''}): {pp['joined']} participants, "
        f"{pp['completed']} completed, {pp['excluded']} excluded",
        f"attention checks: {att['checks_answered']} answered, {att['failures']} failed; {att['rule']}",
        "",
        f"{'model':<20} {'n':>6} {'judged real':>12} {'% real':>8}   {conf}% Wilson CI",
    ]
    shown = list(res["models"]) + ([res["real"]] if res["real"] else [])
    for m in shown:
        ci = f"[{m['ci_low']:.1f}, {m['ci_high']:.1f}]" if m["n"] else "-"
        label = m["model"] + (" (real images)" if m["model"] == REAL else "")
        lines.append(f"{label:<20} {m['n']:>6} {m['judged_real']:>12} {_pct(m['percent_real']):>8}   {ci}")
    lines += ["", f"{'participant':>11} {'answered':>9} {'judged':>7} {'accuracy':>9} {'checks failed':>14}  status"]
    for p in res["per_participant"]:
        acc = "-" if p["accuracy"] is None else f"{100 * p['accuracy']:.1f}%"
        status = "excluded" if p["excluded"] else ("done" if p["completed"] else "in progress")
        lines.append(f"{p['participant']:>11} {p['answered']:>5}/{p['trials']:<3} {p['judged']:>7} {acc:>9} "
                     f"{p['check_failures']:>14}  {status}")
    return "\n".join(lines)


def write_csv(study: str | os.PathLike[str] | Study, out: str | os.PathLike[str]) -> Path:
    from genzoo.fileio import atomic_write_bytes

    atomic_write_bytes(out, answers_csv(study).encode())
    return Path(out)
