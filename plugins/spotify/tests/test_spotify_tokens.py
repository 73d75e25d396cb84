"""Token life: refresh ahead of expiry, single-flight, rotation, invalid_grant -> relink."""

from __future__ import annotations

import asyncio

from hub_spotify.testing.linking import KITCHEN, jump, link, start_hub
from hub_spotify.tokens import REFRESH_TOKEN_LIFETIME


async def test_100_concurrent_requests_on_an_expired_token_refresh_once(
        hub_factory, fake, fake_url, clock, browser):
    harness = await start_hub(hub_factory, fake_url, clock)
    await link(harness, browser, fake)
    jump(clock, 3600)  # the access token has expired
    results = await asyncio.gather(*(
        harness.act("spotify.alice", "volume_set", {"volume": n}) for n in range(100)))
    assert [status for status, _ in results] == [200] * 100
    assert fake.refresh_count == 1
    # Nobody sent the expired token: the refresh happened ahead of use.
    assert not any(e.status == 401 for e in fake.exchanges)


async def test_refresh_happens_ahead_of_expiry(hub_factory, fake, fake_url, clock, browser):
    harness = await start_hub(hub_factory, fake_url, clock)
    await link(harness, browser, fake)
    jump(clock, 3600 - 30)  # still valid for 30 s: too close to send
    assert (await harness.act("spotify.alice", "pause"))[0] == 200
    assert fake.refresh_count == 1


async def test_an_omitted_refresh_token_keeps_the_old_one(hub_factory, fake, fake_url, clock,
                                                          browser):
    harness = await start_hub(hub_factory, fake_url, clock)
    await link(harness, browser, fake)
    for _ in range(3):
        jump(clock, 3600)
        assert (await harness.act("spotify.alice", "pause"))[0] == 200
    assert fake.refresh_count == 3
    refreshes = [e for e in fake.exchanges if e.path == "/api/token"][1:]
    assert len({e.request_body for e in refreshes}) == 1  # the same refresh token each time


async def test_a_rotated_refresh_token_is_stored_and_used(hub_factory, fake, fake_url, clock,
                                                          browser):
    harness = await start_hub(hub_factory, fake_url, clock)
    await link(harness, browser, fake)
    fake.rotate_refresh_tokens = True  # and the old one dies at each refresh
    for _ in range(3):
        jump(clock, 3600)
        status, body = await harness.act("spotify.alice", "pause")
        assert status == 200, body
    assert fake.refresh_count == 3


async def test_a_rotated_refresh_token_survives_a_restart(hub_factory, fake, fake_url, clock,
                                                          browser, tmp_path):
    data_dir = tmp_path / "kept"
    config = {"plugins": {"spotify": {
        "client_id": "hub-test-client", "api_url": f"{fake_url}/v1",
        "accounts_url": fake_url}}}
    first = await hub_factory(config, only=["spotify"], clock=clock, data_dir=data_dir)
    await link(first, browser, fake)
    fake.rotate_refresh_tokens = True
    jump(clock, 3600)
    assert (await first.act("spotify.alice", "pause"))[0] == 200
    await first.client.close()  # stops that hub
    second = await hub_factory(config, only=["spotify"], clock=clock, data_dir=data_dir)
    jump(clock, 3600)
    status, body = await second.act("spotify.alice", "pause")
    assert status == 200, body  # the new refresh token was in the vault, not only in memory
    assert fake.refresh_count == 2


async def test_invalid_grant_makes_the_account_relink_required(
        hub_factory, fake, fake_url, clock, browser):
    harness = await start_hub(hub_factory, fake_url, clock)
    await link(harness, browser, fake)
    events = harness.hub.bus.subscribe(types=["plugin_event"])
    fake.revoke_refresh_tokens("alice")
    jump(clock, 3600)
    status, body = await harness.act("spotify.alice", "pause")
    assert status == 409 and body["error"]["code"] == "relink_required", body
    for device_id in ("spotify.alice", f"spotify.alice.{KITCHEN}"):
        device = await harness.device(device_id)
        assert device["state"] == "unavailable"
        assert device["unavailable_reason"] == "relink_required"
    event = await asyncio.wait_for(events.get(), 1)
    assert event.data["event"] == "spotify.relink_required"
    assert event.data["account"] == "alice"
    status, body = await harness.act("spotify.alice", "pause")
    assert status == 409, body
    assert fake.refresh_count == 1  # a dead grant is not retried
    status, plugins = await harness.get("/plugins")
    [account] = next(p for p in plugins["plugins"] if p["name"] == "spotify")[
        "details"]["accounts"]
    assert account["relink_required"] is True
    # Linking again brings the account and its devices back.
    await link(harness, browser, fake)
    assert (await harness.device("spotify.alice"))["available"]
    assert (await harness.act("spotify.alice", "pause"))[0] == 200


async def test_refresh_tokens_die_six_months_after_authorization(
        hub_factory, fake, fake_url, clock, browser):
    harness = await start_hub(hub_factory, fake_url, clock)
    await link(harness, browser, fake)
    jump(clock, REFRESH_TOKEN_LIFETIME - 86400)
    assert (await harness.act("spotify.alice", "pause"))[0] == 200
    status, plugins = await harness.get("/plugins")
    [account] = next(p for p in plugins["plugins"] if p["name"] == "spotify")[
        "details"]["accounts"]
    assert account["refresh_token_days_left"] == 1.0
    jump(clock, 2 * 86400)  # refreshing never extended it
    status, body = await harness.act("spotify.alice", "pause")
    assert status == 409 and body["error"]["code"] == "relink_required"
