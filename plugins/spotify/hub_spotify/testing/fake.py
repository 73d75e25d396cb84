"""A faithful fake of Spotify's accounts service and Web API player, for tests and demos.

One aiohttp application serves both halves, like two hosts behind one port:

    /authorize, /api/token        the accounts service (authorization code + PKCE, refresh)
    /v1/me, /v1/me/player/...     the Web API player with real state per user

It keeps the behaviour clients trip over: access tokens expire on the fake's clock, refresh
tokens die six months after the user's authorization (Spotify's 2026 rule), PKCE refresh
tokens rotate, `GET /me/player` answers 204 when nothing is active, commands without an
active device answer 404 NO_ACTIVE_DEVICE, a free account gets 403 PREMIUM_REQUIRED, and a
test can ask for 429 with Retry-After, 5xx, or the odd 200/202 answers real commands give.

Everything the fake receives and answers is kept in `exchanges` so a contract test can
validate both directions against the OpenAPI spec, and every secret it ever issued or saw is
kept in `secrets_seen` so a test can scan the hub for them.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import json
import re
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

from aiohttp import web

from hub_spotify.testing.catalog import Library, catalog, library_for
from hub_spotify.testing.library_api import LibraryAPI

ACCESS_TOKEN_LIFETIME = 3600
# Since July 2026 a refresh token lives six months from the user's authorization; refreshing
# does not extend it.
REFRESH_TOKEN_LIFETIME = 183 * 24 * 3600
CODE_LIFETIME = 600

PLAYER_ERROR = "Player command failed"
ALL_SCOPES = (
    "user-read-private user-read-playback-state user-modify-playback-state "
    "user-read-currently-playing user-library-read user-follow-read "
    "user-read-recently-played playlist-read-private playlist-read-collaborative").split()
TOKEN_PATH = "/api/token"
VERIFIER = re.compile(r"[A-Za-z0-9._~-]{43,128}")
CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")


class WallClock:
    """The real clock, for when the fake runs on its own."""

    def time(self) -> float:
        return time.time()


@dataclass
class FakeDevice:
    id: str
    name: str
    type: str = "Speaker"
    volume_percent: int | None = 50
    supports_volume: bool = True
    is_restricted: bool = False
    is_private_session: bool = False

    def as_json(self, active: bool) -> dict[str, Any]:
        return {
            "id": self.id,
            "is_active": active,
            "is_private_session": self.is_private_session,
            "is_restricted": self.is_restricted,
            "name": self.name,
            "type": self.type,
            "volume_percent": self.volume_percent,
            "supports_volume": self.supports_volume,
        }


@dataclass
class FakeUser:
    id: str
    display_name: str
    product: str = "premium"  # premium | free
    devices: list[FakeDevice] = field(default_factory=list)
    active_device: str | None = None
    is_playing: bool = False
    tracks: list[str] = field(default_factory=list)  # the current list of track URIs
    index: int = 0
    context_uri: str | None = None
    progress_ms: int = 0
    progress_at: float = 0.0  # fake-clock time at which progress_ms was true
    shuffle: bool = False
    repeat: str = "off"  # off | context | track
    queue: list[str] = field(default_factory=list)
    changed_at: float = 0.0
    library: Library | None = None  # playlists, saved items, follows, history

    def device(self, device_id: str | None) -> FakeDevice | None:
        return next((d for d in self.devices if d.id == device_id), None)


@dataclass
class Grant:
    """An authorization the user gave: the code's and then the refresh token's origin."""

    client_id: str
    user_id: str
    redirect_uri: str
    scope: str
    code_challenge: str | None
    authorized_at: float


@dataclass
class Exchange:
    """One request the fake received and the response it gave (for contract tests)."""

    method: str
    path: str
    query: dict[str, str]
    request_headers: dict[str, str]
    request_body: bytes
    status: int
    response_headers: dict[str, str]
    response_body: bytes
    route: str = ""  # the route that answered, e.g. "GET /v1/albums/{id}"


def track_json(uri: str) -> dict[str, Any]:
    """A catalogue entry for any track URI: the fake has every track, all 3:20 long."""
    track_id = uri.rsplit(":", 1)[-1]
    album_id = f"album{track_id[:6]}"
    artist = {
        "external_urls": {"spotify": f"https://open.spotify.com/artist/artist{track_id[:4]}"},
        "href": f"https://api.spotify.com/v1/artists/artist{track_id[:4]}",
        "id": f"artist{track_id[:4]}",
        "name": f"Artist {track_id[:4]}",
        "type": "artist",
        "uri": f"spotify:artist:artist{track_id[:4]}",
    }
    return {
        "album": {
            "album_type": "album",
            "total_tracks": 10,
            "available_markets": ["SE", "US"],
            "external_urls": {"spotify": f"https://open.spotify.com/album/{album_id}"},
            "href": f"https://api.spotify.com/v1/albums/{album_id}",
            "id": album_id,
            "images": [],
            "name": f"Album {track_id[:6]}",
            "release_date": "2024-01-01",
            "release_date_precision": "day",
            "type": "album",
            "uri": f"spotify:album:{album_id}",
            "artists": [artist],
        },
        "artists": [artist],
        "available_markets": ["SE", "US"],
        "disc_number": 1,
        "duration_ms": 200_000,
        "explicit": False,
        "external_ids": {},
        "external_urls": {"spotify": f"https://open.spotify.com/track/{track_id}"},
        "href": f"https://api.spotify.com/v1/tracks/{track_id}",
        "id": track_id,
        "is_playable": True,
        "name": f"Track {track_id}",
        "popularity": 50,
        "track_number": 1,
        "type": "track",
        "uri": uri,
        "is_local": False,
    }


def context_tracks(context_uri: str) -> list[str]:
    """The fake's albums and playlists: ten tracks named after the context."""
    ctx_id = context_uri.rsplit(":", 1)[-1]
    return [f"spotify:track:{ctx_id}t{n:02d}" for n in range(1, 11)]


class FakeSpotify:
    """The fake's state and its aiohttp application (`app`).

    `clock` needs only `time()`: share the test's ManualClock so access-token expiry follows
    the test's time. Register clients with `add_client` and users with `add_user`; `login_as`
    picks who approves the next `/authorize` and `deny_next` makes it answer access_denied.
    """

    def __init__(self, *, clock: Any = None, command_status: int = 204) -> None:
        self.clock = clock or WallClock()
        self.clients: dict[str, str | None] = {}  # client_id -> client_secret (None: PKCE only)
        self.redirect_uris: dict[str, list[str]] = {}  # client_id -> its allow-list
        self.users: dict[str, FakeUser] = {}
        self.login_as: str | None = None
        self.deny_next = False
        self.rotate_refresh_tokens = False  # Spotify rotates PKCE refresh tokens sometimes
        self.access_token_lifetime = ACCESS_TOKEN_LIFETIME
        # Real player commands answer 204, but also 200 with an opaque body or 202.
        self.command_status = command_status
        self._codes: dict[str, Grant] = {}
        # token -> (user id, expires at, granted scopes)
        self._access: dict[str, tuple[str, float, frozenset[str]]] = {}
        # An app in development mode (what a personal Spotify app is) has lost some
        # endpoints in 2026 (an artist's top tracks); extended quota keeps them.
        self.extended_quota = False
        self._refresh: dict[str, Grant] = {}  # live refresh tokens
        self._faults: list[dict[str, Any]] = []
        self._stalls: dict[str, asyncio.Event] = {}
        self.counts: Counter[str] = Counter()  # "refresh_token", "authorization_code", paths
        self.exchanges: list[Exchange] = []
        self.secrets_seen: set[str] = set()
        self._ids = itertools.count(1)
        self.app = self._build_app()

    # -- setup --------------------------------------------------------------------------------

    def add_client(self, client_id: str, client_secret: str | None = None, *,
                   redirect_uris: list[str] | None = None) -> None:
        """Register an app. With `redirect_uris`, /authorize takes only those, exactly (a
        loopback one registered without a port matches any port, as Spotify allows)."""
        self.clients[client_id] = client_secret
        if redirect_uris is not None:
            self.redirect_uris[client_id] = list(redirect_uris)
        if client_secret:
            self.secrets_seen.add(client_secret)

    def add_user(
        self, user_id: str, display_name: str | None = None, *, product: str = "premium",
        devices: list[FakeDevice] | None = None, active_device: str | None = None,
        library: bool = False,
    ) -> FakeUser:
        """A Spotify user; `library=True` gives them a realistic library (hundreds of saved
        tracks, 120 playlists, followed artists, podcasts, a play history)."""
        user = FakeUser(user_id, display_name or user_id.title(), product,
                        list(devices or []), active_device)
        if library:
            user.library = library_for(user_id, user.display_name, self.clock.time())
        self.users[user_id] = user
        if self.login_as is None:
            self.login_as = user_id
        return user

    def load(self, user_id: str, context_uri: str, *, index: int = 0, progress_ms: int = 0,
             playing: bool = False) -> None:
        """Put something on the user's player, as a real account has right after linking
        (what was playing last, usually paused): `play` then resumes it."""
        user = self.users[user_id]
        user.context_uri = context_uri
        user.tracks = self._context(context_uri)
        user.index = min(index, len(user.tracks) - 1)
        user.is_playing = playing
        self._set_progress(user, progress_ms)

    def fail_next(
        self, status: int, *, times: int = 1, path: str | None = None,
        retry_after: int | None = None, reason: str | None = None, message: str | None = None,
    ) -> None:
        """Make the next `times` Web API requests (to `path` if given) fail with `status`.

        `path="/api/token"` makes the accounts service fail instead (before it looks at the
        grant, as a gateway would): 5xx with an RFC 6749 `server_error` body, 429 with
        Retry-After."""
        self._faults.append({"status": status, "times": times, "path": path,
                             "retry_after": retry_after, "reason": reason, "message": message})

    def stall(self, path: str) -> asyncio.Event:
        """Hold every request to `path` (Web API) without an answer until the returned event
        is set: Spotify hanging, not failing."""
        released = asyncio.Event()
        self._stalls[path] = released
        return released

    def revoke_refresh_tokens(self, user_id: str | None = None) -> None:
        """The user removed the app's access (or Spotify revoked it)."""
        for token, grant in list(self._refresh.items()):
            if user_id is None or grant.user_id == user_id:
                del self._refresh[token]

    def expire_access_tokens(self) -> None:
        for token, (user_id, _, scope) in list(self._access.items()):
            self._access[token] = (user_id, self.clock.time() - 1, scope)

    def access_token_for(self, user_id: str, scope: str | None = None) -> str:
        """A fresh access token for a user (with every scope unless `scope` names them),
        for a test that talks to the API itself."""
        access = f"BQ{next(self._ids)}{secrets.token_urlsafe(40)}"
        self._access[access] = (user_id, self.clock.time() + self.access_token_lifetime,
                                frozenset(ALL_SCOPES if scope is None else scope.split()))
        self.secrets_seen.add(access)
        return access

    @property
    def refresh_count(self) -> int:
        return self.counts["refresh_token"]

    def scope_of(self, request: web.Request) -> frozenset[str]:
        """The scopes granted to the access token of an (authenticated) API request."""
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        entry = self._access.get(token)
        return entry[2] if entry else frozenset()

    def _context(self, context_uri: str) -> list[str]:
        """The URIs playing a context plays: the catalogue's, else ten made-up tracks."""
        return catalog().context_uris(context_uri) or context_tracks(context_uri)

    # -- plumbing ------------------------------------------------------------------------------

    def _build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._journal])
        app.router.add_get("/authorize", self._authorize)
        app.router.add_post("/api/token", self._token)
        app.router.add_get("/v1/me", self._api(self._me))
        app.router.add_get("/v1/me/player", self._api(self._playback))
        app.router.add_put("/v1/me/player", self._api(self._transfer, command=True))
        app.router.add_get("/v1/me/player/devices", self._api(self._devices))
        app.router.add_get("/v1/me/player/currently-playing", self._api(self._currently_playing))
        app.router.add_put("/v1/me/player/play", self._api(self._play, command=True))
        app.router.add_put("/v1/me/player/pause", self._api(self._pause, command=True))
        app.router.add_post("/v1/me/player/next", self._api(self._next, command=True))
        app.router.add_post("/v1/me/player/previous", self._api(self._previous, command=True))
        app.router.add_put("/v1/me/player/seek", self._api(self._seek, command=True))
        app.router.add_put("/v1/me/player/volume", self._api(self._volume, command=True))
        app.router.add_put("/v1/me/player/shuffle", self._api(self._shuffle, command=True))
        app.router.add_put("/v1/me/player/repeat", self._api(self._repeat, command=True))
        app.router.add_post("/v1/me/player/queue", self._api(self._enqueue, command=True))
        LibraryAPI(self).add_routes(app, self._api)
        return app

    @web.middleware
    async def _journal(self, request: web.Request, handler: Any) -> web.StreamResponse:
        body = await request.read()
        self.counts[f"{request.method} {request.path}"] += 1
        response = await handler(request)
        raw = response.body if isinstance(response, web.Response) else b""
        resource = request.match_info.route.resource
        self.exchanges.append(Exchange(
            request.method, request.path, dict(request.query), dict(request.headers), body,
            response.status, dict(response.headers),
            raw if isinstance(raw, bytes) else b"",
            f"{request.method} {resource.canonical if resource else request.path}"))
        return response

    @property
    def routes(self) -> set[str]:
        """Every route the fake serves, as `Exchange.route` names them."""
        return {f"{route.method} {route.resource.canonical}"
                for route in self.app.router.routes()
                if route.resource is not None and route.method != "HEAD"}

    @staticmethod
    def error(status: int, message: str, reason: str | None = None,
              headers: dict[str, str] | None = None) -> web.Response:
        error: dict[str, Any] = {"status": status, "message": message}
        if reason:
            error["reason"] = reason
        return web.json_response({"error": error}, status=status, headers=headers)

    @staticmethod
    def _oauth_error(error: str, description: str, status: int = 400) -> web.Response:
        return web.json_response({"error": error, "error_description": description},
                                 status=status)

    def _api(self, handler: Any, *, command: bool = False) -> Any:
        """Wrap a Web API handler: bearer check, injected faults, Premium, command answers."""

        async def wrapped(request: web.Request) -> web.Response:
            auth = request.headers.get("Authorization", "")
            if not auth:
                return self.error(401, "No token provided")
            if not auth.startswith("Bearer "):
                return self.error(400, "Only valid bearer authentication supported")
            token = auth.removeprefix("Bearer ")
            entry = self._access.get(token)
            if entry is None:
                return self.error(401, "Invalid access token")
            user_id, expires_at, _ = entry
            if self.clock.time() >= expires_at:
                return self.error(401, "The access token expired")
            stalled = self._stalls.get(request.path)
            if stalled is not None:
                await stalled.wait()
            fault = self._take_fault(request.path)
            if fault is not None:
                return fault
            user = self.users[user_id]
            if command and user.product != "premium":
                return self.error(403, f"{PLAYER_ERROR}: Premium required", "PREMIUM_REQUIRED")
            answer = await handler(request, user)
            if command and answer is None:
                user.changed_at = self.clock.time()
                return self._command_ok()
            return answer

        return wrapped

    def _take_fault(self, path: str) -> web.Response | None:
        for fault in self._faults:
            if fault["path"] != path and (fault["path"] is not None or path == TOKEN_PATH):
                continue
            fault["times"] -= 1
            if fault["times"] <= 0:
                self._faults.remove(fault)
            status = fault["status"]
            headers = None
            if path == TOKEN_PATH:
                headers = {"Retry-After": str(fault["retry_after"] or 1)} if status == 429 \
                    else None
                error = "server_error" if status >= 500 else "temporarily_unavailable"
                return web.json_response(
                    {"error": error, "error_description": fault["message"] or "Try again"},
                    status=status, headers=headers)
            if status == 429:
                headers = {"Retry-After": str(fault["retry_after"] or 1)}
                return self.error(429, fault["message"] or "API rate limit exceeded",
                                   headers=headers)
            message = fault["message"] or {
                404: f"{PLAYER_ERROR}: No active device found"}.get(status, "Service unavailable")
            return self.error(status, message, fault["reason"])
        return None

    def _command_ok(self) -> web.Response:
        if self.command_status == 200:
            # The opaque, non-JSON body real commands have answered since 2024.
            return web.Response(status=200, text=secrets.token_urlsafe(20),
                                content_type="text/plain")
        return web.Response(status=self.command_status)

    # -- accounts service ---------------------------------------------------------------------

    async def _authorize(self, request: web.Request) -> web.Response:
        q = request.query
        client_id = q.get("client_id", "")
        redirect_uri = q.get("redirect_uri", "")
        if client_id not in self.clients:
            return web.Response(status=400, text="INVALID_CLIENT: Invalid client")
        parts = urlsplit(redirect_uri)
        # Spotify's 2025 rules: https, or http on an explicit loopback IP literal only.
        if parts.hostname == "localhost" or (
                parts.scheme == "http" and parts.hostname not in ("127.0.0.1", "::1")):
            return web.Response(status=400, text="INVALID_CLIENT: Insecure redirect URI")
        if q.get("response_type") != "code":
            return web.Response(status=400, text="unsupported_response_type")
        registered = self.redirect_uris.get(client_id)
        if registered is not None and not _registered(redirect_uri, registered):
            return web.Response(status=400, text="INVALID_CLIENT: Invalid redirect URI")
        challenge = q.get("code_challenge")
        if challenge is not None and (q.get("code_challenge_method") != "S256"
                                      or not CHALLENGE.fullmatch(challenge)):
            # Spotify supports S256 only; a challenge is base64url(sha256), 43 characters.
            return web.Response(status=400, text="code_challenge_method must be S256")
        if self.clients[client_id] is None and challenge is None:
            return web.Response(status=400, text="code_challenge required for this client")
        back: dict[str, str] = {}
        if self.deny_next or self.login_as is None:
            self.deny_next = False
            back["error"] = "access_denied"
        else:
            code = f"AQC{next(self._ids)}{secrets.token_urlsafe(24)}"
            self.secrets_seen.add(code)
            self._codes[code] = Grant(client_id, self.login_as, redirect_uri,
                                      q.get("scope", ""), challenge, self.clock.time())
            back["code"] = code
        if "state" in q:
            back["state"] = q["state"]
        sep = "&" if "?" in redirect_uri else "?"
        return web.Response(status=302,
                            headers={"Location": f"{redirect_uri}{sep}{urlencode(back)}"})

    def _client_of(self, request: web.Request, form: Any) -> tuple[str | None, bool]:
        """(client id, authenticated with its secret) from a Basic header or the form."""
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            try:
                client_id, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
            except ValueError:
                return None, False
            if secret:
                self.secrets_seen.add(secret)
            known = self.clients.get(client_id)
            return (client_id, True) if known and secrets.compare_digest(known, secret) else (
                None, False)
        client_id = form.get("client_id")
        return (client_id if client_id in self.clients else None), False

    async def _token(self, request: web.Request) -> web.Response:
        if request.content_type != "application/x-www-form-urlencoded":
            return self._oauth_error("invalid_request", "Unsupported content type")
        fault = self._take_fault(TOKEN_PATH)
        if fault is not None:
            return fault
        form = await request.post()
        grant_type = form.get("grant_type")
        self.counts[str(grant_type)] += 1
        client_id, by_secret = self._client_of(request, form)
        if client_id is None:
            return self._oauth_error("invalid_client", "Invalid client")
        if grant_type == "authorization_code":
            return self._exchange_code(form, client_id, by_secret)
        if grant_type == "refresh_token":
            return self._refresh_grant(form, client_id, by_secret)
        return self._oauth_error("unsupported_grant_type", f"grant_type {grant_type!r}")

    def _exchange_code(self, form: Any, client_id: str, by_secret: bool) -> web.Response:
        verifier = form.get("code_verifier")
        if verifier is not None and not VERIFIER.fullmatch(str(verifier)):
            # RFC 7636 4.1: 43 to 128 characters of the unreserved set; a malformed request
            # is refused before the code is looked at.
            self.secrets_seen.add(str(verifier))
            return self._oauth_error("invalid_request", "Invalid code_verifier")
        grant = self._codes.pop(str(form.get("code", "")), None)  # single use
        if grant is None or grant.client_id != client_id:
            return self._oauth_error("invalid_grant", "Invalid authorization code")
        if self.clock.time() - grant.authorized_at > CODE_LIFETIME:
            return self._oauth_error("invalid_grant", "Authorization code expired")
        if form.get("redirect_uri") != grant.redirect_uri:
            return self._oauth_error("invalid_grant", "Invalid redirect URI")
        verifier = form.get("code_verifier")
        if verifier:
            self.secrets_seen.add(str(verifier))
        if grant.code_challenge is not None:
            expected = base64.urlsafe_b64encode(
                hashlib.sha256(str(verifier or "").encode()).digest()).rstrip(b"=").decode()
            if not secrets.compare_digest(expected, grant.code_challenge):
                return self._oauth_error("invalid_grant", "code_verifier was incorrect")
        elif not by_secret:
            return self._oauth_error("invalid_client", "Invalid client secret")
        return self._issue(grant, refresh=True)

    def _refresh_grant(self, form: Any, client_id: str, by_secret: bool) -> web.Response:
        token = str(form.get("refresh_token", ""))
        grant = self._refresh.get(token)
        if grant is None or grant.client_id != client_id:
            return self._oauth_error("invalid_grant", "Invalid refresh token")
        if self.clients[client_id] is not None and not by_secret and grant.code_challenge is None:
            return self._oauth_error("invalid_client", "Invalid client secret")
        if self.clock.time() - grant.authorized_at > REFRESH_TOKEN_LIFETIME:
            del self._refresh[token]
            return self._oauth_error("invalid_grant", "Refresh token expired")
        if self.rotate_refresh_tokens:
            del self._refresh[token]  # single-use: the client must keep the new one
        return self._issue(grant, refresh=self.rotate_refresh_tokens)

    def _issue(self, grant: Grant, *, refresh: bool) -> web.Response:
        access = self.access_token_for(grant.user_id, grant.scope)
        body: dict[str, Any] = {"access_token": access, "token_type": "Bearer",
                                "scope": grant.scope, "expires_in": self.access_token_lifetime}
        if refresh:
            token = f"AQ{next(self._ids)}{secrets.token_urlsafe(48)}"
            self._refresh[token] = grant
            self.secrets_seen.add(token)
            body["refresh_token"] = token
        return web.json_response(body)

    # -- Web API --------------------------------------------------------------------------------

    async def _me(self, request: web.Request, user: FakeUser) -> web.Response:
        return web.json_response({
            "id": user.id,
            "account_id": f"acct{user.id}",
            "display_name": user.display_name,
            "product": user.product,
            "type": "user",
            "uri": f"spotify:user:{user.id}",
            "href": f"https://api.spotify.com/v1/users/{user.id}",
            "external_urls": {"spotify": f"https://open.spotify.com/user/{user.id}"},
            "images": [],
        })

    def _progress(self, user: FakeUser) -> int:
        progress = user.progress_ms
        if user.is_playing:
            progress += int((self.clock.time() - user.progress_at) * 1000)
        item = _item_json(user.tracks[user.index]) if user.tracks else None
        return min(progress, item["duration_ms"] if item else 200_000)

    def _set_progress(self, user: FakeUser, progress_ms: int) -> None:
        user.progress_ms = progress_ms
        user.progress_at = self.clock.time()

    def _state_json(self, user: FakeUser, request: web.Request, *,
                    with_device: bool) -> dict[str, Any]:
        item = _item_json(user.tracks[user.index]) if user.tracks else None
        kind = item["type"] if item else "unknown"
        if kind == "episode" and "episode" not in request.query.get(
                "additional_types", "").split(","):
            item = None  # a client that did not ask for episodes gets none
        state: dict[str, Any] = {
            "timestamp": int(user.changed_at * 1000),
            "progress_ms": self._progress(user) if user.tracks else None,
            "is_playing": user.is_playing,
            "item": item,
            "currently_playing_type": kind,
            "context": ({"type": user.context_uri.split(":")[1], "uri": user.context_uri,
                         "href": "https://api.spotify.com/v1/" + user.context_uri.split(":")[1],
                         "external_urls": {"spotify": "https://open.spotify.com/"}}
                        if user.context_uri else None),
            "actions": {"disallows": {"resuming": True} if user.is_playing else {
                "pausing": True}},
        }
        if with_device:
            device = user.device(user.active_device)
            assert device is not None
            state.update(device=device.as_json(True), shuffle_state=user.shuffle,
                         repeat_state=user.repeat)
        return state

    async def _playback(self, request: web.Request, user: FakeUser) -> web.Response:
        if user.device(user.active_device) is None:
            return web.Response(status=204)
        return web.json_response(self._state_json(user, request, with_device=True))

    async def _currently_playing(self, request: web.Request, user: FakeUser) -> web.Response:
        if user.device(user.active_device) is None or not user.tracks:
            return web.Response(status=204)
        return web.json_response(self._state_json(user, request, with_device=False))

    async def _devices(self, request: web.Request, user: FakeUser) -> web.Response:
        return web.json_response(
            {"devices": [d.as_json(d.id == user.active_device) for d in user.devices]})

    def _target(self, request: web.Request, user: FakeUser) -> FakeDevice | web.Response:
        """The device a command acts on: `device_id`, else the active one."""
        device_id = request.query.get("device_id")
        if device_id is not None:
            device = user.device(device_id)
            if device is None:
                return self.error(404, "Device not found")
        else:
            device = user.device(user.active_device)
            if device is None:
                return self.error(404, f"{PLAYER_ERROR}: No active device found",
                                   "NO_ACTIVE_DEVICE")
        if device.is_restricted:
            return self.error(403, f"{PLAYER_ERROR}: Restriction violated",
                               "DEVICE_NOT_CONTROLLABLE")
        return device

    async def _play(self, request: web.Request, user: FakeUser) -> web.Response | None:
        device = self._target(request, user)
        if isinstance(device, web.Response):
            return device
        raw = await request.read()
        body: dict[str, Any] = {}
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                return self.error(400, "Malformed json")
        if not isinstance(body, dict):
            return self.error(400, "Malformed json")
        offset = body.get("offset") or {}
        if "uris" in body:
            if not body["uris"] or not all(
                    isinstance(u, str) and u.startswith("spotify:") for u in body["uris"]):
                return self.error(400, "Invalid track uri")
            user.tracks, user.context_uri = list(body["uris"]), None
            user.index = 0
        elif "context_uri" in body:
            user.context_uri = body["context_uri"]
            user.tracks, user.index = self._context(user.context_uri), 0
        elif not user.tracks:
            return self.error(404, f"{PLAYER_ERROR}: Nothing to resume", "NO_SPECIFIC_TRACK")
        if "position" in offset:
            user.index = min(int(offset["position"]), len(user.tracks) - 1)
        elif "uri" in offset and offset["uri"] in user.tracks:
            user.index = user.tracks.index(offset["uri"])
        if body:
            self._set_progress(user, int(body.get("position_ms", 0)))
        else:
            self._set_progress(user, self._progress(user))
        user.active_device, user.is_playing = device.id, True
        return None

    async def _pause(self, request: web.Request, user: FakeUser) -> web.Response | None:
        device = self._target(request, user)
        if isinstance(device, web.Response):
            return device
        self._set_progress(user, self._progress(user))
        user.is_playing = False
        return None

    def _skip(self, request: web.Request, user: FakeUser, step: int) -> web.Response | None:
        device = self._target(request, user)
        if isinstance(device, web.Response):
            return device
        if step > 0 and user.queue:
            user.tracks.insert(user.index + 1, user.queue.pop(0))
        index = user.index + step
        if not 0 <= index < len(user.tracks):
            if user.repeat != "context" or not user.tracks:
                reason = "NO_NEXT_TRACK" if step > 0 else "NO_PREV_TRACK"
                return self.error(403, f"{PLAYER_ERROR}: Restriction violated", reason)
            index %= len(user.tracks)
        user.index = index
        self._set_progress(user, 0)
        return None

    async def _next(self, request: web.Request, user: FakeUser) -> web.Response | None:
        return self._skip(request, user, 1)

    async def _previous(self, request: web.Request, user: FakeUser) -> web.Response | None:
        return self._skip(request, user, -1)

    @staticmethod
    def _int_param(request: web.Request, name: str) -> int | None:
        try:
            return int(request.query[name])
        except (KeyError, ValueError):
            return None

    async def _seek(self, request: web.Request, user: FakeUser) -> web.Response | None:
        position = self._int_param(request, "position_ms")
        if position is None or position < 0:
            return self.error(400, "Missing or invalid position_ms")
        device = self._target(request, user)
        if isinstance(device, web.Response):
            return device
        self._set_progress(user, position)
        return None

    async def _volume(self, request: web.Request, user: FakeUser) -> web.Response | None:
        volume = self._int_param(request, "volume_percent")
        if volume is None or not 0 <= volume <= 100:
            return self.error(400, "Invalid volume_percent")
        device = self._target(request, user)
        if isinstance(device, web.Response):
            return device
        if not device.supports_volume:
            return self.error(403, f"{PLAYER_ERROR}: Cannot control device volume",
                               "VOLUME_CONTROL_DISALLOW")
        device.volume_percent = volume
        return None

    async def _shuffle(self, request: web.Request, user: FakeUser) -> web.Response | None:
        state = request.query.get("state")
        if state not in ("true", "false"):
            return self.error(400, "Invalid state")
        device = self._target(request, user)
        if isinstance(device, web.Response):
            return device
        user.shuffle = state == "true"
        return None

    async def _repeat(self, request: web.Request, user: FakeUser) -> web.Response | None:
        state = request.query.get("state")
        if state not in ("track", "context", "off"):
            return self.error(400, "Invalid state")
        device = self._target(request, user)
        if isinstance(device, web.Response):
            return device
        user.repeat = state
        return None

    async def _enqueue(self, request: web.Request, user: FakeUser) -> web.Response | None:
        uri = request.query.get("uri", "")
        if not uri.startswith(("spotify:track:", "spotify:episode:")):
            return self.error(400, "Invalid uri: must be a track or an episode")
        device = self._target(request, user)
        if isinstance(device, web.Response):
            return device
        user.queue.append(uri)
        return None

    async def _transfer(self, request: web.Request, user: FakeUser) -> web.Response | None:
        try:
            body = json.loads(await request.read() or b"null")
        except ValueError:
            return self.error(400, "Malformed json")
        ids = body.get("device_ids") if isinstance(body, dict) else None
        if not isinstance(ids, list) or len(ids) != 1:
            # Spotify accepts an array but only one id; more is a 400.
            return self.error(400, "Only one device id is supported")
        device = user.device(ids[0])
        if device is None:
            return self.error(404, "Device not found")
        if user.active_device is not None and user.active_device != device.id:
            self._set_progress(user, self._progress(user))
        user.active_device = device.id
        if body.get("play"):
            user.is_playing = bool(user.tracks)
        return None


def _registered(redirect_uri: str, registered: list[str]) -> bool:
    """Spotify's match: exact, except that a loopback URI registered without a port takes
    any port."""
    if redirect_uri in registered:
        return True
    parts = urlsplit(redirect_uri)
    if parts.hostname not in ("127.0.0.1", "::1") or parts.port is None:
        return False
    host = "[::1]" if parts.hostname == "::1" else parts.hostname
    return parts._replace(netloc=host).geturl() in registered


def _item_json(uri: str) -> dict[str, Any]:
    """The playing item: the catalogue's track or episode, else a made-up track."""
    return catalog().item_json(uri) or track_json(uri)
