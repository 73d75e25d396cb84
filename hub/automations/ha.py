"""Home Assistant's media_player actions, translated to the hub's.

An automation may call a device action the Home Assistant way:

    - action: media_player.volume_set        # (older HA: service: media_player.volume_set)
      target: {entity_id: demo.player_1}
      data: {volume_level: 0.35}

which runs the hub's `volume_set` with `{volume: 35}`. The translation happens when the step
runs (after its templates are rendered) and, for static data, in `hub check-config`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hub.errors import InvalidRequest

Translation = tuple[str, dict[str, Any]]

DOMAIN = "media_player"
VOLUME_STEP = 10  # volume_up / volume_down, in the hub's 0-100 (Home Assistant's 0.1)


def _no_data(hub_action: str) -> Callable[[dict[str, Any], Any], Translation]:
    def translate(data: dict[str, Any], state: Any) -> Translation:
        _only(data, set())
        return hub_action, {}
    return translate


def _renamed(hub_action: str, names: dict[str, str]) -> Callable[[dict[str, Any], Any],
                                                                Translation]:
    def translate(data: dict[str, Any], state: Any) -> Translation:
        _only(data, set(names))
        return hub_action, {names[k]: v for k, v in data.items()}
    return translate


def _volume_set(data: dict[str, Any], state: Any) -> Translation:
    _only(data, {"volume_level"})
    level = data.get("volume_level")
    if isinstance(level, bool) or not isinstance(level, int | float):
        try:
            level = float(level)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise InvalidRequest(f"volume_level must be a number from 0 to 1, not {level!r}",
                                 code="invalid_params", field="volume_level") from None
    if not 0 <= level <= 1:
        raise InvalidRequest(f"volume_level must be from 0 to 1, not {level}",
                             code="invalid_params", field="volume_level")
    return "volume_set", {"volume": round(level * 100)}


def _volume_step(sign: int) -> Callable[[dict[str, Any], Any], Translation]:
    def translate(data: dict[str, Any], state: Any) -> Translation:
        _only(data, set())
        return "volume_step", {"step": sign * VOLUME_STEP}
    return translate


def _play_media(data: dict[str, Any], state: Any) -> Translation:
    _only(data, {"media_content_id", "media_content_type", "enqueue", "media"})
    media = data.get("media")
    if isinstance(media, Mapping):  # the media selector's shape (HA 2024.x)
        data = {**{k: v for k, v in data.items() if k != "media"}, **media}
    params: dict[str, Any] = {}
    if "media_content_id" in data:
        params["media_id"] = data["media_content_id"]
    if "media_content_type" in data:
        params["media_type"] = data["media_content_type"]
    if "enqueue" in data:
        params["enqueue"] = data["enqueue"]
    return "play_media", params


def _play_pause(data: dict[str, Any], state: Any) -> Translation:
    _only(data, set())
    playing = isinstance(state, Mapping) and state.get("state") == "playing"
    return ("pause" if playing else "play"), {}


SERVICES: dict[str, Callable[[dict[str, Any], Any], Translation]] = {
    "media_play": _no_data("play"),
    "media_pause": _no_data("pause"),
    "media_stop": _no_data("stop"),
    "media_next_track": _no_data("next"),
    "media_previous_track": _no_data("previous"),
    "media_play_pause": _play_pause,
    "media_seek": _renamed("seek", {"seek_position": "position"}),
    "volume_set": _volume_set,
    "volume_up": _volume_step(+1),
    "volume_down": _volume_step(-1),
    "volume_mute": _renamed("mute", {"is_volume_muted": "muted"}),
    "shuffle_set": _renamed("shuffle_set", {"shuffle": "shuffle"}),
    "repeat_set": _renamed("repeat_set", {"repeat": "repeat"}),
    "play_media": _play_media,
    "select_source": _renamed("select_source", {"source": "source"}),
    "join": _renamed("join", {"group_members": "group_members"}),
    "unjoin": _no_data("unjoin"),
}

# The hub action each service runs (media_play_pause runs play or pause), for checks.
HUB_ACTIONS: dict[str, tuple[str, ...]] = {
    "media_play": ("play",), "media_pause": ("pause",), "media_stop": ("stop",),
    "media_next_track": ("next",), "media_previous_track": ("previous",),
    "media_play_pause": ("play", "pause"), "media_seek": ("seek",),
    "volume_set": ("volume_set",), "volume_up": ("volume_step",),
    "volume_down": ("volume_step",), "volume_mute": ("mute",), "shuffle_set": ("shuffle_set",),
    "repeat_set": ("repeat_set",), "play_media": ("play_media",),
    "select_source": ("select_source",), "join": ("join",), "unjoin": ("unjoin",),
}

# Hub parameter -> the Home Assistant name, to point errors at what the user wrote.
HA_PARAM_NAMES = {"position": "seek_position", "volume": "volume_level",
                  "muted": "is_volume_muted", "media_id": "media_content_id",
                  "media_type": "media_content_type"}


def is_service(name: Any) -> bool:
    """`media_player.volume_set` (a Home Assistant action name) rather than `volume_set`."""
    return isinstance(name, str) and "." in name


def check_service(name: str) -> str | None:
    """Why a Home Assistant action name cannot run here, or None when it can."""
    domain, _, service = name.partition(".")
    if domain != DOMAIN:
        return (f"{name}: only media_player actions (or the hub's own action names such as "
                f"'pause') can run here")
    if service not in SERVICES:
        return (f"{name} is not supported; supported: "
                f"{', '.join(f'{DOMAIN}.{s}' for s in SERVICES)}")
    return None


def translate(name: str, data: dict[str, Any], state: Any = None) -> Translation:
    """(hub action, hub params) for a Home Assistant action and its data. `state` is the
    target's state object (media_play_pause needs it)."""
    problem = check_service(name)
    if problem:
        raise InvalidRequest(problem, code="unsupported_action")
    return SERVICES[name.partition(".")[2]](dict(data), state)


def _only(data: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise InvalidRequest(
            f"unknown data {', '.join(unknown)}"
            + (f"; expected {', '.join(sorted(allowed))}" if allowed else "; it takes none"),
            code="invalid_params", field=unknown[0])
