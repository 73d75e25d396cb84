"""aiohttp's own error answers in the hub's JSON error shape.

A request that aiohttp cannot parse (a bad request line, oversized headers, a bad
Content-Length, TLS sent to the HTTP port) is answered by aiohttp itself, before any
middleware runs: a text/plain 400 and a traceback in the log per request. aiohttp offers no
public hook for this (aio-libs/aiohttp#3287, #6463 are open), so the hub plugs in where its
own low-level server does: `RequestHandler.handle_error`, reached through an `AppRunner`
whose server builds `JsonErrorRequestHandler`s. `hub run` uses `AppRunner`, the test kit
(`hub.testing`) the same runner; tests/test_hostile.py pins the behaviour, so an aiohttp
upgrade that moves these internals fails loudly there.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from aiohttp import web

from hub.boundary import printable
from hub.clock import SystemClock
from hub.ratelimit import LogLimiter

log = logging.getLogger("hub.server")
_LOG_LIMIT = LogLimiter(SystemClock())

_CODES = {400: "invalid_request", 404: "not_found", 413: "payload_too_large",
          431: "headers_too_large", 500: "internal_error", 504: "timeout"}


class JsonErrorRequestHandler(web.RequestHandler):
    __slots__ = ()

    def handle_error(self, request: Any, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        if request.writer.output_size > 0:  # an answer was already started: nothing to add
            raise ConnectionError("response already started; cannot send an error")
        reason = "internal error; see the hub log" if status >= 500 else printable(
            (message or getattr(exc, "message", None) or str(exc or "bad request"))
            .split("\n", 1)[0])[:200]
        if status >= 500:
            log.error("error handling a request from %s", request.remote, exc_info=exc)
        else:
            # A broken or hostile client: one short line, rate-limited; never a traceback.
            _LOG_LIMIT.log(log, logging.INFO, f"http-{status}",
                           "refused an unparsable request from %s: %s", request.remote, reason)
        body = orjson.dumps({"error": {"code": _CODES.get(status, "http_error"),
                                       "message": reason}})
        resp = web.Response(status=status, body=body, content_type="application/json")
        resp.force_close()
        return resp


class _Server(web.Server):
    def __call__(self) -> web.RequestHandler:
        return JsonErrorRequestHandler(self, loop=self._loop, **self._kwargs)


class AppRunner(web.AppRunner):
    """`web.AppRunner` whose connections answer aiohttp's own errors as JSON."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        server.__class__ = _Server
        return server
