"""The study server (Starlette): participant pages and API, images, and token-protected admin pages.

Participant URLs (``S`` a study name, ``T`` a participant's secret token)::

    GET  /                       the studies served, with their participant links
    GET  /s/S/                   instructions and a start button (resumes a participant known to this browser)
    POST /s/S/join               -> {"token": T, "url": "/s/S/p/T"} (403 when the study is closed)
    GET  /s/S/p/T                the trial page (mouse or keyboard)
    GET  /s/S/api/T              -> the participant's state: next trial (image URLs only), progress
    POST /s/S/api/T/answer       {"index": i, "response": "real"|"fake"|"left"|"right", "rt_ms": ms}
    GET  /s/S/img/ID             one stored image (opaque id; nothing outside the study's image store)

Admin URLs (token from ``Authorization: Bearer``, ``X-Genzoo-Token`` or ``?token=``; 401 without)::

    GET  /admin/                 results of every study, with CSV links and close/reopen buttons
    GET  /admin/S/results.json   :func:`genzoo.web.results.study_results`
    GET  /admin/S/answers.csv    :func:`genzoo.web.results.answers_csv`
    POST /admin/S/close, /admin/S/open
    POST /admin/create           a study config (YAML body, or form field ``config``) -> created and served;
                                 relative paths are relative to the server's working directory

A participant's responses never include the key (which images are real, which model made them, which
trials are attention checks) or anything about other participants; only practice answers get feedback.
"""

from __future__ import annotations

import html
import re
import threading
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from genzoo.web.common import (
    STATIC_DIR,
    STATIC_FILES,
    NotFound,
    page,
    parse_json_body,
    request_token,
    safe_file,
    token_ok,
)
from genzoo.web.results import answers_csv, study_results
from genzoo.web.store import RequestError, Study

TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
IMAGE_RE = re.compile(r"^[0-9a-f]{32}$")
NO_STORE = {"Cache-Control": "no-store"}


class StudyServer:
    """The state behind the app: the studies by name, the admin token and one connection per thread."""

    def __init__(self, studies: list[Study], admin_token: str, studies_dir: Path) -> None:
        self.studies = {s.name: s for s in studies}
        if len(self.studies) != len(studies):
            raise RequestError(400, "two studies with the same name")
        self.admin_token = admin_token
        self.studies_dir = studies_dir
        self._local = threading.local()
        self._create_lock = threading.Lock()

    def create(self, text: str) -> Study:
        """Create a study from config text (YAML) in ``studies_dir`` and serve it; bad config -> 422."""
        import yaml

        from genzoo.web import StudyError
        from genzoo.web.store import open_study
        from genzoo.web.study import create_study, parse_config

        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise RequestError(422, f"config is not valid YAML ({str(e).splitlines()[0]})") from None
        with self._create_lock:
            try:
                cfg = parse_config(doc, "config", Path.cwd())
                if cfg.name in self.studies:
                    raise RequestError(409, f"a study named {cfg.name!r} is already served")
                st = open_study(create_study(cfg, self.studies_dir / cfg.name))
            except RequestError:
                raise
            except (StudyError, ValueError, KeyError) as e:  # bad config, data or run (nothing was written)
                raise RequestError(422, str(e)) from None
            self.studies[st.name] = st
        return st

    def study(self, name: str) -> Study:
        st = self.studies.get(name)
        if st is None:
            raise RequestError(404, f"unknown study {name!r}")
        return st

    def con(self, st: Study) -> Any:
        cons = self._local.__dict__.setdefault("cons", {})
        if st.name not in cons:
            cons[st.name] = st.connect()
        return cons[st.name]

    def state(self, st: Study, token: str) -> dict[str, Any]:
        con = self.con(st)
        number, total = st.participant(con, token)
        done = st.progress(con, number)
        out: dict[str, Any] = {
            "study": st.name, "design": st.config.design, "presentation_ms": st.config.presentation_ms,
            "total": total, "next": done, "done": done >= total, "closed": st.is_closed(con), "trial": None,
        }
        if done < total:
            kind, images, _ = st.trial(con, number, done)
            out["trial"] = {"index": done, "practice": kind == "practice",
                            "images": [f"/s/{st.name}/img/{i}" for i in images]}
        return out


def _error(e: RequestError) -> JSONResponse:
    return JSONResponse({"error": str(e)}, status_code=e.status, headers=NO_STORE)


def _participant_token(token: str) -> str:
    if not TOKEN_RE.match(token):
        raise RequestError(404, "unknown participant")
    return token


def create_app(studies: list[Study], admin_token: str, studies_dir: str | Path = "studies") -> Starlette:
    """The Starlette app serving ``studies``; admin pages need ``admin_token``; studies created from the
    admin page go to ``studies_dir``."""
    srv = StudyServer(studies, admin_token, Path(studies_dir))

    def guard(fn: Any) -> Any:
        async def endpoint(request: Request) -> Response:
            try:
                return await fn(request)
            except RequestError as e:
                return _error(e)
            except NotFound:
                return PlainTextResponse("not found", status_code=404)

        return endpoint

    def admin(fn: Any) -> Any:
        async def endpoint(request: Request) -> Response:
            given = request_token(request)
            if given is None:
                raise RequestError(401, "admin pages need the token printed when the server started (?token=...)")
            if not token_ok(given, srv.admin_token):
                raise RequestError(403, "wrong admin token")
            return await fn(request)

        return guard(endpoint)

    # ----- participants ----------------------------------------------------------------------------
    async def index(request: Request) -> Response:
        items = "".join(f'<li><a href="/s/{html.escape(n)}/">{html.escape(n)}</a></li>' for n in list(srv.studies))
        return HTMLResponse(page("genzoo studies", f"<main><h1>Studies</h1><ul>{items}</ul></main>"))

    async def start(request: Request) -> Response:
        st = srv.study(request.path_params["study"])
        cfg = st.config
        if cfg.design == "single":
            task = ("You will see one image at a time. Decide whether it is a <b>real</b> photograph from the "
                    "data set or <b>generated</b> by a computer. Keys: <kbd>R</kbd> real, <kbd>F</kbd> fake.")
        else:
            task = ("You will see two images side by side. One is real, one is generated by a computer. Choose "
                    "the <b>real</b> one. Keys: <kbd>&larr;</kbd> or <kbd>1</kbd> left, <kbd>&rarr;</kbd> or "
                    "<kbd>2</kbd> right.")
        shown = (f"Each image is shown for {cfg.presentation_ms / 1000:g} s, then hidden; you can answer after."
                 if cfg.presentation_ms else "The images stay until you answer.")
        extra = f"<p>{html.escape(cfg.instructions)}</p>" if cfg.instructions else ""
        practice = f"The first {cfg.practice} trials are practice and tell you if you were right." if cfg.practice \
            else ""
        body = (f"<main><h1>{html.escape(cfg.name)}</h1><p>{task}</p><p>{shown} {practice}</p>{extra}"
                '<p><button id="start" type="button">Start</button></p><p id="message" role="status"></p></main>')
        return HTMLResponse(page(cfg.name, body, "study.js", {"page": "start", "study": st.name}), headers=NO_STORE)

    async def join(request: Request) -> Response:
        st = srv.study(request.path_params["study"])
        token = await run_in_threadpool(lambda: st.join(srv.con(st)))
        return JSONResponse({"token": token, "url": f"/s/{st.name}/p/{token}"}, headers=NO_STORE)

    async def trial_page(request: Request) -> Response:
        st = srv.study(request.path_params["study"])
        token = _participant_token(request.path_params["token"])
        await run_in_threadpool(lambda: st.participant(srv.con(st), token))
        buttons = ('<button type="button" data-response="real">Real (R)</button>'
                   '<button type="button" data-response="fake">Fake (F)</button>') if st.config.design == "single" \
            else ('<button type="button" data-response="left">&larr; Left is real</button>'
                  '<button type="button" data-response="right">Right is real &rarr;</button>')
        body = ('<main><p id="progress"></p><div id="stage" class="stage"></div>'
                f'<div id="answers" class="answers">{buttons}</div><p id="feedback" role="status"></p></main>')
        data = {"page": "trial", "study": st.name, "token": token}
        return HTMLResponse(page(st.name, body, "study.js", data), headers=NO_STORE)

    async def state(request: Request) -> Response:
        st = srv.study(request.path_params["study"])
        token = _participant_token(request.path_params["token"])
        return JSONResponse(await run_in_threadpool(srv.state, st, token), headers=NO_STORE)

    async def answer(request: Request) -> Response:
        st = srv.study(request.path_params["study"])
        token = _participant_token(request.path_params["token"])
        doc = parse_json_body(await request.body())
        unknown = sorted(set(doc) - {"index", "response", "rt_ms"})
        if unknown:
            raise RequestError(422, f"unknown field(s) {', '.join(unknown)}; send index, response, rt_ms")
        if "index" not in doc or "response" not in doc:
            raise RequestError(422, "send index and response")

        def work() -> dict[str, Any]:
            con = srv.con(st)
            number, truth = st.answer(con, token, doc["index"], doc["response"], doc.get("rt_ms"))
            out: dict[str, Any] = {"ok": True}
            kind, _, _ = st.trial(con, number, doc["index"])
            if kind == "practice":
                out["feedback"] = "correct" if doc["response"] == truth else "wrong"
            out["state"] = srv.state(st, token)
            return out

        return JSONResponse(await run_in_threadpool(work), headers=NO_STORE)

    async def image(request: Request) -> Response:
        st = srv.study(request.path_params["study"])
        image_id = request.path_params["image"]
        if not IMAGE_RE.match(image_id) or image_id not in st.image_ids:
            raise NotFound(image_id)
        path = safe_file(st.image_dir, f"{image_id}.png", (".png",))
        return FileResponse(path, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in STATIC_FILES:
            raise NotFound(name)
        return FileResponse(safe_file(STATIC_DIR, name), media_type=STATIC_FILES[name])

    # ----- admin -------------------------------------------------------------------------------------
    async def admin_index(request: Request) -> Response:
        token = request_token(request) or ""
        from genzoo.web.results import format_results

        parts = ["<main><h1>Study results</h1>"]
        for name, st in list(srv.studies.items()):
            res = await run_in_threadpool(study_results, st)
            q = f"?token={html.escape(token, quote=True)}"
            action = "open" if res["closed"] else "close"
            parts.append(
                f"<section><h2>{html.escape(name)}</h2><pre>{html.escape(format_results(res))}</pre>"
                f'<p><a href="/admin/{html.escape(name)}/answers.csv{q}">answers.csv</a> &middot; '
                f'<a href="/admin/{html.escape(name)}/results.json{q}">results.json</a> &middot; '
                f'participant link: <a href="/s/{html.escape(name)}/">/s/{html.escape(name)}/</a></p>'
                f'<form method="post" action="/admin/{html.escape(name)}/{action}{q}">'
                f'<button type="submit">{action} the study</button></form></section>'
            )
        q = f"?token={html.escape(token, quote=True)}"
        parts.append(
            f'<section><h2>New study</h2><form method="post" action="/admin/create{q}">'
            '<p><textarea name="config" rows="12" cols="80" placeholder="study config (YAML), as for '
            '`genzoo study create`"></textarea></p><button type="submit">create and serve</button></form></section>'
        )
        parts.append("</main>")
        return HTMLResponse(page("genzoo study results", "".join(parts)), headers=NO_STORE)

    async def admin_create(request: Request) -> Response:
        raw = await request.body()
        if len(raw) > 65536:
            raise RequestError(413, "config over 64 KiB")
        if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            from urllib.parse import parse_qs

            text = (parse_qs(raw.decode("utf-8", "replace")).get("config") or [""])[0]
        else:
            text = raw.decode("utf-8", "replace")
        st = await run_in_threadpool(srv.create, text)
        if "text/html" in request.headers.get("accept", ""):
            return Response(status_code=303, headers={"Location": f"/admin/?token={request_token(request) or ''}"})
        return JSONResponse({"study": st.name, "url": f"/s/{st.name}/", "folder": str(st.root)}, headers=NO_STORE)

    async def admin_json(request: Request) -> Response:
        st = srv.study(request.path_params["study"])
        return JSONResponse(await run_in_threadpool(study_results, st), headers=NO_STORE)

    async def admin_csv(request: Request) -> Response:
        st = srv.study(request.path_params["study"])
        text = await run_in_threadpool(answers_csv, st)
        return Response(text, media_type="text/csv", headers={
            **NO_STORE, "Content-Disposition": f'attachment; filename="{st.name}-answers.csv"'})

    def set_closed(closed: bool) -> Any:
        async def fn(request: Request) -> Response:
            st = srv.study(request.path_params["study"])
            await run_in_threadpool(lambda: st.set_closed(srv.con(st), closed))
            if "text/html" in request.headers.get("accept", ""):
                token = request_token(request) or ""
                return Response(status_code=303, headers={"Location": f"/admin/?token={token}"})
            return JSONResponse({"study": st.name, "closed": closed}, headers=NO_STORE)

        return fn

    routes = [
        Route("/", guard(index)),
        Route("/static/{name}", guard(static)),
        Route("/s/{study}/", guard(start)),
        Route("/s/{study}/join", guard(join), methods=["POST"]),
        Route("/s/{study}/p/{token}", guard(trial_page)),
        Route("/s/{study}/api/{token}", guard(state)),
        Route("/s/{study}/api/{token}/answer", guard(answer), methods=["POST"]),
        Route("/s/{study}/img/{image}", guard(image)),
        Route("/admin/", admin(admin_index)),
        Route("/admin/create", admin(admin_create), methods=["POST"]),
        Route("/admin/{study}/results.json", admin(admin_json)),
        Route("/admin/{study}/answers.csv", admin(admin_csv)),
        Route("/admin/{study}/close", admin(set_closed(True)), methods=["POST"]),
        Route("/admin/{study}/open", admin(set_closed(False)), methods=["POST"]),
    ]
    return Starlette(routes=routes)


def study_paths(paths: list[str | Path]) -> list[Study]:
    from genzoo.web.store import open_study

    return [open_study(p) for p in paths]
