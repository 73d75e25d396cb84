"""Traces: what happened in the last runs of each automation, for debugging.

A trace holds the run's id, its trigger (the `trigger` variable, never a webhook id), each
condition's result, each step's result with its timings, the variables at the end, and the
error if any. Paths name what they record the way Home Assistant's traces do:
`condition/0`, `action/1`, `action/1/choose/0/conditions/0`, `action/2/then/0`,
`action/3/repeat/sequence/0`, `action/4/parallel/1`.

Traces are kept in memory (the last `trace.stored_traces` runs per automation, default 5), as
JSON-safe copies bounded in size: long strings are cut, deep or long structures truncated,
and a run records at most MAX_RECORDS condition and step entries (a long repeat loop keeps its
first ones and counts the rest). Values under secret-looking names (token, password, api_key,
...) are replaced by `***`, as in the audit log.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import deque
from collections.abc import Mapping
from typing import Any

from hub.audit import redact
from hub.clock import Clock

MAX_RECORDS = 500
MAX_STRING = 2000
MAX_ITEMS = 100
MAX_DEPTH = 8


def path_text(keys: list[Any]) -> str:
    """`["actions", 1, "then", 0]` -> "action/1/then/0" (Home Assistant's trace paths)."""
    parts = [str(k) for k in keys]
    if parts and parts[0] in ("actions", "conditions", "triggers"):
        parts[0] = parts[0][:-1]
    return "/".join(parts)


def safe(value: Any) -> Any:
    """What a trace keeps of `value`: secrets redacted, bounded, JSON-safe."""
    return jsonable(redact(value))


def jsonable(value: Any, depth: int = 0) -> Any:
    """A bounded JSON-safe copy of `value` for a trace."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        if not value.isascii():  # a lone surrogate (from a query string) cannot be JSON
            value = value.encode("utf-8", "replace").decode("utf-8")
        return value if len(value) <= MAX_STRING else value[:MAX_STRING] + "…"
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if depth >= MAX_DEPTH:
        return "…"
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for index, (key, item) in enumerate(value.items()):
            if index >= MAX_ITEMS:
                out["…"] = f"{len(value) - MAX_ITEMS} more"
                break
            out[str(key)] = jsonable(item, depth + 1)
        return out
    if isinstance(value, list | tuple | set | frozenset):
        items = list(value)
        out_list = [jsonable(v, depth + 1) for v in items[:MAX_ITEMS]]
        if len(items) > MAX_ITEMS:
            out_list.append(f"… {len(items) - MAX_ITEMS} more")
        return out_list
    return jsonable(str(value), depth)


class Trace:
    """The record of one run (or of a trigger whose conditions did not hold)."""

    def __init__(self, clock: Clock, automation_id: str, run_id: str,
                 trigger: Mapping[str, Any]) -> None:
        self._clock = clock
        self._mono = clock.monotonic()
        self._seq = 0
        self.data: dict[str, Any] = {
            "run_id": run_id,
            "automation_id": automation_id,
            "trigger": safe(dict(trigger)),
            "start": clock.time(),
            "finish": None,
            "duration_ms": None,
            "state": "running",
            "result": None,
            "error": None,
            "conditions": [],
            "steps": [],
            "dropped": 0,
            "variables": None,
        }

    @property
    def run_id(self) -> str:
        return str(self.data["run_id"])

    def _room(self) -> bool:
        """Whether another record fits; counts it either way (`seq` orders conditions and
        steps together)."""
        self._seq += 1
        if len(self.data["conditions"]) + len(self.data["steps"]) < MAX_RECORDS:
            return True
        self.data["dropped"] += 1
        return False

    def elapsed_ms(self) -> float:
        return round((self._clock.monotonic() - self._mono) * 1000, 3)

    def condition(self, path: str, result: bool, **details: Any) -> None:
        if self._room():
            self.data["conditions"].append(
                {"path": path, "seq": self._seq, "result": result, "at_ms": self.elapsed_ms(),
                 **{k: safe(v) for k, v in details.items()}})

    def step(self, path: str, kind: str, alias: str | None) -> dict[str, Any]:
        """A new step record; fill it with `end_step`. Not kept when the trace is full."""
        record: dict[str, Any] = {"path": path, "kind": kind, "start_ms": self.elapsed_ms(),
                                  "duration_ms": None, "result": None}
        if alias:
            record["alias"] = alias
        if self._room():
            record["seq"] = self._seq
            self.data["steps"].append(record)
        return record

    def end_step(self, record: dict[str, Any], result: Any = None, *, error: Any = None,
                 changed: Mapping[str, Any] | None = None) -> None:
        record["duration_ms"] = round(self.elapsed_ms() - record["start_ms"], 3)
        record["result"] = safe(result)
        if error is not None:
            record["error"] = safe(error)
        if changed:
            record["changed_variables"] = safe(dict(changed))

    def finish(self, state: str, result: str, error: Any = None,
               variables: Mapping[str, Any] | None = None, **extra: Any) -> None:
        self.data.update(
            state=state, result=result, error=safe(error), finish=self._clock.time(),
            duration_ms=self.elapsed_ms(),
            variables=safe({k: v for k, v in (variables or {}).items() if k != "this"}),
            **{k: safe(v) for k, v in extra.items()})

    def as_dict(self) -> dict[str, Any]:
        return self.data


class TraceStore:
    """The newest traces of each automation (kept across a reload of the automation)."""

    def __init__(self) -> None:
        self._traces: dict[str, deque[Trace]] = {}

    def add(self, automation_id: str, trace: Trace, keep: int) -> None:
        traces = self._traces.get(automation_id)
        if traces is None or traces.maxlen != keep:
            traces = deque(traces or (), maxlen=keep)
            self._traces[automation_id] = traces
        if keep:
            traces.append(trace)

    def list(self, automation_id: str) -> list[dict[str, Any]]:
        """Newest first."""
        return [t.as_dict() for t in reversed(self._traces.get(automation_id, ()))]

    def get(self, automation_id: str, run_id: str) -> dict[str, Any] | None:
        for trace in self._traces.get(automation_id, ()):
            if trace.run_id == run_id:
                return trace.as_dict()
        return None

    def retain(self, automation_ids: set[str]) -> None:
        for automation_id in list(self._traces):
            if automation_id not in automation_ids:
                del self._traces[automation_id]
