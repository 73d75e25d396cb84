"""State follows UPnP events; without events the plugin polls, and says so in its status."""

from __future__ import annotations

import asyncio

import soco
from hub_sonos.testing.helpers import dev, wait_device, wait_for

from hub.testing import ManualClock


async def advance(clock: ManualClock, seconds: float) -> None:
    """Move the clock, then wait (bounded) until every woken task sleeps again: polls run
    SoCo calls in executor threads, which take real time."""
    baseline = clock.sleepers
    await clock.advance(seconds)
    await wait_for(lambda: clock.sleepers >= baseline)


async def sonos_status(harness) -> dict:
    status, body = await harness.get("/plugins")
    assert status == 200
    return next(p for p in body["plugins"] if p["name"] == "sonos")["details"]


async def all_subscribed(harness, household) -> None:
    plugin = harness.hub.plugins.plugins["sonos"].obj
    await wait_for(lambda: all(s.events_received >= 3 for s in plugin.speakers.values()))


async def test_state_follows_events_from_outside(household, sonos_hub):
    harness = await sonos_hub(household)
    await all_subscribed(harness, household)
    details = await sonos_status(harness)
    assert details["event_mode"] == "events" and details["polling"] == []
    assert details["event_listener"].startswith("127.0.0.1:")  # loopback in tests
    a, b, _ = household.speakers
    a.set_volume(66)  # as if turned on the speaker itself
    await wait_device(harness, dev(a), lambda d: d["attributes"]["volume"] == 66)
    a.press_play()
    await wait_device(harness, dev(a), lambda d: d["state"] == "playing")
    # a topology change made by another controller (the Sonos app) reaches every speaker
    await asyncio.to_thread(soco.SoCo(b.ip).join, soco.SoCo(a.ip))
    await wait_device(harness, dev(b),
                      lambda d: d["attributes"]["group_members"] == [dev(a), dev(b)]
                      and d["attributes"]["coordinator"] == dev(a))
    await wait_device(harness, dev(a),
                      lambda d: d["attributes"]["group_members"] == [dev(a), dev(b)])
    # members mirror their group's transport, as on real speakers
    await wait_device(harness, dev(b), lambda d: d["state"] == "playing")


async def test_track_metadata_arrives_by_event(household, sonos_hub):
    harness = await sonos_hub(household)
    await all_subscribed(harness, household)
    a = household.speakers[0]
    with household.lock:
        a.track_index = 2
    a._notify("AVTransport")
    device = await wait_device(harness, dev(a),
                               lambda d: d["attributes"]["media_title"] == "Naima")
    assert device["attributes"]["media_artist"] == "John Coltrane"
    assert device["attributes"]["media_duration"] == 261


async def test_subscriptions_are_renewed(household_factory, sonos_hub):
    household = household_factory(1, max_subscription_timeout=2)
    harness = await sonos_hub(household)
    # SoCo renews each of the three subscriptions at 85 % of the granted 2 s
    await wait_for(lambda: household.renewals >= 3, timeout=4)
    assert (await sonos_status(harness))["event_mode"] == "events"
    household.speakers[0].set_volume(12)
    await wait_device(harness, dev(household.speakers[0]),
                      lambda d: d["attributes"]["volume"] == 12)


async def test_refused_subscription_falls_back_to_polling(household_factory, sonos_hub):
    household = household_factory(2)
    refused = household.speakers[1]
    refused.events = "refuse"
    clock = ManualClock()
    harness = await sonos_hub(household, clock=clock, poll_interval=10)
    plugin = harness.hub.plugins.plugins["sonos"].obj
    await wait_for(lambda: plugin.speakers[household.speakers[0].uid].events_received >= 3)
    details = await sonos_status(harness)
    assert details["event_mode"] == "mixed"
    assert details["polling"] == [dev(refused)]
    assert "subscribing failed" in details["speakers"][dev(refused)]["reason"]
    assert (await harness.device(dev(refused)))["attributes"]["event_mode"] == "polling"

    refused.set_volume(71)
    await clock.advance(9)
    assert (await harness.device(dev(refused)))["attributes"]["volume"] == 20  # not yet
    await clock.advance(1)
    await wait_device(harness, dev(refused), lambda d: d["attributes"]["volume"] == 71)

    # it tries to subscribe again every sixth poll; once that works, events are back
    refused.events = "normal"
    subscribes = household.subscribes
    for _ in range(8):  # six polls plus slack for the poll already under way
        await advance(clock, 10)
        if household.subscribes > subscribes:
            break
    details = await wait_for_status(harness, lambda d: d["polling"] == [])
    assert details["event_mode"] == "events"
    assert clock.monotonic() >= 50  # not before the sixth poll
    refused.set_volume(5)
    await wait_device(harness, dev(refused), lambda d: d["attributes"]["volume"] == 5)


async def test_no_event_within_the_timeout_falls_back_to_polling(household_factory, sonos_hub):
    household = household_factory(2)
    silent = household.speakers[0]
    silent.events = "silent"  # accepts SUBSCRIBE, never sends NOTIFY
    clock = ManualClock()
    harness = await sonos_hub(household, clock=clock, event_timeout=4, poll_interval=10)
    plugin = harness.hub.plugins.plugins["sonos"].obj
    await wait_for(lambda: plugin.speakers[household.speakers[1].uid].events_received >= 3)
    assert (await sonos_status(harness))["event_mode"] == "events"
    await clock.advance(3.9)
    assert (await sonos_status(harness))["event_mode"] == "events"
    await clock.advance(0.2)
    details = await wait_for_status(harness, lambda d: d["polling"] == [dev(silent)])
    assert details["speakers"][dev(silent)]["reason"] == "no event within 4 s"
    assert details["speakers"][dev(household.speakers[1])]["mode"] == "events"
    await wait_for(lambda: not silent.subscriptions)  # it unsubscribed

    silent.set_volume(44)
    await clock.advance(10)
    await wait_device(harness, dev(silent), lambda d: d["attributes"]["volume"] == 44)


async def test_events_switched_off_means_polling(household, sonos_hub):
    harness = await sonos_hub(household, events=False)
    details = await sonos_status(harness)
    assert details["event_mode"] == "polling"
    assert household.subscribes == 0


async def wait_for_status(harness, predicate) -> dict:
    """Poll GET /plugins (bounded) until the sonos details satisfy `predicate`."""
    async with asyncio.timeout(5):
        while True:
            details = await sonos_status(harness)
            if predicate(details):
                return details
            await asyncio.sleep(0.02)


async def test_failed_renewal_falls_back_to_polling(household_factory, sonos_hub):
    household = household_factory(1, max_subscription_timeout=2)
    harness = await sonos_hub(household)
    speaker = household.speakers[0]
    await all_subscribed(harness, household)
    speaker.events = "refuse"  # renewals (SUBSCRIBE with SID) now get 503
    details = await wait_for_status(harness, lambda d: d["polling"] == [dev(speaker)])
    assert "renewing the subscription failed" in details["speakers"][dev(speaker)]["reason"]
