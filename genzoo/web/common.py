"""Pieces both web apps share: safe file lookup, the admin token, page templates, and serving."""

from __future__ import annotations

import html
import ipaddress
import json
import secrets
import sys
from pathlib import Path
from typing import Any

from genzoo.web import StudyError

STATIC_DIR = Path(__file__).parent / "static"
STATIC_FILES = {"app.css": "text/css", "study.js": "text/javascript", "explore.js": "text/javascript"}
MAX_BODY = 4096  # bytes of a JSON request body


class NotFound(StudyError):
    """Nothing to serve at this path (the server answers 404)."""


def safe_file(root: Path, relative: str, suffixes: tuple[str, ...] | None = None) -> Path:
    """The regular file ``root/relative``, refusing anything that resolves outside ``root``.

    Refused (``NotFound``): empty or absolute paths, NUL bytes, backslashes, ``..`` or hidden components,
    paths whose resolved target (after every symlink) is outside ``root``'s resolved path, non-files, and
    suffixes not in ``suffixes`` (when given). ``relative`` is the already URL-decoded path.
    """
    if not relative or "\x00" in relative or "\\" in relative or relative.startswith("/"):
        raise NotFound(f"no file {relative!r}")
    parts = relative.split("/")
    if any(p in ("", ".", "..") or p.startswith(".") for p in parts):
        raise NotFound(f"no file {relative!r}")
    base = root.resolve()
    try:
        target = (base / relative).resolve(strict=True)
    except (OSError, RuntimeError):
        raise NotFound(f"no file {relative!r}") from None
    if not target.is_relative_to(base) or not target.is_file():
        raise NotFound(f"no file {relative!r}")
    if suffixes is not None and target.suffix.lower() not in suffixes:
        raise NotFound(f"no file {relative!r}")
    return target


def new_token() -> str:
    return secrets.token_urlsafe(18)


def token_ok(given: str | None, expected: str) -> bool:
    return given is not None and secrets.compare_digest(given.encode(), expected.encode())


def request_token(request: Any) -> str | None:
    """The admin token of a request: ``Authorization: Bearer T``, header ``X-Genzoo-Token`` or ``?token=T``."""
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.headers.get("x-genzoo-token") or request.query_params.get("token")


def page(title: str, body: str, script: str | None = None, data: dict[str, Any] | None = None) -> str:
    """A plain HTML page; ``data`` becomes ``data-*`` attributes of ``<body>`` (escaped)."""
    attrs = "".join(f' data-{k}="{html.escape(str(v), quote=True)}"' for k, v in (data or {}).items())
    js = f'<script src="/static/{script}"></script>' if script else ""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{html.escape(title)}</title><link rel="stylesheet" href="/static/app.css"></head>'
        f"<body{attrs}>{body}{js}</body></html>\n"
    )


def parse_json_body(raw: bytes) -> dict[str, Any]:
    from genzoo.web.store import RequestError

    if len(raw) > MAX_BODY:
        raise RequestError(413, f"request body over {MAX_BODY} bytes")
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise RequestError(400, "the request body is not valid JSON") from None
    if not isinstance(doc, dict):
        raise RequestError(422, "the request body must be a JSON object")
    return doc


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(app: Any, host: str, port: int, banner: list[str]) -> None:
    """Run ``app`` with uvicorn; warns on stderr when ``host`` is not a loopback address."""
    import uvicorn

    if not is_loopback(host):
        print(f"warning: serving on {host}: anyone who can reach this machine on port {port} can open the pages; "
              "the admin pages are protected only by the token below", file=sys.stderr)
    for line in banner:
        print(line, flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
