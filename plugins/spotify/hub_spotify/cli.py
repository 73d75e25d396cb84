"""`hub spotify link`: print the URL that links a Spotify account to the running hub."""

from __future__ import annotations

import argparse
from typing import Any

from hub.plugin import CliContext, Command

AUTHORIZE_PATH = "/integrations/spotify/authorize"


async def link(cli: CliContext, args: argparse.Namespace) -> int:
    path = AUTHORIZE_PATH + ("?show_dialog=true" if getattr(args, "show_dialog", False) else "")
    status, headers, body = await cli.request("GET", path, allow_redirects=False)
    location = next((v for k, v in headers.items() if k.lower() == "location"), None)
    if status in (301, 302, 303, 307) and location:
        print("Open this URL in a browser on this machine to link a Spotify account:")
        print(location)
        print("The link is valid for 10 minutes and works once.")
        return 0
    print(f"The hub refused to start linking (HTTP {status}): {_message(body)}")
    return 1


def _message(body: Any) -> str:
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return str(body["error"].get("message"))
    return str(body)[:300]


COMMANDS = [
    Command(
        name="link",
        help="Link (or re-link) a Spotify account: prints the URL to open.",
        run=link,
        arguments=((("--show-dialog",), {"action": "store_true",
                                          "help": "make Spotify ask again (switch accounts)"}),),
    ),
]
