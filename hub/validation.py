"""Readable voluptuous errors, the same wording for config files, plugin sections and params."""

from __future__ import annotations

from typing import Any

import voluptuous as vol


def problems(err: vol.Invalid, noun: str = "key") -> list[tuple[list[Any], str]]:
    """Each problem of a voluptuous error as (path, message), with voluptuous' two terse
    messages spelled out ("unknown key", "required key missing")."""
    errors = err.errors if isinstance(err, vol.MultipleInvalid) else [err]
    out = []
    for e in errors:
        msg = e.error_message or str(e)
        if msg == "extra keys not allowed":
            msg = f"unknown {noun}"
        elif msg == "required key not provided":
            msg = f"required {noun} missing"
        out.append((list(e.path), msg))
    return out
