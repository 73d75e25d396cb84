"""The media_player vocabulary, after Home Assistant's, so dashboard authors feel at home.

States, attribute names and the standard actions with their parameter schemas. A plugin picks
the standard actions its devices support with `standard_actions(...)` and may add its own.
"""

from __future__ import annotations

import voluptuous as vol

from hub.maturity import Level
from hub.model import ActionSpec

STATES = ("playing", "paused", "idle", "off", "unavailable")

ATTRIBUTES = (
    "volume",  # 0-100
    "muted",
    "media_title",
    "media_artist",
    "media_album",
    "media_duration",  # seconds
    "media_position",  # seconds, as of media_position_updated_at
    "media_position_updated_at",  # epoch seconds
    "media_image_url",  # artwork of what plays, an absolute http(s) URL (dashboards show it)
    "source",
    "source_list",
    "shuffle",
    "repeat",  # off | all | one
    "group_members",  # device ids, leader first
)

# Transport actions that drive a whole group: on a grouped player they change every member.
GROUP_ACTIONS = frozenset({"play", "pause", "stop", "next", "previous", "seek", "play_media",
                           "shuffle_set", "repeat_set", "select_source"})

REPEAT_MODES = ("off", "all", "one")
ENQUEUE_MODES = ("play", "next", "add", "replace")
MEDIA_ID_MAX = 2048  # play_media's media_id, and so every media item id a plugin hands out

def Integer(value: object) -> int:
    """A JSON integer: `50` or `50.0`, never `true`, `"50"` or `50.5` (the catalog says
    `{"type": "integer"}`, and that is the truth)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise vol.Invalid("expected an integer")


def Number(value: object) -> float:
    """A JSON number, as a float; never `true` or a numeric string."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise vol.Invalid("expected a number")


Integer.__json_schema__ = {"type": "integer"}  # type: ignore[attr-defined]
Number.__json_schema__ = {"type": "number"}  # type: ignore[attr-defined]

_volume = vol.All(Integer, vol.Range(min=0, max=100))


def _one_join_target(value: dict) -> dict:
    if ("group_members" in value) == ("leader" in value):
        raise vol.Invalid("give exactly one of group_members or leader")
    return value


_one_join_target.__json_schema__ = {  # type: ignore[attr-defined]
    "oneOf": [{"required": ["group_members"]}, {"required": ["leader"]}]}


def _spec(name: str, description: str, schema: dict | None = None, **kw) -> ActionSpec:
    return ActionSpec(name=name, description=description, schema=vol.Schema(schema or {}), **kw)


STANDARD_ACTIONS: dict[str, ActionSpec] = {
    spec.name: spec
    for spec in (
        _spec("play", "Start or resume playback."),
        _spec("pause", "Pause playback."),
        _spec("stop", "Stop playback."),
        _spec("next", "Skip to the next track."),
        _spec("previous", "Go back to the previous track."),
        _spec(
            "seek",
            "Jump to a position in the current track.",
            {vol.Required("position", description="seconds from the start"): vol.All(
                Number, vol.Range(min=0))},
        ),
        _spec(
            "volume_set",
            "Set the volume.",
            {vol.Required("volume", description="0 to 100"): _volume},
        ),
        _spec(
            "volume_step",
            "Raise or lower the volume by a step.",
            {vol.Required("step", description="-100 to 100, negative lowers"): vol.All(
                Integer, vol.Range(min=-100, max=100))},
        ),
        _spec("mute", "Mute or unmute.", {vol.Required("muted"): bool}),
        _spec("shuffle_set", "Turn shuffle on or off.", {vol.Required("shuffle"): bool}),
        _spec(
            "repeat_set",
            "Set the repeat mode.",
            {vol.Required("repeat"): vol.In(REPEAT_MODES)},
        ),
        _spec(
            "play_media",
            "Play or enqueue a media item.",
            {
                vol.Required("media_id", description="a URI or id the plugin understands"): vol.All(
                    str, vol.Length(min=1, max=MEDIA_ID_MAX)),
                vol.Optional("media_type"): str,
                vol.Optional("enqueue", default="play"): vol.In(ENQUEUE_MODES),
            },
        ),
        _spec(
            "select_source",
            "Select an input source (or, for accounts, a playback target).",
            {vol.Required("source"): vol.All(str, vol.Length(min=1, max=256))},
        ),
        ActionSpec(
            name="join",
            description=(
                "Group players: either add group_members to this device's group, "
                "or make this device join the group of leader."
            ),
            schema=vol.Schema(
                vol.All(
                    {
                        vol.Optional("group_members", description="device ids to add"): vol.All(
                            [vol.All(str, vol.Length(min=1, max=256))],
                            vol.Length(min=1, max=64)),
                        vol.Optional("leader", description="device id of the group leader"):
                            vol.All(str, vol.Length(min=1, max=256)),
                    },
                    _one_join_target,
                )
            ),
        ),
        _spec("unjoin", "Leave the current group."),
    )
}


def standard_actions(*names: str, required: Level | None = None) -> dict[str, ActionSpec]:
    """The standard specs for `names` (all of them when none is given).

    `required` overrides the default required level (SUPERVISED) for these actions.
    """
    chosen = names or tuple(STANDARD_ACTIONS)
    unknown = [n for n in chosen if n not in STANDARD_ACTIONS]
    if unknown:
        raise KeyError(f"not standard actions: {', '.join(unknown)}")
    specs = {n: STANDARD_ACTIONS[n] for n in chosen}
    if required is not None:
        specs = {n: s.with_required(required) for n, s in specs.items()}
    return specs
