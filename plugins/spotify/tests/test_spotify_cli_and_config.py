"""`hub spotify link` end to end, the fake on its own, and config validation."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import voluptuous as vol
from hub_spotify.config import (
    CONFIG_SCHEMA,
    SPOTIFY_ACCOUNTS_URL,
    SPOTIFY_API_URL,
    RedirectUriError,
    callback_uri,
)
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


CALLBACK = "/integrations/spotify/callback"


@pytest.mark.parametrize("hub_url,expected", [
    ("http://127.0.0.1:8765", f"http://127.0.0.1:8765{CALLBACK}"),
    ("http://localhost:8765", f"http://127.0.0.1:8765{CALLBACK}"),  # never localhost
    ("http://LocalHost:9000", f"http://127.0.0.1:9000{CALLBACK}"),
    ("http://0.0.0.0:8765", f"http://127.0.0.1:8765{CALLBACK}"),  # every interface
    ("http://::1:8765", f"http://[::1]:8765{CALLBACK}"),  # how the hub spells [::1]
    ("http://[::1]:8765", f"http://[::1]:8765{CALLBACK}"),
    ("http://:::8765", f"http://[::1]:8765{CALLBACK}"),  # "::", every IPv6 interface
])
def test_the_redirect_uri_is_derived_from_where_the_hub_listens(hub_url, expected):
    assert callback_uri({}, hub_url) == expected


@pytest.mark.parametrize("hub_url", ["http://192.168.1.5:8765", "http://hub.lan:8765",
                                     "http://127.0.0.2:8765", "http://fe80::1:8765"])
def test_a_hub_off_loopback_needs_an_https_redirect_uri(hub_url):
    with pytest.raises(RedirectUriError) as err:
        callback_uri({}, hub_url)
    message = str(err.value)
    assert "redirect_uri" in message and "https://" in message
    assert f"http://127.0.0.1:8765{CALLBACK}" in message  # the other way out, spelled out
    configured = f"https://hub.example.org{CALLBACK}"
    assert callback_uri({"redirect_uri": configured}, hub_url) == configured


async def test_the_authorize_route_sends_the_derived_uri(hub_factory, fake, fake_url, clock,
                                                         browser):
    harness = await start_hub(hub_factory, fake_url, clock)
    port = harness.url.rsplit(":", 1)[1]
    for host, sent in (("localhost", f"http://127.0.0.1:{port}"),
                       ("0.0.0.0", f"http://127.0.0.1:{port}"),
                       ("::1", f"http://[::1]:{port}")):
        harness.hub.hub_url = f"http://{host}:{port}"  # as Hub builds it from hub.host
        status, body = await harness.request("GET", "/integrations/spotify/authorize",
                                             allow_redirects=False)
        assert status == 302, body
        query = parse_qs(urlsplit(body["url"]).query)
        assert query["redirect_uri"] == [sent + CALLBACK]
        # The fake, like Spotify, takes it only because it is registered.
        async with browser.get(body["url"], allow_redirects=False) as resp:
            assert resp.status == 302, await resp.text()
    fake.redirect_uris["hub-test-client"] = [f"http://127.0.0.1:1{CALLBACK}"]
    _, body = await harness.request("GET", "/integrations/spotify/authorize",
                                    allow_redirects=False)
    async with browser.get(body["url"], allow_redirects=False) as resp:
        assert resp.status == 400 and "Invalid redirect URI" in await resp.text()


async def test_check_config_refuses_what_spotify_would_refuse(tmp_path):
    config = tmp_path / "hub.yaml"
    config.write_text("hub:\n  host: 192.168.1.5\nplugins:\n  spotify:\n    client_id: abc\n")
    code, out, err = await run("-m", "hub", "check-config", "-c", str(config))
    assert code == 1, out
    assert "spotify" in err and "192.168.1.5" in err and "redirect_uri" in err
    assert f"http://127.0.0.1:8765{CALLBACK}" in err
    config.write_text("hub:\n  host: localhost\nplugins:\n  spotify:\n    client_id: abc\n")
    code, out, err = await run("-m", "hub", "check-config", "-c", str(config))
    assert code == 0, err


async def test_contract_tests_skip_with_one_line_without_the_spec(tmp_path):
    """A user's clone has no ../shared: the contract tests say how to run them, never fail."""
    contract = Path(__file__).with_name("test_spotify_contract.py")
    other = tmp_path / "test_other.py"  # the rest of a suite, as in `make test`
    other.write_text("def test_other():\n    pass\n")
    missing = tmp_path / "nowhere.yml"
    env = {**os.environ, "HUB_SPOTIFY_SPEC": str(missing)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pytest", str(contract), str(other), "-q", "-rs",
        "-p", "no:cacheprovider", stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT, env=env, cwd=tmp_path)
    out = (await asyncio.wait_for(proc.communicate(), 120))[0].decode()
    assert proc.returncode == 0, out
    skips = [line for line in out.splitlines() if line.startswith("SKIPPED")]
    assert len(skips) == 1 and "HUB_SPOTIFY_SPEC" in skips[0] and str(missing) in skips[0], out
    assert "1 passed, 1 skipped" in out and "error" not in out.lower(), out
