"""The plugin's configuration section and its validation."""

from __future__ import annotations

import ipaddress
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
    # the media library: playlists, saved tracks, albums and podcasts, followed artists,
    # recently played
    "playlist-read-private",
    "playlist-read-collaborative",
    "user-library-read",
    "user-follow-read",
    "user-read-recently-played",
)
DEFAULT_POLL_INTERVAL = 30.0
DEFAULT_RETRY_AFTER_CAP = 5.0


class RedirectUriError(ValueError):
    """The redirect URI this hub would send is one Spotify refuses."""


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
    """The redirect URI to send: the configured one, else this hub's own callback route on
    the loopback literal Spotify accepts (RedirectUriError when there is none)."""
    return config.get("redirect_uri") or hub_callback_uri(hub_url)


def hub_callback_uri(hub_url: str) -> str:
    """This hub's callback URI as Spotify accepts it, derived from where the hub listens.

    Spotify takes plain http only on an explicit loopback literal, `127.0.0.1` or `[::1]`,
    never `localhost`. A hub on a loopback name or address, or on every interface (`0.0.0.0`,
    `::`), is reachable on one of those from the machine it runs on, so that is what is sent.
    A hub listening only on another address cannot be given a URI Spotify accepts: it needs
    an https `redirect_uri` (a reverse proxy), and this says so, naming what to register."""
    scheme, host, port = _split_url(hub_url)
    literal = _loopback_literal(host)
    if scheme == "https" and literal is None and host:
        return f"https://{_netloc(host, port)}{CALLBACK_PATH}"
    if literal is not None:
        return f"http://{literal}:{port}{CALLBACK_PATH}" if port else \
            f"http://{literal}{CALLBACK_PATH}"
    raise RedirectUriError(
        f"the hub listens on {host or hub_url!r}, which is not a loopback address, and "
        "Spotify accepts plain-http redirect URIs only on 127.0.0.1 or [::1] (never "
        "localhost). Either set plugins.spotify.redirect_uri to an https URL that reaches "
        f"this hub, e.g. https://hub.example.org{CALLBACK_PATH} behind a reverse proxy, and "
        "register that URI in the Spotify dashboard; or set hub.host to 0.0.0.0 (or "
        f"127.0.0.1) and register http://127.0.0.1:{port or 8765}{CALLBACK_PATH}")


def _split_url(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) of a base URL, tolerating an unbracketed IPv6 host
    (`http://::1:8765`), which is how a hub on `::1` spells its own URL."""
    scheme, _, rest = url.partition("://")
    netloc = rest.split("/", 1)[0]
    if netloc.startswith("["):
        host, _, tail = netloc[1:].partition("]")
        port_text = tail.removeprefix(":")
    elif netloc.count(":") == 1:
        host, _, port_text = netloc.partition(":")
    elif netloc.count(":") > 1:  # a bare IPv6 address, its last group the port
        host, _, port_text = netloc.rpartition(":")
    else:
        host, port_text = netloc, ""
    port = int(port_text) if port_text.isdigit() else None
    return scheme.lower(), host.lower(), port


def _loopback_literal(host: str) -> str | None:
    """`127.0.0.1` or `[::1]` when the hub can be reached there from its own machine."""
    if host in ("localhost", ""):
        return "127.0.0.1"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if address.is_unspecified or address in (ipaddress.ip_address("127.0.0.1"),
                                             ipaddress.ip_address("::1")):
        return "127.0.0.1" if address.version == 4 else "[::1]"
    return None


def _netloc(host: str, port: int | None) -> str:
    host = f"[{host}]" if ":" in host else host
    return f"{host}:{port}" if port else host
