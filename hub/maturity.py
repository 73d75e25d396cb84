"""Maturity of agents and automations, and the levels an action can require."""

from __future__ import annotations

import enum


class Maturity(enum.IntEnum):
    """How far an agent or automation is trusted. Ordered: STUDENT < ... < AUTONOMOUS."""

    STUDENT = 1
    INTERN = 2
    SUPERVISED = 3
    AUTONOMOUS = 4


class Level(enum.IntEnum):
    """What an action requires. The maturities, then OWNER (the owner only) and NOBODY."""

    STUDENT = 1
    INTERN = 2
    SUPERVISED = 3
    AUTONOMOUS = 4
    OWNER = 5
    NOBODY = 6

    @classmethod
    def parse(cls, value: str | int | Level) -> Level:
        if isinstance(value, Level):
            return value
        if isinstance(value, int):
            return cls(value)
        try:
            return cls[str(value).strip().upper()]
        except KeyError:
            names = ", ".join(m.name for m in cls)
            raise ValueError(f"unknown level {value!r} (one of {names})") from None
