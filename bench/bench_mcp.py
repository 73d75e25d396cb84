#!/usr/bin/env python3
"""MCP benchmark: what the tool list costs a model, and what `hub mcp` adds to a call.

    .venv/bin/python bench/bench_mcp.py              # about 30 seconds
    .venv/bin/python bench/bench_mcp.py --tools-only # the tool-list figures alone, at once

1. Tool list (no server): the catalogs of the demo, Sonos and Spotify plugins, built from
   their ActionSpecs with the hub's own JSON Schema conversion (what GET /actions/catalog
   answers), rendered four ways, each measured in tools and in bytes of tools/list JSON (what
   a client puts into the model's context):
     - one_control:  one `control` tool, `params` a free object, the actions in its text
     - one_oneof:    one `control` tool, `params` a oneOf over every action's schema
     - per_action:   one tool per action, each with its exact schema
     - hub (chosen): the parameterless actions as `control`'s `action` enum, one tool per
                     action with parameters (hub.mcp.tools.build_action_tools)
   plus the 3 read tools every variant has.
2. Call overhead: `hub run` (demo plugin) and `hub mcp` (stdio) as subprocesses; N sequential
   `control` calls through the MCP SDK's client against N sequential POST /actions with
   aiohttp, alternating in rounds, median and p95 latency and their ratio. Traffic stays on
   127.0.0.1; every loop is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import aiohttp
from aiohttp.test_utils import unused_port

from hub.mcp.tools import DEVICE_ARG, DRY_RUN_ARG, READ_TOOLS, build_action_tools
from hub.server import _parameters_schema

HOST = "127.0.0.1"


# -- 1. the tool list ----------------------------------------------------------------------------


def catalog(plugins: list[tuple[str, dict[str, Any], int]]) -> list[dict[str, Any]]:
    out = []
    for plugin, actions, devices in plugins:
        for i in range(devices):
            out.append({"device": f"{plugin}.device_{i}", "plugin": plugin, "actions": [
                {"name": name, "description": spec.description,
                 "parameters": _parameters_schema(spec), "required": spec.required.name,
                 "allowed": True}
                for name, spec in sorted(actions.items())]})
    return out


def _union(cat: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    names: dict[str, dict[str, Any]] = {}
    for device in cat:
        for action in device["actions"]:
            names.setdefault(action["name"], action)
    return names


def _tool(name: str, description: str, properties: dict, required: list[str]) -> dict:
    return {"name": name, "description": description, "inputSchema": {
        "type": "object", "properties": properties, "required": required,
        "additionalProperties": False}}


def one_control(cat: list[dict[str, Any]]) -> list[dict]:
    actions = _union(cat)
    text = "Control a device. Actions: " + "; ".join(
        f"{n}({', '.join(a['parameters'].get('properties', {}))}): {a['description']}"
        for n, a in sorted(actions.items()))
    return [_tool("control", text, {"device": DEVICE_ARG, "action": {
        "type": "string", "enum": sorted(actions)}, "params": {"type": "object"},
        "dry_run": DRY_RUN_ARG}, ["device", "action"])]


def one_oneof(cat: list[dict[str, Any]]) -> list[dict]:
    variants = [{"type": "object", "properties": {
        "action": {"const": n, "description": a["description"]}, "params": a["parameters"]},
        "required": ["action"]} for n, a in sorted(_union(cat).items())]
    tool = _tool("control", "Control a device.", {"device": DEVICE_ARG,
                                                  "dry_run": DRY_RUN_ARG}, ["device"])
    tool["inputSchema"]["oneOf"] = variants
    return [tool]


def per_action(cat: list[dict[str, Any]]) -> list[dict]:
    return [_tool(n, a["description"], {"device": DEVICE_ARG,
                                        **a["parameters"].get("properties", {}),
                                        "dry_run": DRY_RUN_ARG},
                  ["device", *a["parameters"].get("required", [])])
            for n, a in sorted(_union(cat).items())]


def chosen(cat: list[dict[str, Any]]) -> list[dict]:
    # Without the annotations (read-only / destructive hints), which the others lack too.
    return [t.tool.model_dump(by_alias=True, exclude_none=True, exclude={"annotations"})
            for t in build_action_tools(cat).values()]


def tool_figures() -> list[tuple[str, float]]:
    from hub_demo.plugin import ACTIONS as DEMO
    from hub_sonos.actions import ACTIONS as SONOS
    from hub_spotify.actions import ACTIONS as SPOTIFY

    read = [t.model_dump(by_alias=True, exclude_none=True, exclude={"annotations"})
            for t in READ_TOOLS]
    setups = {"demo": [("demo", DEMO, 3)], "sonos": [("sonos", SONOS, 3)],
              "spotify": [("spotify", SPOTIFY, 3)],
              "all3": [("demo", DEMO, 3), ("sonos", SONOS, 3), ("spotify", SPOTIFY, 3)]}
    figures = []
    print(f"{'catalog':8} {'variant':12} {'tools':>5} {'bytes':>6} {'max tool bytes':>15}")
    for label, plugins in setups.items():
        cat = catalog(plugins)
        for variant in (one_control, one_oneof, per_action, chosen):
            tools = read + variant(cat)
            size = len(json.dumps({"tools": tools}))
            biggest = max(len(json.dumps(t)) for t in tools)
            name = "hub" if variant is chosen else variant.__name__
            print(f"{label:8} {name:12} {len(tools):5} {size:6} {biggest:15}")
            figures += [(f"tools_{label}_{name}_count", len(tools)),
                        (f"tools_{label}_{name}_bytes", size)]
    return figures


# -- 2. the call overhead ------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def call_overhead(calls: int, rounds: int) -> list[tuple[str, float]]:
    from bench_core import Server, hub_command, read_token, wait_ready
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    tmp = Path(tempfile.mkdtemp(prefix="hub-bench-mcp-"))
    port = unused_port()
    config = tmp / "config.yaml"
    config.write_text(f"hub:\n  host: {HOST}\n  port: {port}\n  data_dir: {tmp / 'data'}\n"
                      "plugins:\n  demo:\n    players: 3\n")
    hub = Server("hub", [*hub_command(), "run", "-c", str(config)], port, tmp / "hub.log", tmp)
    try:
        async with aiohttp.ClientSession() as session:
            await wait_ready(session, hub)
            token = read_token(tmp / "data" / "owner.token")
            headers = {"Authorization": f"Bearer {token}"}
            params = StdioServerParameters(
                command=sys.executable, args=["-m", "hub", "mcp", "--url", hub.url],
                env={"HUB_TOKEN": token, "PYTHONPATH": os.environ.get("PYTHONPATH", "")})
            rest: list[float] = []
            mcp: list[float] = []
            async with Client(params, read_timeout_seconds=30) as client:
                body = {"device": "demo.player_1", "action": "pause", "params": {}}
                for _ in range(rounds):
                    for _ in range(calls):
                        started = time.perf_counter()
                        async with session.post(hub.url + "/actions", json=body,
                                                headers=headers) as resp:
                            await resp.read()
                            assert resp.status == 200
                        rest.append(time.perf_counter() - started)
                    for _ in range(calls):
                        started = time.perf_counter()
                        result = await client.call_tool(
                            "control", {"device": "demo.player_1", "action": "pause"})
                        assert not result.is_error
                        mcp.append(time.perf_counter() - started)
    finally:
        hub.stop()
    out = []
    for name, values in (("rest", rest), ("mcp", mcp)):
        out += [(f"{name}_call_p50_ms", round(percentile(values, 50) * 1000, 2)),
                (f"{name}_call_p95_ms", round(percentile(values, 95) * 1000, 2))]
    out.append(("mcp_over_rest_p50_ratio",
                round(percentile(mcp, 50) / percentile(rest, 50), 2)))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tools-only", action="store_true", help="only the tool-list figures")
    ap.add_argument("--calls", type=int, default=200, help="calls per round (default 200)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    args = ap.parse_args()
    if not (1 <= args.calls <= 10_000 and 1 <= args.rounds <= 50):
        ap.error("--calls 1..10000, --rounds 1..50")
    figures = tool_figures()
    if not args.tools_only:
        figures += asyncio.run(call_overhead(args.calls, args.rounds))
    print()
    for name, value in figures:
        print(f"{name}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
