"""The plugin's configuration section and its validation."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import voluptuous as vol

SPOTIFY_API_URL = "https://api.spotify.com/v1"
SPOTIFY_ACCOUNTS_URL = "https://accounts.spotify.com"
CALLBACK_PATH = "/integrations/spotify/callback"

DEFAULT_SCOPES = (
    "user-read-private",
    "user-read-playback-state",
    "user-modify-playback-state",
    "user-read-currently-playing",
)
DEFAULT_POLL_INTERVAL = 30.0
DEFAULT_RETRY_AFTER_CAP = 5.0


def redirect_uri(value: Any) -> str:
    """A redirect URI Spotify accepts: https, or http on an explicit loopback IP literal.

    Spotify has rejected `localhost` redirect URIs since 2025, so it is refused here with the
    fix in the message rather than at the end of a browser round trip."""
    text = vol.Coerce(str)(value)
    parts = urlsplit(text)
    if parts.hostname == "localhost":
        raise vol.Invalid(
            "Spotify rejects 'localhost' redirect URIs: use 127.0.0.1 instead, e.g. "
            f"http://127.0.0.1:{parts.port or 8123}{parts.path or CALLBACK_PATH}")
    if parts.scheme == "https" and parts.hostname:
        return text
    if parts.scheme == "http" and parts.hostname in ("127.0.0.1", "::1"):
        return text
    raise vol.Invalid(
        "the redirect URI must be https, or http on 127.0.0.1 (or [::1]) for a local hub")


def _base_url(value: Any) -> str:
    text = vol.Coerce(str)(value).rstrip("/")
    if urlsplit(text).scheme not in ("http", "https"):
        raise vol.Invalid("expected an http(s) URL")
    return text


CONFIG_SCHEMA = vol.Schema(
    {
        vol.Required("client_id"): vol.All(str, vol.Length(min=1)),
        vol.Optional("client_secret"): vol.All(str, vol.Length(min=1)),
        vol.Optional("redirect_uri"): redirect_uri,
        vol.Optional("scopes", default=list(DEFAULT_SCOPES)): [str],
        vol.Optional("poll_interval", default=DEFAULT_POLL_INTERVAL): vol.All(
            vol.Coerce(float), vol.Range(min=1, max=3600)),
        vol.Optional("api_url", default=SPOTIFY_API_URL): _base_url,
        vol.Optional("accounts_url", default=SPOTIFY_ACCOUNTS_URL): _base_url,
        vol.Optional("retry_after_cap", default=DEFAULT_RETRY_AFTER_CAP): vol.All(
            vol.Coerce(float), vol.Range(min=0, max=60)),
    },
    extra=vol.PREVENT_EXTRA,
)


def callback_uri(config: dict[str, Any], hub_url: str) -> str:
    """The redirect URI to send: the configured one, else this hub's own callback route."""
    return config.get("redirect_uri") or f"{hub_url.rstrip('/')}{CALLBACK_PATH}"
