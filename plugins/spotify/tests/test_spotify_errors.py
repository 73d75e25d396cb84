"""Every Spotify error mapping, seen through the hub's REST API."""

from __future__ import annotations

import pytest
from hub_spotify.client import MAX_ATTEMPTS
from hub_spotify.testing.linking import drive, link, start_hub

PAUSE = "/v1/me/player/pause"


@pytest.fixture
async def hub(hub_factory, fake, fake_url, clock, browser):
    harness = await start_hub(hub_factory, fake_url, clock)
    await link(harness, browser, fake)
    return harness


def sent(fake, path: str = PAUSE) -> int:
    return sum(1 for e in fake.exchanges if e.path == path)


async def test_401_refreshes_once_and_retries(hub, fake):
    fake.expire_access_tokens()  # Spotify says expired although our clock says not yet
    status, body = await hub.act("spotify.alice", "pause")
    assert status == 200, body
    assert fake.refresh_count == 1 and sent(fake) == 2


async def test_a_second_401_is_not_retried_forever(hub, fake):
    fake.fail_next(401, times=5, path=PAUSE, message="Invalid access token")
    status, body = await hub.act("spotify.alice", "pause")
    assert status == 502 and body["error"]["code"] == "spotify_unauthorized"
    assert fake.refresh_count == 1 and sent(fake) == 2


async def test_premium_required_is_403(hub_factory, fake, fake_url, clock, browser):
    harness = await start_hub(hub_factory, fake_url, clock)
    await link(harness, browser, fake, "bob")  # a free account
    status, body = await harness.act("spotify.bob", "pause")
    assert status == 403 and body["error"]["code"] == "premium_required"
    assert "Premium" in body["error"]["message"]
    assert (await harness.device("spotify.bob"))["available"]  # reading still works


async def test_no_active_device_is_409(hub, fake):
    fake.users["alice"].active_device = None
    status, body = await hub.act("spotify.alice", "pause")
    assert status == 409 and body["error"]["code"] == "no_active_device"


async def test_other_player_refusals_are_409_with_spotifys_reason(hub, fake):
    status, body = await hub.act("spotify.alice", "previous")  # nothing before the start
    assert status == 409 and body["error"]["code"] == "command_refused"
    assert body["error"]["spotify_reason"] == "NO_PREV_TRACK"


async def test_429_within_the_cap_waits_and_retries(hub, fake, clock):
    fake.fail_next(429, retry_after=3, path=PAUSE)
    status, body = await drive(clock, hub.act("spotify.alice", "pause"))
    assert status == 200, body
    assert sent(fake) == 2


async def test_429_beyond_the_cap_answers_429_with_retry_after(hub, fake):
    fake.fail_next(429, retry_after=30, path=PAUSE)  # the cap is 5 s
    body = {"device": "spotify.alice", "action": "pause", "params": {}}
    async with hub.client.post("/actions", json=body,
                               headers=hub.auth(hub.owner_token)) as resp:
        assert resp.status == 429
        assert resp.headers["Retry-After"] == "30"
        error = (await resp.json())["error"]
    assert error["code"] == "rate_limited" and error["retry_after"] == 30
    assert sent(fake) == 1  # no pointless retry


async def test_5xx_backs_off_then_succeeds(hub, fake, clock):
    fake.fail_next(503, times=2, path=PAUSE)
    status, body = await drive(clock, hub.act("spotify.alice", "pause"))
    assert status == 200, body
    assert sent(fake) == 3


async def test_5xx_that_persists_is_502_after_bounded_retries(hub, fake, clock):
    fake.fail_next(500, times=100, path=PAUSE)
    status, body = await drive(clock, hub.act("spotify.alice", "pause"))
    assert status == 502 and body["error"]["code"] == "upstream_error"
    assert sent(fake) == MAX_ATTEMPTS


@pytest.mark.parametrize("command_status", [200, 202])
async def test_any_2xx_is_success_for_commands(hub, fake, command_status):
    fake.command_status = command_status  # 200 with an opaque text body, or 202
    status, body = await hub.act("spotify.alice", "volume_set", {"volume": 20})
    assert status == 200, body
    assert (await hub.device("spotify.alice"))["attributes"]["volume"] == 20


async def test_bad_request_is_400_with_spotifys_message(hub, fake):
    fake.fail_next(400, path=PAUSE, message="Invalid device id")
    status, body = await hub.act("spotify.alice", "pause")
    assert status == 400 and "Invalid device id" in body["error"]["message"]


async def test_unreachable_spotify_is_502_after_bounded_retries(hub, fake, fake_server,
                                                                clock):
    await fake_server.close()  # Spotify is gone: connections are refused
    status, body = await drive(clock, hub.act("spotify.alice", "pause"))
    assert status == 502 and body["error"]["code"] == "upstream_error", body
    assert "no answer" in body["error"]["message"]


async def test_a_retry_after_window_is_answered_locally(hub, fake, clock):
    """Six actions inside Spotify's 20 s window cost one upstream 429, not six; once what is
    left of the window fits the cap (5 s), a request waits it out instead."""
    fake.fail_next(429, retry_after=20, path=PAUSE)
    upstream = len(fake.exchanges)
    answers = []
    for _ in range(6):
        status, body = await hub.act("spotify.alice", "pause")
        answers.append((status, body["error"]["code"], body["error"]["retry_after"]))
        await clock.advance(1)
    assert answers == [(429, "rate_limited", 20 - n) for n in range(6)]
    assert [e.status for e in fake.exchanges[upstream:]] == [429]  # only the first went out
    await clock.advance(10)  # 4 s left: within the cap
    status, body = await drive(clock, hub.act("spotify.alice", "pause"))
    assert status == 200, body
    assert [e.status for e in fake.exchanges[upstream:] if e.path == PAUSE] == [429, 204]


async def test_the_window_belongs_to_one_account(hub_factory, fake, fake_url, clock, browser):
    harness = await start_hub(hub_factory, fake_url, clock)
    await link(harness, browser, fake)
    fake.users["bob"].product = "premium"
    await link(harness, browser, fake, "bob")
    fake.fail_next(429, retry_after=30, path=PAUSE)
    assert (await harness.act("spotify.alice", "pause"))[0] == 429
    assert (await harness.act("spotify.bob", "pause"))[0] == 200


@pytest.mark.parametrize("action,params,path", [
    ("next", {}, "/v1/me/player/next"),
    ("previous", {}, "/v1/me/player/previous"),
    ("play_media", {"media_id": "spotify:track:q", "enqueue": "add"}, "/v1/me/player/queue"),
])
async def test_non_idempotent_commands_are_not_repeated_after_a_5xx(hub, fake, action, params,
                                                                    path):
    await hub.act("spotify.alice", "play", {"context_uri": "spotify:album:xyz",
                                            "offset": {"position": 3}})
    fake.fail_next(502, path=path)
    status, body = await hub.act("spotify.alice", action, params)  # no clock wait at all
    assert status == 502 and body["error"]["code"] == "outcome_unknown", body
    assert "may or may not" in body["error"]["message"]
    assert "did not repeat" in body["error"]["message"]
    assert sent(fake, path) == 1


async def test_next_is_retried_when_the_connection_never_opened(hub, fake, fake_server, clock):
    await fake_server.close()  # refused: nothing reached Spotify, so repeating is safe
    status, body = await drive(clock, hub.act("spotify.alice", "next"))
    assert status == 502 and body["error"]["code"] == "upstream_error", body
    assert f"after {MAX_ATTEMPTS} tries" in body["error"]["message"]
