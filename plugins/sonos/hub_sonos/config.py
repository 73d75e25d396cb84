"""The plugin's section under `plugins: sonos:` and how it is validated."""

from __future__ import annotations

import ipaddress

import voluptuous as vol


def host_port(value: object) -> str:
    """`ip` or `ip:port` (a speaker for static discovery)."""
    text = str(value).strip()
    host, _, port = text.partition(":")
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        raise vol.Invalid(f"not an IPv4 address: {host!r}") from None
    if port and not (port.isdigit() and 1 <= int(port) <= 65535):
        raise vol.Invalid(f"not a port: {port!r}")
    return text


def network(value: object) -> str:
    try:
        net = ipaddress.IPv4Network(str(value), strict=False)
    except ValueError:
        raise vol.Invalid(f"not an IPv4 network: {value!r}") from None
    if net.num_addresses > 1024:
        raise vol.Invalid("scan at most 1024 addresses (a /22)")
    return str(net)


def ipv4(value: object) -> str:
    try:
        return str(ipaddress.IPv4Address(str(value)))
    except ValueError:
        raise vol.Invalid(f"not an IPv4 address: {value!r}") from None


CONFIG_SCHEMA = vol.Schema(
    {
        # SSDP multicast discovery through SoCo; switch off where multicast does not reach.
        vol.Optional("discovery", default=True): bool,
        vol.Optional("interface_addr", default=None): vol.Any(None, ipv4),
        vol.Optional("hosts", default=[]): [host_port],
        # TCP scan of these networks for port 1400 (SoCo's scan_network), no multicast.
        vol.Optional("scan_networks", default=[]): [network],
        vol.Optional("events", default=True): bool,
        vol.Optional("event_listener_port", default=1400): vol.All(
            vol.Coerce(int), vol.Range(min=1, max=65535)),
        vol.Optional("listen_addr", default=None): vol.Any(None, ipv4),
        vol.Optional("advertise_addr", default=None): vol.Any(None, ipv4),
        # Seconds without the first event before a speaker is polled instead.
        vol.Optional("event_timeout", default=5.0): vol.All(
            vol.Coerce(float), vol.Range(min=0.1, max=300)),
        vol.Optional("poll_interval", default=10.0): vol.All(
            vol.Coerce(float), vol.Range(min=0.5, max=3600)),
        # Seconds SoCo waits for one speaker request; keep it below the hub's `timeout`.
        vol.Optional("request_timeout", default=5.0): vol.All(
            vol.Coerce(float), vol.Range(min=0.1, max=60)),
    },
    extra=vol.PREVENT_EXTRA,
)
