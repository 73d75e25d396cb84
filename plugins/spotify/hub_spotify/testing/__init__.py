"""Test peers for the Spotify plugin: a fake Spotify accounts service and Web API player.

    fake = FakeSpotify(clock=manual_clock)
    fake.add_client("client-id")                   # a PKCE public client
    fake.add_user("alice", devices=[FakeDevice("dev1", "Kitchen")], active_device="dev1")
    server = await aiohttp_server(fake.app)        # loopback only

Run it on its own with `python -m hub_spotify.testing --port 8765`.
"""

from hub_spotify.testing.fake import (
    Exchange,
    FakeDevice,
    FakeSpotify,
    FakeUser,
    context_tracks,
    track_json,
)

__all__ = ["Exchange", "FakeDevice", "FakeSpotify", "FakeUser", "context_tracks", "track_json"]
