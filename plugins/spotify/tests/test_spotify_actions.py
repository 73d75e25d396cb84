"""Every action through the hub's REST API, what it sends to Spotify, and the state after."""

from __future__ import annotations

import asyncio
import json

import pytest
from hub_spotify.testing.linking import KITCHEN, LAPTOP, drive, eventually, link, start_hub


@pytest.fixture
async def hub(hub_factory, fake, fake_url, clock, browser):
    harness = await start_hub(hub_factory, fake_url, clock)
    await link(harness, browser, fake)
    return harness


def last_command(fake, path: str):
    return [e for e in fake.exchanges if e.path == path and e.method != "GET"][-1]


async def act_ok(hub, device: str, action: str, params: dict | None = None) -> dict:
    status, body = await hub.act(device, action, params)
    assert status == 200, body
    return await hub.device(device)


async def test_play_resumes_with_no_body(hub, fake):
    await act_ok(hub, "spotify.alice", "play", {"uris": ["spotify:track:one"]})
    await act_ok(hub, "spotify.alice", "pause")
    assert (await hub.device("spotify.alice"))["state"] == "paused"
    player = await act_ok(hub, "spotify.alice", "play")
    sent = last_command(fake, "/v1/me/player/play")
    assert sent.request_body == b""  # resume: no body at all, not {}
    assert player["state"] == "playing"
    assert player["attributes"]["media_title"] == "Track one"


async def test_play_with_uris_context_offset_and_position(hub, fake):
    player = await act_ok(hub, "spotify.alice", "play", {
        "context_uri": "spotify:album:xyz", "offset": {"position": 4}, "position_ms": 1500})
    sent = json.loads(last_command(fake, "/v1/me/player/play").request_body)
    assert sent == {"context_uri": "spotify:album:xyz", "offset": {"position": 4},
                    "position_ms": 1500}
    assert player["attributes"]["media_title"] == "Track xyzt05"
    assert player["attributes"]["media_position"] == 1.5
    player = await act_ok(hub, "spotify.alice", "play", {
        "uris": ["spotify:track:a", "spotify:track:b"], "offset": {"uri": "spotify:track:b"}})
    assert player["attributes"]["media_content_id"] == "spotify:track:b"
    status, body = await hub.act("spotify.alice", "play", {"uris": ["not a uri"]})
    assert status == 400, body


async def test_pause_next_previous_seek(hub, fake):
    await act_ok(hub, "spotify.alice", "play", {"context_uri": "spotify:album:xyz"})
    assert (await act_ok(hub, "spotify.alice", "pause"))["state"] == "paused"
    player = await act_ok(hub, "spotify.alice", "next")
    assert player["attributes"]["media_title"] == "Track xyzt02"
    player = await act_ok(hub, "spotify.alice", "previous")
    assert player["attributes"]["media_title"] == "Track xyzt01"
    player = await act_ok(hub, "spotify.alice", "seek", {"position": 42.5})
    assert last_command(fake, "/v1/me/player/seek").query["position_ms"] == "42500"
    assert player["attributes"]["media_position"] == 42.5


async def test_volume_set_and_step(hub, fake):
    player = await act_ok(hub, "spotify.alice", "volume_set", {"volume": 30})
    assert player["attributes"]["volume"] == 30
    player = await act_ok(hub, "spotify.alice", "volume_step", {"step": 15})
    assert player["attributes"]["volume"] == 45
    player = await act_ok(hub, "spotify.alice", "volume_step", {"step": -90})
    assert player["attributes"]["volume"] == 0
    assert fake.users["alice"].device(KITCHEN).volume_percent == 0


async def test_shuffle_and_repeat_use_the_hub_vocabulary(hub, fake):
    player = await act_ok(hub, "spotify.alice", "shuffle_set", {"shuffle": True})
    assert player["attributes"]["shuffle"] is True
    assert last_command(fake, "/v1/me/player/shuffle").query["state"] == "true"
    for hub_mode, spotify_mode in (("all", "context"), ("one", "track"), ("off", "off")):
        player = await act_ok(hub, "spotify.alice", "repeat_set", {"repeat": hub_mode})
        assert fake.users["alice"].repeat == spotify_mode
        assert player["attributes"]["repeat"] == hub_mode


async def test_select_source_transfers_playback(hub, fake):
    player = await act_ok(hub, "spotify.alice", "select_source", {"source": "Laptop"})
    assert json.loads(last_command(fake, "/v1/me/player").request_body) == {
        "device_ids": [LAPTOP]}
    assert player["attributes"]["source"] == "Laptop"
    assert player["attributes"]["source_list"] == ["Kitchen", "Laptop"]
    assert (await hub.device(f"spotify.alice.{LAPTOP.lower()}"))["attributes"]["volume"] == 70
    await act_ok(hub, "spotify.alice", "select_source", {"source": KITCHEN})
    assert fake.users["alice"].active_device == KITCHEN
    status, body = await hub.act("spotify.alice", "select_source", {"source": "Toaster"})
    assert status == 400 and body["error"]["code"] == "unknown_source"


async def test_play_media_plays_or_queues(hub, fake):
    player = await act_ok(hub, "spotify.alice", "play_media",
                          {"media_id": "spotify:playlist:pl1"})
    assert player["attributes"]["media_title"] == "Track pl1t01"
    await act_ok(hub, "spotify.alice", "play_media",
                 {"media_id": "spotify:track:queued", "enqueue": "add"})
    assert last_command(fake, "/v1/me/player/queue").query["uri"] == "spotify:track:queued"
    assert fake.users["alice"].queue == ["spotify:track:queued"]
    player = await act_ok(hub, "spotify.alice", "next")
    assert player["attributes"]["media_content_id"] == "spotify:track:queued"
    status, body = await hub.act("spotify.alice", "play_media",
                                 {"media_id": "spotify:album:x", "enqueue": "add"})
    assert status == 400, body
    status, body = await hub.act("spotify.alice", "play_media", {"media_id": "hello"})
    assert status == 400, body


async def test_connect_device_actions_target_that_device(hub, fake):
    laptop = f"spotify.alice.{LAPTOP.lower()}"
    device = await act_ok(hub, laptop, "play", {"uris": ["spotify:track:t1"]})
    assert last_command(fake, "/v1/me/player/play").query["device_id"] == LAPTOP
    assert device["state"] == "playing"
    assert (await hub.device(f"spotify.alice.{KITCHEN}"))["state"] == "idle"
    await act_ok(hub, laptop, "volume_set", {"volume": 12})
    assert fake.users["alice"].device(LAPTOP).volume_percent == 12
    status, body = await hub.act(laptop, "select_source", {"source": "Kitchen"})
    assert status in (400, 404, 409), body  # not offered by Connect devices


async def test_polling_follows_changes_made_elsewhere(hub, fake, clock):
    await act_ok(hub, "spotify.alice", "play", {"uris": ["spotify:track:t1"]})
    fake.users["alice"].is_playing = False  # paused from the phone app

    async def state(device_id: str) -> str:
        return (await hub.device(device_id))["state"]

    await clock.advance(30)
    assert await eventually(lambda: _is(state("spotify.alice"), "paused"))
    fake.users["alice"].active_device = None  # nothing active: Spotify answers 204
    await clock.advance(30)
    assert await eventually(lambda: _is(state("spotify.alice"), "idle"))
    player = await hub.device("spotify.alice")
    assert player["attributes"].get("media_title") is None
    fake.users["alice"].devices.pop()  # the laptop was switched off
    await clock.advance(30)
    assert await eventually(
        lambda: _is(state(f"spotify.alice.{LAPTOP.lower()}"), "unavailable"))


async def _is(value, expected) -> bool:
    return await value == expected


async def test_polling_waits_out_a_long_retry_after(hub, fake, clock):
    def polls() -> int:
        return sum(1 for e in fake.exchanges if e.path == "/v1/me/player/devices")

    fake.fail_next(429, retry_after=120)  # longer than the cap: the poll gives up this round
    await clock.advance(30)
    assert await eventually(lambda: _true(fake.exchanges[-1].status == 429))
    before = polls()
    for _ in range(3):  # 90 s: the poller respects Retry-After instead of its 30 s interval
        await clock.advance(30)
        await asyncio.sleep(0.05)  # real time for a poll's loopback I/O, had one started
    assert polls() == before
    await clock.advance(30)
    assert await eventually(lambda: _true(polls() == before + 1))


async def _true(value: bool) -> bool:
    return value


async def test_a_failing_read_back_does_not_hold_the_answer(hub, fake, clock):
    """The command went through: answer it at once, and read the state in the background."""
    devices_path = "/v1/me/player/devices"
    fake.fail_next(503, times=3, path=devices_path)
    # No clock movement at all: any backoff or Retry-After wait would never end.
    status, body = await asyncio.wait_for(
        hub.act("spotify.alice", "volume_set", {"volume": 12}), 20)
    assert status == 200, body
    assert fake.users["alice"].device(KITCHEN).volume_percent == 12
    assert body["state"]["attributes"]["volume"] == 40  # not read back yet
    status, body = await asyncio.wait_for(
        hub.act("spotify.alice", "volume_set", {"volume": 13}), 20)
    assert status == 200, body
    assert await drive(clock, eventually(lambda: _volume_is(hub, 13), timeout=10))
    # One background read for both commands: three failures, then one success.
    assert [e.status for e in fake.exchanges if e.path == devices_path][-4:] == [
        503, 503, 503, 200]


async def test_a_hanging_read_back_does_not_hold_the_answer(hub, fake, clock):
    released = fake.stall("/v1/me/player/devices")
    # Real time here (the read-back's bound is a network timeout): at most 2 s, not the 10 s
    # of a request's own timeout, and nowhere near the hub's 75 s for the action.
    status, body = await asyncio.wait_for(
        hub.act("spotify.alice", "volume_set", {"volume": 21}), 8)
    assert status == 200, body
    assert fake.users["alice"].device(KITCHEN).volume_percent == 21
    released.set()
    assert await drive(clock, eventually(lambda: _volume_is(hub, 21), timeout=10))


async def _volume_is(hub, volume: int) -> bool:
    return (await hub.device("spotify.alice"))["attributes"]["volume"] == volume


async def test_play_media_next_says_what_spotify_does(hub, fake):
    status, body = await hub.act("spotify.alice", "play_media",
                                 {"media_id": "spotify:episode:ep1", "enqueue": "next"})
    assert status == 200, body
    assert "end" in body["result"]["note"] and body["result"]["queued"] == "spotify:episode:ep1"
    for media_id in ("spotify:playlist:p1", "spotify:show:s1", "spotify:artist:a1"):
        status, body = await hub.act("spotify.alice", "play_media",
                                     {"media_id": media_id, "enqueue": "add"})
        assert status == 400 and body["error"]["code"] == "cannot_queue", body
        assert "only tracks and episodes" in body["error"]["message"]
    status, body = await hub.act("spotify.alice", "play_media",
                                 {"media_id": "spotify:user:alice"})
    assert status == 400 and body["error"]["code"] == "invalid_media_id", body
