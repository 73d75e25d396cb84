"""The plugin's HTTP routes, under /integrations/spotify/: start linking, and the callback.

`authorize` is administration: the core lets only the owner through and audits it
(`spotify.authorize`, denials included).
`callback` is public because Spotify sends the user's browser there without our token; the
single-use state, bound to the principal who asked, is what authenticates it.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from aiohttp import web

from hub.plugin import InvalidRequest, admin_route, public_route
from hub_spotify.config import callback_uri
from hub_spotify.oauth import authorize_url

if TYPE_CHECKING:
    from hub_spotify.plugin import SpotifyPlugin


def page(status: int, title: str, text: str) -> web.Response:
    """A small self-contained HTML page for the browser that comes back from Spotify."""
    body = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title></head>"
        f"<body><h1>{html.escape(title)}</h1><p>{html.escape(text)}</p></body></html>")
    return web.Response(status=status, text=body, content_type="text/html")


def build_routes(plugin: SpotifyPlugin) -> list[web.RouteDef]:
    @admin_route("authorize")
    async def authorize(request: web.Request) -> web.Response:
        ctx = plugin.ctx
        principal = await ctx.authenticate(request)
        redirect = callback_uri(ctx.config, ctx.hub_url)
        link = plugin.links.create(principal.id, redirect)
        url = authorize_url(
            ctx.config["accounts_url"], client_id=ctx.config["client_id"],
            redirect_uri=redirect, scopes=ctx.config["scopes"], link=link,
            show_dialog=request.query.get("show_dialog") in ("1", "true"))
        # A redirect for browsers, and the URL in the body for `hub spotify link` and scripts.
        return web.json_response({"url": url}, status=302, headers={"Location": url})

    @public_route
    async def callback(request: web.Request) -> web.Response:
        ctx = plugin.ctx
        query = request.query
        # A caller that does identify itself must be the one who started the link; checked
        # before the state is used up, so someone else's request cannot burn it.
        principal = (await ctx.authenticate(request)
                     if request.headers.get("Authorization") else None)
        link = plugin.links.consume(query.get("state"))
        if link is None:
            raise InvalidRequest(
                "unknown, expired or already used state: start again with `hub spotify link`",
                code="invalid_state")
        if principal is not None and principal.id != link.principal_id:
            plugin.links._pending[link.state] = link  # not this caller's: left unused
            raise InvalidRequest("this link was started by another principal",
                                 code="invalid_state")
        error = query.get("error")
        if error:
            message = ("You declined access in Spotify, so nothing was linked."
                       if error == "access_denied" else f"Spotify answered: {error}.")
            return page(400, "Spotify account not linked",
                        f"{message} Run `hub spotify link` to try again.")
        code = query.get("code")
        if not code:
            raise InvalidRequest("the callback has no code", code="invalid_request")
        info = await plugin.complete_link(link, code)
        return page(200, "Spotify account linked",
                    f"The Spotify account {info.display_name} is linked to the hub as "
                    f"spotify.{info.id}. You can close this page.")

    # web.route rather than web.get: the core mounts with router.add_route, which does not
    # take web.get's `allow_head` keyword.
    return [web.route("GET", "/authorize", authorize), web.route("GET", "/callback", callback)]
