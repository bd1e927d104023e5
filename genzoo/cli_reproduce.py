"""``genzoo reproduce NAME``: one paper's protocol end to end (see :mod:`genzoo.reproduce`).

    genzoo reproduce --list
    genzoo reproduce vae --budget-minutes 60 --data-dir ../shared/data
    genzoo reproduce vae --budget-minutes 30 --continue runs/reproduce/vae-20261128-142518   # 30 more
    genzoo reproduce --render            # regenerate the BENCHMARKS.md section from the results file
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from genzoo.cli import _key_value, _option_key, _parse_value, command


@command("reproduce", "train and evaluate one paper's protocol under a time budget; record it beside the paper")
def _reproduce_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", nargs="?", help="entry (see --list)")
    p.add_argument("--list", action="store_true", help="list the entries: config, metric, paper number")
    p.add_argument("--budget-minutes", type=float, default=60.0, help="training time (evaluations excluded)")
    p.add_argument("--data-dir")
    p.add_argument("--out-dir", default="runs/reproduce", help="run directories go here (default runs/reproduce)")
    p.add_argument("--results", default="benchmarks/results/reproduce.jsonl", help="JSON lines file to append to")
    p.add_argument("--markdown", default="BENCHMARKS.md",
                   help="file whose reproduce section is regenerated (skipped if it has no markers)")
    p.add_argument("--curve-points", type=int, default=3, help="evaluations during training (cheap protocol)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="config override, e.g. --set train.batch_size=256")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="metric option of the final evaluation, e.g. --option subset=10000")
    p.add_argument("--svg", help="also write the metric-vs-time curve as an SVG here")
    p.add_argument("--continue", dest="continue_run", metavar="RUN_DIR",
                   help="train a recorded run of this entry --budget-minutes more; its new row extends the curve")
    p.add_argument("--render", action="store_true", help="only regenerate the markdown section")


def _command_line(a: argparse.Namespace) -> str:
    """The command as typed, rebuilt from the parsed arguments (recorded in the results row)."""
    parts = ["genzoo", "reproduce", a.name, "--budget-minutes", f"{a.budget_minutes:g}"]
    if a.continue_run:
        parts += ["--continue", a.continue_run]
    if a.data_dir:
        parts += ["--data-dir", a.data_dir]
    if a.curve_points != 3:
        parts += ["--curve-points", str(a.curve_points)]
    if a.device != "cpu":
        parts += ["--device", a.device]
    if a.seed:
        parts += ["--seed", str(a.seed)]
    parts += [f"--set {o}" for o in a.overrides] + [f"--option {o}" for o in a.option]
    return " ".join(parts)


@_reproduce_args.run
def _reproduce(a: argparse.Namespace) -> int:
    from genzoo.config import parse_override
    from genzoo.reproduce import (
        ReproduceError,
        entries_as_rows,
        read_results,
        render_markdown,
        reproduce,
        update_markdown,
        write_curve_svg,
    )

    if a.list:
        rows = entries_as_rows()
        widths = {k: max(len(str(e[k])) for e in rows) for k in ("name", "config", "metric")}
        for e in rows:
            paper = "—" if e["paper"] is None else e["paper"]
            print(f"{e['name']:<{widths['name']}}  {e['config']:<{widths['config']}}  "
                  f"{e['metric']:<{widths['metric']}}  paper {paper}  ({e['citation']})")
        return 0
    if not a.render:
        if not a.name:
            raise ReproduceError("name an entry (see `genzoo reproduce --list`), or --render")
        overrides = dict(parse_override(o) for o in a.overrides)
        options = {_option_key(k): _parse_value(v) for k, v in (_key_value(o) for o in a.option)}
        row = reproduce(
            a.name, a.budget_minutes, data_dir=a.data_dir, out_dir=a.out_dir, results_file=a.results,
            curve_points=a.curve_points, device=a.device, seed=a.seed, overrides=overrides, options=options,
            command=_command_line(a), continue_run=a.continue_run,
        )
        print(json.dumps({k: row[k] for k in ("entry", "metric", "value", "stderr", "paper", "epochs",
                                              "train_s", "stopped_by", "time_to")}, default=str))
        print(f"appended to {a.results}; run directory {row['run_dir']}")
        if a.svg:
            print(f"wrote {write_curve_svg(row, a.svg)}")
    if Path(a.markdown).is_file() and update_markdown(a.markdown, read_results(a.results)):
        print(f"regenerated the reproduce section of {a.markdown}")
    elif a.render:
        print(render_markdown(read_results(a.results)))
    return 0
