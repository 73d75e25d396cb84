"""`hub spotify link` end to end, the fake on its own, and config validation."""

from __future__ import annotations

import asyncio
import sys
from urllib.parse import parse_qs, urlsplit

import pytest
import voluptuous as vol
from hub_spotify.config import CONFIG_SCHEMA, SPOTIFY_ACCOUNTS_URL, SPOTIFY_API_URL
from hub_spotify.testing.linking import callback, start_hub


async def run(*args: str, timeout: float = 30) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    return proc.returncode, out.decode(), err.decode()


async def test_hub_spotify_link_prints_a_url_that_links(hub_factory, fake, fake_url, clock,
                                                        browser):
    harness = await start_hub(hub_factory, fake_url, clock)
    code, out, err = await run("-m", "hub", "spotify", "link", "--url", harness.url,
                               "--token", harness.owner_token)
    assert code == 0, err
    url = next(line for line in out.splitlines() if line.startswith("http"))
    assert url.startswith(f"{fake_url}/authorize?")
    assert harness.owner_token not in out
    async with browser.get(url, allow_redirects=False) as resp:  # the user's browser
        query = {k: v[0] for k, v in parse_qs(urlsplit(resp.headers["Location"]).query).items()}
    status, page = await callback(harness, query)
    assert status == 200, page


async def test_hub_spotify_link_explains_a_refusal(hub_factory, fake_url, clock):
    harness = await start_hub(hub_factory, fake_url, clock)
    agent = await harness.token("agent", maturity="AUTONOMOUS")
    code, out, _ = await run("-m", "hub", "spotify", "link", "--url", harness.url,
                             "--token", agent)
    assert code == 1 and "403" in out and "owner" in out


async def test_the_fake_runs_on_its_own(unused_tcp_port):
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hub_spotify.testing", "--port", str(unused_tcp_port),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
        assert line.strip().endswith(f"http://127.0.0.1:{unused_tcp_port}")
        import aiohttp

        async with aiohttp.ClientSession() as session, session.get(
                f"http://127.0.0.1:{unused_tcp_port}/v1/me/player") as resp:
            assert resp.status == 401
            assert (await resp.json())["error"]["message"] == "No token provided"
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 10)


def test_config_defaults_to_spotify_and_a_pkce_client():
    config = CONFIG_SCHEMA({"client_id": "abc"})
    assert config["api_url"] == SPOTIFY_API_URL
    assert config["accounts_url"] == SPOTIFY_ACCOUNTS_URL
    assert "client_secret" not in config and config["poll_interval"] == 30
    assert "user-modify-playback-state" in config["scopes"]


@pytest.mark.parametrize("uri", [
    "http://localhost:8123/integrations/spotify/callback",
    "https://localhost/cb",
])
def test_localhost_redirect_uris_are_refused_with_the_fix(uri):
    with pytest.raises(vol.Invalid) as err:
        CONFIG_SCHEMA({"client_id": "abc", "redirect_uri": uri})
    assert "127.0.0.1" in str(err.value) and "localhost" in str(err.value)


@pytest.mark.parametrize("uri,ok", [
    ("http://127.0.0.1:8123/integrations/spotify/callback", True),
    ("http://[::1]:8123/integrations/spotify/callback", True),
    ("https://hub.example.org/integrations/spotify/callback", True),
    ("http://192.168.1.5:8123/integrations/spotify/callback", False),  # http off loopback
])
def test_redirect_uri_rules(uri, ok):
    if ok:
        assert CONFIG_SCHEMA({"client_id": "abc", "redirect_uri": uri})["redirect_uri"] == uri
    else:
        with pytest.raises(vol.Invalid):
            CONFIG_SCHEMA({"client_id": "abc", "redirect_uri": uri})


def test_client_id_is_required_and_unknown_keys_refused():
    with pytest.raises(vol.Invalid):
        CONFIG_SCHEMA({})
    with pytest.raises(vol.Invalid):
        CONFIG_SCHEMA({"client_id": "abc", "clientsecret": "typo"})
