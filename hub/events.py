"""The event bus: every state change and action outcome is published once, here.

Two kinds of consumers:

* subscriptions (`bus.subscribe(...)`): WebSocket clients and other readers that may be slow.
  Each gets its own bounded queue. Publishing never blocks and never waits for a subscriber,
  so a slow consumer cannot slow the hub or the other clients. While a subscriber has not yet
  read a `state_changed` event of a device, a newer one for the same device is merged into it
  (the old state of the first, the new state of the latest): a reader that falls behind skips
  intermediate states but never misses the latest one. If the queue is still full (more than
  `maxsize` distinct undelivered events), the subscription is closed with reason "overflow";
  the consumer must resubscribe and re-read the state.
* listeners (`bus.add_listener(cb)`): in-process callbacks (automations) called synchronously
  for every event. They must not block; an exception in one is logged and does not reach the
  publisher.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import itertools
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

_LOGGER = logging.getLogger(__name__)


class _Cause:
    __slots__ = ("active", "correlation_id")

    def __init__(self, correlation_id: str) -> None:
        self.correlation_id = correlation_id
        self.active = True


_CAUSE: contextvars.ContextVar[_Cause | None] = contextvars.ContextVar("hub_cause", default=None)


@contextlib.contextmanager
def dispatching(correlation_id: str):
    """While an action is dispatched, the state changes it makes carry its correlation id.

    Only while: a task the plugin spawns inherits the context, and whatever it changes after
    the action has returned (a track ending later) is not the action's doing."""
    cause = _Cause(correlation_id)
    token = _CAUSE.set(cause)
    try:
        yield
    finally:
        cause.active = False
        _CAUSE.reset(token)


def caused_by() -> str | None:
    """The correlation id of the action being dispatched in this context, if any."""
    cause = _CAUSE.get()
    return cause.correlation_id if cause is not None and cause.active else None


@dataclass
class Event:
    type: str
    data: dict[str, Any]
    time: float
    id: int = 0
    _json: str | None = field(default=None, repr=False, compare=False)

    @property
    def device(self) -> str | None:
        return self.data.get("device_id")

    def as_dict(self) -> dict[str, Any]:
        return {"type": self.type, "time": self.time, "data": self.data}

    def json(self) -> str:
        """`as_dict()` as compact JSON, encoded once however many clients receive it (the
        WebSocket fan-out sends the same text to every subscriber)."""
        if self._json is None:
            self._json = json.dumps(self.as_dict(), separators=(",", ":"), default=str)
        return self._json


@dataclass(eq=False)
class Subscription:
    """One subscriber's view of the bus: `await sub.get()` or `async for event in sub`.

    `on_ready`, when set, is called (synchronously, from `publish` or `close`) whenever an event
    becomes available or the subscription closes, so one writer task can serve several
    subscriptions without a task per subscription.
    """

    bus: EventBus
    types: frozenset[str] | None
    devices: frozenset[str] | None
    maxsize: int
    on_ready: Callable[[], None] | None = None
    _queue: collections.deque = field(default_factory=collections.deque)
    # device id -> the queue slot holding its undelivered state_changed event
    _pending_state: dict[str, list] = field(default_factory=dict)
    _waiter: asyncio.Future | None = None
    closed_reason: str | None = None
    coalesced: int = 0

    def wants(self, event: Event) -> bool:
        if self.types is not None and event.type not in self.types:
            return False
        if self.devices is not None:
            device = event.device
            return device is not None and device in self.devices
        return True

    def _offer(self, event: Event) -> None:
        if self.closed_reason:
            return
        device = event.device
        if event.type == "state_changed" and device is not None:
            slot = self._pending_state.get(device)
            if slot is not None:
                # Not read yet: merge instead of queueing a second, already stale state.
                first = slot[0]
                slot[0] = Event(
                    event.type,
                    {**event.data, "old_state": first.data.get("old_state")},
                    event.time,
                    event.id,
                )
                self.coalesced += 1
                return
        if len(self._queue) >= self.maxsize:
            self.close("overflow")
            return
        slot = [event]
        self._queue.append(slot)
        if event.type == "state_changed" and device is not None:
            self._pending_state[device] = slot
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)
        if self.on_ready is not None:
            self.on_ready()

    def get_nowait(self) -> Event | None:
        if not self._queue:
            return None
        slot = self._queue.popleft()
        event = slot[0]
        if event.type == "state_changed" and self._pending_state.get(event.device) is slot:
            del self._pending_state[event.device]
        return event

    async def get(self) -> Event:
        """The next event; raises `SubscriptionClosed` once the subscription is closed and
        its queue drained."""
        while True:
            event = self.get_nowait()
            if event is not None:
                return event
            if self.closed_reason:
                raise SubscriptionClosed(self.closed_reason)
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Event:
        try:
            return await self.get()
        except SubscriptionClosed:
            raise StopAsyncIteration from None

    def __len__(self) -> int:
        return len(self._queue)

    @property
    def dropped(self) -> int:
        """Events not delivered on their own because a newer state was merged into them."""
        return self.coalesced

    def close(self, reason: str = "closed") -> None:
        if self.closed_reason:
            return
        self.closed_reason = reason
        self.bus._remove(self)
        self._wake()


class SubscriptionClosed(Exception):
    pass


class EventBus:
    def __init__(self, clock_time: Callable[[], float]) -> None:
        self._time = clock_time
        # insertion-ordered set: O(1) removal when one of 1,000 sockets goes away
        self._subs: dict[Subscription, None] = {}
        self._ids = itertools.count(1)
        self._listeners: list[Callable[[Event], None]] = []

    def subscribe(
        self,
        types: Iterable[str] | None = None,
        devices: Iterable[str] | None = None,
        maxsize: int = 1000,
    ) -> Subscription:
        sub = Subscription(
            self,
            frozenset(types) if types is not None else None,
            frozenset(devices) if devices is not None else None,
            maxsize,
        )
        self._subs[sub] = None
        return sub

    def add_listener(self, callback: Callable[[Event], None]) -> Callable[[], None]:
        """Call `callback(event)` synchronously for every event (in-process consumers such
        as automations); returns a function that removes it. Callbacks must not block."""
        self._listeners.append(callback)

        def remove() -> None:
            if callback in self._listeners:
                self._listeners.remove(callback)

        return remove

    def publish(self, event_type: str, data: dict[str, Any]) -> Event:
        """Deliver one event to every interested subscriber and listener. Never blocks, never
        raises because of a consumer."""
        event = Event(event_type, data, self._time(), next(self._ids))
        for sub in tuple(self._subs):
            if sub.wants(event):
                try:
                    sub._offer(event)
                except Exception:  # a broken on_ready callback must not break the publisher
                    _LOGGER.exception("event subscriber failed; closing it")
                    sub.close("error")
        for listener in tuple(self._listeners):
            try:
                listener(event)
            except Exception:
                _LOGGER.exception("event listener %r failed on %s", listener, event_type)
        return event

    def _remove(self, sub: Subscription) -> None:
        self._subs.pop(sub, None)

    @property
    def subscriber_count(self) -> int:
        return len(self._subs)

    def close_all(self, reason: str = "shutdown") -> None:
        for sub in tuple(self._subs):
            sub.close(reason)
