"""Faults: unreachable speakers, UPnP faults and timeouts become precise errors; the hub keeps
serving the other speakers; fan-out is concurrent and join/unjoin are serialized."""

from __future__ import annotations

import asyncio
import time

from hub_sonos.testing.helpers import dev


async def test_unreachable_speaker_is_a_502_naming_it(household, sonos_hub):
    harness = await sonos_hub(household, events=False, poll_interval=3600)
    gone, other = household.speakers[0], household.speakers[1]
    gone.go_offline()
    status, body = await harness.act(dev(gone), "volume_set", {"volume": 10})
    assert status == 502, body
    assert body["error"]["code"] == "speaker_unreachable"
    assert "Living Room" in body["error"]["message"] and body["error"]["speaker"] == "Living Room"
    status, body = await harness.act(dev(other), "volume_set", {"volume": 10})
    assert status == 200 and other.volume == 10


async def test_upnp_fault_is_a_502_with_its_code(household, sonos_hub):
    harness = await sonos_hub(household)
    speaker = household.speakers[0]
    speaker.fail("Play", 701)
    status, body = await harness.act(dev(speaker), "play")
    assert status == 502, body
    assert body["error"]["code"] == "upnp_error" and body["error"]["upnp_error"] == 701
    speaker.fail("SetVolume", 402)
    status, body = await harness.act(dev(speaker), "volume_set", {"volume": 3})
    assert status == 502 and body["error"]["upnp_error"] == 402
    speaker.clear_faults()
    status, body = await harness.act(dev(speaker), "play")
    assert status == 200


async def test_slow_speaker_is_a_504_and_others_keep_working(household, sonos_hub):
    harness = await sonos_hub(household, request_timeout=0.5)
    slow, other = household.speakers[0], household.speakers[1]
    slow.latency = 2.0
    started = time.monotonic()
    slow_action = asyncio.ensure_future(harness.act(dev(slow), "volume_set", {"volume": 50}))
    await asyncio.sleep(0.05)
    # the SoCo call waits in an executor thread: the event loop keeps answering meanwhile
    read_started = time.monotonic()
    assert (await harness.get("/devices"))[0] == 200
    assert time.monotonic() - read_started < 0.3 and not slow_action.done()
    other_status, _ = await harness.act(dev(other), "volume_set", {"volume": 50})
    status, body = await slow_action
    assert status == 504, body
    assert body["error"]["code"] == "timeout" and "Living Room" in body["error"]["message"]
    assert other_status == 200
    assert time.monotonic() - started < 1.8
    slow.latency = 0
    status, _ = await harness.act(dev(other), "play")
    assert status == 200


async def test_group_volume_is_concurrent(household_factory, sonos_hub):
    household = household_factory(8, grouped=True)
    harness = await sonos_hub(household)
    for speaker in household.speakers:
        speaker.latency = 0.3
    household.reset_stats()
    started = time.monotonic()
    status, body = await harness.act(dev(household.speakers[0]), "group_volume_set",
                                     {"volume": 61})
    elapsed = time.monotonic() - started
    assert status == 200, body
    assert household.max_in_flight >= 8  # all eight SetVolume requests at once
    assert elapsed < 8 * 0.3 / 2  # a sequential loop would take 2.4 s
    assert {s.volume for s in household.speakers} == {61}


async def test_partial_fan_out_failure_names_who_failed(household_factory, sonos_hub):
    household = household_factory(3, grouped=True)
    harness = await sonos_hub(household)
    broken = household.speakers[1]
    broken.fail("SetVolume", 501)
    status, body = await harness.act(dev(household.speakers[0]), "group_volume_set",
                                     {"volume": 70})
    assert status == 502, body
    assert list(body["error"]["failed"]) == [dev(broken)]
    assert sorted(body["error"]["succeeded"]) == sorted(
        dev(s) for s in household.speakers if s is not broken)
    assert [s.volume for s in household.speakers] == [70, 20, 70]


async def test_joins_are_serialized(household, sonos_hub):
    harness = await sonos_hub(household)
    a, b, c = household.speakers
    b.latency = c.latency = 0.25
    results = await asyncio.gather(harness.act(dev(b), "join", {"leader": dev(a)}),
                                   harness.act(dev(c), "join", {"leader": dev(a)}))
    assert [status for status, _ in results] == [200, 200]
    joins = sorted(r.at for s in (b, c) for r in s.requests
                   if r.action == "SetAVTransportURI")
    assert len(joins) == 2 and joins[1] - joins[0] >= 0.2  # the second waited for the first
    assert {s.uid for s in household.groups[0]} == {a.uid, b.uid, c.uid}


async def test_garbage_answer_is_a_502_not_a_traceback(household, sonos_hub):
    harness = await sonos_hub(household)
    speaker = household.speakers[0]
    speaker.answer_garbage("SetVolume")
    status, body = await harness.act(dev(speaker), "volume_set", {"volume": 12})
    assert status == 502, body
    assert "Living Room" in body["error"]["message"] and "Traceback" not in str(body)
    status, _ = await harness.act(dev(household.speakers[1]), "volume_set", {"volume": 12})
    assert status == 200
