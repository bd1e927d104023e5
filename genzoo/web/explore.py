"""``genzoo explore``: one page per run with the pictures a researcher otherwise writes a notebook for.

- sample grids by seed (``genzoo.api.sample``: the same seed gives the grid ``genzoo sample`` writes),
  for conditional models optionally of one class;
- latent interpolation and vector arithmetic (:mod:`genzoo.latent`; Radford et al. 2016, Sec. 6.1 and
  6.3) where the model has a latent code; arithmetic groups are indices into the grid shown;
- the nearest training images (pixel L2, :func:`genzoo.metrics.memorisation.nearest_neighbours`) of a
  sample picked by clicking on it (the check of Goodfellow et al. 2014, Fig. 2, and Theis et al. 2016,
  Sec. 3.3);
- the metrics table (``eval.jsonl``) and training curves (``metrics.jsonl``), drawn with
  :mod:`genzoo.report`;
- the pictures already saved in the run folder.

URLs (``R`` a run's name, its folder's name)::

    GET /r/R/                                    the page
    GET /r/R/api/info                            model, data shape, latent?, conditional?, grid geometry
    GET /r/R/grid.png?seed=0&n=64&nrow=8[&label=3]
    GET /r/R/interpolate.png?seed=0&pairs=4&steps=8&mode=slerp[&label=3]
    GET /r/R/arithmetic.png?seed=0&n=64&expr=a-b%2Bc&groups=a:1,2;b:3;c:4&variations=4&noise=0.25[&label=]
    GET /r/R/api/neighbours?seed=0&n=64&index=5&k=5[&label=]   -> training indices and distances
    GET /r/R/neighbours.png?<same>                the sample, then its k nearest training images
    GET /r/R/files/PATH                          a picture or log file inside the run folder only

Every parameter is range-checked (a bad one is a 422 naming it); pictures are computed on demand under
a per-run lock and the last few are cached.
"""

from __future__ import annotations

import html
import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from io import BytesIO
from pathlib import Path
from typing import Any
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from genzoo.web import StudyError
from genzoo.web.common import STATIC_DIR, STATIC_FILES, NotFound, page, safe_file
from genzoo.web.store import RequestError

RUN_FILE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".jsonl", ".json", ".yaml", ".txt", ".csv", ".html")
MAX_SEED = 2**31 - 1
PADDING = 2  # genzoo.images.make_grid's default padding


class RunView:
    """A run directory being explored: its config, and (lazily) its model and training images."""

    def __init__(self, name: str, root: Path, data_dir: str | None, device: str) -> None:
        from genzoo.config import load_run_config

        self.name, self.root, self.data_dir, self.device = name, root, data_dir, device
        self.config = load_run_config(root)
        self.lock = threading.Lock()
        self._load_lock = threading.Lock()
        self._model: Any = None
        self._train: Any = None
        self._cache: OrderedDict[tuple[Any, ...], Any] = OrderedDict()

    @property
    def model(self) -> Any:
        with self._load_lock:
            if self._model is None:
                from genzoo.api import load

                self._model = load(self.root, self.device)
            return self._model

    def train_images(self) -> Any:
        if self._train is None:
            from genzoo.data import load_dataset

            opts = {k: v for k, v in self.config.data.items() if k != "name"}
            self._train = load_dataset(self.config.data["name"], "train", self.data_dir, **opts).tensor(0)
        return self._train

    def cached(self, key: tuple[Any, ...], fn: Callable[[], Any]) -> Any:
        """``fn()`` under the run's lock, remembering the last 32 results."""
        with self.lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
            value = fn()
            self._cache[key] = value
            while len(self._cache) > 32:
                self._cache.popitem(last=False)
            return value

    def info(self) -> dict[str, Any]:
        from genzoo.images import default_scale
        from genzoo.latent import has_latent

        m = self.model
        shape = list(m.data_info.shape)
        image_shape = shape[-3:]
        return {
            "run": self.name, "model": m.name, "data": self.config.data.get("name"), "shape": shape,
            "latent": has_latent(m), "latent_dim": getattr(m, "latent_dim", None) if has_latent(m) else None,
            "conditional": "label" in m.condition_keys(), "num_classes": int(m.data_info.num_classes),
            "grid": {"padding": PADDING, "scale": default_scale_for(image_shape, default_scale)},
        }

    def samples(self, seed: int, n: int, label: int | None) -> Any:
        """The ``n`` samples of ``seed`` (a video's first frame), float (n, C, H, W) in [0, 1]."""

        def draw() -> Any:
            from genzoo.web import sample_images

            x = sample_images(self.model, n, seed, label)
            return x[:, 0] if x.dim() == 5 else x

        return self.cached(("samples", seed, n, label), draw)


def default_scale_for(image_shape: list[int], fn: Callable[[Any], int]) -> int:
    import torch

    return int(fn(torch.zeros(1, *image_shape)))


def _png(images: Any, nrow: int | None) -> bytes:
    from genzoo.images import default_scale, grid_image

    buf = BytesIO()
    grid_image(images.cpu(), nrow, default_scale(images)).save(buf, format="PNG")
    return buf.getvalue()


# ----- parameters ----------------------------------------------------------------------------------------
def _int(q: Any, name: str, default: int | None, lo: int, hi: int) -> int:
    raw = q.get(name)
    if raw is None or raw == "":
        if default is None:
            raise RequestError(422, f"parameter {name} is required (an integer in [{lo}, {hi}])")
        return default
    try:
        value = int(raw)
    except ValueError:
        raise RequestError(422, f"parameter {name}={raw!r} is not an integer in [{lo}, {hi}]") from None
    if not lo <= value <= hi:
        raise RequestError(422, f"parameter {name}={value} is out of range [{lo}, {hi}]")
    return value


def _float(q: Any, name: str, default: float, lo: float, hi: float) -> float:
    raw = q.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise RequestError(422, f"parameter {name}={raw!r} is not a number in [{lo}, {hi}]") from None
    if not lo <= value <= hi:
        raise RequestError(422, f"parameter {name}={value} is out of range [{lo}, {hi}]")
    return value


def _label(q: Any, run: RunView) -> int | None:
    if q.get("label") in (None, ""):
        return None
    m = run.model
    if "label" not in m.condition_keys():
        raise RequestError(422, f"run {run.name!r} is not class-conditional; drop the label parameter")
    return _int(q, "label", None, 0, m.data_info.num_classes - 1)


def _need_latent(run: RunView) -> Any:
    from genzoo.latent import has_latent

    if not has_latent(run.model):
        raise RequestError(422, f"model {run.model.name!r} of run {run.name!r} has no latent code")
    return run.model


def _groups(raw: str | None, n: int) -> dict[str, list[int]]:
    """``"a:1,2;b:3"`` -> ``{"a": [1, 2], "b": [3]}``; indices must be in ``[0, n)``."""
    if not raw:
        raise RequestError(422, "parameter groups is required, e.g. groups=a:1,2;b:3;c:4")
    out: dict[str, list[int]] = {}
    for part in raw.split(";"):
        name, sep, idx = part.partition(":")
        name = name.strip()
        if not sep or not name.isidentifier() or name in out:
            raise RequestError(422, f"groups entry {part!r} is not NAME:I,J,... (names unique)")
        try:
            values = [int(i) for i in idx.split(",")]
        except ValueError:
            raise RequestError(422, f"groups entry {part!r}: indices must be integers") from None
        if not values or any(not 0 <= v < n for v in values):
            raise RequestError(422, f"groups entry {part!r}: indices must be in [0, {n}) (the grid shown)")
        out[name] = values
    return out


# ----- page -----------------------------------------------------------------------------------------------
def _fmt(v: Any) -> str:
    if v is None:
        return ""
    return f"{v:.4g}" if isinstance(v, float) else html.escape(str(v))


def _metrics_html(run: RunView) -> str:
    from genzoo.report.html import metrics_rows, read_jsonl, training_charts

    evals = read_jsonl(run.root / "eval.jsonl")
    rows = metrics_rows(evals, run.config.model.get("name"), run.config.data.get("name"))
    if rows:
        body = "".join(
            f"<tr><td>{html.escape(r['metric'])}{' (real data)' if r['real'] else ''}</td>"
            f"<td>{html.escape(r['score'])}</td><td>{html.escape(r.get('text', '')) or _fmt(r['value'])}</td>"
            f"<td>{_fmt(r['baseline'])}</td><td title=\"{html.escape(r['paper_note'])}\">{_fmt(r['paper'])}</td></tr>"
            for r in rows
        )
        table = ('<table id="metrics"><tr><th>metric</th><th>score</th><th>value</th><th>real-data baseline</th>'
                 f"<th>paper</th></tr>{body}</table>")
    else:
        table = "<p>No evaluation results yet (<code>genzoo eval RUN_DIR</code> writes eval.jsonl).</p>"
    charts, not_drawn = training_charts(read_jsonl(run.root / "metrics.jsonl"))
    constant = f"<p>Constant, not drawn: {html.escape(', '.join(not_drawn))}</p>" if not_drawn else ""
    curves = (f'<div class="charts" id="curves">{"".join(charts)}</div>{constant}' if charts
              else "<p>No metrics.jsonl.</p>")
    return f"<h2>Metrics</h2>{table}<h2>Training curves</h2>{curves}"


def _saved_pictures(run: RunView) -> str:
    history = sorted(p for p in run.root.glob("samples/*.png") if p.is_file())[-8:]  # the latest grids
    pics = sorted(p for p in run.root.glob("*.png") if p.is_file()) + history
    if not pics:
        return ""
    items = "".join(
        f'<figure><img src="/r/{html.escape(run.name)}/files/{html.escape(quote(p.relative_to(run.root).as_posix()))}" '
        f'alt="" style="width:192px"><figcaption>{html.escape(str(p.relative_to(run.root)))}</figcaption></figure>'
        for p in pics
    )
    return f'<h2>Saved pictures</h2><div class="pics">{items}</div>'


def _run_page(run: RunView, info: dict[str, Any]) -> str:
    label_input = (f'<label>class <input name="label" type="number" min="0" max="{info["num_classes"] - 1}" '
                   'placeholder="all"></label>') if info["conditional"] else ""
    latent = ""
    if info["latent"]:
        latent = (
            '<h2>Latent space</h2><form id="interp-form"><fieldset><legend>Interpolation (Radford et al. 2016, 6.1)'
            '</legend><label>seed <input name="seed" type="number" value="0" min="0"></label>'
            '<label>pairs <input name="pairs" type="number" value="4" min="1" max="16"></label>'
            '<label>steps <input name="steps" type="number" value="8" min="2" max="32"></label>'
            '<label>mode <select name="mode"><option>slerp</option><option>linear</option></select></label>'
            f'{label_input}<button type="submit">walk</button></fieldset></form><div id="interp"></div>'
            '<form id="arith-form"><fieldset><legend>Vector arithmetic on the grid above (Radford et al. 2016, 6.3)'
            '</legend><label>expression <input name="expr" value="a - b + c"></label>'
            '<label>groups <input name="groups" value="a:0,1;b:2;c:3" size="24"></label>'
            '<label>variations <input name="variations" type="number" value="4" min="0" max="16"></label>'
            f'{label_input}<button type="submit">compute</button></fieldset></form><div id="arith"></div>'
        )
    cond = f" &middot; conditional on {info['num_classes']} classes" if info["conditional"] else ""
    body = (
        f"<main class='wide'><h1>{html.escape(run.name)}</h1>"
        f"<p>model <b>{html.escape(str(info['model']))}</b> &middot; data "
        f"<b>{html.escape(str(info['data']))}</b> &middot; images {'x'.join(map(str, info['shape']))}{cond}"
        f"{' &middot; latent dim ' + str(info['latent_dim']) if info['latent'] else ''}</p>"
        '<h2>Samples</h2><form id="grid-form"><label>seed <input name="seed" type="number" value="0" min="0"></label>'
        '<label>n <input name="n" type="number" value="64" min="1" max="256"></label>'
        '<label>per row <input name="nrow" type="number" value="8" min="1" max="32"></label>'
        f'{label_input}<button type="submit">sample</button></form>'
        '<p><small>Click a sample to see its nearest training images; its index is what arithmetic groups use.'
        '</small></p><div class="grid"><img id="grid" alt="samples"></div>'
        '<div id="nn"><p id="nn-text"></p><img id="nn-img" alt="" hidden></div>'
        f"{latent}{_metrics_html(run)}{_saved_pictures(run)}</main>"
    )
    data = {"run": run.name, "info": json.dumps(info)}
    return page(f"explore {run.name}", body, "explore.js", data)


# ----- app ------------------------------------------------------------------------------------------------
def open_runs(paths: list[str | Path]) -> dict[str, Path]:
    """Run folders by name (the folder's name, made unique with -2, -3, ...); a bad folder is an error."""
    out: dict[str, Path] = {}
    for p in paths:
        root = Path(p)
        if not (root / "config.yaml").is_file() and not (root / "config.json").is_file():
            raise StudyError(f"{root}: not a run directory (no config.yaml; train one with `genzoo train`)")
        base = "".join(c if c.isalnum() or c in "-_." else "-" for c in root.resolve().name).lstrip(".") or "run"
        name, k = base, 2
        while name in out:
            name, k = f"{base}-{k}", k + 1
        out[name] = root
    return out


def create_app(runs: dict[str, Path], data_dir: str | None = None, device: str = "cpu") -> Starlette:
    """The explorer app for ``runs`` (name -> run folder)."""
    views = {name: RunView(name, root, data_dir, device) for name, root in runs.items()}

    def run_of(request: Request) -> RunView:
        view = views.get(request.path_params["run"])
        if view is None:
            raise RequestError(404, f"unknown run {request.path_params['run']!r}")
        return view

    def guard(fn: Callable[[Request, RunView], Any]) -> Any:
        async def endpoint(request: Request) -> Response:
            try:
                view = run_of(request)
                return await run_in_threadpool(fn, request, view)
            except RequestError as e:
                return JSONResponse({"error": str(e)}, status_code=e.status)
            except NotFound:
                return PlainTextResponse("not found", status_code=404)
            except ValueError as e:  # a run that cannot be loaded (bad checkpoint, missing data files)
                return JSONResponse({"error": f"run {request.path_params['run']!r}: {e}"}, status_code=500)

        return endpoint

    def png(data: bytes) -> Response:
        return Response(data, media_type="image/png", headers={"Cache-Control": "no-store"})

    def index_page(request: Request) -> Response:
        items = "".join(f'<li><a href="/r/{html.escape(n)}/">{html.escape(n)}</a></li>' for n in views)
        return HTMLResponse(page("genzoo explore", f"<main><h1>Runs</h1><ul>{items}</ul></main>"))

    def run_page(request: Request, run: RunView) -> Response:
        return HTMLResponse(_run_page(run, run.info()))

    def info(request: Request, run: RunView) -> Response:
        return JSONResponse(run.info())

    def grid(request: Request, run: RunView) -> Response:
        q = request.query_params
        seed, n = _int(q, "seed", 0, 0, MAX_SEED), _int(q, "n", 64, 1, 256)
        nrow, label = _int(q, "nrow", 8, 1, 32), _label(q, run)
        return png(_png(run.samples(seed, n, label), nrow))

    def interpolate(request: Request, run: RunView) -> Response:
        from genzoo.latent import interpolation_grid

        q = request.query_params
        model = _need_latent(run)
        seed, pairs, steps = _int(q, "seed", 0, 0, MAX_SEED), _int(q, "pairs", 4, 1, 16), _int(q, "steps", 8, 2, 32)
        mode = q.get("mode", "slerp")
        if mode not in ("slerp", "linear"):
            raise RequestError(422, f"parameter mode={mode!r} must be slerp or linear")
        label = _label(q, run)
        images = run.cached(("interp", seed, pairs, steps, mode, label),
                            lambda: interpolation_grid(model, pairs, steps, seed, mode, label).cpu())
        return png(_png(images, steps))

    def arithmetic(request: Request, run: RunView) -> Response:
        from genzoo.latent import arithmetic_from_samples, parse_expression

        q = request.query_params
        model = _need_latent(run)
        seed, n = _int(q, "seed", 0, 0, MAX_SEED), _int(q, "n", 64, 1, 256)
        groups = _groups(q.get("groups"), n)
        expr = q.get("expr", "")
        if len(expr) > 200:
            raise RequestError(422, "parameter expr is longer than 200 characters")
        try:
            names = {name for _, name in parse_expression(expr)}
        except ValueError as e:
            raise RequestError(422, f"parameter expr: {e}") from None
        if names - set(groups):
            raise RequestError(422, f"expr uses group(s) {', '.join(sorted(names - set(groups)))} not in groups")
        variations, noise = _int(q, "variations", 4, 0, 16), _float(q, "noise", 0.25, 0.0, 10.0)
        label = _label(q, run)
        key = ("arith", seed, json.dumps(groups, sort_keys=True), expr, variations, noise, label)
        images = run.cached(key, lambda: arithmetic_from_samples(
            model, groups, expr, seed, variations, noise, label).cpu())
        return png(_png(images, len(images)))

    def neighbours(request: Request, run: RunView) -> tuple[Any, Any, Any, int]:
        from genzoo.metrics.memorisation import nearest_neighbours

        q = request.query_params
        seed, n = _int(q, "seed", 0, 0, MAX_SEED), _int(q, "n", 64, 1, 256)
        index, k = _int(q, "index", None, 0, n - 1), _int(q, "k", 5, 1, 16)
        label = _label(q, run)
        x = run.samples(seed, n, label)[index : index + 1]
        train = run.cached(("train",), run.train_images) if run._train is None else run._train
        if tuple(train.shape[1:]) != tuple(x.shape[1:]):
            raise RequestError(409, f"training images are {tuple(train.shape[1:])}, samples {tuple(x.shape[1:])}")
        d, i = run.cached(("nn", seed, n, index, k, label), lambda: nearest_neighbours(x, train, k=k))
        return x, train, (d[0], i[0]), index

    def neighbours_json(request: Request, run: RunView) -> Response:
        _, _, (d, i), index = neighbours(request, run)
        return JSONResponse({"index": index, "train_index": [int(v) for v in i],
                             "distance": [round(float(v), 5) for v in d], "metric": "pixel L2"})

    def neighbours_png(request: Request, run: RunView) -> Response:
        import torch

        x, train, (_, i), _ = neighbours(request, run)
        return png(_png(torch.cat([x, train[i]], 0), 1 + len(i)))

    def files(request: Request, run: RunView) -> Response:
        path = safe_file(run.root, request.path_params["path"], RUN_FILE_SUFFIXES)
        return FileResponse(path)

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in STATIC_FILES:
            return PlainTextResponse("not found", status_code=404)
        return FileResponse(safe_file(STATIC_DIR, name), media_type=STATIC_FILES[name])

    async def index(request: Request) -> Response:
        return index_page(request)

    routes = [
        Route("/", index),
        Route("/static/{name}", static),
        Route("/r/{run}/", guard(run_page)),
        Route("/r/{run}/api/info", guard(info)),
        Route("/r/{run}/grid.png", guard(grid)),
        Route("/r/{run}/interpolate.png", guard(interpolate)),
        Route("/r/{run}/arithmetic.png", guard(arithmetic)),
        Route("/r/{run}/api/neighbours", guard(neighbours_json)),
        Route("/r/{run}/neighbours.png", guard(neighbours_png)),
        Route("/r/{run}/files/{path:path}", guard(files)),
    ]
    return Starlette(routes=routes)
