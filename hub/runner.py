"""`hub run`: serve the hub until SIGINT/SIGTERM; SIGHUP reloads the configuration."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import sys

from aiohttp import web

from hub.app import Hub
from hub.config import HubConfig
from hub.http_errors import AppRunner
from hub.lock import DataDirLock
from hub.server import AccessLogger

log = logging.getLogger(__name__)


def report_plugin_failures(hub: Hub) -> int:
    """Print each plugin that could not be configured or loaded, with its error (a config
    error names file:line and key), to stderr; returns how many. `hub check-config` and
    `hub run` print the same lines."""
    failed = [p for p in hub.plugins.plugins.values() if p.status == "failed"]
    for plugin in failed:
        print(f"plugin {plugin.name}: {plugin.error}", file=sys.stderr, flush=True)
    return len(failed)


def run(cfg: HubConfig, *, strict_plugins: bool = False) -> int:
    with DataDirLock(cfg.data_dir, "starting another hub on it"):
        return asyncio.run(_serve(cfg, strict_plugins))


async def _serve(cfg: HubConfig, strict_plugins: bool) -> int:
    hub = Hub(cfg, strict_plugins=strict_plugins)
    app = hub.web_app()
    # Per-request access lines cost CPU on the hot path: only at log_level debug.
    debug = cfg.hub.get("log_level") == "debug"
    runner = AppRunner(app, handle_signals=False, access_log_class=AccessLogger,
                           access_log=logging.getLogger("aiohttp.access") if debug else None)
    await runner.setup()  # runs hub.start() (cleanup context)
    site = web.TCPSite(runner, cfg.host, cfg.port, reuse_address=True)
    try:
        await site.start()
    except OSError as err:
        await runner.cleanup()
        print(f"hub: cannot listen on {cfg.host}:{cfg.port}: {err.strerror}", file=sys.stderr)
        return 1
    # Everything built at start (plugins, schemas, routes) lives as long as the process: move
    # it out of the collector's reach so full collections stay short (fewer latency spikes).
    gc.collect()
    gc.freeze()
    url = f"http://{cfg.host}:{cfg.port}"
    print(f"Hub {hub.version} listening on {url}", flush=True)
    print(f"Owner token: {hub.owner_token_path} (send it as Authorization: Bearer <token>)",
          flush=True)
    active = [p.name for p in hub.plugins.active()]
    print(f"Plugins: {', '.join(active) or 'none'}; devices: {len(hub.registry)}", flush=True)
    report_plugin_failures(hub)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    reloads: set[asyncio.Future] = set()

    def reload() -> None:
        async def go() -> None:
            try:
                await hub.reload_config()
            except Exception as err:  # keep running on the old configuration
                log.error("reload failed, keeping the running configuration: %s", err)

        reloads.add(task := asyncio.ensure_future(go()))
        task.add_done_callback(reloads.discard)

    loop.add_signal_handler(signal.SIGHUP, reload)
    await stop.wait()
    print("Stopping...", flush=True)
    await runner.cleanup()
    return 0
