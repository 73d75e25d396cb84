"""The MCP tools: what an agent sees, and how each call becomes one request to the hub.

Read tools are fixed (`list_devices`, `get_device`, `now_playing`). Control tools are built
from the hub's `/actions/catalog`, so a third-party plugin's actions appear with no code here:

- every action that takes no parameters is one value of the `action` argument of `control`
  (play, pause, next, ...): their inputs are identical, so separate tools would add names,
  not information;
- every action that takes parameters is a tool of its own, named after the action, whose
  input schema is the catalog's parameter schema plus `device` and `dry_run`.

Why this split and not one tool per action or one `control` tool for everything is measured
in bench/bench_mcp_tools.py and explained in docs/agents.md. Every control tool takes
`dry_run`. A failure the hub answers (denied, unknown device, bad parameters, revoked token)
is a tool result with `isError`, never a protocol error, so the model reads it and adapts.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Container
from dataclasses import dataclass
from typing import Any

import jsonschema
import mcp_types as types

from hub.mcp.hubapi import HubApi, HubApiError

MAX_ARGUMENT_BYTES = 16 * 1024  # a tool call's arguments, serialized; the hub's own limit is 64 KiB
MAX_MESSAGE = 300  # characters of a validation message (it may quote the bad value)
CATALOG_TTL = 5.0  # seconds a catalog is reused to route calls (tools/list always re-reads)

# An id is `<plugin>.<stable id>` with no spaces; anything else an agent passes is a name.
_DEVICE_ID = re.compile(r"[a-z0-9_]+\.\S+")
_TOOL_NAME = re.compile(r"[A-Za-z0-9_.-]{1,128}")

DEVICE_ARG = {
    "type": "string", "minLength": 1, "maxLength": 256,
    "description": "The device: its name as list_devices shows it (e.g. Living Room) or its id "
                   "(e.g. demo.player_1).",
}
DRY_RUN_ARG = {
    "type": "boolean", "default": False,
    "description": "true: check the device, the parameters and the permission, and record "
                   "the request in the audit log, without acting.",
}

READ_ONLY = types.ToolAnnotations(read_only_hint=True, open_world_hint=False)
CONTROL = types.ToolAnnotations(read_only_hint=False, destructive_hint=False,
                                open_world_hint=False)


def _schema(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required,
            "additionalProperties": False}


READ_TOOLS = [
    types.Tool(
        name="list_devices",
        description="List the media players the hub knows (speakers, accounts, virtual "
                    "players) with their state. Optional filters narrow the list. Use it to "
                    "find a device's name before controlling it.",
        input_schema=_schema({
            "text": {"type": "string", "maxLength": 200,
                     "description": "Words of the name, room or id, e.g. 'kitchen'."},
            "plugin": {"type": "string", "maxLength": 64,
                       "description": "Only this plugin's devices, e.g. sonos or spotify."},
            "state": {"type": "string",
                      "enum": ["playing", "paused", "idle", "off", "unavailable"],
                      "description": "Only devices in this state."},
        }, []),
        annotations=READ_ONLY,
    ),
    types.Tool(
        name="get_device",
        description="Everything about one device: state, volume, what plays, group, the "
                    "actions it supports.",
        input_schema=_schema({"device": DEVICE_ARG}, ["device"]),
        annotations=READ_ONLY,
    ),
    types.Tool(
        name="now_playing",
        description="What is playing, in short: title, artist, album, position, volume. "
                    "On one device, or (without device) on every device that plays or is "
                    "paused.",
        input_schema=_schema({"device": DEVICE_ARG}, []),
        annotations=READ_ONLY,
    ),
]
READ_TOOL_NAMES = frozenset(t.name for t in READ_TOOLS)
CONTROL_TOOL = "control"
MEDIA_TOOL_NAMES = frozenset({"search_media", "browse_media", "play"})
RESERVED = READ_TOOL_NAMES | MEDIA_TOOL_NAMES | {CONTROL_TOOL}


@dataclass(frozen=True)
class Route:
    """One tool built from the catalog, and what a call of it does."""

    tool: types.Tool
    kind: str = "action"  # action | search_media | browse_media | play
    action: str | None = None  # for `action`; None: `control`, whose argument names it


def build_tools(catalog: dict[str, Any]) -> dict[str, Route]:
    """The tools for a catalog (the body of GET /actions/catalog), by tool name: the media
    tools when the hub has a media library with a provider, and the control tools."""
    media = build_media_tools(catalog.get("media") or [])
    # `play` plays a search result or an item id, or resumes: it serves the play and
    # play_media actions, which would otherwise be a second way to do the same.
    served = {"play", "play_media"} if "play" in media else set()
    return {**build_action_tools(catalog.get("devices") or [], served), **media}


def build_action_tools(catalog: list[dict[str, Any]],
                       served: Container[str] = frozenset()) -> dict[str, Route]:
    """The control tools for the catalog's `devices`, by tool name; actions in `served` are
    left to other tools."""
    actions: dict[str, dict[str, Any]] = {}  # name -> merged description, schema, permission
    for device in catalog:
        for entry in device.get("actions", []):
            name = entry.get("name")
            if not isinstance(name, str) or not _TOOL_NAME.fullmatch(name) or name in served:
                continue  # not expressible as a tool name (still reachable over REST), or served
            seen = actions.setdefault(name, {"description": entry.get("description") or "",
                                             "schemas": [], "allowed": False,
                                             "required": set()})
            parameters = entry.get("parameters")
            if isinstance(parameters, dict) and parameters not in seen["schemas"]:
                seen["schemas"].append(parameters)
            seen["allowed"] = seen["allowed"] or bool(entry.get("allowed"))
            if entry.get("required"):
                seen["required"].add(str(entry["required"]))
    tools: dict[str, Route] = {}
    simple: dict[str, dict[str, Any]] = {}
    for name, info in sorted(actions.items()):
        properties, required = _merge(info["schemas"])
        if not properties:
            simple[name] = info
            continue
        tool_name = name if name not in RESERVED else f"{name}_action"
        tools[tool_name] = Route(types.Tool(
            name=tool_name,
            description=_describe(info),
            input_schema=_schema({"device": DEVICE_ARG, **properties, "dry_run": DRY_RUN_ARG},
                                 ["device", *required]),
            annotations=CONTROL,
        ), action=name)
    if simple:
        lines = "\n".join(f"- {name}: {_describe(info)}" for name, info in simple.items())
        control = Route(types.Tool(
            name=CONTROL_TOOL,
            description="Send a command that takes no parameters to one device:\n" + lines,
            input_schema=_schema({
                "device": DEVICE_ARG,
                "action": {"type": "string", "enum": list(simple),
                           "description": "The command."},
                "dry_run": DRY_RUN_ARG,
            }, ["device", "action"]),
            annotations=CONTROL,
        ))
        tools = {CONTROL_TOOL: control, **tools}  # the everyday commands first
    return tools


def _merge(schemas: list[dict[str, Any]]) -> tuple[dict[str, Any], list[str]]:
    """One input schema for an action several plugins offer: every parameter any of them
    takes; required only where all of them require it (the hub validates per device)."""
    properties: dict[str, Any] = {}
    required: set[str] | None = None
    for schema in schemas:
        props = schema.get("properties")
        props = props if isinstance(props, dict) else {}
        for key, value in props.items():
            if key in ("device", "dry_run"):
                continue  # cannot shadow the tool's own arguments
            if key not in properties:
                properties[key] = value
            elif properties[key] != value:
                earlier = properties[key].get("anyOf", [properties[key]])
                properties[key] = {"anyOf": [*earlier, value]} if value not in earlier \
                    else properties[key]
        wanted = {r for r in schema.get("required", []) if r in props}
        required = wanted if required is None else required & wanted
    return properties, sorted(required or ())


def _describe(info: dict[str, Any]) -> str:
    text = info["description"].strip() or "A device action."
    if not info["allowed"] and info["required"]:
        text += (f" (This agent may not use it: it requires "
                 f"{' or '.join(sorted(info['required']))}.)")
    return text


_MEDIA_READS = (
    ("search_media",
     "Search music and audio (tracks, albums, artists, playlists, radio, podcasts) across "
     "every connected service. Each result has an id: play it with play (item), or open an "
     "album, artist or playlist with browse_media.",
     {**DEVICE_ARG, "description": "Only what this device can play."}),
    ("browse_media",
     "Browse the library a device can play from (playlists, favorites, albums, radio...), one "
     "level at a time: without item, the top level; with an item id that can be expanded, "
     "what it holds; with cursor, the next page.",
     DEVICE_ARG),
)


def build_media_tools(media: list[dict[str, Any]]) -> dict[str, Route]:
    """search_media, browse_media and play, from the catalog's `media` entries: only for an
    operation some running plugin provides. Parameter schemas are the catalog's, with the
    device argument taking names like every other tool's."""
    entries = {m["name"]: m for m in media
               if isinstance(m, dict) and m.get("plugins") and isinstance(m.get("parameters"),
                                                                         dict)}
    tools: dict[str, Route] = {}
    for name, description, device in _MEDIA_READS:
        if name in entries:
            tools[name] = _media_read_tool(entries[name], description, device)
    search = entries.get("search_media")
    if search is not None:
        tools["play"] = Route(types.Tool(
            name="play",
            description="Play on a device: what a search query finds ('focus playlist', "
                        "'jazz radio', 'Nils Frahm'), or an item id from search_media or "
                        "browse_media; with neither, resume what was paused. enqueue: play "
                        "now (default), next, add to the queue, or replace the queue.",
            input_schema=_schema({
                "device": DEVICE_ARG,
                "query": {"type": "string", "minLength": 1, "maxLength": 200,
                          "description": "What to find and play."},
                "item": {"type": "string", "minLength": 1, "maxLength": 2048,
                         "description": "The id of an item to play, from search_media or "
                                        "browse_media."},
                "enqueue": {"type": "string", "enum": ["play", "next", "add", "replace"],
                            "default": "play"},
                "dry_run": DRY_RUN_ARG,
            }, ["device"]),
            annotations=CONTROL), kind="play")
    return tools


def _media_read_tool(entry: dict[str, Any], description: str, device: dict[str, Any]) -> Route:
    parameters = entry["parameters"]
    properties = {**parameters.get("properties", {})}
    if "device" in properties:
        properties["device"] = device
    required = [r for r in parameters.get("required", []) if r in properties]
    return Route(types.Tool(name=entry["name"], description=description + _media_note(entry),
                            input_schema=_schema(properties, required),
                            annotations=READ_ONLY), kind=entry["name"])


def _media_note(entry: dict[str, Any]) -> str:
    denied = sorted({str(p.get("required")) for p in entry["plugins"] if not p.get("allowed")})
    if denied and not any(p.get("allowed") for p in entry["plugins"]):
        return f" (This agent may not use it: it requires {' or '.join(denied)}.)"
    return ""


# -- calls ---------------------------------------------------------------------------------------


def device_ref(value: str) -> str:
    """What the hub is sent for a device argument: ids as they are, names as `name:<name>`."""
    value = value.strip()
    if value.startswith("name:") or _DEVICE_ID.fullmatch(value):
        return value
    return "name:" + value


def ok(text: str, data: dict[str, Any] | None = None) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(text=text)], structured_content=data)


def failed(text: str, data: dict[str, Any] | None = None) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(text=text)],
                                structured_content=data, is_error=True)


class Toolbox:
    """Lists the tools for a token and runs calls against the hub with it."""

    def __init__(self, api: HubApi, *, clock: Callable[[], float] = time.time) -> None:
        self.api = api
        self._clock = clock
        self._routes: dict[str, tuple[float, dict[str, Route]]] = {}
        self._validators: dict[str, jsonschema.protocols.Validator] = {}

    async def list_tools(self, token: str) -> list[types.Tool]:
        routes = await self._tools(token, fresh=True)
        return [*READ_TOOLS, *(t.tool for t in routes.values())]

    def forget(self) -> None:
        """Devices came or went: the next call re-reads the catalog."""
        self._routes.clear()

    async def _tools(self, token: str, *, fresh: bool = False) -> dict[str, Route]:
        cached = self._routes.get(token)
        now = self._clock()
        if cached is not None and not fresh and now - cached[0] < CATALOG_TTL:
            return cached[1]
        tools = build_tools(await self.api.catalog(token))
        if len(self._routes) > 64:  # one entry per agent token; a bound, not a cache policy
            self._routes.clear()
        self._routes[token] = (now, tools)
        return tools

    async def call(self, token: str, name: str, arguments: dict[str, Any] | None
                   ) -> types.CallToolResult:
        arguments = arguments or {}
        try:
            size = len(json.dumps(arguments, ensure_ascii=False).encode())
        except UnicodeEncodeError:
            return failed("The arguments contain invalid Unicode (a lone surrogate).")
        except (TypeError, ValueError, RecursionError):
            return failed("The arguments are not valid JSON.")
        if size > MAX_ARGUMENT_BYTES:
            return failed(f"The arguments are too large ({size} bytes; the limit is "
                          f"{MAX_ARGUMENT_BYTES}).")
        try:
            if name in READ_TOOL_NAMES:
                tool = next(t for t in READ_TOOLS if t.name == name)
                if (problem := self._invalid(tool, arguments)) is not None:
                    return problem
                return await getattr(self, "_" + name)(token, arguments)
            routes = await self._tools(token)
            if name not in routes:
                routes = await self._tools(token, fresh=True)  # a device may be new
            route = routes.get(name)
            if route is None:
                known = ", ".join([*READ_TOOL_NAMES, *routes])
                return failed(f"Unknown tool {name[:128]!r}. The tools are: {known}.")
            if (problem := self._invalid(route.tool, arguments)) is not None:
                return problem
            if route.kind != "action":
                return await getattr(self, "_" + route.kind)(token, arguments)
            action = route.action or arguments["action"]
            params = {k: v for k, v in arguments.items() if k not in ("device", "dry_run")} \
                if route.action else {}
            return await self._act(token, arguments["device"], action, params,
                                   bool(arguments.get("dry_run", False)))
        except HubApiError as err:
            return hub_error(err)

    def _invalid(self, tool: types.Tool, arguments: dict[str, Any]
                 ) -> types.CallToolResult | None:
        key = json.dumps(tool.input_schema, sort_keys=True)
        validator = self._validators.get(key)
        if validator is None:
            cls = jsonschema.validators.validator_for(tool.input_schema,
                                                      default=jsonschema.Draft202012Validator)
            validator = self._validators[key] = cls(tool.input_schema)
        errors = sorted(validator.iter_errors(arguments), key=lambda e: list(e.path))
        if not errors:
            return None
        problems = [f"{'.'.join(str(p) for p in e.path) or 'arguments'}: "
                    f"{e.message[:MAX_MESSAGE]}" for e in errors[:5]]
        return failed(f"Invalid arguments for {tool.name}: " + "; ".join(problems),
                      {"error": {"code": "invalid_arguments", "problems": problems}})

    # -- the tools -------------------------------------------------------------------------------

    async def _list_devices(self, token: str, args: dict[str, Any]) -> types.CallToolResult:
        devices = await self.api.devices(token, match=args.get("text"),
                                         plugin=args.get("plugin"))
        if args.get("state"):
            devices = [d for d in devices if d.get("state") == args["state"]]
        if not devices:
            return ok("No device matches.", {"devices": []})
        lines = [_device_line(d, self._clock()) for d in devices]
        return ok("\n".join(lines), {"devices": [_brief(d) for d in devices]})

    async def _get_device(self, token: str, args: dict[str, Any]) -> types.CallToolResult:
        device = await self.api.device(token, device_ref(args["device"]))
        text = _device_line(device, self._clock()) + "\nactions: " + \
            ", ".join(device.get("actions", []))
        return ok(text, device)

    async def _now_playing(self, token: str, args: dict[str, Any]) -> types.CallToolResult:
        if args.get("device"):
            devices = [await self.api.device(token, device_ref(args["device"]))]
        else:
            devices = [d for d in await self.api.devices(token)
                       if d.get("state") in ("playing", "paused")]
            if not devices:
                return ok("Nothing is playing.", {"devices": []})
            devices = _group_leaders(devices)
        now = self._clock()
        return ok("\n".join(_playing_line(d, now) for d in devices),
                  {"devices": [_brief(d) for d in devices]})

    async def _act(self, token: str, device: str, action: str, params: dict[str, Any],
                   dry_run: bool, *, what: str | None = None) -> types.CallToolResult:
        answer = await self.api.act(token, device_ref(device), action, params, dry_run)
        state = answer.get("state") or {}
        label = f"{state.get('name', answer.get('device'))} ({answer.get('device')})"
        if what is not None:  # from play: say what, not which action
            if dry_run:
                return ok(f"Dry run, nothing was done: {what} on {label} is allowed and would "
                          f"be sent to the {(answer.get('would') or {}).get('plugin')} plugin.",
                          answer)
            return ok(f"{what} on {label}. Now: {_summary(state)}.", answer)
        if dry_run:
            would = answer.get("would") or {}
            return ok(f"Dry run, nothing was done: {action} on {label} is allowed (it requires "
                      f"{would.get('required')}) and would be sent to the "
                      f"{would.get('plugin')} plugin with parameters "
                      f"{json.dumps(would.get('params', {}))}.", answer)
        text = f"Done: {action} on {label}. Now: {_summary(state)}."
        if answer.get("result") is not None:
            text += f" Result: {json.dumps(answer['result'])}"
        return ok(text, answer)


    async def _search_media(self, token: str, args: dict[str, Any]) -> types.CallToolResult:
        query = dict(args)
        if query.get("device"):
            query["device"] = device_ref(query["device"])
        body = await self.api.search(token, query)
        results = body.get("results") or []
        lines = [_item_line(item) for item in results] or [f"Nothing found for {args['q']!r}."]
        lines += [f"({e.get('plugin')} did not answer: {e.get('code')}: {e.get('message')})"
                  for e in body.get("errors") or []]
        return ok("\n".join(lines), body)

    async def _browse_media(self, token: str, args: dict[str, Any]) -> types.CallToolResult:
        body = await self.api.browse(token, {**args, "device": device_ref(args["device"])})
        item = body.get("item") or {}
        children = body.get("children") or []
        lines = [_item_line(item)] + [f"  {_item_line(child)}" for child in children]
        if not children:
            lines.append("  (nothing inside)" if item.get("can_expand") else
                         "  (an item to play, not a folder)")
        if body.get("cursor"):
            lines.append(f"More: browse again with cursor {body['cursor']!r}.")
        return ok("\n".join(lines), body)

    async def _play(self, token: str, args: dict[str, Any]) -> types.CallToolResult:
        device, dry_run = args["device"], bool(args.get("dry_run", False))
        enqueue = args.get("enqueue", "play")
        verb = {"play": "Playing", "next": "Playing next", "add": "Added to the queue",
                "replace": "Replaced the queue with"}[enqueue]
        if args.get("item"):
            return await self._act(token, device, "play_media",
                                   {"media_id": args["item"], "enqueue": enqueue}, dry_run,
                                   what=f"{verb} {args['item']!r}")
        if not args.get("query"):
            return await self._act(token, device, "play", {}, dry_run, what="Resumed playback")
        found = await self.api.search(token, {"q": args["query"], "device": device_ref(device),
                                              "limit": 10})
        results = found.get("results") or []
        playable = [r for r in results if r.get("can_play")]
        retry = _typed_query(args["query"])
        if not playable and retry is not None:
            # "my focus playlist": people name the kind of thing; search for it as a type.
            found = await self.api.search(token, {"q": retry[0], "types": [retry[1]],
                                                  "device": device_ref(device), "limit": 10})
            results = found.get("results") or results
            playable = [r for r in results if r.get("can_play")]
        if not playable:
            text = f"Nothing playable found for {args['query']!r} on {device}."
            if results:
                text += " Found, not playable as such (browse them):\n" + "\n".join(
                    _item_line(r) for r in results[:5])
            return failed(text, {"error": {"code": "nothing_found"}, "search": found})
        item = playable[0]
        result = await self._act(
            token, device, "play_media", {"media_id": item["id"], "enqueue": enqueue}, dry_run,
            what=f"{verb} {_item_title(item)}")
        if isinstance(result.structured_content, dict):
            result.structured_content = {**result.structured_content, "item": item}
        return result


_TYPE_WORDS = {"playlist": "playlist", "playlists": "playlist", "album": "album",
               "albums": "album", "radio": "radio", "station": "radio", "track": "track",
               "song": "track", "artist": "artist", "podcast": "podcast", "episode": "episode"}
_FILLER = frozenset({"my", "the", "a", "an", "some", "our"})


def _typed_query(query: str) -> tuple[str, str] | None:
    """("focus", "playlist") for "my focus playlist": the words left and the type named."""
    words = query.split()
    kinds = [_TYPE_WORDS[w.lower()] for w in words if w.lower() in _TYPE_WORDS]
    rest = [w for w in words if w.lower() not in _TYPE_WORDS and w.lower() not in _FILLER]
    if len(kinds) != 1 or not rest:
        return None
    return " ".join(rest), kinds[0]


def _item_title(item: dict[str, Any]) -> str:
    text = f'"{item.get("title")}" ({item.get("type")}'
    if item.get("subtitle"):
        text += f", {item['subtitle']}"
    return text + (f", {item['plugin']}" if item.get("plugin") else "") + ")"


def _item_line(item: dict[str, Any]) -> str:
    flags = [f for f, on in (("playable", item.get("can_play")),
                             ("expandable", item.get("can_expand"))) if on]
    line = f"{_item_title(item)} id={item.get('id')}"
    if isinstance(item.get("duration"), int | float):
        line += f" {_clock_text(item['duration'])}"
    return line + (f" [{', '.join(flags)}]" if flags else "")


def hub_error(err: HubApiError) -> types.CallToolResult:
    """A failure the hub answered, worded for a model to act on."""
    d = err.details
    if err.status == 403:
        text = f"Denied by the hub's governance: {err.message.rstrip('.')}."
        if d.get("required"):
            text += (f" Required maturity: {d['required']}; this agent's maturity: "
                     f"{d.get('maturity') or 'none'}. Ask the hub's owner if it should be "
                     "allowed.")
    elif err.status == 401:
        text = (f"The hub refused this agent's token ({err.message}). It may have been "
                "revoked; ask the hub's owner for a new one.")
    elif err.status == 429:
        text = f"Rate limited: {err.message}"
        if d.get("retry_after") is not None:
            text += f" Try again in {d['retry_after']} s."
    else:
        text = f"The hub answered {err.status} {err.code}: {err.message}"
    for key, value in d.items():
        if key in ("required", "maturity", "retry_after") or not value:
            continue
        if isinstance(value, list):
            shown = ", ".join(_name_of(v) for v in value[:10])
            text += f"\n{key.replace('_', ' ')}: {shown}"
    return failed(text, {"error": {"status": err.status, "code": err.code,
                                   "message": err.message, **d}})


def _name_of(value: Any) -> str:
    if isinstance(value, dict):
        if "name" in value and "id" in value:
            return f"{value['name']} ({value['id']})"
        if "path" in value and "message" in value:
            return f"{value['path']}: {value['message']}"
        return json.dumps(value)
    return str(value)


# -- short readable forms ------------------------------------------------------------------------


def _brief(device: dict[str, Any]) -> dict[str, Any]:
    attrs = device.get("attributes") or {}
    keep = ("volume", "muted", "media_title", "media_artist", "media_album", "media_duration",
            "media_position", "source", "shuffle", "repeat", "group_members")
    return {"id": device.get("id"), "name": device.get("name"), "plugin": device.get("plugin"),
            "state": device.get("state"),
            **{k: attrs[k] for k in keep if attrs.get(k) is not None}}


def _clock_text(seconds: float) -> str:
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def _position(attrs: dict[str, Any], state: str, now: float) -> float | None:
    position = attrs.get("media_position")
    if not isinstance(position, int | float):
        return None
    updated = attrs.get("media_position_updated_at")
    if state == "playing" and isinstance(updated, int | float):
        position += max(0.0, now - updated)  # positions are reported as of an instant
    duration = attrs.get("media_duration")
    if isinstance(duration, int | float):
        position = min(position, duration)
    return position


def _summary(device: dict[str, Any]) -> str:
    attrs = device.get("attributes") or {}
    state = device.get("state", "unknown")
    parts = [state]
    if attrs.get("media_title") and state in ("playing", "paused"):
        what = f'"{attrs["media_title"]}"'
        if attrs.get("media_artist"):
            what += f" by {attrs['media_artist']}"
        parts.append(what)
    if attrs.get("volume") is not None:
        parts.append(f"volume {attrs['volume']}" + (" (muted)" if attrs.get("muted") else ""))
    return ", ".join(parts)


def _device_line(device: dict[str, Any], now: float) -> str:
    line = f"{device.get('name')} ({device.get('id')}): {_summary(device)}"
    if device.get("unavailable_reason"):
        line += f" ({device['unavailable_reason']})"
    return line


def _playing_line(device: dict[str, Any], now: float) -> str:
    attrs = device.get("attributes") or {}
    state = device.get("state", "unknown")
    members = [m for m in attrs.get("group_members") or [] if m != device.get("id")]
    who = f"{device.get('name')} ({device.get('id')})"
    if members:
        who += f" with {', '.join(members)}"
    if state not in ("playing", "paused") or not attrs.get("media_title"):
        return f"{who}: {state}, nothing playing"
    text = f'{who}: {state} "{attrs["media_title"]}"'
    if attrs.get("media_artist"):
        text += f" by {attrs['media_artist']}"
    if attrs.get("media_album"):
        text += f" from {attrs['media_album']}"
    position = _position(attrs, state, now)
    if position is not None:
        text += f", {_clock_text(position)}"
        if isinstance(attrs.get("media_duration"), int | float):
            text += f" of {_clock_text(attrs['media_duration'])}"
    if attrs.get("volume") is not None:
        text += f", volume {attrs['volume']}" + (" (muted)" if attrs.get("muted") else "")
    return text


def _group_leaders(devices: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A group plays one thing: show its leader once, not every member."""
    ids = {d.get("id") for d in devices}
    out = []
    for device in devices:
        leader = (device.get("attributes") or {}).get("group_leader")
        if leader and leader != device.get("id") and leader in ids:
            continue
        out.append(device)
    return out
