"""The governance gate: the single place that decides who may do what.

Defaults: reading is open to every authenticated principal; an action requires what its
ActionSpec says (SUPERVISED for media control); administration is the owner's. Rules from the
`governance:` section raise or lower the requirement by plugin, device glob, action and
principal; the first matching rule wins. Decisions are cached until the policy reloads or a
token is revoked.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Any

from hub.maturity import Level
from hub.model import Principal


@dataclass(frozen=True)
class Decision:
    allowed: bool
    required: Level
    reason: str

    def fields(self, principal: Principal) -> dict[str, Any]:
        return {
            "required": self.required.name,
            "maturity": principal.maturity.name if principal.maturity else None,
        }


@dataclass(frozen=True)
class Rule:
    plugin: str | None
    devices: tuple[str, ...] | None
    actions: tuple[str, ...] | None
    principals: tuple[str, ...] | None
    require: Level
    reason: str | None
    index: int

    @classmethod
    def parse(cls, raw: dict[str, Any], index: int) -> Rule:
        def tup(key: str) -> tuple[str, ...] | None:
            value = raw.get(key)
            return tuple(value) if value else None

        return cls(raw.get("plugin"), tup("device"), tup("action"), tup("principal"),
                   Level.parse(raw["require"]), raw.get("reason"), index)

    def matches(self, plugin: str, device: str, action: str, principal: Principal) -> bool:
        if self.plugin is not None and self.plugin != plugin:
            return False
        if self.devices and not any(fnmatch.fnmatchcase(device, p) for p in self.devices):
            return False
        if self.actions and not any(fnmatch.fnmatchcase(action, p) for p in self.actions):
            return False
        return not (self.principals and not any(
            fnmatch.fnmatchcase(principal.name, p) for p in self.principals))


def _describe(principal: Principal) -> str:
    if principal.is_owner:
        return f"owner {principal.name!r}"
    maturity = principal.maturity.name if principal.maturity else "no maturity"
    return f"{principal.kind} {principal.name!r} ({maturity})"


class Governance:
    def __init__(self, config: dict[str, Any] | None = None) -> None:
        self._cache: dict[tuple, Decision] = {}
        self._rules: tuple[Rule, ...] = ()
        self._cache_size = 10000
        self.generation = 0
        self.load(config or {})

    def load(self, config: dict[str, Any]) -> None:
        """Replace the policy (at start and on reload); clears the cache."""
        self._rules = tuple(Rule.parse(r, i) for i, r in enumerate(config.get("rules") or ()))
        self._cache_size = int(config.get("cache_size", 10000))
        self.invalidate()

    def invalidate(self, *_: Any) -> None:
        self._cache.clear()
        self.generation += 1

    @property
    def rules(self) -> tuple[Rule, ...]:
        return self._rules

    def decide(self, principal: Principal, plugin: str, device: str, action: str,
               default: Level) -> Decision:
        key = (principal.id, principal.level, device, action, default)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        decision = self._decide(principal, plugin, device, action, default)
        if len(self._cache) >= self._cache_size:
            self._cache.clear()  # simple bound; the hot set refills at once
        self._cache[key] = decision
        return decision

    def _decide(self, principal: Principal, plugin: str, device: str, action: str,
                default: Level) -> Decision:
        required, source = default, "default policy"
        for rule in self._rules:
            if rule.matches(plugin, device, action, principal):
                required = rule.require
                source = f"governance rule #{rule.index + 1}"
                if rule.reason:
                    source += f" ({rule.reason})"
                break
        who = _describe(principal)
        if required is Level.NOBODY:
            return Decision(False, required, f"{action} on {device} is disabled by {source}")
        if principal.level >= required:
            return Decision(True, required, f"{who} meets {required.name} ({source})")
        return Decision(
            False, required,
            f"{action} on {device} requires {required.name}; {who} does not meet it ({source})")

    def admin(self, principal: Principal, what: str) -> Decision:
        """Administration (tokens, vault, audit reading, rediscovery) is the owner's."""
        if principal.is_owner:
            return Decision(True, Level.OWNER, f"owner may {what}")
        return Decision(False, Level.OWNER,
                        f"{what} is administration and requires the owner; "
                        f"{_describe(principal)} is not the owner")
