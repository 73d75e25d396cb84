"""Spotify's playback JSON in the hub's media_player vocabulary, and device ids."""

from __future__ import annotations

import re
from typing import Any

# Spotify repeat states <-> Home Assistant's.
REPEAT_TO_HUB = {"off": "off", "context": "all", "track": "one"}
REPEAT_TO_SPOTIFY = {hub: spotify for spotify, hub in REPEAT_TO_HUB.items()}

# Every media attribute the player reports; cleared (None) when nothing is playing.
MEDIA_ATTRIBUTES = ("media_title", "media_artist", "media_album", "media_duration",
                    "media_position", "media_position_updated_at", "media_content_id",
                    "media_content_type", "shuffle", "repeat", "source", "volume")


def slug(text: str) -> str:
    """A device-id-safe form of a Spotify Connect device id (lowercase letters, digits and
    underscores)."""
    return re.sub(r"[^a-z0-9_]+", "_", text.lower()).strip("_") or "unnamed"


def account_slug(user_id: str) -> str:
    """The hub id of a Spotify user id: device-id safe and collision-free.

    Lowercase letters, digits and `_` stay as they are (so most ids read unchanged); every
    other character becomes `-<hex>-` (`edge.user` -> `edge-2e-user`, `Bob` -> `-42-ob`),
    `-` included, so two user ids never share a hub id."""
    return "".join(c if c in _KEPT else f"-{ord(c):x}-" for c in user_id) or "-"


_KEPT = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")


def player_id(account: str) -> str:
    return f"spotify.{account}"


def connect_device_id(account: str, spotify_device_id: str) -> str:
    return f"spotify.{account}.{slug(spotify_device_id)}"


def playback_state(playback: dict[str, Any] | None, now: float) -> tuple[str, dict[str, Any]]:
    """(state, attributes) of the account's player from GET /me/player (None = its 204)."""
    cleared: dict[str, Any] = dict.fromkeys(MEDIA_ATTRIBUTES)
    if not playback:
        return "idle", cleared
    item = playback.get("item") or None
    device = playback.get("device") or {}
    attrs = dict(cleared)
    attrs.update(
        shuffle=bool(playback.get("shuffle_state", False)),
        repeat=REPEAT_TO_HUB.get(playback.get("repeat_state", "off"), "off"),
        source=device.get("name"),
        volume=device.get("volume_percent"),
    )
    if item:
        artists = item.get("artists") or item.get("show", {}).get("publisher")
        if isinstance(artists, list):
            artists = ", ".join(a.get("name", "") for a in artists if isinstance(a, dict))
        album = item.get("album") or item.get("show") or {}
        progress = playback.get("progress_ms")
        attrs.update(
            media_title=item.get("name"),
            media_artist=artists or None,
            media_album=album.get("name"),
            media_duration=_seconds(item.get("duration_ms")),
            media_position=_seconds(progress),
            media_position_updated_at=now if progress is not None else None,
            media_content_id=item.get("uri"),
            media_content_type=item.get("type"),
        )
    if playback.get("is_playing"):
        state = "playing"
    elif item:
        state = "paused"
    else:
        state = "idle"
    return state, attrs


def _seconds(ms: Any) -> float | None:
    return round(ms / 1000, 3) if isinstance(ms, (int, float)) else None
