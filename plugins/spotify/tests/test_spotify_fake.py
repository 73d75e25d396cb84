"""The fake Spotify itself behaves like the real accounts service and player (over HTTP)."""

from __future__ import annotations

import base64
import hashlib
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import aiohttp
from hub_spotify.testing.fake import REFRESH_TOKEN_LIFETIME
from hub_spotify.testing.linking import CLIENT_ID, CLIENT_SECRET, KITCHEN, LAPTOP

REDIRECT = "http://127.0.0.1:8123/integrations/spotify/callback"
VERIFIER = "v" * 64


def challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(
        b"=").decode()


async def get_code(browser: aiohttp.ClientSession, fake_url: str, client_id: str = CLIENT_ID,
                   redirect: str = REDIRECT, **extra: str) -> dict[str, str]:
    query = {"client_id": client_id, "response_type": "code", "redirect_uri": redirect,
             "state": "s1", "code_challenge_method": "S256",
             "code_challenge": challenge(VERIFIER), **extra}
    async with browser.get(f"{fake_url}/authorize?{urlencode(query)}",
                           allow_redirects=False) as resp:
        assert resp.status == 302, await resp.text()
        location = resp.headers["Location"]
    assert location.startswith(redirect)
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


async def token(browser: aiohttp.ClientSession, fake_url: str, form: dict[str, str],
                basic: tuple[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    headers = {}
    if basic:
        raw = base64.b64encode(f"{basic[0]}:{basic[1]}".encode()).decode()
        headers["Authorization"] = f"Basic {raw}"
    async with browser.post(f"{fake_url}/api/token", data=form, headers=headers) as resp:
        return resp.status, await resp.json()


async def api(browser: aiohttp.ClientSession, fake_url: str, method: str, path: str,
              access: str, **kwargs: Any) -> tuple[int, Any, Any]:
    async with browser.request(method, f"{fake_url}/v1{path}",
                               headers={"Authorization": f"Bearer {access}"}, **kwargs) as resp:
        body = await resp.json() if resp.content_type == "application/json" else await resp.text()
        return resp.status, resp.headers, body


async def pkce_tokens(browser: aiohttp.ClientSession, fake_url: str) -> dict[str, Any]:
    query = await get_code(browser, fake_url)
    status, body = await token(browser, fake_url, {
        "grant_type": "authorization_code", "code": query["code"], "redirect_uri": REDIRECT,
        "client_id": CLIENT_ID, "code_verifier": VERIFIER})
    assert status == 200, body
    return body


async def test_pkce_code_exchange_checks_verifier_and_is_single_use(browser, fake_url):
    query = await get_code(browser, fake_url)
    assert query["state"] == "s1"
    form = {"grant_type": "authorization_code", "code": query["code"],
            "redirect_uri": REDIRECT, "client_id": CLIENT_ID}
    status, body = await token(browser, fake_url, {**form, "code_verifier": "w" * 64})
    assert (status, body["error"]) == (400, "invalid_grant")
    query = await get_code(browser, fake_url)
    form["code"] = query["code"]
    status, body = await token(browser, fake_url, {**form, "code_verifier": VERIFIER})
    assert status == 200 and body["refresh_token"] and body["expires_in"] == 3600
    status, body = await token(browser, fake_url, {**form, "code_verifier": VERIFIER})
    assert (status, body["error"]) == (400, "invalid_grant")  # the code is single-use


async def test_confidential_client_uses_basic_auth(browser, fake_url):
    query = await get_code(browser, fake_url, client_id="confidential-client")
    form = {"grant_type": "authorization_code", "code": query["code"],
            "redirect_uri": REDIRECT, "code_verifier": VERIFIER}
    status, body = await token(browser, fake_url, form, basic=("confidential-client", "wrong"))
    assert (status, body["error"]) == (400, "invalid_client")
    status, body = await token(browser, fake_url, form,
                               basic=("confidential-client", CLIENT_SECRET))
    assert status == 200, body


async def test_authorize_refuses_localhost_and_can_deny(browser, fake_url, fake):
    query = {"client_id": CLIENT_ID, "response_type": "code", "state": "x",
             "redirect_uri": "http://localhost:8123/cb", "code_challenge_method": "S256",
             "code_challenge": challenge(VERIFIER)}
    async with browser.get(f"{fake_url}/authorize?{urlencode(query)}",
                           allow_redirects=False) as resp:
        assert resp.status == 400
        assert "Insecure redirect URI" in await resp.text()
    fake.deny_next = True
    back = await get_code(browser, fake_url)
    assert back == {"error": "access_denied", "state": "s1"}


async def test_refresh_keeps_or_rotates_and_dies_after_six_months(browser, fake_url, fake,
                                                                    clock):
    tokens = await pkce_tokens(browser, fake_url)
    refresh = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
               "client_id": CLIENT_ID}
    status, body = await token(browser, fake_url, refresh)
    assert status == 200 and "refresh_token" not in body  # omitted: keep using the old one
    fake.rotate_refresh_tokens = True
    status, body = await token(browser, fake_url, refresh)
    assert status == 200 and body["refresh_token"] != tokens["refresh_token"]
    status, old = await token(browser, fake_url, refresh)
    assert (status, old["error"]) == (400, "invalid_grant")  # rotated tokens are single-use
    refresh["refresh_token"] = body["refresh_token"]
    fake.rotate_refresh_tokens = False
    await clock.advance(REFRESH_TOKEN_LIFETIME + 1)
    status, body = await token(browser, fake_url, refresh)
    assert (status, body["error"]) == (400, "invalid_grant")
    assert fake.refresh_count == 4


async def test_access_token_expires_on_the_clock(browser, fake_url, clock):
    access = (await pkce_tokens(browser, fake_url))["access_token"]
    status, _, me = await api(browser, fake_url, "GET", "/me", access)
    assert status == 200 and me["id"] == "alice" and me["product"] == "premium"
    await clock.advance(3600)
    status, _, body = await api(browser, fake_url, "GET", "/me", access)
    assert status == 401 and body["error"]["message"] == "The access token expired"
    status, _, body = await api(browser, fake_url, "GET", "/me", "nonsense")
    assert status == 401 and body["error"]["message"] == "Invalid access token"


async def test_player_state_commands_and_errors(browser, fake_url, fake):
    access = (await pkce_tokens(browser, fake_url))["access_token"]
    # Active device but nothing ever played: /me/player has a device, no item.
    status, _, state = await api(browser, fake_url, "GET", "/me/player", access)
    assert status == 200 and state["item"] is None and state["device"]["id"] == KITCHEN
    status, _, body = await api(browser, fake_url, "PUT", "/me/player/play", access)
    assert status == 404 and body["error"]["reason"] == "NO_SPECIFIC_TRACK"
    status, _, _ = await api(browser, fake_url, "PUT", "/me/player/play", access,
                             json={"context_uri": "spotify:album:abc", "offset": {"position": 2}})
    assert status == 204
    status, _, state = await api(browser, fake_url, "GET", "/me/player", access)
    assert state["is_playing"] and state["item"]["uri"] == "spotify:track:abct03"
    status, _, _ = await api(browser, fake_url, "PUT", "/me/player", access,
                             json={"device_ids": [KITCHEN, LAPTOP]})
    assert status == 400  # only one device id is supported
    # No active device: 204 for the state, NO_ACTIVE_DEVICE for commands.
    fake.users["alice"].active_device = None
    status, _, _ = await api(browser, fake_url, "GET", "/me/player", access)
    assert status == 204
    status, _, body = await api(browser, fake_url, "PUT", "/me/player/pause", access)
    assert status == 404 and body["error"]["reason"] == "NO_ACTIVE_DEVICE"


async def test_faults_on_demand_and_quirky_command_answers(browser, fake_url, fake):
    access = (await pkce_tokens(browser, fake_url))["access_token"]
    fake.fail_next(429, retry_after=7)
    status, headers, body = await api(browser, fake_url, "GET", "/me/player", access)
    assert status == 429 and headers["Retry-After"] == "7" and body["error"]["status"] == 429
    fake.fail_next(503, times=2)
    for _ in range(2):
        assert (await api(browser, fake_url, "GET", "/me", access))[0] == 503
    assert (await api(browser, fake_url, "GET", "/me", access))[0] == 200
    fake.command_status = 200
    status, headers, body = await api(browser, fake_url, "PUT", "/me/player/pause", access)
    assert status == 200 and headers["Content-Type"].startswith("text/plain") and body
    fake.command_status = 202
    assert (await api(browser, fake_url, "PUT", "/me/player/pause", access))[0] == 202


async def test_free_account_gets_premium_required(browser, fake_url, fake):
    fake.login_as = "bob"
    access = (await pkce_tokens(browser, fake_url))["access_token"]
    status, _, body = await api(browser, fake_url, "PUT", "/me/player/pause", access)
    assert status == 403 and body["error"]["reason"] == "PREMIUM_REQUIRED"
    status, _, _ = await api(browser, fake_url, "GET", "/me/player", access)
    assert status == 200  # reading is allowed on a free account


async def test_strict_pkce_refuses_malformed_verifiers_and_plain_challenges(browser, fake_url):
    query = await get_code(browser, fake_url)
    form = {"grant_type": "authorization_code", "code": query["code"],
            "redirect_uri": REDIRECT, "client_id": CLIENT_ID}
    for bad in ("short", "v" * 129, "v" * 42 + "!"):
        status, body = await token(browser, fake_url, {**form, "code_verifier": bad})
        assert (status, body["error"]) == (400, "invalid_request")
    query = {"client_id": CLIENT_ID, "response_type": "code", "redirect_uri": REDIRECT,
             "code_challenge_method": "plain", "code_challenge": VERIFIER}
    async with browser.get(f"{fake_url}/authorize?{urlencode(query)}",
                           allow_redirects=False) as resp:
        assert resp.status == 400


async def test_the_token_endpoint_fails_on_demand(browser, fake_url, fake):
    fake.fail_next(502, path="/api/token")
    fake.fail_next(429, path="/api/token", retry_after=7)
    form = {"grant_type": "refresh_token", "refresh_token": "x", "client_id": CLIENT_ID}
    status, body = await token(browser, fake_url, form)
    assert (status, body["error"]) == (502, "server_error")
    async with browser.post(f"{fake_url}/api/token", data=form) as resp:
        assert resp.status == 429 and resp.headers["Retry-After"] == "7"
    status, body = await token(browser, fake_url, form)
    assert (status, body["error"]) == (400, "invalid_grant")  # faults used up
    assert fake.refresh_count == 1  # the failed ones never reached the grant logic


async def test_registered_redirect_uris_are_matched_like_spotify(browser, fake_url, fake):
    fake.redirect_uris[CLIENT_ID] = ["http://127.0.0.1/cb", "https://hub.example.org/cb"]
    for uri, ok in (("http://127.0.0.1:4321/cb", True), ("https://hub.example.org/cb", True),
                    ("https://hub.example.org:8443/cb", False), ("http://127.0.0.1/other",
                                                                  False)):
        query = {"client_id": CLIENT_ID, "response_type": "code", "redirect_uri": uri,
                 "code_challenge_method": "S256", "code_challenge": challenge(VERIFIER)}
        async with browser.get(f"{fake_url}/authorize?{urlencode(query)}",
                               allow_redirects=False) as resp:
            assert (resp.status == 302) is ok, uri
