"""The dashboard's HTTP side: its static files at `/` and `/static/...`, and the security
headers on every answer of the hub.

The files ship in the `hub` distribution (hub/static, package data): plain HTML, CSS and
JavaScript modules, no build step, nothing fetched from outside. They are read once at
start and served from memory with an ETag (and gzip when the browser takes it), so a page
load costs no disk access and a reload costs 304s. The dashboard is a client of the public
REST and WebSocket APIs like any other; see docs/dashboard.md.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
import re
from dataclasses import dataclass
from importlib import resources

from aiohttp import web

from hub.plugin import public_route

STATIC_PREFIX = "/static/"
# Content types by extension; JavaScript modules must be served as JavaScript.
_TYPES = {".html": "text/html", ".css": "text/css", ".js": "text/javascript",
          ".svg": "image/svg+xml", ".json": "application/json", ".png": "image/png",
          ".webmanifest": "application/manifest+json"}
_TEXT = ("text/", "image/svg+xml", "application/json", "application/manifest+json")

# Only the hub's own scripts, styles and connections; images may come from devices and
# services (album art on a speaker or a CDN) but can carry nothing back; no framing at all.
# `connect-src` names ws(s):// explicitly because older browsers do not count them as 'self'.
_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; "
        "img-src 'self' data: https: http:; font-src 'self'; object-src 'none'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'; "
        "connect-src 'self' {ws}")
_HOST = re.compile(r"^[A-Za-z0-9.\-:\[\]]{1,255}$")

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    # Sign-in codes travel in the URL fragment, which browsers never send on; no-referrer
    # also keeps every path and query of the hub out of requests for album art.
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}


@dataclass(frozen=True)
class StaticFile:
    body: bytes
    gzipped: bytes | None
    content_type: str
    etag: str


def load_static() -> dict[str, StaticFile]:
    """Every file under hub/static, by its path relative to it ("index.html", "js/app.js")."""
    files: dict[str, StaticFile] = {}
    root = resources.files("hub").joinpath("static")

    def walk(node, prefix: str) -> None:
        for child in node.iterdir():
            name = prefix + child.name
            if child.is_dir():
                walk(child, name + "/")
                continue
            body = child.read_bytes()
            ext = "." + name.rsplit(".", 1)[-1] if "." in name else ""
            ctype = _TYPES.get(ext) or mimetypes.guess_type(name)[0] or "application/octet-stream"
            packed = gzip.compress(body, 9, mtime=0) if ctype.startswith(_TEXT) else None
            if packed is not None and len(packed) >= len(body) * 0.9:
                packed = None
            files[name] = StaticFile(body, packed, ctype,
                                     '"' + hashlib.sha256(body).hexdigest()[:20] + '"')

    if root.is_dir():
        walk(root, "")
    return files


def _serve(request: web.Request, item: StaticFile) -> web.Response:
    headers = {"ETag": item.etag, "Cache-Control": "no-cache", "Vary": "Accept-Encoding"}
    if item.etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers=headers)
    body = item.body
    if item.gzipped is not None and "gzip" in request.headers.get("Accept-Encoding", ""):
        body = item.gzipped
        headers["Content-Encoding"] = "gzip"
    charset = "utf-8" if item.content_type.startswith(_TEXT) else None
    return web.Response(body=body, headers=headers, content_type=item.content_type,
                        charset=charset)


def register(app: web.Application) -> None:
    files = load_static()

    @public_route
    async def index(request: web.Request) -> web.Response:
        item = files.get("index.html")
        if item is None:  # a hub installed without its package data
            raise web.HTTPNotFound(reason="the dashboard's files are not installed")
        return _serve(request, item)

    @public_route
    async def static(request: web.Request) -> web.Response:
        item = files.get(request.match_info["path"])
        if item is None or request.match_info["path"] == "index.html":
            raise web.HTTPNotFound()
        return _serve(request, item)

    app.router.add_get("/", index)
    app.router.add_get(STATIC_PREFIX + "{path:.+}", static)
    app.on_response_prepare.append(_security_headers)


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    headers = response.headers
    for name, value in SECURITY_HEADERS.items():
        headers.setdefault(name, value)
    host = request.host if _HOST.match(request.host or "") else ""
    ws = f"ws://{host} wss://{host}" if host else ""
    headers.setdefault("Content-Security-Policy", _CSP.format(ws=ws).strip())
    if "Cache-Control" not in headers and response.content_type == "application/json":
        # API answers hold device state, audit records, tokens: never kept by a cache.
        headers["Cache-Control"] = "no-store"
