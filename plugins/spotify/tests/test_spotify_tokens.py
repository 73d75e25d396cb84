"""Token life: refresh ahead of expiry, single-flight, rotation, invalid_grant -> relink."""

from __future__ import annotations

import asyncio

from hub_spotify.client import MAX_ATTEMPTS
from hub_spotify.testing.linking import KITCHEN, drive, eventually, jump, link, start_hub
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


TOKEN = "/api/token"


def token_requests(fake) -> int:
    return sum(1 for e in fake.exchanges if e.path == TOKEN)


async def test_a_5xx_from_the_token_endpoint_is_retried(hub_factory, fake, fake_url, clock,
                                                        browser):
    harness = await start_hub(hub_factory, fake_url, clock)
    await link(harness, browser, fake)
    jump(clock, 3600)
    fake.fail_next(502, times=2, path=TOKEN)
    before = token_requests(fake)
    status, body = await drive(clock, harness.act("spotify.alice", "pause"))
    assert status == 200, body
    assert token_requests(fake) - before == 3 and fake.refresh_count == 1


async def test_a_token_endpoint_that_keeps_failing_is_an_upstream_error(
        hub_factory, fake, fake_url, clock, browser):
    """Not token_exchange_failed, which tells the user to check the redirect URI and the
    client: nothing is wrong with either, Spotify's accounts service is down."""
    harness = await start_hub(hub_factory, fake_url, clock)
    await link(harness, browser, fake)
    jump(clock, 3600)
    fake.fail_next(502, times=100, path=TOKEN)
    before = token_requests(fake)
    status, body = await drive(clock, harness.act("spotify.alice", "pause"))
    assert status == 502 and body["error"]["code"] == "upstream_error", body
    assert "accounts service" in body["error"]["message"]
    assert token_requests(fake) - before == MAX_ATTEMPTS
    assert (await harness.device("spotify.alice"))["available"]  # not a dead grant


async def test_a_token_endpoint_429_is_waited_out_within_the_cap(
        hub_factory, fake, fake_url, clock, browser):
    harness = await start_hub(hub_factory, fake_url, clock)
    await link(harness, browser, fake)
    jump(clock, 3600)
    fake.fail_next(429, retry_after=2, path=TOKEN)
    task = asyncio.ensure_future(harness.act("spotify.alice", "pause"))
    assert await eventually(lambda: _true(token_requests(fake) == 2), timeout=10)
    assert not task.done()  # waiting for Retry-After, not answered at once
    status, body = await drive(clock, task)
    assert status == 200, body


async def test_a_token_endpoint_429_beyond_the_cap_is_429_and_remembered(
        hub_factory, fake, fake_url, clock, browser):
    harness = await start_hub(hub_factory, fake_url, clock)
    await link(harness, browser, fake)
    jump(clock, 3600)
    fake.fail_next(429, retry_after=30, path=TOKEN)  # the cap is 5 s
    status, body = await harness.act("spotify.alice", "pause")
    assert status == 429 and body["error"]["retry_after"] == 30, body
    before = token_requests(fake)
    status, body = await harness.act("spotify.alice", "pause")
    assert status == 429 and body["error"]["retry_after"] <= 30, body
    assert token_requests(fake) == before  # answered by the hub, Spotify not asked again
    await clock.advance(30)
    assert (await harness.act("spotify.alice", "pause"))[0] == 200


async def test_short_lived_tokens_refresh_once_per_lifetime(hub_factory, fake, fake_url, clock,
                                                            browser):
    fake.access_token_lifetime = 5
    harness = await start_hub(hub_factory, fake_url, clock)
    await link(harness, browser, fake)
    for _ in range(3):  # each action is a command and two reads: none of them refreshes
        assert (await harness.act("spotify.alice", "pause"))[0] == 200
    assert fake.refresh_count == 0
    jump(clock, 5)
    results = await asyncio.gather(*(
        harness.act("spotify.alice", "volume_set", {"volume": n}) for n in range(20)))
    assert [status for status, _ in results] == [200] * 20
    assert fake.refresh_count == 1
    jump(clock, 4.6)  # inside the scaled margin (0.5 s) of the 5 s token
    assert (await harness.act("spotify.alice", "pause"))[0] == 200
    assert fake.refresh_count == 2
    assert not any(e.status == 401 for e in fake.exchanges)


async def test_strict_pkce_with_rotation_over_many_refreshes(hub_factory, fake, fake_url, clock,
                                                             browser):
    """The independent double's mix: PKCE, rotating refresh tokens, short-lived tokens."""
    fake.access_token_lifetime = 60
    fake.rotate_refresh_tokens = True
    harness = await start_hub(hub_factory, fake_url, clock)
    await link(harness, browser, fake)
    for _ in range(5):
        jump(clock, 60)
        assert (await harness.act("spotify.alice", "pause"))[0] == 200
    assert fake.refresh_count == 5


async def _true(value: bool) -> bool:
    return value
