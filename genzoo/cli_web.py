"""``genzoo study`` and ``genzoo explore``: the local web app's commands (registered into :mod:`genzoo.cli`).

    genzoo study create CONFIG.yaml [-o STUDY_DIR]
    genzoo study serve [STUDY_DIR ...] [--host 127.0.0.1] [--port 8000] [--token T] [--studies-dir DIR]
    genzoo study results STUDY_DIR [--csv OUT.csv] [--json]
    genzoo study export STUDY_DIR -o OUT.csv
    genzoo study close|open STUDY_DIR
    genzoo explore RUN_DIR [RUN_DIR ...] [--host 127.0.0.1] [--port 8001] [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os

from genzoo.cli import command


def _serve_args(p: argparse.ArgumentParser, port: int) -> None:
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1, this machine only; others warn that they expose it)")
    p.add_argument("--port", type=int, default=port)


@command("study", "human evaluation: create a real-vs-generated study, serve it, read its results")
def _study_args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True)
    c = sub.add_parser("create", help="draw and store a study's images from its YAML config")
    c.add_argument("config", help="study config YAML (see genzoo.web.study)")
    c.add_argument("-o", "--out", help="study folder (default: studies/<name>)")
    c.add_argument("--data-dir", help="where the real data set's files are (default: the config's data_dir, "
                   "else $GENZOO_DATA_DIR or ./data)")
    s = sub.add_parser("serve", help="serve studies to participants (and admin pages behind a token)")
    s.add_argument("studies", nargs="*", metavar="STUDY_DIR",
                   help="studies to serve (default: every study in --studies-dir); the admin page can add more")
    _serve_args(s, 8000)
    s.add_argument("--token", help="admin token (default: $GENZOO_ADMIN_TOKEN, else a fresh random one)")
    s.add_argument("--studies-dir", default="studies",
                   help="where studies created on the admin page go (default: studies)")
    r = sub.add_parser("results", help="print %% judged real per model (Wilson CI), participants, checks")
    r.add_argument("study", metavar="STUDY_DIR")
    r.add_argument("--csv", help="also write the per-trial answers to this CSV file")
    r.add_argument("--json", action="store_true", help="print the results as JSON")
    e = sub.add_parser("export", help="write the per-trial answers as CSV")
    e.add_argument("study", metavar="STUDY_DIR")
    e.add_argument("-o", "--out", required=True, help="CSV path")
    for action in ("close", "open"):
        x = sub.add_parser(action, help=f"{action} a study to new participants and answers")
        x.add_argument("study", metavar="STUDY_DIR")


@_study_args.run
def _study(a: argparse.Namespace) -> int:
    if a.action == "create":
        import dataclasses

        from genzoo.web.study import create_study, load_config

        cfg = load_config(a.config)
        if a.data_dir:
            cfg = dataclasses.replace(cfg, data_dir=a.data_dir)
        out = create_study(cfg, a.out)
        print(f"created study {out} (serve it with: genzoo study serve {out})")
        return 0
    if a.action == "serve":
        from genzoo.web import require_web

        require_web()
        from pathlib import Path

        from genzoo.web.common import new_token, serve
        from genzoo.web.study_app import create_app, study_paths

        found = sorted(p.parent for p in Path(a.studies_dir).glob("*/study.sqlite")) if not a.studies else []
        studies = study_paths(a.studies or found)
        token = a.token or os.environ.get("GENZOO_ADMIN_TOKEN") or new_token()
        base = f"http://{a.host}:{a.port}"
        banner = [f"participants: {base}/s/{st.name}/" for st in studies]
        banner.append(f"admin (results, CSV, close): {base}/admin/?token={token}")
        serve(create_app(studies, token, a.studies_dir), a.host, a.port, banner)
        return 0
    from genzoo.web.results import format_results, study_results, write_csv
    from genzoo.web.store import open_study

    st = open_study(a.study)
    if a.action == "results":
        res = study_results(st)
        print(json.dumps(res, indent=1) if a.json else format_results(res))
        if a.csv:
            print(f"wrote {write_csv(st, a.csv)}")
        return 0
    if a.action == "export":
        print(f"wrote {write_csv(st, a.out)}")
        return 0
    con = st.connect()
    try:
        st.set_closed(con, a.action == "close")
    finally:
        con.close()
    print(f"study {st.name} is {'closed' if a.action == 'close' else 'open'}")
    return 0


@command("explore", "a local web page to explore runs: samples by seed, latent walks, neighbours, metrics")
def _explore_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("runs", nargs="+", metavar="RUN_DIR")
    _serve_args(p, 8001)
    p.add_argument("--data-dir", help="where the training data is (for nearest neighbours)")
    p.add_argument("--device", default="cpu")


@_explore_args.run
def _explore(a: argparse.Namespace) -> int:
    from genzoo.web import require_web

    require_web()
    from genzoo.web.common import serve
    from genzoo.web.explore import create_app, open_runs

    runs = open_runs(a.runs)
    base = f"http://{a.host}:{a.port}"
    serve(create_app(runs, a.data_dir, a.device), a.host, a.port, [f"explore: {base}/r/{name}/" for name in runs])
    return 0
