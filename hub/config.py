"""Configuration: one YAML file, validated with voluptuous, errors as `file:line: path: why`.

Supports `!secret name` (looked up in secrets.yaml beside the file), `!env_var NAME
[default]` and `!include` (with `!include_dir_list`, `!include_dir_merge_list`,
`!include_dir_named`, `!include_dir_merge_named`), like Home Assistant; the YAML files of an
`automations/` folder beside the config file are merged into `automations:` in name order.
Plugin sections are validated later, by the plugin loader, with each plugin's own schema;
`HubConfig.locate(path)` gives them the line.
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

    @property
    def host(self) -> str:
        return self.hub["host"]

    @property
    def port(self) -> int:
        return self.hub["port"]

    def locate(self, path: Sequence[Any],
               aliases: Mapping[str, Sequence[str]] | None = None) -> str:
        """`file:line` for a key path (as close as the document allows; a key not found is
        tried under its `aliases`, the other spellings it may have in the file)."""
        return _where(self.path, self._root, path, aliases)

    def error(self, path: Sequence[Any], message: str) -> ConfigError:
        return ConfigError(f"{self.locate(path)}: {_dotted(path)}: {message}")


# -- YAML loading -----------------------------------------------------------------------------

AUTOMATIONS_DIR = "automations"  # beside the config file: merged into `automations:` in order
MAX_INCLUDE_DEPTH = 8
_INCLUDE_TAGS = ("!include", "!include_dir_list", "!include_dir_merge_list",
                 "!include_dir_named", "!include_dir_merge_named")


class _Loader(yaml.SafeLoader):
    """SafeLoader with !secret, !env_var and Home Assistant's !include family; knows its file
    and environment. Includes are resolved while composing, so every node keeps the mark
    (file and line) of the file it came from and errors point into included files."""

    source: str = "<string>"
    base_dir: Path = Path(".")
    env: Mapping[str, str] = os.environ
    _secrets: dict[str, Any] | None = None
    stack: tuple[Path, ...] = ()  # the files being included, for cycles and depth
    included: set[Path]

    def compose_node(self, parent: Any, index: Any) -> Any:
        node = super().compose_node(parent, index)
        if node is not None and node.tag in _INCLUDE_TAGS:
            return _include(self, node)
        return node


def _mark(loader: _Loader, node: yaml.Node) -> str:
    return f"{node.start_mark.name if node.start_mark.name.startswith('/') else loader.source}" \
        f":{node.start_mark.line + 1}"


def _scalar(loader: _Loader, node: yaml.Node, tag: str) -> str:
    if not isinstance(node, yaml.ScalarNode):
        raise ConfigError(f"{_mark(loader, node)}: {tag} takes a name, not a list or mapping")
    return str(loader.construct_scalar(node))


def _secret(loader: _Loader, node: yaml.Node) -> Any:
    name = _scalar(loader, node, "!secret")
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
    parts = _scalar(loader, node, "!env_var").split(None, 1)
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


def _read(path: Path, where: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{where}: no such file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{where}: cannot read: {err}") from None


def _compose_file(loader: _Loader, path: Path, at: str) -> Any:
    """The node tree of an included file (null for an empty one)."""
    if path in loader.stack:
        raise ConfigError(f"{at}: {path} includes itself")
    if len(loader.stack) >= MAX_INCLUDE_DEPTH:
        raise ConfigError(f"{at}: includes nested more than {MAX_INCLUDE_DEPTH} deep")
    text = _read(path, f"{at}: {path}")
    child = type(loader)(text)
    child.name = str(path)
    child.source = str(path)
    child.stack = (*loader.stack, path)
    child.included = loader.included
    loader.included.add(path)
    try:
        node = child.get_single_node()
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        raise ConfigError(f"{path}{f':{mark.line + 1}' if mark else ''}: invalid YAML: "
                          f"{err.problem or err}") from None
    finally:
        child.dispose()
    if node is None:
        return yaml.ScalarNode("tag:yaml.org,2002:null", "", None, None)
    return node


def _yaml_files(directory: Path, at: str) -> list[Path]:
    if not directory.is_dir():
        raise ConfigError(f"{at}: {directory} is not a directory")
    return sorted(p for p in directory.rglob("*.yaml")
                  if p.is_file() and not any(part.startswith(".") for part in
                                             p.relative_to(directory).parts))


def _include(loader: _Loader, node: yaml.Node) -> yaml.Node:
    at = f"{loader.source}:{node.start_mark.line + 1}"
    if not isinstance(node, yaml.ScalarNode) or not str(node.value).strip():
        raise ConfigError(f"{at}: {node.tag} needs a file or directory name")
    here = Path(loader.source).parent if loader.source.startswith("/") else loader.base_dir
    target = (here / str(node.value).strip()).resolve()
    if node.tag == "!include":
        return _compose_file(loader, target, at)
    files = [(f, _compose_file(loader, f, at)) for f in _yaml_files(target, at)]
    mark = node.start_mark
    if node.tag == "!include_dir_list":
        return yaml.SequenceNode("tag:yaml.org,2002:seq", [n for _, n in files], mark, mark)
    if node.tag == "!include_dir_named":
        return yaml.MappingNode("tag:yaml.org,2002:map", [
            (yaml.ScalarNode("tag:yaml.org,2002:str", f.stem, mark, mark), n)
            for f, n in files], mark, mark)
    merged: list[Any] = []
    wanted = yaml.SequenceNode if node.tag == "!include_dir_merge_list" else yaml.MappingNode
    for path, child in files:
        if isinstance(child, yaml.ScalarNode) and child.tag.endswith(":null"):
            continue
        if not isinstance(child, wanted):
            raise ConfigError(f"{path}:{child.start_mark.line + 1}: {node.tag} expects a "
                              f"{'list' if wanted is yaml.SequenceNode else 'mapping'} here")
        merged.extend(child.value)
    if wanted is yaml.SequenceNode:
        return yaml.SequenceNode("tag:yaml.org,2002:seq", merged, mark, mark)
    return yaml.MappingNode("tag:yaml.org,2002:map", merged, mark, mark)


def _merge_automations_dir(loader: _Loader, root: Any, directory: Path) -> None:
    """Append the automations of `directory/*.yaml` (in name order; each file a list of
    automations or one automation) to the root's `automations:`, skipping files the config
    already includes."""
    if not directory.is_dir() or not isinstance(root, yaml.MappingNode):
        return
    at = f"{loader.source}:1"
    items: list[Any] = []
    for path in _yaml_files(directory, at):
        if path.resolve() in loader.included:
            continue
        node = _compose_file(loader, path.resolve(), at)
        if isinstance(node, yaml.SequenceNode):
            items.extend(node.value)
        elif isinstance(node, yaml.MappingNode):
            items.append(node)
        elif not (isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null")):
            raise ConfigError(f"{path}:1: expected a list of automations or one automation")
    if not items:
        return
    for index, (key, value) in enumerate(root.value):
        if getattr(key, "value", None) == "automations":
            if isinstance(value, yaml.SequenceNode):
                value.value = [*value.value, *items]
            elif isinstance(value, yaml.ScalarNode) and value.tag.endswith(":null"):
                root.value[index] = (key, yaml.SequenceNode(
                    "tag:yaml.org,2002:seq", items, value.start_mark, value.end_mark))
            return
    mark = items[0].start_mark
    root.value.append((yaml.ScalarNode("tag:yaml.org,2002:str", "automations", mark, mark),
                       yaml.SequenceNode("tag:yaml.org,2002:seq", items, mark, mark)))


def _parse(text: str, source: str, base_dir: Path, env: Mapping[str, str],
           automations_dir: Path | None = None) -> tuple[Any, Any]:
    """(data, node tree) of a YAML document, includes resolved. The tree gives lines."""
    loader_cls = type("Loader", (_Loader,), {"source": source, "base_dir": base_dir, "env": env})
    loader = loader_cls(text)
    loader.name = source
    loader.included = set()
    try:
        root = loader.get_single_node()
        if automations_dir is not None:
            _merge_automations_dir(loader, root, automations_dir)
        data = loader.construct_document(root) if root is not None else None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = mark.name if mark and mark.name.startswith("/") else source
        line = f":{mark.line + 1}" if mark else ""
        raise ConfigError(f"{where}{line}: invalid YAML: {err.problem or err}") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{source}: invalid YAML: {err}") from None
    finally:
        loader.dispose()
    return data, root


def _where(path: Path | None, root: Any, keys: Sequence[Any],
           aliases: Mapping[str, Sequence[str]] | None = None) -> str:
    """`file:line` of a key path in the node tree (as close as the document allows); a key
    not found is tried under its `aliases` (other spellings of it)."""
    source = str(path) if path else "<config>"
    node = root
    mark = node.start_mark if node is not None else None
    for key in keys:
        child = None
        if isinstance(node, yaml.MappingNode):
            for name in (str(key), *((aliases or {}).get(str(key), ()))):
                for k, v in node.value:
                    if k.value == name:
                        child, mark = v, k.start_mark
                        break
                if child is not None:
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int):
            if 0 <= key < len(node.value):
                child = node.value[key]
                mark = child.start_mark
        if child is None:
            break
        node = child
    if mark is None:
        return source
    name = mark.name if mark.name and mark.name.startswith("/") else source
    return f"{name}:{mark.line + 1}"


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
    )


def load_config(path: str | os.PathLike[str], *, env: Mapping[str, str] | None = None,
                data_dir: str | os.PathLike[str] | None = None) -> HubConfig:
    """Read and validate a config file. Raises ConfigError naming file, line and key."""
    path = Path(path)
    text = _read(path, str(path))
    data, root = _parse(text, str(path), path.parent, env if env is not None else os.environ,
                        automations_dir=path.parent / AUTOMATIONS_DIR)
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
