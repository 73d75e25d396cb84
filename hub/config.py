"""Configuration: one YAML file, validated with voluptuous, errors as `file:line: path: why`.

Supports `!secret name` (looked up in secrets.yaml beside the file) and
`!env_var NAME [default]`, like Home Assistant. Plugin sections are validated later, by the
plugin loader, with each plugin's own schema; `HubConfig.locate(path)` gives them the line.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import voluptuous as vol
import yaml

from hub.errors import ConfigError
from hub.maturity import Level
from hub.validation import problems

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
SECRETS_FILE = "secrets.yaml"


def _level(value: Any) -> str:
    try:
        return Level.parse(value).name
    except ValueError as err:
        raise vol.Invalid(str(err)) from None


def _str_or_list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return value
    raise vol.Invalid("expected a string or a non-empty list of strings")


def _time_zone(value: Any) -> str:
    import zoneinfo

    try:
        zoneinfo.ZoneInfo(str(value))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise vol.Invalid(f"unknown time zone {value!r} (an IANA name like Europe/Paris)") \
            from None
    return str(value)


def _port(value: Any) -> int:
    return vol.All(vol.Coerce(int), vol.Range(min=0, max=65535))(value)


HUB_SCHEMA = vol.Schema(
    {
        vol.Optional("host", default=DEFAULT_HOST): str,
        vol.Optional("port", default=DEFAULT_PORT): _port,
        vol.Optional("data_dir"): str,
        vol.Optional("time_zone"): _time_zone,
        vol.Optional("log_level", default="info"): vol.In(
            ["debug", "info", "warning", "error"]),
        vol.Optional("max_body_bytes", default=64 * 1024): vol.All(
            vol.Coerce(int), vol.Range(min=1024, max=16 * 1024 * 1024)),
        vol.Optional("audit_sync", default="normal"): vol.In(["normal", "full"]),
    },
    extra=vol.PREVENT_EXTRA,
)

_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def _duration(value: Any) -> float:
    """Seconds, as a number or a string like `90d`, `12h`, `30m`, `45s`, `2w`."""
    if isinstance(value, bool):
        raise vol.Invalid("expected a duration like 90d, 12h or a number of seconds")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        text = str(value).strip().lower()
        unit = _DURATION_UNITS.get(text[-1:]) if text else None
        try:
            seconds = float(text[:-1]) * unit if unit else float(text)
        except ValueError:
            raise vol.Invalid("expected a duration like 90d, 12h or a number of seconds") \
                from None
    if not seconds > 0:
        raise vol.Invalid("a duration must be positive")
    return seconds


def _a_limit(value: dict[str, Any]) -> dict[str, Any]:
    if "max_age" not in value and "max_records" not in value:
        raise vol.Invalid("give max_age, max_records or both")
    return value


AUDIT_SCHEMA = vol.Schema(
    {
        # Prune old records; the chain stays verifiable from a checkpoint (docs/security.md).
        vol.Optional("retention"): vol.All({
            vol.Optional("max_age"): _duration,
            vol.Optional("max_records"): vol.All(int, vol.Range(min=100)),
            vol.Optional("interval", default=3600.0): _duration,
        }, _a_limit),
        # Denied and invalid requests each principal may have audited per window; past it
        # they answer 429 (hub.ratelimit).
        vol.Optional("refusals", default=dict): {
            vol.Optional("limit", default=30): vol.All(int, vol.Range(min=1, max=1_000_000)),
            vol.Optional("window", default=10.0): vol.All(_duration, vol.Range(max=86400)),
        },
    },
    extra=vol.PREVENT_EXTRA,
)

RULE_SCHEMA = vol.Schema(
    {
        vol.Optional("plugin"): str,
        vol.Optional("device"): _str_or_list,
        vol.Optional("action"): _str_or_list,
        vol.Optional("principal"): _str_or_list,
        vol.Required("require"): _level,
        vol.Optional("reason"): str,
    },
    extra=vol.PREVENT_EXTRA,
)

GOVERNANCE_SCHEMA = vol.Schema(
    {
        vol.Optional("rules", default=list): [RULE_SCHEMA],
        vol.Optional("cache_size", default=10000): vol.All(int, vol.Range(min=0)),
    },
    extra=vol.PREVENT_EXTRA,
)


def _plugins_section(value: Any) -> dict[str, dict]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise vol.Invalid("expected a mapping of plugin name to its settings")
    out = {}
    for name, section in value.items():
        if not isinstance(name, str):
            raise vol.Invalid("plugin names are strings", path=[name])
        if section is None:
            section = {}
        if not isinstance(section, dict):
            raise vol.Invalid("expected a mapping (or nothing)", path=[name])
        out[name] = section
    return out


def _automations_schema() -> Any:
    try:
        from hub.automations import AUTOMATIONS_SCHEMA
    except ImportError:  # the automations package is optional for the core schema
        return list
    return AUTOMATIONS_SCHEMA


def root_schema() -> vol.Schema:
    return vol.Schema(
        {
            vol.Optional("hub", default=dict): vol.Any(None, HUB_SCHEMA),
            vol.Optional("plugins", default=dict): _plugins_section,
            vol.Optional("governance", default=dict): vol.Any(None, GOVERNANCE_SCHEMA),
            vol.Optional("audit", default=dict): vol.Any(None, AUDIT_SCHEMA),
            vol.Optional("automations", default=list): vol.Any(None, _automations_schema()),
        },
        extra=vol.PREVENT_EXTRA,
    )


@dataclass
class HubConfig:
    path: Path | None
    hub: dict[str, Any]
    plugins: dict[str, dict[str, Any]]
    governance: dict[str, Any]
    automations: list[Any]
    data_dir: Path
    _root: Any = field(default=None, repr=False)  # yaml node tree, for line numbers
    audit: dict[str, Any] = field(default_factory=lambda: AUDIT_SCHEMA({}))

    @property
    def host(self) -> str:
        return self.hub["host"]

    @property
    def port(self) -> int:
        return self.hub["port"]

    def locate(self, path: Sequence[Any]) -> str:
        """`file:line` for a key path (as close as the document allows)."""
        return _where(self.path, self._root, path)

    def error(self, path: Sequence[Any], message: str) -> ConfigError:
        return ConfigError(f"{self.locate(path)}: {_dotted(path)}: {message}")


# -- YAML loading -----------------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """SafeLoader with !secret and !env_var; knows its file and environment."""

    source: str = "<string>"
    base_dir: Path = Path(".")
    env: Mapping[str, str] = os.environ
    _secrets: dict[str, Any] | None = None


def _mark(loader: _Loader, node: yaml.Node) -> str:
    return f"{loader.source}:{node.start_mark.line + 1}"


def _secret(loader: _Loader, node: yaml.Node) -> Any:
    name = loader.construct_scalar(node)
    if loader._secrets is None:
        secrets_path = loader.base_dir / SECRETS_FILE
        if not secrets_path.exists():
            raise ConfigError(f"{_mark(loader, node)}: !secret {name}: {secrets_path} not found")
        try:
            data = yaml.safe_load(secrets_path.read_text()) or {}
        except yaml.YAMLError as err:
            raise ConfigError(f"{secrets_path}: invalid YAML: {err}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{secrets_path}: expected a mapping of names to secrets")
        loader._secrets = data
    if name not in loader._secrets:
        # Never echo secret values, only the name that is missing.
        raise ConfigError(f"{_mark(loader, node)}: !secret {name}: no such secret in "
                          f"{loader.base_dir / SECRETS_FILE}")
    return loader._secrets[name]


def _env_var(loader: _Loader, node: yaml.Node) -> Any:
    parts = str(loader.construct_scalar(node)).split(None, 1)
    if not parts:
        raise ConfigError(f"{_mark(loader, node)}: !env_var needs a variable name")
    name = parts[0]
    if name in loader.env:
        return loader.env[name]
    if len(parts) == 2:
        return yaml.safe_load(parts[1])
    raise ConfigError(f"{_mark(loader, node)}: !env_var {name}: not set and no default")


_Loader.add_constructor("!secret", _secret)
_Loader.add_constructor("!env_var", _env_var)


def _parse(text: str, source: str, base_dir: Path, env: Mapping[str, str]) -> tuple[Any, Any]:
    loader_cls = type("Loader", (_Loader,), {"source": source, "base_dir": base_dir, "env": env})
    try:
        root = yaml.compose(text, Loader=_ComposeLoader)
        data = yaml.load(text, Loader=loader_cls)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = f":{mark.line + 1}" if mark else ""
        raise ConfigError(f"{source}{line}: invalid YAML: {err.problem or err}") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{source}: invalid YAML: {err}") from None
    return data, root


class _ComposeLoader(yaml.SafeLoader):
    """Composes nodes only; custom tags need no constructor at that stage."""


def _where(path: Path | None, root: Any, keys: Sequence[Any]) -> str:
    source = str(path) if path else "<config>"
    node = root
    line = node.start_mark.line + 1 if node is not None else None
    for key in keys:
        child = None
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if k.value == str(key):
                    child = v
                    line = k.start_mark.line + 1
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int):
            if 0 <= key < len(node.value):
                child = node.value[key]
                line = child.start_mark.line + 1
        if child is None:
            break
        node = child
    return f"{source}:{line}" if line else source


def _dotted(path: Sequence[Any]) -> str:
    out = ""
    for key in path:
        out += f"[{key}]" if isinstance(key, int) else (f".{key}" if out else str(key))
    return out or "(top level)"


def _validate(data: Any, path: Path | None, root: Any) -> dict:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path or '<config>'}:1: the top level must be a mapping")
    try:
        return root_schema()(data)
    except vol.MultipleInvalid as errs:
        # Report every problem, one line each, in document order.
        lines = sorted(
            {(_where(path, root, p), _dotted(p), msg) for p, msg in problems(errs)},
            key=lambda t: (int(t[0].rsplit(":", 1)[-1]) if t[0].rsplit(":", 1)[-1].isdigit()
                           else 0, t[1]),
        )
        raise ConfigError("\n".join(f"{w}: {p}: {m}" for w, p, m in lines)) from None


def _build(validated: dict, path: Path | None, root: Any, base_dir: Path,
           data_dir_default: Path | None) -> HubConfig:
    hub = validated.get("hub") or HUB_SCHEMA({})
    data_dir_value = hub.get("data_dir")
    if data_dir_value:
        data_dir = Path(os.path.expanduser(data_dir_value))
        if not data_dir.is_absolute():
            data_dir = base_dir / data_dir
    else:
        data_dir = data_dir_default or base_dir / "data"
    return HubConfig(
        path=path,
        hub=hub,
        plugins=validated.get("plugins") or {},
        governance=validated.get("governance") or GOVERNANCE_SCHEMA({}),
        automations=validated.get("automations") or [],
        data_dir=data_dir.resolve(),
        _root=root,
        audit=validated.get("audit") or AUDIT_SCHEMA({}),
    )


def load_config(path: str | os.PathLike[str], *, env: Mapping[str, str] | None = None,
                data_dir: str | os.PathLike[str] | None = None) -> HubConfig:
    """Read and validate a config file. Raises ConfigError naming file, line and key."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: cannot read: {err}") from None
    data, root = _parse(text, str(path), path.parent, env if env is not None else os.environ)
    cfg = _build(_validate(data, path, root), path, root, path.parent.resolve(), None)
    if data_dir is not None:
        cfg.data_dir = Path(data_dir).resolve()
    return cfg


def load_config_data(data: dict[str, Any] | str, *, base_dir: Path,
                     data_dir_default: Path | None = None,
                     env: Mapping[str, str] | None = None) -> HubConfig:
    """Validate a config given as a dict or YAML text (tests, embedding)."""
    root = None
    if isinstance(data, str):
        data, root = _parse(data, "<config>", base_dir, env if env is not None else {})
    return _build(_validate(data, None, root), None, root, base_dir, data_dir_default)
