"""Run the fake Spotify on loopback so the hub can be tried end to end without an account.

    python -m hub_spotify.testing [--port 8799] [--client-id hub-demo] [--client-secret S]

Point the plugin at it with `api_url: http://127.0.0.1:8799/v1` and
`accounts_url: http://127.0.0.1:8799` (8799, not the hub's own 8765). It has one Premium
user, "demo", with two devices, a library (playlists, saved tracks and albums, followed
artists, podcasts) and, as a real account has, something paused on the Living Room speaker
that `play` resumes.
"""

from __future__ import annotations

import argparse
import asyncio

from aiohttp import web

from hub_spotify.testing.fake import FakeDevice, FakeSpotify

DEFAULT_PORT = 8799  # not the hub's default 8765, so both run with their defaults
LIVING_ROOM = "0d1841b0976bae2a3a310dd74c0f3df354899bc8"


def build(client_id: str, client_secret: str | None) -> FakeSpotify:
    fake = FakeSpotify()
    fake.add_client(client_id, client_secret)
    user = fake.add_user(
        "demo", "Demo User", library=True,
        devices=[FakeDevice(LIVING_ROOM, "Living Room", "Speaker", 40),
                 FakeDevice("74ASZWbe4lXaubB36ztrGX", "Laptop", "Computer", 70)],
        active_device=LIVING_ROOM)
    # Where a real account is right after linking: the last album it played, paused on
    # its third track, so `play` resumes instead of answering "nothing to resume".
    assert user.library is not None
    album = user.library.saved_albums[0][0]
    fake.load("demo", f"spotify:album:{album}", index=2, progress_ms=72_000)
    return fake


async def serve(host: str, port: int, fake: FakeSpotify) -> None:
    runner = web.AppRunner(fake.app)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0][1] if runner.addresses else port
    print(f"fake Spotify listening on http://{host}:{bound}", flush=True)
    print(f"  api_url: http://{host}:{bound}/v1", flush=True)
    print(f"  accounts_url: http://{host}:{bound}", flush=True)
    try:
        await asyncio.Event().wait()  # until interrupted
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hub_spotify.testing",
                                     description=__doc__.splitlines()[0])
    # Loopback only: this fake exists so nothing has to leave the machine.
    parser.add_argument("--host", default="127.0.0.1", choices=["127.0.0.1"])
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--client-id", default="hub-demo")
    parser.add_argument("--client-secret", default=None)
    args = parser.parse_args(argv)
    try:
        asyncio.run(serve(args.host, args.port, build(args.client_id, args.client_secret)))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
