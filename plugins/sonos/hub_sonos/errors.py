"""The one place where SoCo and network errors become hub errors.

Every blocking SoCo call goes through `soco_call`: it runs in the plugin's bounded executor
(never on the event loop) and turns library failures into what a client should see:
unreachable speaker -> 502 naming it, UPnP fault -> 502 with the UPnP error code,
timeout -> 504.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import requests
from soco.exceptions import (
    NotSupportedException,
    SoCoException,
    SoCoSlaveException,
    SoCoUPnPException,
)

from hub.plugin import HubError, PluginContext, PluginTimeout, UpstreamError

T = TypeVar("T")


def map_error(err: BaseException, speaker: str, device_id: str | None) -> HubError:
    where = {"speaker": speaker, **({"device": device_id} if device_id else {})}
    if isinstance(err, HubError):
        return err
    if isinstance(err, SoCoUPnPException):
        try:
            code: int | str = int(err.error_code)
        except (TypeError, ValueError):
            code = str(err.error_code)
        return UpstreamError(
            f"speaker {speaker} refused the request: UPnP error {code}"
            + (f" ({err.error_description})" if getattr(err, "error_description", "") else ""),
            code="upnp_error", upnp_error=code, **where)
    if isinstance(err, requests.Timeout | TimeoutError):
        return PluginTimeout(f"speaker {speaker} did not answer in time", **where)
    if isinstance(err, requests.ConnectionError | ConnectionError):
        return UpstreamError(f"speaker {speaker} is unreachable", code="speaker_unreachable",
                             **where)
    if isinstance(err, requests.HTTPError):
        status = err.response.status_code if err.response is not None else None
        return UpstreamError(f"speaker {speaker} answered HTTP {status}", http_status=status,
                             **where)
    if isinstance(err, SoCoSlaveException):
        return UpstreamError(f"speaker {speaker} is not its group's coordinator", **where)
    if isinstance(err, NotSupportedException):
        return UpstreamError(f"speaker {speaker} does not support this", **where)
    if isinstance(err, SoCoException | requests.RequestException | OSError):
        return UpstreamError(f"speaker {speaker} failed: {type(err).__name__}: {err}"[:300],
                             **where)
    return UpstreamError(f"speaker {speaker} failed: {type(err).__name__}"[:300], **where)


async def soco_call(ctx: PluginContext, speaker: str, fn: Callable[..., T], *args: Any,
                    device_id: str | None = None) -> T:
    """Run `fn(*args)` (blocking SoCo work) in the executor with errors mapped."""
    try:
        return await ctx.run_blocking(fn, *args)
    except HubError:
        raise
    except Exception as err:
        raise map_error(err, speaker, device_id) from None
