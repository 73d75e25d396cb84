"""Linking accounts through the hub's routes against the fake accounts service."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from hub_spotify.testing import FakeDevice
from hub_spotify.testing.linking import (
    CLIENT_SECRET,
    KITCHEN,
    authorize,
    callback,
    jump,
    link,
    spotify_config,
    start_hub,
)

from hub.plugin import Conflict


async def linked_accounts(harness) -> list[dict]:
    status, body = await harness.get("/plugins")
    assert status == 200
    spotify = next(p for p in body["plugins"] if p["name"] == "spotify")
    return spotify["details"]["accounts"]


async def test_link_then_play_end_to_end(hub_factory, fake, fake_url, clock, browser):
    harness = await start_hub(hub_factory, fake_url, clock)
    status, page = await callback(harness, await authorize(harness, browser))
    assert status == 200 and "Alice" in page and "spotify.alice" in page
    player = await harness.device("spotify.alice")
    assert player["available"] and player["attributes"]["source"] == "Kitchen"
    kitchen = await harness.device(f"spotify.alice.{KITCHEN}")
    assert kitchen["name"] == "Kitchen"
    status, body = await harness.act("spotify.alice", "play",
                                     {"context_uri": "spotify:album:abc"})
    assert status == 200, body
    assert fake.users["alice"].is_playing
    player = await harness.device("spotify.alice")
    assert player["state"] == "playing"
    assert player["attributes"]["media_title"] == "Track abct01"
    [account] = await linked_accounts(harness)
    assert account["id"] == "alice" and account["relink_required"] is False
    assert account["refresh_token_days_left"] > 180
    assert fake.counts["authorization_code"] == 1


async def test_authorize_redirect_carries_state_and_s256_challenge(
        hub_factory, fake_url, clock):
    harness = await start_hub(hub_factory, fake_url, clock)
    status, body = await harness.request("GET", "/integrations/spotify/authorize",
                                         allow_redirects=False)
    assert status == 302
    url = urlsplit(body["url"])
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert f"{url.scheme}://{url.netloc}{url.path}" == f"{fake_url}/authorize"
    assert query["client_id"] == "hub-test-client" and query["response_type"] == "code"
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
    assert query["redirect_uri"].startswith("http://127.0.0.1:")
    assert query["redirect_uri"].endswith("/integrations/spotify/callback")
    assert "user-modify-playback-state" in query["scope"].split()
    assert len(query["state"]) >= 32


async def test_authorize_is_for_the_owner_only(hub_factory, fake_url, clock):
    harness = await start_hub(hub_factory, fake_url, clock)
    status, _ = await harness.request("GET", "/integrations/spotify/authorize", token=None,
                                      allow_redirects=False)
    assert status == 401
    agent = await harness.token("agent", maturity="AUTONOMOUS")
    status, body = await harness.request("GET", "/integrations/spotify/authorize",
                                         token=agent, allow_redirects=False)
    assert status == 403, body


async def test_wrong_reused_or_expired_state_is_refused_and_stores_nothing(
        hub_factory, fake, fake_url, clock, browser):
    harness = await start_hub(hub_factory, fake_url, clock)
    query = await authorize(harness, browser)
    status, body = await callback(harness, {**query, "state": "forged"})
    assert status == 400 and body["error"]["code"] == "invalid_state"
    # Expired: ten minutes after it was handed out.
    await clock.advance(600)
    status, body = await callback(harness, query)
    assert status == 400 and body["error"]["code"] == "invalid_state"
    assert fake.counts["authorization_code"] == 0 and await linked_accounts(harness) == []
    # Used once, then never again.
    query = await authorize(harness, browser)
    assert (await callback(harness, query))[0] == 200
    status, body = await callback(harness, query)
    assert status == 400 and body["error"]["code"] == "invalid_state"
    assert fake.counts["authorization_code"] == 1


async def test_state_is_bound_to_the_principal_who_started(
        hub_factory, fake, fake_url, clock, browser):
    harness = await start_hub(hub_factory, fake_url, clock)
    query = await authorize(harness, browser)
    other = await harness.token("someone", maturity="AUTONOMOUS")
    status, body = await harness.request("GET", "/integrations/spotify/callback",
                                         token=other, params=query)
    assert status == 400 and body["error"]["code"] == "invalid_state"
    assert await linked_accounts(harness) == []


async def test_access_denied_gives_a_clear_page(hub_factory, fake, fake_url, clock, browser):
    harness = await start_hub(hub_factory, fake_url, clock)
    fake.deny_next = True
    query = await authorize(harness, browser)
    assert query["error"] == "access_denied"
    status, page = await callback(harness, query)
    assert status == 400 and "declined access" in page and "hub spotify link" in page
    assert await linked_accounts(harness) == []


async def test_token_endpoint_error_is_502_with_spotifys_description(
        hub_factory, fake_url, clock, browser):
    harness = await start_hub(hub_factory, fake_url, clock)
    query = await authorize(harness, browser)
    status, body = await callback(harness, {**query, "code": "not-a-code"})
    assert status == 502, body
    assert body["error"]["code"] == "token_exchange_failed"
    assert "Invalid authorization code" in body["error"]["message"]
    assert await linked_accounts(harness) == []


async def test_confidential_client_links_with_basic_auth(hub_factory, fake, fake_url, clock,
                                                         browser):
    harness = await start_hub(hub_factory, fake_url, clock, client_id="confidential-client",
                              client_secret=CLIENT_SECRET)
    await link(harness, browser, fake)
    exchange = next(e for e in fake.exchanges if e.path == "/api/token")
    assert exchange.request_headers["Authorization"].startswith("Basic ")
    assert b"client_id" not in exchange.request_body
    assert (await harness.act("spotify.alice", "pause"))[0] == 200


async def test_several_accounts_each_with_their_devices(hub_factory, fake, fake_url, clock,
                                                        browser):
    harness = await start_hub(hub_factory, fake_url, clock)
    await link(harness, browser, fake, "alice")
    await link(harness, browser, fake, "bob")
    _, body = await harness.get("/devices")
    ids = {d["id"] for d in (body["devices"] if isinstance(body, dict) else body)}
    assert {"spotify.alice", "spotify.bob", f"spotify.alice.{KITCHEN}",
            "spotify.bob.bobphone"} <= ids
    assert {a["id"] for a in await linked_accounts(harness)} == {"alice", "bob"}


async def test_relinking_replaces_the_grant_and_restarts_its_lifetime(
        hub_factory, fake, fake_url, clock, browser):
    harness = await start_hub(hub_factory, fake_url, clock)
    await link(harness, browser, fake)
    jump(clock, 100 * 86400)
    [account] = await linked_accounts(harness)
    assert 80 < account["refresh_token_days_left"] < 84
    await link(harness, browser, fake)
    [account] = await linked_accounts(harness)
    assert account["refresh_token_days_left"] > 182
    assert (await harness.act("spotify.alice", "pause"))[0] == 200


async def test_localhost_redirect_uri_is_refused_with_the_fix(hub_factory, fake_url, clock):
    harness = await start_hub(
        hub_factory, fake_url, clock,
        redirect_uri="http://localhost:8123/integrations/spotify/callback")
    _, body = await harness.get("/plugins")
    spotify = next(p for p in body["plugins"] if p["name"] == "spotify")
    assert spotify["status"] == "failed"
    assert "127.0.0.1" in spotify["error"] and "localhost" in spotify["error"]


async def test_configured_redirect_uri_is_sent(hub_factory, fake_url, clock):
    redirect = "http://127.0.0.1:9999/integrations/spotify/callback"
    harness = await start_hub(hub_factory, fake_url, clock, redirect_uri=redirect)
    _, body = await harness.request("GET", "/integrations/spotify/authorize",
                                         allow_redirects=False)
    assert parse_qs(urlsplit(body["url"]).query)["redirect_uri"] == [redirect]


async def test_similar_spotify_ids_get_their_own_hub_accounts(hub_factory, fake, fake_url,
                                                              clock, browser):
    """`edge.user` and `edge_user` once both became `edge_user`, and the second link replaced
    the first one's grant."""
    for user_id in ("edge.user", "edge_user"):
        fake.add_user(user_id, user_id.upper(),
                      devices=[FakeDevice(f"dev-{user_id}", f"{user_id} phone")],
                      active_device=f"dev-{user_id}")
    harness = await start_hub(hub_factory, fake_url, clock)
    await link(harness, browser, fake, "edge.user")
    await link(harness, browser, fake, "edge_user")
    accounts = {a["id"]: a["display_name"] for a in await linked_accounts(harness)}
    assert accounts == {"edge-2e-user": "EDGE.USER", "edge_user": "EDGE_USER"}
    jump(clock, 3600)  # both grants still work: each refreshes its own token
    for account, user_id in (("edge-2e-user", "edge.user"), ("edge_user", "edge_user")):
        status, body = await harness.act(f"spotify.{account}", "volume_set", {"volume": 7})
        assert status == 200, body
        assert fake.users[user_id].devices[0].volume_percent == 7
    assert fake.refresh_count == 2
    await link(harness, browser, fake, "edge.user")  # re-linking keeps the id
    assert {a["id"] for a in await linked_accounts(harness)} == {"edge-2e-user", "edge_user"}


async def test_an_older_id_is_kept_and_never_taken_over(hub_factory, fake, fake_url, clock,
                                                        browser, tmp_path):
    """An account linked by an older version as `edge_user` (from `edge.user`) keeps that id;
    the real `edge_user` linking later gets another one instead of its grant."""
    fake.add_user("edge.user", devices=[FakeDevice("d1", "One")], active_device="d1")
    fake.add_user("edge_user", devices=[FakeDevice("d2", "Two")], active_device="d2")
    config = {"plugins": {"spotify": spotify_config(fake_url)}}
    data_dir = tmp_path / "kept"
    first = await hub_factory(config, only=["spotify"], clock=clock, data_dir=data_dir)
    await link(first, browser, fake, "edge.user")
    vault = first.hub.plugins.plugins["spotify"].ctx.vault
    record = await vault.get("account.edge-2e-user")
    await vault.delete("account.edge-2e-user")
    await vault.set("account.edge_user", {**record, "id": "edge_user"})  # the old naming
    await first.client.close()
    harness = await hub_factory(config, only=["spotify"], clock=clock, data_dir=data_dir)
    assert (await harness.act("spotify.edge_user", "pause"))[0] == 200
    await link(harness, browser, fake, "edge_user")
    await link(harness, browser, fake, "edge.user")
    accounts = {a["id"]: a["display_name"] for a in await linked_accounts(harness)}
    assert accounts == {"edge_user": "Edge.User", "edge_user--2": "Edge_User"}
    plugin = harness.hub.plugins.plugins["spotify"].obj
    vault = harness.hub.plugins.plugins["spotify"].ctx.vault
    stolen = {**record, "id": "edge_user", "user_id": "someone.else"}
    with pytest.raises(Conflict):
        await plugin.tokens.store_link(stolen)
    assert (await vault.get("account.edge_user"))["user_id"] == "edge.user"
