"""Test peers for the Sonos plugin: a SoCo-compatible speaker emulator (see `emulator`)."""

from __future__ import annotations

from typing import Any

__all__ = ["EmulatedSpeaker", "Household", "UPnPFault", "free_loopback_block"]


def __getattr__(name: str) -> Any:
    # Imported lazily so `python -m hub_sonos.testing.emulator` does not import the module
    # twice (runpy warns when the package already imported it).
    if name in __all__:
        from hub_sonos.testing import emulator

        return getattr(emulator, name)
    raise AttributeError(name)
