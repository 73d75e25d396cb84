"""The media library: browse what a device's plugin offers, search every capable plugin at once.

    REST GET /media/browse, GET /media/search; WS browse_media, search_media (thin handlers)
    -> check the request        400 for bad input, before anything else happens
    -> resolve the device       an id or `name:...` (hub.names): 404 / 409
    -> governance gate          a read: requirement READ (any authenticated principal) unless
                                a rule raises it for the plugin, device or action
    -> cache                    a principal-independent key: the gate has decided already
    -> the plugin's hook        under the plugin's timeout; errors mapped like actions'
    -> check what it returned   junk is that plugin's error (502 `invalid_media`), never a 500

Search asks every provider concurrently, each under its own timeout, and reports a failing
provider as `{"plugin", "code", "message"}` beside the others' results: one slow or broken
provider never fails the others or delays them beyond its own timeout.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import itertools
import logging
import math
import os
import re
from collections.abc import Callable, Coroutine, Mapping
from typing import Any
from urllib.parse import urlsplit

from hub import names
from hub.errors import (
    Conflict,
    Forbidden,
    HubError,
    InvalidRequest,
    NotFound,
    PluginTimeout,
    UpstreamError,
)
from hub.maturity import Level
from hub.model import MEDIA_TYPES, BrowseResult, Device, MediaItem, Principal
from hub.vocabulary import MEDIA_ID_MAX

log = logging.getLogger(__name__)

BROWSE, SEARCH = "browse_media", "search_media"
READ = Level.STUDENT  # what a read requires by default: any authenticated principal
MAX_QUERY = 200  # characters of a search query
MAX_LIMIT, DEFAULT_LIMIT = 50, 20  # results of one search
MAX_CURSOR = 1024
MAX_PLUGIN_NAME = 64
MAX_TEXT = 1024  # a title or subtitle is cut beyond this
MAX_URL = 2048
MAX_ITEMS = 1000  # items in one page or one provider's search answer
CACHE_ENTRIES = 512

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_UNFIT = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")  # either of the two above
_DIGITS = re.compile("[0-9]{1,6}")

_REF_HELP = "a device id, or `name:` and the device's name (e.g. `name:Living Room`)"
_DEVICE_REF: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": names.MAX_REF}

BROWSE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["device"],
    "properties": {
        "device": {**_DEVICE_REF, "description": "the device whose plugin's library to browse: "
                   + _REF_HELP},
        "item": {"type": "string", "minLength": 1, "maxLength": MEDIA_ID_MAX,
                 "description": "the id of an item with can_expand (from browse or search); "
                                "absent: the root"},
        "cursor": {"type": "string", "minLength": 1, "maxLength": MAX_CURSOR,
                   "description": "the cursor of the previous page, for the next one"},
    },
}

SEARCH_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["q"],
    "properties": {
        "q": {"type": "string", "minLength": 1, "maxLength": MAX_QUERY,
              "description": "what to look for: a title, an artist, an album..."},
        "types": {"type": "array", "items": {"enum": list(MEDIA_TYPES)}, "minItems": 1,
                  "uniqueItems": True,
                  "description": "only these types (over REST: comma-separated)"},
        "device": {**_DEVICE_REF, "description": "search only this device's plugin, as the "
                   "device would play the results: " + _REF_HELP},
        "plugin": {"type": "string", "minLength": 1, "maxLength": MAX_PLUGIN_NAME,
                   "description": "search only this plugin"},
        "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT,
                  "default": DEFAULT_LIMIT, "description": "at most this many results"},
    },
}

_DESCRIPTIONS = {
    BROWSE: "Browse the media library a device's plugin offers (playlists, favorites, albums, "
            "radio...), one level and one page at a time. Items with can_play can be played "
            "with the play_media action (media_id = the item's id) on a device of the same "
            "plugin; items with can_expand can be browsed further.",
    SEARCH: "Search the media of every plugin that can (or of one plugin or device's plugin) "
            "for tracks, albums, artists, playlists, radio and podcasts. Results carry the id "
            "to play with the play_media action; a provider that fails is listed in errors.",
}
_ROUTES = {BROWSE: "GET /media/browse", SEARCH: "GET /media/search"}


# -- requests ------------------------------------------------------------------------------------


def query_params(query: Any) -> dict[str, Any]:
    """A REST query string (a multidict) as command fields: `types` may repeat (the values
    are joined), any other parameter given twice is a 400."""
    out: dict[str, Any] = {}
    for key in query:
        if key in out:
            continue
        values = query.getall(key)
        if key == "types":
            out[key] = ",".join(values)
        elif len(values) > 1:
            raise InvalidRequest(f"{key!r} is given more than once", field=str(key)[:64])
        else:
            out[key] = values[0]
    return out


def _fields(params: Mapping[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    allowed = schema["properties"]
    unknown = [k for k in params if k not in allowed]
    if unknown:
        shown = ", ".join(repr(str(k)[:32]) for k in unknown[:5])
        raise InvalidRequest(f"unknown parameters {shown}; expected {', '.join(allowed)}")
    return dict(params)


def _text(value: Any, name: str, limit: int, *, required: bool = False) -> str | None:
    """A client's text: a non-empty string, at most `limit` characters, encodable, with no
    control characters. None when absent and not required."""
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise InvalidRequest(f"{name} must be a non-empty string", field=name)
    if len(value) > limit:
        raise InvalidRequest(f"{name} is longer than {limit} characters", field=name)
    if _SURROGATE.search(value):
        raise InvalidRequest(f"{name} is not valid Unicode text", field=name)
    if _CONTROL.search(value):
        raise InvalidRequest(f"{name} must not contain control characters", field=name)
    return value


def _types(value: Any) -> frozenset[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        if len(value) > 256:
            raise InvalidRequest("types is too long", field="types")
        items = [t.strip() for t in value.split(",")]
    elif isinstance(value, list) and len(value) <= len(MEDIA_TYPES) * 2 and all(
            isinstance(t, str) for t in value):
        items = value
    else:
        raise InvalidRequest("types must be a list of media types (over REST: comma-separated)",
                             field="types")
    unknown = [t for t in items if t not in MEDIA_TYPES]
    if unknown or not items:
        shown = ", ".join(repr(t[:32]) for t in unknown[:5]) or "none"
        raise InvalidRequest(f"unknown media types: {shown}; one of {', '.join(MEDIA_TYPES)}",
                             field="types", supported=list(MEDIA_TYPES))
    return frozenset(items)


def _limit(value: Any) -> int:
    if value is None:
        return DEFAULT_LIMIT
    if isinstance(value, str) and _DIGITS.fullmatch(value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_LIMIT:
        raise InvalidRequest(f"limit must be an integer from 1 to {MAX_LIMIT}", field="limit")
    return value


# -- what plugins return -------------------------------------------------------------------------


class _Junk(ValueError):
    """A plugin's answer breaks the media contract."""


def _show(value: Any) -> str:
    return repr(value)[:80]


def _plugin_text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise _Junk(f"{what} is a {type(value).__name__}, not a string")
    if _UNFIT.search(value):
        value = _CONTROL.sub(" ", _SURROGATE.sub("\ufffd", value))
    value = value.strip()
    return value[:MAX_TEXT - 1] + "\u2026" if len(value) > MAX_TEXT else value


@functools.lru_cache(maxsize=2048)  # covers repeat: one album's art on each of its tracks
def _url_problem(value: str) -> str | None:
    if not value or len(value) > MAX_URL:
        return "is not a string of at most 2048 characters"
    if _UNFIT.search(value) or " " in value:
        return "contains spaces or control characters"
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 (raises ValueError for a bad port)
    except ValueError:
        return "is not an absolute http(s) URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "is not an absolute http(s) URL"
    return None


def media_item(item: Any, plugin: str) -> dict[str, Any]:
    """A plugin's MediaItem as clients see it, `plugin` filled in; raises _Junk naming what
    breaks the contract. Ids must round-trip to play_media unchanged, so they are refused
    rather than repaired; titles and subtitles are cleaned and cut."""
    if not isinstance(item, MediaItem):
        raise _Junk(f"gave a {type(item).__name__}, not a MediaItem")
    item_id = item.id
    if (not isinstance(item_id, str) or not item_id or len(item_id) > MEDIA_ID_MAX
            or _UNFIT.search(item_id)):
        raise _Junk(f"item id {_show(item_id)} is not 1 to {MEDIA_ID_MAX} characters of text "
                    "without control characters")
    try:
        return _checked(item, plugin)
    except _Junk as err:
        raise _Junk(f"item {_show(item_id)}: {err}") from None


def _checked(item: MediaItem, plugin: str) -> dict[str, Any]:
    if item.type not in MEDIA_TYPES:
        raise _Junk(f"type {_show(item.type)} is not one of {', '.join(MEDIA_TYPES)}")
    title = _plugin_text(item.title, "title")
    if not title:
        raise _Junk("empty title")
    subtitle = None if item.subtitle is None else (_plugin_text(item.subtitle, "subtitle")
                                                   or None)
    duration = item.duration
    if duration is not None and (isinstance(duration, bool) or not isinstance(
            duration, (int, float)) or not math.isfinite(duration) or duration < 0):
        raise _Junk(f"duration {_show(duration)} is not a number of seconds")
    thumbnail = item.thumbnail
    if thumbnail is not None:
        problem = (_url_problem(thumbnail) if isinstance(thumbnail, str)
                   else "is not a string of at most 2048 characters")
        if problem:
            raise _Junk(f"thumbnail {_show(thumbnail)} {problem}")
    if item.can_play.__class__ is not bool or item.can_expand.__class__ is not bool:
        raise _Junk("can_play and can_expand must be true or false")
    return {
        "id": item.id,
        "title": title,
        "type": item.type,
        "subtitle": subtitle,
        "duration": duration,
        "thumbnail": thumbnail,
        "can_play": item.can_play,
        "can_expand": item.can_expand,
        "plugin": plugin,
    }


def _items(items: Any, plugin: str) -> list[dict[str, Any]]:
    if not isinstance(items, (list, tuple)):
        raise _Junk(f"gave a {type(items).__name__}, not a list of MediaItems")
    if len(items) > MAX_ITEMS:
        raise _Junk(f"gave {len(items)} items in one answer (at most {MAX_ITEMS})")
    return [media_item(item, plugin) for item in items]


def _ttl(value: Any, default: float) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return max(0.0, float(value))
    return default


# -- the cache -----------------------------------------------------------------------------------


_MISSING = object()


class _Cache:
    """Providers' answers, each kept for its ttl, least recently used dropped beyond `size`.

    Keys start with the plugin name and hold no principal: the gate decides before the cache
    is consulted. Concurrent identical requests share one call to the plugin. `forget(plugin)`
    drops a plugin's answers (after an action on one of its devices, which may change a queue
    or a library); a call already under way is then not kept either."""

    def __init__(self, now: Callable[[], float], size: int) -> None:
        self._now = now
        self._size = size
        self._entries: collections.OrderedDict[tuple, tuple[float, Any]] = (
            collections.OrderedDict())
        self._pending: dict[tuple, asyncio.Task] = {}
        self._generation: collections.Counter[str] = collections.Counter()

    def peek(self, key: tuple) -> Any:
        """The answer kept for `key`, or _MISSING."""
        entry = self._entries.get(key)
        if entry is None or entry[0] <= self._now():
            return _MISSING
        self._entries.move_to_end(key)
        return entry[1]

    async def get(self, key: tuple, call: Callable[[], Coroutine[Any, Any, tuple[Any, float]]], *,
                  shared: bool = True) -> Any:
        """The answer kept for `key`, else `call()`'s (kept for the ttl it gives). `shared`
        False (a plugin that forbids caching): no call is shared, which saves a task."""
        entry = self._entries.get(key)
        if entry is not None:
            if entry[0] > self._now():
                self._entries.move_to_end(key)
                return entry[1]
            del self._entries[key]
        if not shared:
            generation = self._generation[key[0]]
            value, ttl = await call()
            self._keep(key, generation, value, ttl)
            return value
        task = self._pending.get(key)
        if task is None:
            task = asyncio.create_task(call(), name=f"media:{key[0]}:{key[1]}")
            self._pending[key] = task
            generation = self._generation[key[0]]
            task.add_done_callback(lambda t: self._settle(key, generation, t))
        # Shielded: a client that goes away does not cancel the call others wait for; the
        # call ends by itself within the plugin's timeout.
        value, _ttl = await asyncio.shield(task)
        return value

    def _settle(self, key: tuple, generation: int, task: asyncio.Task) -> None:
        if self._pending.get(key) is task:
            del self._pending[key]
        if task.cancelled() or task.exception() is not None:
            return  # errors are never kept
        self._keep(key, generation, *task.result())

    def _keep(self, key: tuple, generation: int, value: Any, ttl: float) -> None:
        if ttl > 0 and self._generation[key[0]] == generation:
            self._entries[key] = (self._now() + ttl, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)

    def forget(self, plugin: str) -> None:
        self._generation[plugin] += 1
        for key in [k for k in self._entries if k[0] == plugin]:
            del self._entries[key]
        for key in [k for k in self._pending if k[0] == plugin]:
            del self._pending[key]

    def __len__(self) -> int:
        return len(self._entries)


# -- the library ---------------------------------------------------------------------------------


class MediaLibrary:
    def __init__(self, *, registry: Any, plugins: Any, governance: Any, audit: Any, bus: Any,
                 clock: Any) -> None:
        self._registry = registry
        self._plugins = plugins
        self._governance = governance
        self._audit = audit
        self.cache = _Cache(clock.monotonic, CACHE_ENTRIES)
        bus.add_listener(self._on_event)

    def _on_event(self, event: Any) -> None:
        if event.type == "action" and event.data.get("outcome") == "ok":
            device = event.data.get("device_id")
            if isinstance(device, str):
                self.cache.forget(device.split(".", 1)[0])

    def providers(self, hook: str) -> list[Any]:
        """The running plugins that implement `hook`, by name."""
        return [p for p in self._plugins.active() if self._plugins.implements(p.name, hook)]

    # -- browse --------------------------------------------------------------------------------

    async def browse(self, principal: Principal, params: Mapping[str, Any], *,
                     source: str = "rest") -> dict[str, Any]:
        """`{"item", "children", "cursor"}`: one level of the library of `params["device"]`'s
        plugin (the root without `item`), one page (`cursor`) at a time."""
        fields = _fields(params, BROWSE_SCHEMA)
        ref = _text(fields.get("device"), "device", names.MAX_REF, required=True)
        item = _text(fields.get("item"), "item", MEDIA_ID_MAX)
        cursor = _text(fields.get("cursor"), "cursor", MAX_CURSOR)
        assert ref is not None
        device = self._registry.resolve(ref)
        plugin = self._provider(device.plugin, BROWSE, device)
        asked = {k: v for k, v in (("item", item), ("cursor", cursor)) if v is not None}
        decision = self._governance.decide(principal, plugin.name, device.id, BROWSE, READ)
        if not decision.allowed:
            await self._audit_denied(principal, source, device.id, BROWSE, asked, decision)
            raise Forbidden(decision.reason, **decision.fields(principal))

        async def call() -> tuple[dict[str, Any], float]:
            result = await self._call(plugin, BROWSE, device, item, item_id=item, cursor=cursor)
            try:
                if not isinstance(result, BrowseResult):
                    raise _Junk(f"gave a {type(result).__name__}, not a BrowseResult")
                if result.cursor is not None and (
                        not isinstance(result.cursor, str) or not result.cursor
                        or len(result.cursor) > MAX_CURSOR or _UNFIT.search(result.cursor)):
                    raise _Junk(f"cursor {_show(result.cursor)} is not 1 to {MAX_CURSOR} "
                                "characters of text")
                answer = {"item": media_item(result.item, plugin.name),
                          "children": _items(result.children, plugin.name),
                          "cursor": result.cursor}
            except _Junk as err:
                raise self._junk(plugin, BROWSE, err, device) from None
            return answer, _ttl(result.cache_ttl, plugin.info.media_cache_ttl)

        return await self.cache.get((plugin.name, BROWSE, device.id, item, cursor), call,
                                    shared=plugin.info.media_cache_ttl > 0)

    # -- search --------------------------------------------------------------------------------

    async def search(self, principal: Principal, params: Mapping[str, Any], *,
                     source: str = "rest") -> dict[str, Any]:
        """`{"results", "errors"}`: every capable plugin (or the one of `plugin` or of
        `device`) searched concurrently for `q`."""
        fields = _fields(params, SEARCH_SCHEMA)
        query = (_text(fields.get("q"), "q", MAX_QUERY, required=True) or "").strip()
        if not query:
            raise InvalidRequest("q must not be blank", field="q")
        types = _types(fields.get("types"))
        limit = _limit(fields.get("limit"))
        ref = _text(fields.get("device"), "device", names.MAX_REF)
        name = _text(fields.get("plugin"), "plugin", MAX_PLUGIN_NAME)
        device: Device | None = None
        if ref is not None and name is not None:
            raise InvalidRequest("give device or plugin, not both", field="plugin")
        if ref is not None:
            device = self._registry.resolve(ref)
            plugins = [self._provider(device.plugin, SEARCH, device)]
        elif name is not None:
            plugins = [self._provider(name, SEARCH)]
        else:
            plugins = self.providers(SEARCH)

        asked = {"q": query, "types": sorted(types) if types else None, "limit": limit}
        allowed, errors, denied = [], [], None
        for plugin in plugins:
            target = _target(plugin.name, device)
            decision = self._governance.decide(principal, plugin.name, target, SEARCH, READ)
            if decision.allowed:
                allowed.append(plugin)
                continue
            await self._audit_denied(principal, source, target, SEARCH,
                                     {**asked, "plugin": plugin.name}, decision)
            errors.append({"plugin": plugin.name, "code": "forbidden", "message": decision.reason})
            denied = denied or decision
        if denied is not None and not allowed:
            raise Forbidden(denied.reason, **denied.fields(principal))

        # Answers in the cache are taken at once; only the others are awaited, together.
        keys = [(p.name, SEARCH, device.id if device else None, query,
                 tuple(sorted(types)) if types else None, limit) for p in allowed]
        answers = [self.cache.peek(key) for key in keys]
        missing = [i for i, answer in enumerate(answers) if answer is _MISSING]
        if missing:
            fetched = await asyncio.gather(*(
                self._search_one(allowed[i], keys[i], device, query, types, limit)
                for i in missing))
            for i, answer in zip(missing, fetched, strict=True):
                answers[i] = answer
        lists, failures = [], []
        for plugin, answer in zip(allowed, answers, strict=True):
            if isinstance(answer, HubError):
                failures.append(answer)
                errors.append({"plugin": plugin.name, "code": answer.code,
                               "message": answer.message})
            else:
                lists.append(answer)
        errors.sort(key=lambda e: e["plugin"])
        if failures and not lists:
            raise _all_failed(failures, errors)
        return {"results": _interleave(lists, limit), "errors": errors}

    async def _search_one(self, plugin: Any, key: tuple, device: Device | None, query: str,
                          types: frozenset[str] | None, limit: int) -> Any:
        """One provider's results, or its error (returned, not raised, so that gather keeps
        the others' results)."""

        async def call() -> tuple[list[dict[str, Any]], float]:
            result = await self._call(plugin, SEARCH, device, None, query=query, types=types,
                                      limit=limit)
            try:
                items = _items(result, plugin.name)
            except _Junk as err:
                raise self._junk(plugin, SEARCH, err, device) from None
            if types:
                items = [i for i in items if i["type"] in types]
            return items[:limit], plugin.info.media_cache_ttl

        try:
            return await self.cache.get(key, call, shared=plugin.info.media_cache_ttl > 0)
        except HubError as err:
            return err

    # -- plugins ---------------------------------------------------------------------------------

    def _provider(self, name: str, hook: str, device: Device | None = None) -> Any:
        plugin = self._plugins.plugins.get(name)
        if plugin is None:
            raise NotFound(f"unknown plugin {name!r}", code="unknown_plugin")
        if not plugin.active:
            raise Conflict(f"plugin {name} is not running ({plugin.status})",
                           code="plugin_inactive", plugin=name)
        if not self._plugins.implements(name, hook):
            what = f"{device.id} (plugin {name})" if device is not None else f"plugin {name}"
            raise InvalidRequest(f"{what} does not offer {hook}", code="unsupported_action",
                                 plugin=name)
        return plugin

    async def _call(self, plugin: Any, hook: str, device: Device | None, item: str | None,
                    **kwargs: Any) -> Any:
        """One plugin hook under the plugin's timeout, its failures mapped like an action's:
        the plugin's own HubError (named after the plugin), 504 on timeout, 502 otherwise."""
        where = {"plugin": plugin.name, **({"device": device.id} if device else {})}
        try:
            return await self._plugins.call(plugin.name, hook, ctx=plugin.ctx, device=device,
                                            timeout=plugin.timeout, **kwargs)
        except HubError as err:
            # The plugin's message goes out as JSON: keep it encodable, and name the plugin.
            err.message = _plugin_text(str(err.message), "message")[:500]
            if not err.message.startswith(plugin.name):
                err.message = f"{plugin.name}: {err.message}"
            for key, value in where.items():
                err.extra.setdefault(key, value)
            if item is not None and isinstance(err, NotFound):
                err.extra.setdefault("item", item)
            raise
        except TimeoutError:
            raise PluginTimeout(f"{plugin.name} did not answer {hook} within "
                                f"{plugin.timeout:g} s", **where) from None
        except Exception as err:
            log.warning("plugin %s failed %s", plugin.name, hook, exc_info=True)
            detail = _plugin_text(str(err), "error")[:200]
            raise UpstreamError(f"plugin {plugin.name} failed {hook}: {type(err).__name__}: "
                                f"{detail}", **where) from None

    def _junk(self, plugin: Any, hook: str, err: _Junk, device: Device | None) -> UpstreamError:
        log.warning("plugin %s: invalid %s answer: %s", plugin.name, hook, err)
        return UpstreamError(f"plugin {plugin.name} gave an invalid {hook} answer: {err}",
                             code="invalid_media", plugin=plugin.name,
                             **({"device": device.id} if device else {}))

    # -- governance and audit --------------------------------------------------------------------

    def catalog(self, principal: Principal, device: Device | None = None) -> list[dict[str, Any]]:
        """Browse and search for /actions/catalog: their parameters as JSON Schema, and for
        each capable plugin (the device's only, when given) the caller's decision."""
        out = []
        for hook, schema in ((BROWSE, BROWSE_SCHEMA), (SEARCH, SEARCH_SCHEMA)):
            plugins = []
            for plugin in self.providers(hook):
                if device is not None and plugin.name != device.plugin:
                    continue
                decision = self._governance.decide(
                    principal, plugin.name, _target(plugin.name, device), hook, READ)
                plugins.append({"plugin": plugin.name, "required": decision.required.name,
                                "allowed": decision.allowed})
            out.append({"name": hook, "description": _DESCRIPTIONS[hook], "rest": _ROUTES[hook],
                        "ws": hook, "parameters": schema, "plugins": plugins})
        return out

    async def _audit_denied(self, principal: Principal, source: str, device: str, action: str,
                            params: dict[str, Any], decision: Any) -> None:
        """The one place media reads reach the audit log. The rule for reads
        (docs/architecture.md): a denied read is recorded as a `decision` record with
        decision `deny`; an allowed read changes nothing and is not recorded."""
        await self._audit.write(
            record="decision", correlation_id=os.urandom(16).hex(), principal=principal.name,
            principal_kind=principal.kind,
            maturity=principal.maturity.name if principal.maturity else None, source=source,
            device=device, action=action, params=params, decision="deny",
            reason=decision.reason, required=decision.required.name)


def _target(plugin: str, device: Device | None) -> str:
    """What the gate and the audit see as the device of a read: the device, or all of the
    plugin's (`spotify.*`), so that device patterns in rules apply to searches too."""
    return device.id if device is not None else f"{plugin}.*"


def _interleave(lists: list[list[dict[str, Any]]], limit: int) -> list[dict[str, Any]]:
    """Each provider's best first, in turn, so that one provider cannot crowd out the others."""
    out: list[dict[str, Any]] = []
    for row in itertools.zip_longest(*lists):
        for item in row:
            if item is not None:
                out.append(item)
                if len(out) == limit:
                    return out
    return out


def _all_failed(failures: list[HubError], errors: list[dict[str, Any]]) -> HubError:
    """Every provider asked failed: one answers its own error; several, one error of their
    common status (502 when they differ), listing each provider's under `providers`."""
    if len(failures) == 1 and len(errors) == 1:
        return failures[0]
    first = failures[0]
    summary = "; ".join(f"{e['plugin']}: {e['message']}" for e in errors)[:1000]
    cls = type(first) if len({f.status for f in failures}) == 1 else UpstreamError
    return cls(f"no media provider answered: {summary}",
               code=first.code if cls is type(first) else None, providers=errors)
