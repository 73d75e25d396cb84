"""The event bus: delivery, filtering, and what happens to a slow consumer."""

from __future__ import annotations

import asyncio
import time

import pytest

from hub.events import EventBus, SubscriptionClosed


def _bus() -> EventBus:
    return EventBus(time.time)


def _state(device: str, old: str, new: str) -> dict:
    return {"device_id": device, "old_state": {"state": old}, "new_state": {"state": new}}


async def test_subscriber_gets_events_in_order():
    bus = _bus()
    sub = bus.subscribe()
    bus.publish("action", {"device_id": "demo.a", "n": 1})
    bus.publish("plugin_status", {"plugin": "demo", "status": "loaded"})
    first, second = await sub.get(), await sub.get()
    assert (first.type, first.data["n"]) == ("action", 1)
    assert second.type == "plugin_status"
    assert first.id < second.id


async def test_type_and_device_filters():
    bus = _bus()
    only_state = bus.subscribe(types=["state_changed"])
    only_b = bus.subscribe(devices=["demo.b"])
    bus.publish("state_changed", _state("demo.a", "idle", "playing"))
    bus.publish("action", {"device_id": "demo.b"})
    bus.publish("plugin_status", {"plugin": "demo", "status": "loaded"})  # no device
    assert [e.type for e in _drain(only_state)] == ["state_changed"]
    assert [(e.type, e.device) for e in _drain(only_b)] == [("action", "demo.b")]


async def test_unread_state_changes_of_a_device_are_coalesced():
    bus = _bus()
    sub = bus.subscribe()
    for i in range(100):
        bus.publish("state_changed", _state("demo.a", f"s{i}", f"s{i + 1}"))
        bus.publish("state_changed", _state("demo.b", f"t{i}", f"t{i + 1}"))
    events = _drain(sub)
    # One event per device: the first old state and the latest new state.
    assert [(e.device, e.data["old_state"]["state"], e.data["new_state"]["state"])
            for e in events] == [("demo.a", "s0", "s100"), ("demo.b", "t0", "t100")]
    assert sub.coalesced == 198
    # Once read, the next change is a new event again.
    bus.publish("state_changed", _state("demo.a", "s100", "s101"))
    assert [e.data["old_state"]["state"] for e in _drain(sub)] == ["s100"]


async def test_overflow_closes_only_the_slow_subscription_and_never_blocks_publish():
    bus = _bus()
    slow = bus.subscribe(maxsize=10)
    fast = bus.subscribe(maxsize=10)
    received: list[int] = []

    async def reader():
        async for event in fast:
            received.append(event.data["n"])

    task = asyncio.create_task(reader())
    started = time.perf_counter()
    for n in range(2000):
        bus.publish("action", {"device_id": "demo.a", "n": n})
        if n % 5 == 4:
            await asyncio.sleep(0)  # the fast reader keeps up; the slow one never reads
    elapsed = time.perf_counter() - started
    await asyncio.sleep(0)
    assert slow.closed_reason == "overflow"
    assert fast.closed_reason is None
    assert received == list(range(2000))
    assert elapsed < 1.0
    # What was queued before the overflow is still readable, then the closure is reported.
    assert len(_drain(slow)) == 10
    with pytest.raises(SubscriptionClosed, match="overflow"):
        await slow.get()
    assert bus.subscriber_count == 1
    fast.close()
    await task


async def test_state_changes_alone_never_overflow():
    # Coalescing bounds a state-only backlog by the number of devices.
    bus = _bus()
    sub = bus.subscribe(types=["state_changed"], maxsize=5)
    for i in range(10_000):
        bus.publish("state_changed", _state(f"demo.{i % 5}", "a", str(i)))
    assert sub.closed_reason is None
    assert len(_drain(sub)) == 5


async def test_close_wakes_a_waiting_reader():
    bus = _bus()
    sub = bus.subscribe()
    task = asyncio.create_task(sub.get())
    await asyncio.sleep(0)
    sub.close("bye")
    with pytest.raises(SubscriptionClosed, match="bye"):
        await task


async def test_on_ready_is_called_for_each_available_event_and_on_close():
    bus = _bus()
    sub = bus.subscribe()
    calls = []
    sub.on_ready = lambda: calls.append(len(sub))
    bus.publish("action", {"device_id": "demo.a"})
    bus.publish("state_changed", _state("demo.a", "idle", "playing"))
    bus.publish("state_changed", _state("demo.a", "playing", "paused"))  # merged: no call
    sub.close()
    assert calls == [1, 2, 2]


async def test_listeners_are_called_synchronously_and_their_errors_are_contained():
    bus = _bus()
    seen = []

    def broken(event):
        raise RuntimeError("boom")

    remove = bus.add_listener(broken)
    bus.add_listener(seen.append)
    event = bus.publish("action", {"device_id": "demo.a"})
    assert seen == [event]
    remove()
    remove()  # idempotent
    bus.publish("action", {"device_id": "demo.a"})
    assert len(seen) == 2


async def test_event_json_is_encoded_once():
    bus = _bus()
    event = bus.publish("action", {"device_id": "demo.a"})
    assert event.json() is event.json()
    assert '"type":"action"' in event.json()


def _drain(sub):
    out = []
    while (event := sub.get_nowait()) is not None:
        out.append(event)
    return out
