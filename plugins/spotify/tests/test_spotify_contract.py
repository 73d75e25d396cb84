"""Contract test: every request the plugin sends to the Web API and every response the fake
answers validate against Spotify's OpenAPI spec (sonallux's fixed version), with openapi-core.

The spec has known gaps against the real service. They are patched by `overlay()` below, each
patch commented with the behaviour it describes, and nothing else is relaxed. The accounts
service (/authorize, /api/token) is not in the spec; tests of the fake check it instead.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from hub_spotify.media import FOLDERS
from hub_spotify.testing.catalog import catalog
from hub_spotify.testing.linking import KITCHEN, LAPTOP, drive, jump, link, start_hub
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse

from hub.plugin import HubError

# shared/ sits beside the repository in the project's workspace and in CI; a user's clone
# has no such directory, so the contract tests skip there (one line saying how to run them)
# rather than fail. HUB_SPOTIFY_SPEC points at the spec anywhere else.
SPEC_PATH = Path(os.environ.get(
    "HUB_SPOTIFY_SPEC",
    Path(__file__).resolve().parents[3].parent / "shared/specs/spotify-web-api.openapi.yml"))
SPEC_URL = ("https://github.com/sonallux/spotify-web-api/blob/main/"
            "fixed-spotify-open-api.yml")
# openapi-core cannot check oauth2 security schemes and says so on every validation; the
# bearer header is asserted by hand in test_every_request_and_response_matches_the_spec.
pytestmark = pytest.mark.filterwarnings("ignore:Unsupported scheme type:UserWarning")


if not SPEC_PATH.is_file():
    pytest.skip(f"Spotify OpenAPI spec not found at {SPEC_PATH}: set HUB_SPOTIFY_SPEC to a "
                f"copy of {SPEC_URL} to run the Spotify contract tests",
                allow_module_level=True)
SPOTIFY = "https://api.spotify.com"  # the spec's server; the fake's loopback URL maps here

PLAYER_REASONS = [
    "NO_PREV_TRACK", "NO_NEXT_TRACK", "NO_SPECIFIC_TRACK", "ALREADY_PAUSED", "NOT_PAUSED",
    "NOT_PLAYING_LOCALLY", "NOT_PLAYING_TRACK", "NOT_PLAYING_CONTEXT", "ENDLESS_CONTEXT",
    "CONTEXT_DISALLOW", "ALREADY_PLAYING", "RATE_LIMITED", "REMOTE_CONTROL_DISALLOW",
    "DEVICE_NOT_CONTROLLABLE", "VOLUME_CONTROL_DISALLOW", "NO_ACTIVE_DEVICE",
    "PREMIUM_REQUIRED", "UNKNOWN",
]
_ERROR_BODY = {"application/json": {"schema": {
    "type": "object", "required": ["error"],
    "properties": {"error": {"$ref": "#/components/schemas/ErrorObject"}}}}}


def overlay(spec: dict[str, Any]) -> dict[str, Any]:
    """The spec plus the documented behaviour of the real API that it does not declare."""
    spec = copy.deepcopy(spec)
    schemas = spec["components"]["schemas"]
    paths = spec["paths"]
    # 1. Player errors carry a `reason` (Spotify's "Player Error Reasons"); ErrorObject
    #    lacks the property (it allows extra ones, but we want the values checked).
    schemas["ErrorObject"]["properties"]["reason"] = {"type": "string", "enum": PLAYER_REASONS}
    # 2. A 429 carries `Retry-After` in seconds; the spec's TooManyRequests has no header.
    spec["components"]["responses"]["TooManyRequests"]["headers"] = {
        "Retry-After": {"required": True, "schema": {"type": "integer", "minimum": 0}}}
    # 3. GET /me/player/currently-playing answers 204 when nothing is playing (only
    #    GET /me/player declares its 204).
    paths["/me/player/currently-playing"]["get"]["responses"]["204"] = {
        "description": "Nothing playing"}
    for path, item in paths.items():
        if not path.startswith("/me/player"):
            continue
        for method, operation in item.items():
            responses = operation["responses"]
            # 4. Player endpoints answer 404 (NO_ACTIVE_DEVICE, "Device not found"); no
            #    player endpoint declares a 404.
            responses["404"] = {"description": "Not found", "content": _ERROR_BODY}
            # 5. Bad parameters answer 400 (the spec's own transfer text says so) but no
            #    player endpoint declares it.
            responses["400"] = {"description": "Bad request", "content": _ERROR_BODY}
            if method != "get":
                # 6. Commands also answer 200 with an opaque non-JSON body (since 2024) or
                #    202; the spec declares only 204.
                responses["200"] = {"description": "Opaque command id",
                                    "content": {"text/plain": {"schema": {"type": "string"}}}}
                responses["202"] = {"description": "Command accepted"}
    # 7. Playback state has `context`, `item` and `progress_ms` null when nothing is loaded;
    #    the spec's descriptions say "Can be `null`" but the schemas are not nullable. OAS 3.0
    #    `nullable` only works next to a `type`, so a null branch is added beside the $refs.
    null = {"type": "object", "nullable": True, "enum": [None]}
    for name in ("CurrentlyPlayingContextObject", "CurrentlyPlayingObject"):
        props = schemas[name]["properties"]
        # 8. `item`'s discriminator on `type` has no mapping, so "track" would be looked up
        #    as a schema named "track"; map the values to the schemas they mean.
        if "discriminator" in props.get("item", {}):
            props["item"]["discriminator"]["mapping"] = {
                "track": "#/components/schemas/TrackObject",
                "episode": "#/components/schemas/EpisodeObject"}
        for key in ("context", "item"):
            if key in props:
                props[key] = {"anyOf": [null, props[key]]}
        if "progress_ms" in props:
            props["progress_ms"]["nullable"] = True
    # 9. A playlist's items (tracks and episodes) have the same unmapped discriminator.
    for key in ("item", "track"):
        schemas["PlaylistTrackObject"]["properties"][key]["discriminator"]["mapping"] = {
            "track": "#/components/schemas/TrackObject",
            "episode": "#/components/schemas/EpisodeObject"}
    # 10. Cursor paging ends with `next: null` and null cursors ("null if none", the spec's
    #     own words), but declares them plain strings.
    schemas["CursorPagingObject"]["properties"]["next"]["nullable"] = True
    for key in ("after", "before"):
        schemas["CursorObject"]["properties"][key]["nullable"] = True
    # 11. Catalogue and library reads answer 404 for an id Spotify does not have and 400
    #     for a malformed one or a bad parameter (limit above the maximum); they declare
    #     neither.
    for path, item in paths.items():
        if path.startswith(("/albums", "/artists", "/shows", "/playlists", "/search",
                            "/tracks", "/episodes", "/me/tracks", "/me/albums", "/me/shows",
                            "/me/following", "/me/playlists")) and "get" in item:
            item["get"]["responses"].setdefault(
                "404", {"description": "Not found", "content": _ERROR_BODY})
            item["get"]["responses"].setdefault(
                "400", {"description": "Bad request", "content": _ERROR_BODY})
    return spec


@functools.cache
def raw_spec() -> dict[str, Any]:
    return yaml.load(SPEC_PATH.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


@functools.cache
def openapi(patched: bool = True) -> OpenAPI:
    spec = overlay(raw_spec()) if patched else copy.deepcopy(raw_spec())
    return OpenAPI.from_dict(spec)


def as_mock(exchange: Any) -> tuple[MockRequest, MockResponse]:
    path = exchange.path.removeprefix("/v1")
    request = MockRequest(
        SPOTIFY, exchange.method, "/v1" + path, args=exchange.query,
        headers={k: v for k, v in exchange.request_headers.items()
                 if k.lower() in ("authorization", "content-type")},
        data=exchange.request_body or None,
        content_type=exchange.request_headers.get("Content-Type", "").split(";")[0])
    response = MockResponse(
        exchange.response_body, exchange.status,
        headers={k: v for k, v in exchange.response_headers.items()
                 if k.lower() in ("retry-after", "content-type")},
        content_type=exchange.response_headers.get("Content-Type", "").split(";")[0])
    return request, response


def problems(api: OpenAPI, exchanges: list[Any]) -> list[str]:
    found = []
    for exchange in exchanges:
        request, response = as_mock(exchange)
        what = f"{exchange.method} {exchange.path}?{exchange.query} -> {exchange.status}"
        for error in api.iter_request_errors(request):
            found.append(f"request {what}: {_explain(error)}")
        for error in api.iter_response_errors(request, response):
            found.append(f"response {what}: {_explain(error)}")
    return found


def _explain(error: Exception) -> str:
    """The error with the schema errors openapi-core keeps in its cause chain."""
    parts = [repr(error)]
    cause = error.__cause__
    while cause is not None:
        details = getattr(cause, "schema_errors", None)
        parts.append("; ".join(e.message for e in details) if details else repr(cause))
        cause = cause.__cause__
    return " <- ".join(parts)


async def run_scenario(hub_factory, fake, fake_url, clock, browser) -> list[Any]:
    """Link, use every action, and meet every error the fake produces on the Web API."""
    harness = await start_hub(hub_factory, fake_url, clock)
    await link(harness, browser, fake)
    await link(harness, browser, fake, "bob")
    calls = [
        ("spotify.alice", "play", {"context_uri": "spotify:album:abc",
                                   "offset": {"position": 1}, "position_ms": 5}),
        ("spotify.alice", "play", {"uris": ["spotify:track:a", "spotify:track:b"]}),
        ("spotify.alice", "pause", {}),
        ("spotify.alice", "play", {}),
        ("spotify.alice", "next", {}),
        ("spotify.alice", "previous", {}),
        ("spotify.alice", "previous", {}),  # 403 NO_PREV_TRACK
        ("spotify.alice", "seek", {"position": 12}),
        ("spotify.alice", "volume_set", {"volume": 33}),
        ("spotify.alice", "volume_step", {"step": 5}),
        ("spotify.alice", "shuffle_set", {"shuffle": True}),
        ("spotify.alice", "repeat_set", {"repeat": "one"}),
        ("spotify.alice", "play_media", {"media_id": "spotify:track:q", "enqueue": "add"}),
        ("spotify.alice", "play_media", {"media_id": "spotify:playlist:p"}),
        ("spotify.alice", "select_source", {"source": "Laptop"}),
        (f"spotify.alice.{KITCHEN}", "play", {"uris": ["spotify:track:k"]}),
        (f"spotify.alice.{LAPTOP.lower()}", "volume_set", {"volume": 10}),
        ("spotify.bob", "pause", {}),  # 403 PREMIUM_REQUIRED
    ]
    for device, action, params in calls:
        await harness.act(device, action, params)
    fake.command_status = 200
    await harness.act("spotify.alice", "pause")
    fake.command_status = 202
    await harness.act("spotify.alice", "play")
    fake.command_status = 204
    fake.fail_next(429, retry_after=2)
    await drive(clock, harness.act("spotify.alice", "pause"))
    fake.expire_access_tokens()  # 401 "The access token expired", then a refresh
    await harness.act("spotify.alice", "pause")
    jump(clock, 3600)
    await harness.act("spotify.alice", "pause")
    fake.users["alice"].active_device = None
    await harness.act("spotify.alice", "pause")  # 404 NO_ACTIVE_DEVICE
    await harness.request("POST", "/discover")  # GET /me/player -> 204
    # currently-playing is not used by the plugin; the fake serves it, so check it too.
    token = fake.access_token_for("bob")
    for active in (None, KITCHEN):
        fake.users["bob"].active_device = active
        async with browser.get(f"{fake_url}/v1/me/player/currently-playing",
                               headers={"Authorization": f"Bearer {token}"}) as resp:
            await resp.read()
    await use_the_library(harness, fake, clock)
    return [e for e in fake.exchanges if e.path.startswith("/v1/")]


async def use_the_library(harness: Any, fake: Any, clock: Any) -> None:
    """Browse and search the way the media library does, meeting its errors too."""
    plugins = harness.hub.plugins
    ctx = plugins.plugins["spotify"].ctx
    alice = harness.hub.registry.get("spotify.alice")

    async def browse(item_id: str | None, pages: int = 2) -> Any:
        cursor, result = None, None
        for _ in range(pages):
            result = await plugins.call("spotify", "browse_media", ctx=ctx, device=alice,
                                        item_id=item_id, cursor=cursor)
            cursor = result.cursor
            if cursor is None:
                break
        return result

    async def attempt(item_id: str) -> None:
        try:
            await browse(item_id, pages=1)
        except HubError:
            pass  # the error is what is being checked against the spec

    for folder in FOLDERS:  # a second page only where the cursor is not an offset
        await browse(folder, pages=2 if folder == "library:artists" else 1)
    library = fake.users["alice"].library
    cat = catalog()
    nils = next(a for a in cat.artists.values() if a.name == "Nils Frahm")
    show = max(cat.shows.values(), key=lambda s: len(s.episode_ids))
    box_set = next(a for a in nils.album_ids if len(cat.albums[a].track_ids) > 50)
    stranger = next(a for a in cat.artists if a not in library.followed_artists
                    and "Frahm" not in cat.artists[a].name)
    for item_id in (f"spotify:album:{box_set}",  # GET /albums/{id}, then its /tracks
                    f"spotify:playlist:{library.playlists[3]}",  # tracks and episodes
                    f"spotify:artist:{stranger}",  # GET /artists/{id}: not seen before
                    f"spotify:artist:{nils.id}",  # top tracks 403 in development mode
                    f"spotify:show:{show.id}"):
        await browse(item_id)
    fake.extended_quota = True
    await browse(f"spotify:artist:{library.followed_artists[1]}", pages=1)
    await plugins.call("spotify", "search_media", ctx=ctx, query="frahm", types=None,
                       limit=20, device=alice)
    await attempt(f"spotify:playlist:{library.playlists[-1]}")  # 403: not alice's
    # A track and an episode nothing above listed: GET /tracks/{id}, GET /episodes/{id}.
    unseen = next(a for a in cat.artists if a not in library.followed_artists
                  and a not in (stranger, nils.id))
    await browse(f"spotify:track:{cat.albums[cat.artists[unseen].album_ids[0]].track_ids[0]}")
    other_show = min(cat.shows.values(), key=lambda s: len(s.episode_ids))
    await browse(f"spotify:episode:{other_show.episode_ids[0]}")
    await attempt("spotify:album:0000000000000000000000")  # 404
    fake.fail_next(429, retry_after=30, path="/v1/search")
    with contextlib.suppress(HubError):
        await plugins.call("spotify", "search_media", ctx=ctx, query="x", types=None,
                           limit=5, device=alice)
    await clock.advance(30)
    # An episode on the player, for a client that asks for episodes.
    await harness.act("spotify.alice", "select_source", {"source": "Kitchen"})
    await harness.act("spotify.alice", "play_media",
                      {"media_id": f"spotify:episode:{show.episode_ids[0]}"})


async def test_every_request_and_response_matches_the_spec(
        hub_factory, fake, fake_url, clock, browser):
    exchanges = await run_scenario(hub_factory, fake, fake_url, clock, browser)
    statuses = {e.status for e in exchanges}
    # The scenario really met every shape the overlay speaks for.
    assert {200, 202, 204, 401, 403, 404, 429} <= statuses
    # Every Web API route the fake serves was exercised (and so validated below).
    assert {e.route for e in exchanges} == {r for r in fake.routes if " /v1/" in r}
    found = problems(openapi(), exchanges)
    assert found == [], "\n".join(found)
    assert all(e.request_headers.get("Authorization", "").startswith("Bearer ")
               for e in exchanges)


async def test_the_overlay_is_needed_and_the_spec_still_bites(
        hub_factory, fake, fake_url, clock, browser):
    """Without the overlay the real behaviour fails, so the overlay is not decoration; and
    with it, a request the spec forbids still fails."""
    exchanges = await run_scenario(hub_factory, fake, fake_url, clock, browser)
    # The exchanges each patch speaks for (validating every big page twice is slow).
    unpatched = problems(openapi(patched=False), [
        e for e in exchanges if e.status in (204, 404) or e.route in (
            "GET /v1/me/following", "GET /v1/playlists/{id}/items")])
    assert any("-> 404" in p for p in unpatched)
    assert any("currently-playing" in p and "-> 204" in p for p in unpatched)
    assert any("/me/following" in p and "None" in p for p in unpatched)  # null cursors
    assert any("/items" in p and "-> 200" in p for p in unpatched)  # episode in a playlist
    volume = next(e for e in exchanges if e.path == "/v1/me/player/volume")
    broken = copy.copy(volume)
    broken.query = {}  # volume_percent is required
    assert problems(openapi(), [broken])
    transfer = next(e for e in exchanges if e.path == "/v1/me/player" and e.method == "PUT")
    broken = copy.copy(transfer)
    broken.request_body = json.dumps({"play": True}).encode()  # device_ids is required
    assert problems(openapi(), [broken])


@pytest.mark.parametrize("reason", ["NO_ACTIVE_DEVICE", "PREMIUM_REQUIRED"])
def test_overlay_reason_values_are_spotifys(reason):
    schema = overlay(raw_spec())["components"]["schemas"]["ErrorObject"]
    assert reason in schema["properties"]["reason"]["enum"]


async def test_accounts_service_requests_follow_the_oauth_rules(
        hub_factory, fake, fake_url, clock, browser):
    """/api/token is not in the spec: check the plugin's grants against Spotify's rules."""
    from urllib.parse import parse_qs as parse

    await run_scenario(hub_factory, fake, fake_url, clock, browser)
    grants = [e for e in fake.exchanges if e.path == "/api/token"]
    assert {parse(e.request_body.decode())["grant_type"][0] for e in grants} == {
        "authorization_code", "refresh_token"}
    for exchange in grants:
        assert exchange.method == "POST"
        assert exchange.request_headers["Content-Type"] == "application/x-www-form-urlencoded"
        form = {k: v[0] for k, v in parse(exchange.request_body.decode()).items()}
        # A PKCE public client names itself in the form and sends no Basic header.
        assert form["client_id"] == "hub-test-client"
        assert "Authorization" not in exchange.request_headers
        if form["grant_type"] == "authorization_code":
            assert set(form) == {"grant_type", "code", "redirect_uri", "client_id",
                                 "code_verifier"}
            assert 43 <= len(form["code_verifier"]) <= 128
        else:
            assert set(form) == {"grant_type", "refresh_token", "client_id"}
        assert exchange.status == 200
