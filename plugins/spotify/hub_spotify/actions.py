"""The actions Spotify devices offer, and how each becomes a Web API request."""

from __future__ import annotations

from typing import Any

import voluptuous as vol

from hub.plugin import STANDARD_ACTIONS, ActionSpec, InvalidRequest, standard_actions
from hub_spotify.client import SpotifyClient
from hub_spotify.state import REPEAT_TO_SPOTIFY

_uri = vol.All(str, vol.Match(r"^spotify:[a-z]+:[A-Za-z0-9:_-]+$"), vol.Length(max=512))


def _one_offset(value: dict[str, Any]) -> dict[str, Any]:
    if len(value) != 1:
        raise vol.Invalid("offset takes exactly one of position or uri")
    return value


PLAY = STANDARD_ACTIONS["play"].with_schema(
    {
        vol.Optional("uris", description="track or episode URIs to play"): vol.All(
            [_uri], vol.Length(min=1, max=100)),
        vol.Optional("context_uri", description="album, artist or playlist URI"): _uri,
        vol.Optional("offset", description="{position: n} or {uri: ...} in the context"):
            vol.All({vol.Optional("position"): vol.All(int, vol.Range(min=0)),
                     vol.Optional("uri"): _uri}, _one_offset),
        vol.Optional("position_ms"): vol.All(vol.Coerce(int), vol.Range(min=0)),
    },
    description="Resume playback (no parameters), or play uris / a context_uri.",
)

_COMMON = ("pause", "next", "previous", "seek", "volume_set", "volume_step", "shuffle_set",
           "repeat_set", "play_media")

ACTIONS: dict[str, ActionSpec] = {"play": PLAY, **standard_actions(*_COMMON, "select_source")}

# The account player acts on the active device and can move playback (select_source); a
# Connect device is targeted by id, so selecting a source there has no meaning.
PLAYER_ACTIONS = frozenset(ACTIONS)
CONNECT_DEVICE_ACTIONS = frozenset(ACTIONS) - {"select_source"}

PLAYER = "/me/player"


async def perform(client: SpotifyClient, account: str, action: str, params: dict[str, Any], *,
                  device_id: str | None, volume: int | None) -> dict[str, Any] | None:
    """Send `action` for `account`, to `device_id` (None: the active device); the action's
    result, when it has one worth telling (what Spotify did instead of what was asked).

    `volume` is the last known volume, for volume_step."""
    target = {"device_id": device_id}
    call = client.call
    if action == "play":
        body = {k: params[k] for k in ("uris", "context_uri", "offset", "position_ms")
                if k in params}
        if "offset" in body and "context_uri" not in body and "uris" not in body:
            raise InvalidRequest("offset needs uris or context_uri")
        # Resume is a PUT with no body at all: Spotify treats `{}` differently.
        await call(account, "PUT", f"{PLAYER}/play", params=target, json=body or None,
                   command=True)
    elif action == "pause":
        await call(account, "PUT", f"{PLAYER}/pause", params=target, command=True)
    elif action in ("next", "previous"):
        await call(account, "POST", f"{PLAYER}/{action}", params=target, command=True)
    elif action == "seek":
        await call(account, "PUT", f"{PLAYER}/seek", command=True,
                   params={"position_ms": int(params["position"] * 1000), **target})
    elif action in ("volume_set", "volume_step"):
        if action == "volume_step":
            if volume is None:
                raise InvalidRequest("the current volume is unknown; use volume_set")
            level = max(0, min(100, volume + params["step"]))
        else:
            level = params["volume"]
        await call(account, "PUT", f"{PLAYER}/volume", command=True,
                   params={"volume_percent": level, **target})
    elif action == "shuffle_set":
        await call(account, "PUT", f"{PLAYER}/shuffle", command=True,
                   params={"state": params["shuffle"], **target})
    elif action == "repeat_set":
        await call(account, "PUT", f"{PLAYER}/repeat", command=True,
                   params={"state": REPEAT_TO_SPOTIFY[params["repeat"]], **target})
    elif action == "play_media":
        return await _play_media(client, account, params, target)
    else:  # select_source is resolved by the plugin, which knows the devices
        raise InvalidRequest(f"unsupported action {action}")
    return None


# What play_media accepts: the ids browse_media and search_media hand out.
PLAYABLE = {"track": "uris", "episode": "uris", "album": "context_uri",
            "playlist": "context_uri", "artist": "context_uri", "show": "context_uri"}
QUEUE_NOTE = ("Spotify has one queue and adds to its end: the item plays after anything "
              "already queued, not necessarily next")


async def _play_media(client: SpotifyClient, account: str, params: dict[str, Any],
                      target: dict[str, Any]) -> dict[str, Any] | None:
    uri = params["media_id"]
    try:
        _uri(uri)
    except vol.Invalid:
        raise InvalidRequest("media_id must be a Spotify URI (spotify:track:...), as "
                             "browse_media and search_media give", code="invalid_media_id") \
            from None
    kind = uri.split(":")[1]
    if kind not in PLAYABLE:
        raise InvalidRequest(f"Spotify cannot play a {kind}: play a track, episode, album, "
                             "playlist, artist or show", code="invalid_media_id")
    enqueue = params.get("enqueue", "play")
    if enqueue in ("add", "next"):
        if PLAYABLE[kind] != "uris":
            raise InvalidRequest(
                f"Spotify's Web API queues only tracks and episodes, not a whole {kind}: "
                "play it (enqueue: play or replace), or queue its tracks one by one",
                code="cannot_queue")
        await client.call(account, "POST", f"{PLAYER}/queue", command=True,
                          params={"uri": uri, **target})
        return {"queued": uri, "note": QUEUE_NOTE} if enqueue == "next" else {"queued": uri}
    # play and replace are the same to Spotify: playing something replaces the context.
    body = {PLAYABLE[kind]: [uri] if PLAYABLE[kind] == "uris" else uri}
    await client.call(account, "PUT", f"{PLAYER}/play", params=target, json=body, command=True)
    return None


async def transfer(client: SpotifyClient, account: str, spotify_device_id: str) -> None:
    """Move playback to another Connect device, keeping its playing/paused state."""
    await client.call(account, "PUT", PLAYER, json={"device_ids": [spotify_device_id]},
                      command=True)
