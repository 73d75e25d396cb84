"""The dashboard's files as the hub serves them (hub.dashboard): security headers on every
answer, caching, nothing fetched from outside, no inline script or style, and the files
declared as package data so a non-editable install ships them."""

from __future__ import annotations

import gzip
import re
import tomllib
from pathlib import Path

import pytest

from hub.dashboard import load_static

ROOT = Path(__file__).resolve().parents[1]
STATIC = ROOT / "hub" / "static"
FILES = sorted(p for p in STATIC.rglob("*") if p.is_file())


@pytest.fixture
async def harness(hub_factory):
    return await hub_factory({"plugins": {"demo": {"players": 1}}}, only=["demo"])


def _csp(headers) -> dict[str, str]:
    return {d.split()[0]: d for d in (part.strip() for part in
                                      headers["Content-Security-Policy"].split(";")) if d}


async def test_the_page_and_every_answer_carry_the_security_headers(harness):
    async with harness.client.get("/") as resp:
        assert resp.status == 200 and resp.content_type == "text/html"
        page = await resp.text()
        headers = resp.headers
    csp = _csp(headers)
    assert csp["script-src"] == "script-src 'self'" and csp["style-src"] == "style-src 'self'"
    assert csp["frame-ancestors"] == "frame-ancestors 'none'"
    assert csp["object-src"] == "object-src 'none'" and csp["base-uri"] == "base-uri 'none'"
    assert "unsafe" not in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["X-Frame-Options"] == "DENY"
    assert "<title>Hub</title>" in page
    # API answers, errors and the WebSocket's refusal carry them too; JSON is never cached.
    for method, path, status in (("GET", "/health", 200), ("GET", "/devices", 401),
                                 ("GET", "/nope", 404), ("GET", "/ws", 400),
                                 ("GET", "/auth/session", 200)):
        async with harness.client.request(method, path) as resp:
            assert resp.status == status, path
            assert resp.headers["X-Content-Type-Options"] == "nosniff", path
            assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"], path
            assert resp.headers["Referrer-Policy"] == "no-referrer", path
            assert resp.headers["Cache-Control"] == "no-store", path


async def test_static_files_are_cached_by_etag_and_gzipped(harness):
    async with harness.client.get("/static/js/devices.js",
                                  headers={"Accept-Encoding": "identity"}) as resp:
        assert resp.status == 200 and resp.content_type == "text/javascript"
        assert resp.headers["Cache-Control"] == "no-cache"
        etag = resp.headers["ETag"]
        plain = await resp.read()
    assert plain == (STATIC / "js" / "devices.js").read_bytes()
    async with harness.client.get("/static/js/devices.js", auto_decompress=False,
                                  headers={"Accept-Encoding": "gzip"}) as resp:
        assert resp.headers["Content-Encoding"] == "gzip"
        assert gzip.decompress(await resp.read()) == plain
    async with harness.client.get("/static/js/devices.js",
                                  headers={"If-None-Match": etag}) as resp:
        assert resp.status == 304 and await resp.read() == b""
    async with harness.client.head("/") as resp:
        assert resp.status == 200


@pytest.mark.parametrize("path", ["/static/", "/static/nope.js", "/static/index.html",
                                  "/static/../hub/app.py", "/static/%2e%2e/hub/app.py",
                                  "/static/js/../../hub/app.py", "/static//etc/passwd"])
async def test_nothing_but_the_dashboards_files_is_served(harness, path):
    async with harness.client.get(path) as resp:
        assert resp.status == 404, path
        assert (await resp.json())["error"]["code"] == "not_found"


def test_every_file_is_loaded_with_its_type():
    files = load_static()
    assert set(files) == {str(p.relative_to(STATIC)) for p in FILES}
    types = {name: f.content_type for name, f in files.items()}
    assert all(t == "text/javascript" for n, t in types.items() if n.endswith(".js"))
    assert types["index.html"] == "text/html" and types["app.css"] == "text/css"


def test_nothing_is_fetched_from_outside_and_nothing_runs_inline():
    page = (STATIC / "index.html").read_text()
    # Every script is an external same-origin module; no inline handlers or styles.
    assert re.findall(r"<script(?![^>]*\bsrc=)", page) == []
    assert not re.search(r"\son[a-z]+=", page) and "style=" not in page and "<style" not in page
    referenced = re.findall(r'(?:src|href)="(/[^"]*)"', page)
    assert referenced and all((STATIC / r.removeprefix("/static/")).is_file()
                              for r in referenced if r.startswith("/static/"))
    for path in FILES:
        text = path.read_text()
        # The SVG namespace is a name, not a fetch.
        urls = [u for u in re.findall(r"(?:https?:)?//[\w.-]+\.[a-z]{2,}", text)
                if "www.w3.org" not in u]
        assert urls == [], (path.name, urls)
        if path.suffix == ".js":
            # Text goes in as text: nothing a device or record says can become markup.
            assert not re.search(r"\.(inner|outer)HTML\s*=|insertAdjacentHTML|document\.write",
                                 text), path.name
            assert "eval(" not in text and "new Function" not in text, path.name
            imports = re.findall(r'^import .* from "([^"]+)";$', text, re.MULTILINE)
            assert imports or path.name in ("dom.js", "api.js", "live.js", "store.js")
            assert all(i.startswith("./") for i in imports), (path.name, imports)


def test_the_files_are_package_data():
    """A non-editable install (a wheel) ships what setuptools' package-data globs select."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["hub"]
    shipped = {p for pattern in patterns for p in (ROOT / "hub").glob(pattern) if p.is_file()}
    assert set(FILES) <= shipped, set(FILES) - shipped
