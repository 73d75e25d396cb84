"""Devices by name: rank devices against a text, and resolve `name:Living Room` to one device.

People and agents name devices the way they speak ("the living room speaker", "Bob's
iPhone"), not by id. Matching is case-, accent- and word-order-insensitive, ignores filler
words ("the", "my", "speaker"), and treats "bob", "bobs" and "bob's" as one word. A device
is matched on its name, its id and its area (`Device.info["area"]` or `["room"]`, when the
plugin knows one).

`resolve(devices, ref)` is what every place that accepts a device id calls (the pipeline's
resolve step, REST, WebSocket, the media library, automations):

* a plain id is looked up as it is; unknown: 404 `unknown_device` with the closest devices
  as `candidates` ("did you mean");
* `name:<text>` resolves, in order, to the one device whose name is exactly the text (after
  normalisation), else the one whose area or id is, else the one whose name contains every
  word of the text. Several at the first level that has any: 409 `ambiguous_device` with the
  `candidates`. None at all: 404 `unknown_device` with the closest ones.
"""

from __future__ import annotations

import difflib
import functools
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from hub.errors import Conflict, InvalidRequest, NotFound
from hub.model import Device

NAME_PREFIX = "name:"
MAX_REF = 256  # longer references are refused before any matching work
MATCH_THRESHOLD = 0.5  # GET /devices?match= lists devices scoring at least this
SUGGESTION_THRESHOLD = 0.3  # "did you mean" lists devices scoring at least this
MAX_CANDIDATES = 5

# Words people add around a device's name that never distinguish one device from another.
FILLER = frozenset({"the", "a", "an", "my", "our", "speaker", "speakers"})
_UNFIT = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_APOSTROPHES = re.compile(r"['\u2019\u02bc`]")
_NON_WORD = re.compile(r"[^\w]+|_")


# Letters that Unicode does not decompose into a base letter and an accent.
_LETTERS = str.maketrans({"ø": "o", "Ø": "o", "æ": "ae", "Æ": "ae", "œ": "oe", "Œ": "oe",
                          "ł": "l", "Ł": "l", "đ": "d", "Đ": "d", "þ": "th", "Þ": "th"})


def fold(text: str) -> str:
    """A text as people compare it: case and accents folded ("Søren Åberg" -> "soren aberg"),
    apostrophes dropped ("Bob's" -> "bobs"), any other punctuation a space. Exported by
    hub.plugin for plugins' own search."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_LETTERS))
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    return " ".join(t for t in _NON_WORD.split(_APOSTROPHES.sub("", plain)) if t)


@functools.lru_cache(maxsize=4096)
def words(text: str) -> tuple[str, ...]:
    """The comparable words of a name (`fold`), filler words removed unless nothing else is
    left."""
    tokens = fold(text).split()
    kept = [t for t in tokens if t not in FILLER]
    return tuple(kept or tokens)


def _same(a: str, b: str) -> bool:
    # "bob" / "bobs" (from "Bob's"), "room" / "rooms": a plural or possessive is the same word.
    return a == b or a + "s" == b or b + "s" == a


def _matched(query: tuple[str, ...], field: tuple[str, ...]) -> int:
    """How many query words find a distinct field word (order-insensitive)."""
    free = list(field)
    count = 0
    for q in query:
        for i, f in enumerate(free):
            if _same(q, f):
                del free[i]
                count += 1
                break
    return count


def _similarity(query: tuple[str, ...], field: tuple[str, ...]) -> float:
    """0..1: how close the words are when they do not match outright (typos, prefixes)."""
    if not query or not field:
        return 0.0
    total = 0.0
    for q in query:
        best = 0.0
        for f in field:
            if f.startswith(q) or q.startswith(f):
                best = max(best, 0.6 + 0.4 * min(len(q), len(f)) / max(len(q), len(f)))
            else:
                best = max(best, difflib.SequenceMatcher(None, q, f).ratio())
        total += best
    return total / len(query)


def field_score(query: tuple[str, ...], field: tuple[str, ...]) -> float:
    """1.0 for the same words in any order; 0.85-0.95 when the field holds every query word;
    below that, a similarity (at most 0.7)."""
    if not query or not field:
        return 0.0
    hits = _matched(query, field)
    if hits == len(query):
        if len(query) == len(field):
            return 1.0
        return 0.85 + 0.1 * len(query) / len(field)
    return 0.7 * _similarity(query, field)


def area(device: Device) -> str | None:
    value = device.info.get("area") or device.info.get("room")
    return value if isinstance(value, str) and value else None


@dataclass(frozen=True)
class Match:
    device: Device
    score: float
    field: str  # what matched best: name, area or id

    def describe(self) -> dict[str, Any]:
        return {"score": round(self.score, 3), "field": self.field}


def _score(device: Device, query: tuple[str, ...], raw: str) -> Match:
    best = Match(device, field_score(query, words(device.name)), "name")
    place = area(device)
    if place:
        score = 0.95 * field_score(query, words(place))
        if score > best.score:
            best = Match(device, score, "area")
    if raw.casefold() == device.id.casefold():
        return Match(device, 1.0, "id")
    score = max(0.9 * field_score(query, words(device.id)),
                0.8 * difflib.SequenceMatcher(None, raw.casefold(), device.id.casefold()).ratio())
    if score > best.score:
        best = Match(device, score, "id")
    return best


def rank(devices: Iterable[Device], text: str, threshold: float = MATCH_THRESHOLD) -> list[Match]:
    """The devices matching `text`, best first (ties by name, then id)."""
    text = text[:MAX_REF]
    query = words(text)
    if not query:
        return []
    matches = [m for m in (_score(d, query, text) for d in devices) if m.score >= threshold]
    matches.sort(key=lambda m: (-m.score, m.device.name.casefold(), m.device.id))
    return matches


def matching(devices: Iterable[Device], text: Any) -> list[dict[str, Any]]:
    """`GET /devices?match=` and WS `get_devices` with `match`: the snapshots of the devices
    matching `text`, best first, each with `match: {score, field}`. A blank text filters
    nothing."""
    if not isinstance(text, str) or len(text) > MAX_REF:
        raise InvalidRequest(f"match must be a string of at most {MAX_REF} characters",
                             field="match")
    if not words(text):
        return [d.snapshot() for d in devices]
    return [{**m.device.snapshot(), "match": m.describe()} for m in rank(devices, text)]


def _candidates(devices: Iterable[Device]) -> list[dict[str, str]]:
    return [{"id": d.id, "name": d.name} for d in devices][:MAX_CANDIDATES]


def _listing(devices: Iterable[Device]) -> str:
    return ", ".join(f"{d.name!r} ({d.id})" for d in devices)


def unknown(devices: Iterable[Device], ref: str, what: str = "device") -> NotFound:
    """404 `unknown_device` for `ref`, with the closest devices as `candidates`."""
    text = ref[len(NAME_PREFIX):] if ref.lower().startswith(NAME_PREFIX) else ref
    close = [m.device for m in rank(devices, text, SUGGESTION_THRESHOLD)][:MAX_CANDIDATES]
    message = f"unknown {what} {ref[:MAX_REF]!r}"
    if close:
        message += f"; did you mean {_listing(close[:3])}?"
    return NotFound(message, code="unknown_device", candidates=_candidates(close))


def resolve(devices: dict[str, Device] | Iterable[Device], ref: str) -> Device:
    """The device `ref` designates: a device id, or `name:<name>`. Raises NotFound (404
    `unknown_device`) or Conflict (409 `ambiguous_device`), each with `candidates`."""
    by_id = devices if isinstance(devices, dict) else {d.id: d for d in devices}
    device = by_id.get(ref)
    if device is not None:
        return device
    if not ref.lower().startswith(NAME_PREFIX) or len(ref) > MAX_REF or _UNFIT.search(ref):
        raise unknown(by_id.values(), ref)  # a name with control characters names nothing
    text = ref[len(NAME_PREFIX):].strip()
    query = words(text)
    if not query:
        raise unknown(by_id.values(), ref)
    exact_name, exact_other, containing = [], [], []
    for d in by_id.values():
        name = words(d.name)
        hits = _matched(query, name)
        if hits == len(query) == len(name):
            exact_name.append(d)
            continue
        place = area(d)
        if ((place and field_score(query, words(place)) == 1.0)
                or text.casefold() == d.id.casefold()):
            exact_other.append(d)
        elif hits == len(query):
            containing.append(d)
    for found in (exact_name, exact_other, containing):
        if len(found) == 1:
            return found[0]
        if found:
            found.sort(key=lambda d: (d.name.casefold(), d.id))
            raise Conflict(
                f"{ref!r} matches {len(found)} devices: {_listing(found[:MAX_CANDIDATES])}; "
                "use a device id or a longer name", code="ambiguous_device",
                candidates=_candidates(found))
    raise unknown(by_id.values(), ref)
