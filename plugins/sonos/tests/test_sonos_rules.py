"""Checked rules: the plugin uses only the public plugin API, is found by entry point, and
nothing here sends SSDP multicast."""

from __future__ import annotations

import ast
from importlib import metadata
from pathlib import Path

import hub_sonos

PACKAGE = Path(hub_sonos.__file__).parent
TESTS = Path(__file__).parent


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_plugin_imports_only_the_public_plugin_api():
    for path in PACKAGE.rglob("*.py"):
        core = {m for m in imported_modules(path) if m == "hub" or m.startswith("hub.")}
        allowed = {"hub.plugin"} | ({"hub.testing"} if "testing" in path.parts else set())
        assert core <= allowed, f"{path.name} imports {core - allowed}"


def test_entry_point_names_the_plugin_class():
    points = {ep.name: ep for ep in metadata.entry_points(group="hub.plugins")}
    assert points["sonos"].value == "hub_sonos.plugin:SonosPlugin"


def test_no_multicast_discovery_in_tests():
    for path in TESTS.glob("*.py"):
        if path.name == Path(__file__).name:
            continue
        text = path.read_text()
        assert "soco.discover(" not in text and "discovery=True" not in text, path.name
    from hub_sonos.testing.helpers import sonos_config

    assert sonos_config(None)["discovery"] is False
