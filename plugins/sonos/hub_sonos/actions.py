"""The actions a Sonos speaker offers: the standard media_player ones plus Sonos' own."""

from __future__ import annotations

import voluptuous as vol

from hub.plugin import ActionSpec, standard_actions

STANDARD = (
    "play", "pause", "stop", "next", "previous", "seek", "volume_set", "volume_step", "mute",
    "shuffle_set", "repeat_set", "play_media", "join", "unjoin",
)

# Sent to a group member, these run on its group's coordinator, as Sonos requires.
COORDINATOR_ACTIONS = frozenset({
    "play", "pause", "stop", "next", "previous", "seek", "play_media", "shuffle_set",
    "repeat_set",
})

_volume = vol.All(vol.Coerce(int), vol.Range(min=0, max=100))

SONOS_ACTIONS = {
    spec.name: spec
    for spec in (
        ActionSpec(
            name="group_volume_set",
            description="Set the volume of every speaker in this device's group "
                        "(sent to all members at once).",
            schema=vol.Schema({vol.Required("volume", description="0 to 100"): _volume}),
        ),
        ActionSpec(
            name="pause_all",
            description="Pause every playing group of the household; resume_all restarts them.",
        ),
        ActionSpec(
            name="resume_all",
            description="Resume the groups the last pause_all paused.",
        ),
    )
}

ACTIONS = {**standard_actions(*STANDARD), **SONOS_ACTIONS}
