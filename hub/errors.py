"""The error vocabulary of the hub.

Every failure a client can see is a HubError: it carries the machine-readable `code`, the HTTP
`status` it maps to, a human message and optional extra fields. The HTTP layer renders them
all as `{"error": {"code", "message", ...extra}}`; nothing else reaches a client.
"""

from __future__ import annotations

from typing import Any


class HubError(Exception):
    status = 500
    code = "internal_error"

    def __init__(self, message: str, *, code: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.extra = extra

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, **self.extra}


class InvalidRequest(HubError):
    """The request is malformed or its parameters do not validate (400)."""

    status = 400
    code = "invalid_request"


class Unauthenticated(HubError):
    """No valid bearer token (401)."""

    status = 401
    code = "unauthenticated"


class Forbidden(HubError):
    """The governance gate denied the request (403)."""

    status = 403
    code = "forbidden"


class NotFound(HubError):
    """Unknown device, action, plugin or route (404)."""

    status = 404
    code = "not_found"


class Conflict(HubError):
    """The target exists but cannot act now (409)."""

    status = 409
    code = "conflict"


class DeviceUnavailable(Conflict):
    """The device is known but not reachable or not usable right now (409)."""

    code = "device_unavailable"


class RelinkRequired(Conflict):
    """The account behind the device must be linked again (409)."""

    code = "relink_required"


class PayloadTooLarge(HubError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(HubError):
    status = 415
    code = "unsupported_media_type"


class RateLimited(HubError):
    """Upstream or hub rate limit (429); `retry_after` seconds when known."""

    status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: float | None = None, **extra: Any) -> None:
        if retry_after is not None:
            extra["retry_after"] = retry_after
        super().__init__(message, **extra)
        self.retry_after = retry_after


class UpstreamError(HubError):
    """The device, the plugin or the service behind it failed (502)."""

    status = 502
    code = "upstream_error"


class PluginTimeout(HubError):
    """The plugin or its device did not answer in time (504)."""

    status = 504
    code = "timeout"


class ServiceUnavailable(HubError):
    status = 503
    code = "unavailable"


class ConfigError(Exception):
    """A configuration file is invalid. `str()` names the file, the line and the key path."""
