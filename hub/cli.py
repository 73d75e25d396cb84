"""The `hub` command. Imports are lazy so `hub --help` answers at once.

Commands that read the hub's data (token, audit, vault) work on the data directory directly
(-c CONFIG / --data-dir DIR); commands that look at or drive a running hub (plugins, devices,
act, and plugin commands such as `hub spotify link`) talk to it over REST with the owner token
unless --url / --token say otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

DEFAULT_CONFIG = "config.yaml"
CORE_COMMANDS = {"run", "check-config", "plugins", "devices", "act", "token", "audit", "vault",
                 "automations", "dashboard", "mcp"}


class CliError(Exception):
    """A failure to report in one line, exit code 1, no traceback."""


# -- shared helpers --------------------------------------------------------------------------


def _config_path(args: argparse.Namespace) -> Path | None:
    if args.config:
        return Path(args.config)
    env = os.environ.get("HUB_CONFIG")
    if env:
        return Path(env)
    return Path(DEFAULT_CONFIG) if Path(DEFAULT_CONFIG).exists() else None


def _load(args: argparse.Namespace, *, required: bool = False):
    from hub.config import load_config, load_config_data

    path = _config_path(args)
    if path is None:
        if required:
            raise CliError(f"no configuration: pass -c FILE (or create {DEFAULT_CONFIG})")
        cfg = load_config_data({}, base_dir=Path.cwd())
    else:
        cfg = load_config(path)
    if getattr(args, "data_dir", None):
        cfg.data_dir = Path(args.data_dir).resolve()
    if getattr(args, "port", None) is not None:
        cfg.hub["port"] = args.port
    return cfg


def _data_dir(args: argparse.Namespace) -> Path:
    return _load(args).data_dir


def _hub_url(args: argparse.Namespace, cfg: Any = None) -> str:
    """--url, or the hub's address from the configuration (a wildcard bind is reached on
    loopback)."""
    if args.url:
        return str(args.url).rstrip("/")
    cfg = cfg or _load(args)
    host = cfg.host if cfg.host not in ("0.0.0.0", "::") else "127.0.0.1"
    return f"http://{host}:{cfg.port}"


class _Client:
    """REST access to a running hub (also the CliContext handed to plugin commands)."""

    def __init__(self, args: argparse.Namespace) -> None:
        cfg = None
        if not (args.url and args.token):
            cfg = _load(args)
        self.url = _hub_url(args, cfg)
        self.token = args.token or os.environ.get("HUB_TOKEN")
        if not self.token and cfg is not None:
            path = cfg.data_dir / "owner.token"
            try:
                self.token = path.read_text().strip()
            except OSError:
                raise CliError(f"no token: {path} is not readable; pass --token") from None

    async def request(self, method: str, path: str, *, allow_redirects: bool = True,
                      **kwargs: Any) -> tuple[int, dict[str, str], Any]:
        import aiohttp

        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as s:
                async with s.request(method, self.url + path, headers=headers,
                                     allow_redirects=allow_redirects, **kwargs) as resp:
                    body: Any = await resp.text()
                    if resp.content_type == "application/json":
                        body = json.loads(body)
                    return resp.status, dict(resp.headers), body
        except aiohttp.ClientConnectionError:
            raise CliError(f"the hub is not reachable at {self.url} (is `hub run` going?)") \
                from None

    async def call(self, method: str, path: str, **kwargs: Any) -> Any:
        status, _, body = await self.request(method, path, **kwargs)
        if status >= 400:
            err = body.get("error", {}) if isinstance(body, dict) else {}
            raise CliError(f"{status} {err.get('code', '')}: {err.get('message', body)}")
        return body


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, sort_keys=True, default=str))


def _parse_value(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw


# -- commands --------------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    import logging

    from hub.runner import run

    cfg = _load(args, required=True)
    level = getattr(logging, cfg.hub.get("log_level", "info").upper())
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return run(cfg, strict_plugins=args.strict_plugins)


def cmd_check_config(args: argparse.Namespace) -> int:
    from hub.app import Hub
    from hub.automations.check import KEY_ALIASES, Catalog, check_automations
    from hub.runner import report_plugin_failures

    cfg = _load(args, required=True)
    hub = Hub(cfg)
    hub.load_plugins()  # validates each plugin's section with its own schema
    problems = report_plugin_failures(hub)
    devices, note = _running_devices(cfg)
    found = check_automations(cfg.automations, Catalog.of(hub.plugins), devices)
    for problem in found:
        where = cfg.locate(["automations", *problem.path], KEY_ALIASES)
        dotted = "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in problem.path)
        print(f"{where}: {problem.severity}: automations{dotted}: {problem.message}",
              file=sys.stderr)
    errors = [p for p in found if p.severity == "error"]
    if problems or errors:
        return 1
    active = [p.name for p in hub.plugins.active()]
    warnings = len(found) - len(errors)
    print(f"{cfg.path}: valid ({len(active)} active plugins: {', '.join(active) or 'none'}; "
          f"{len(cfg.governance.get('rules', []))} governance rules; "
          f"{len(cfg.automations)} automations"
          + (f"; {warnings} warnings" if warnings else "") + f"; {note})")
    return 0


def _running_devices(cfg: Any) -> tuple[list[Any] | None, str]:
    """The devices of the hub running with this config, to check device ids against; None
    (and why) when no hub answers."""
    import types

    import aiohttp

    host = "127.0.0.1" if cfg.host in ("0.0.0.0", "::") else cfg.host
    url = f"http://{host}:{cfg.port}"
    try:
        token = (cfg.data_dir / "owner.token").read_text().strip()
    except OSError:
        return None, "device ids not checked: no hub has run with this data directory"

    async def fetch() -> Any:
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(timeout=timeout) as session, session.get(
                url + "/devices", headers={"Authorization": f"Bearer {token}"}) as resp:
            return await resp.json() if resp.status == 200 else None

    try:
        body = asyncio.run(fetch())
    except (aiohttp.ClientError, TimeoutError, ValueError):
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("devices"), list):
        return None, f"device ids not checked: no running hub answered at {url}"
    devices = [types.SimpleNamespace(id=d.get("id"), name=str(d.get("name") or ""),
                                     actions=set(d.get("actions") or ()),
                                     info=d.get("info") if isinstance(d.get("info"), dict)
                                     else {})
               for d in body["devices"] if isinstance(d, dict) and isinstance(d.get("id"), str)]
    return devices, f"device ids checked against the {len(devices)} devices of the running hub"


def cmd_plugins(args: argparse.Namespace) -> int:
    body = asyncio.run(_Client(args).call("GET", "/plugins"))
    if args.json:
        _print_json(body)
        return 0
    from hub.boundary import printable

    for p in body["plugins"]:
        line = f"{p['name']:<12} {p['version']:<10} {p['status']:<15} devices={p.get('devices', 0)}"
        if p.get("hooks"):
            line += f"  hooks={','.join(p['hooks'])}"
        if p.get("error"):
            line += f"  ({p['error']})"
        print(printable(line))
    return 0


def cmd_devices(args: argparse.Namespace) -> int:
    body = asyncio.run(_Client(args).call("GET", "/devices"))
    if args.json:
        _print_json(body)
        return 0
    from hub.boundary import printable

    for d in body["devices"]:
        attrs = d.get("attributes", {})
        title = attrs.get("media_title") or ""
        # Names and titles come from devices and services: never let them drive the terminal.
        print(printable(f"{d['id']:<40} {d['state']:<12} vol={attrs.get('volume', '-'):<4} "
                        f"{title}"))
    return 0


def _key_values(items: list[str], what: str) -> dict[str, Any]:
    """`key=value` arguments; values are JSON when they parse as JSON."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CliError(f"{what} are key=value, got {item!r}")
        out[key] = _parse_value(value)
    from hub import boundary

    try:  # the boundary, before anything is sent: text that is not Unicode, deep nesting
        boundary.check(out, what=f"the {what}")
    except Exception as err:
        raise CliError(str(err)) from None
    return out


def cmd_act(args: argparse.Namespace) -> int:
    from hub import boundary

    params = _key_values(args.params, "parameters")
    try:
        boundary.identifier(args.device, "device")
        boundary.identifier(args.action, "action")
    except Exception as err:
        raise CliError(str(err)) from None
    body = {"device": args.device, "action": args.action, "params": params,
            "dry_run": args.dry_run}
    _print_json(asyncio.run(_Client(args).call("POST", "/actions", json=body)))
    return 0


def cmd_dashboard(args: argparse.Namespace) -> int:
    """Print (and with --open, open) a one-time link that signs a browser in to the running
    hub's dashboard as the principal of the token used (the owner's by default)."""
    client = _Client(args)
    body = asyncio.run(client.call("POST", "/auth/codes"))
    link = client.url + body["path"]
    who = body["principal"]
    print(f"Sign-in link for {who['name']} ({who['maturity'] or who['kind']}): it works once, "
          f"within {body['expires_in']:g} seconds.", file=sys.stderr)
    print(link)
    if args.open:
        import webbrowser

        if not webbrowser.open(link):
            print("hub: no browser could be started here; open the link above yourself",
                  file=sys.stderr)
    return 0


async def _with_storage(data_dir: Path, fn) -> Any:
    """Open the hub's database in `data_dir` and run `await fn(storage)`."""
    from hub.storage import Storage

    if not (data_dir / "hub.db").exists():
        raise CliError(f"no hub database in {data_dir} (start the hub once, or pass --data-dir)")
    storage = Storage(data_dir)
    await storage.open()
    try:
        return await fn(storage)
    finally:
        await storage.close()


def cmd_token(args: argparse.Namespace) -> int:
    from hub.lock import DataDirLock, LockError

    data_dir = _data_dir(args)
    try:
        lock = DataDirLock(data_dir, "token").__enter__()
    except LockError:
        # A hub is running: it owns the audit chain, so ask it (it gates and audits).
        return asyncio.run(_token_via_api(args))
    try:
        return asyncio.run(_with_storage(data_dir, lambda storage: _token_direct(args, storage)))
    finally:
        lock.__exit__()


def _report_created(principal: dict[str, Any], token: str) -> None:
    print(f"created {principal['kind']} {principal['name']!r}"
          + (f" with maturity {principal['maturity']}" if principal["maturity"] else "")
          + "; the token is shown once:", file=sys.stderr)
    print(token)


def _print_tokens(tokens: list[dict[str, Any]]) -> None:
    for t in tokens:
        state = "revoked" if t["revoked"] else "active"
        print(f"{t['name']:<24} {t['kind']:<11} {t['maturity'] or '-':<11} {state}")


async def _token_direct(args: argparse.Namespace, storage: Any) -> int:
    """No hub running: change the database ourselves and audit it as the local owner."""
    from hub.audit import AuditLog
    from hub.clock import SystemClock
    from hub.tokens import TokenStore

    tokens = TokenStore(storage, SystemClock())
    if args.token_cmd == "list":
        _print_tokens(await tokens.list())
        return 0
    from hub.admin import AdminRequest
    from hub.governance import Decision
    from hub.maturity import Level

    audit = AuditLog(storage, SystemClock())
    await audit.start()
    what = "create_token" if args.token_cmd == "create" else "revoke_token"
    # The same administrative record as the hub's API writes, as the local owner.
    local = Decision(True, Level.OWNER, "local user with access to the data directory")
    try:
        async with AdminRequest(
                audit, local, None, what=what, source="cli", target=args.name,
                params={"kind": getattr(args, "kind", None),
                        "maturity": getattr(args, "maturity", None)},
                principal_fields={"principal": "local-cli", "principal_kind": "owner",
                                  "maturity": None}):
            if args.token_cmd == "create":
                token, principal = await tokens.create(args.name, kind=args.kind,
                                                       maturity=args.maturity)
            else:
                await tokens.revoke(args.name)
    finally:
        await audit.stop()
    if args.token_cmd == "create":
        _report_created(principal.describe(), token)
    else:
        print(f"revoked {args.name!r}")
    return 0


async def _token_via_api(args: argparse.Namespace) -> int:
    args.url = args.token = None
    client = _Client(args)
    if args.token_cmd == "list":
        _print_tokens((await client.call("GET", "/tokens"))["tokens"])
    elif args.token_cmd == "create":
        body = await client.call("POST", "/tokens", json={
            "name": args.name, "kind": args.kind, "maturity": args.maturity})
        _report_created(body, body["token"])
    else:
        await client.call("DELETE", f"/tokens/{args.name}")
        print(f"revoked {args.name!r} (through the running hub)")
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    from hub.audit import AuditLog
    from hub.clock import SystemClock

    async def go(storage):
        audit = AuditLog(storage, SystemClock())
        if args.audit_cmd == "verify":
            result = await audit.verify()
            if result.start_seq:
                print(f"retention: records 1..{result.start_seq} were pruned; the chain starts "
                      f"from the checkpoint {result.start_hash[:16]} "
                      + (f"(confirmed by record {result.confirmed_by})"
                         if result.confirmed_by else "(NOT confirmed)"))
            for problem in result.problems:
                print(f"TAMPERED: {problem}")
            if result.ok:
                print(f"ok: {result.records} records, chain intact, head {result.head[:16]}")
                return 0
            print(f"FAILED: {len(result.problems)} problems in {result.records} records")
            return 1
        if args.audit_cmd == "export":
            from hub.server import parse_since

            since = parse_since(args.since) if args.since else None
            async for record in audit.export(since=since):
                sys.stdout.write(json.dumps(record, sort_keys=True) + "\n")
            return 0
        records = await audit.query(limit=args.n)
        for r in reversed(records):
            if args.json:
                print(json.dumps(r, default=str))
                continue
            print(_audit_line(r))
        return 0

    return asyncio.run(_with_storage(_data_dir(args), go))


def _audit_line(r: dict[str, Any]) -> str:
    """One record as a terminal line. Every field a client chose (device ids, actions,
    reasons that quote them) is escaped: a newline or an ANSI sequence in a device id cannot
    draw a fake record. `--json` prints the records exactly."""
    import datetime as dt

    from hub.boundary import printable

    when = dt.datetime.fromtimestamp(r["ts"]).isoformat(timespec="seconds")
    what = r["decision"] or r["outcome"] or "-"
    extra = r["error"] or (r["reason"] if r["decision"] not in (None, "allow") else "") or ""
    cells = (f"{r['seq']:>7}", when, f"{printable(r['record']):<8}",
             f"{printable(r['principal'] or '-'):<14}", f"{printable(r['action'] or '-'):<14}",
             f"{printable(r['device'] or '-'):<28}", f"{printable(what):<8}", printable(extra))
    return " ".join(cells)


def cmd_vault(args: argparse.Namespace) -> int:
    from hub.lock import DataDirLock
    from hub.vault import rotate

    data_dir = _data_dir(args)
    with DataDirLock(data_dir, "vault rotate"):
        print(asyncio.run(_with_storage(
            data_dir, lambda storage: rotate(storage, data_dir, os.environ))))
    return 0


def cmd_automations(args: argparse.Namespace) -> int:
    client = _Client(args)
    what = args.automations_cmd
    if what == "list":
        body = asyncio.run(client.call("GET", "/automations"))
        if args.json:
            _print_json(body)
            return 0
        for a in body["automations"]:
            state = "on" if a["enabled"] else "off"
            problems = len(a.get("problems") or [])
            alias = a["alias"] if a["alias"] != a["id"] else ""
            print(f"{a['id']:<32} {state:<4} {a['mode']:<9} runs={a['runs']:<5} "
                  f"last={a['last_result'] or '-':<18} {alias}"
                  + (f"  ({problems} problems)" if problems else ""))
        return 0
    path = f"/automations/{args.id}"
    if what in ("enable", "disable"):
        body = asyncio.run(client.call("POST", f"{path}/{what}"))
        print(f"{args.id}: {'enabled' if body['enabled'] else 'disabled'}")
        return 0
    if what == "trigger":
        variables = _key_values(args.variables, "variables")
        body = asyncio.run(client.call("POST", f"{path}/trigger", json={
            "variables": variables, "skip_condition": not args.check_conditions}))
        print(f"{args.id}: run {body['run_id']} {body['status']}")
        return 0
    # trace
    body = asyncio.run(client.call("GET", f"{path}/traces" + (f"/{args.run}" if args.run
                                                              else "")))
    traces = [body] if args.run else body["traces"][:None if args.all else 1]
    if args.json:
        _print_json(traces)
        return 0
    if not traces:
        print(f"{args.id}: no runs recorded yet")
    for trace in traces:
        _print_trace(trace)
    return 0


def _print_trace(trace: dict[str, Any]) -> None:
    import datetime as dt

    when = dt.datetime.fromtimestamp(trace["start"]).isoformat(timespec="seconds")
    trigger = trace.get("trigger") or {}
    print(f"run {trace['run_id']}  {when}  {trace['result'] or trace['state']}  "
          f"{trace['duration_ms'] if trace['duration_ms'] is not None else '-'} ms  "
          f"trigger: {trigger.get('description') or trigger.get('trigger')}"
          + (f" (id {trigger['id']})" if trigger.get("id") is not None else ""))
    records = sorted([*trace["conditions"], *trace["steps"]], key=lambda r: r.get("seq", 0))
    for record in records:
        if "kind" not in record:  # a condition
            print(f"  {record['path']:<40} {'true' if record['result'] else 'false'}")
            continue
        step = record
        detail = step.get("error") or step.get("result")
        if isinstance(detail, dict) and "message" in detail:
            detail = f"{detail.get('code')}: {detail['message']}"
        text = json.dumps(detail, default=str) if not isinstance(detail, str) else detail
        print(f"  {step['path']:<40} {step['kind']:<16} {step['duration_ms']} ms  "
              f"{text[:200]}")
    if trace.get("stop_reason"):
        print(f"  stopped: {trace['stop_reason']}")
    if trace.get("error"):
        print(f"  error: {trace['error'].get('code')}: {trace['error'].get('message')}")
    if trace.get("dropped"):
        print(f"  ({trace['dropped']} more records not kept)")


def cmd_mcp(args: argparse.Namespace) -> int:
    import logging

    # stdout carries the MCP protocol over stdio: everything else goes to stderr.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="hub mcp: %(levelname)s %(name)s: %(message)s")
    url = _hub_url(args)
    token = _mcp_token(args)
    if not args.http:
        if token is None:
            raise CliError("no agent token: pass --token-file PATH or set HUB_TOKEN "
                           "(create one with `hub token create --kind agent --maturity ...`)")
        from hub.mcp import serve_stdio

        asyncio.run(serve_stdio(url, token))
        return 0
    if token is not None and args.host not in ("127.0.0.1", "localhost", "::1"):
        raise CliError(f"refusing to serve {args.host} with a shared token: anyone reaching "
                       "the port would act as that agent. Start without --token-file/HUB_TOKEN "
                       "so each client sends its own token (Authorization: Bearer ...)")
    from hub.mcp import serve_http

    print(f"hub mcp: streamable HTTP at http://{args.host}:{args.http_port}/mcp for the hub "
          f"at {url}", file=sys.stderr, flush=True)
    asyncio.run(serve_http(url, token, args.host, args.http_port))
    return 0


def _mcp_token(args: argparse.Namespace) -> str | None:
    if args.token_file:
        try:
            token = Path(args.token_file).read_text().strip()
        except OSError as err:
            raise CliError(f"cannot read the token file {args.token_file}: "
                           f"{err.strerror}") from None
        if not token:
            raise CliError(f"the token file {args.token_file} is empty")
        return token
    return os.environ.get("HUB_TOKEN", "").strip() or None


# -- plugin commands -------------------------------------------------------------------------


def _plugin_command(argv: list[str]) -> int | None:
    """`hub <plugin> <command> ...`: find the plugin's entry point and its commands hook."""
    from importlib import metadata

    name = argv[0]
    eps = [ep for ep in metadata.entry_points(group="hub.plugins") if ep.name == name]
    if not eps:
        return None
    import inspect

    import pluggy

    from hub import hookspecs

    obj = eps[0].load()
    if inspect.isclass(obj):
        obj = obj()
    pm = pluggy.PluginManager("hub")
    pm.add_hookspecs(hookspecs)
    pm.register(obj, name=name)
    commands = {c.name: c for c in (pm.hook.commands() or [])}
    parser = argparse.ArgumentParser(prog=f"hub {name}")
    _client_options(parser)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in commands.values():
        p = sub.add_parser(command.name, help=command.help)
        _client_options(p)
        for a, kw in command.arguments:
            p.add_argument(*a, **kw)
    if not commands:
        print(f"plugin {name} has no commands", file=sys.stderr)
        return 1
    args = parser.parse_args(argv[1:])
    client = _Client(args)
    result = commands[args.command].run(client, args)
    if inspect.isawaitable(result):
        result = asyncio.run(_await(result))
    return int(result or 0)


async def _await(awaitable):
    return await awaitable


# -- parser ----------------------------------------------------------------------------------


def _data_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("-c", "--config", help=f"configuration file (default: $HUB_CONFIG or "
                                          f"./{DEFAULT_CONFIG})")
    p.add_argument("--data-dir", help="data directory (overrides hub.data_dir)")


def _client_options(p: argparse.ArgumentParser) -> None:
    _data_options(p)
    p.add_argument("--url", help="the hub's URL (default: from the config)")
    p.add_argument("--token", help="bearer token (default: $HUB_TOKEN or the owner token)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hub", description="A local-first hub for media players, people and agents.",
        epilog="Plugin commands: hub <plugin> <command> (e.g. hub spotify link).")
    from hub import __version__

    parser.add_argument("--version", action="version", version=f"hub {__version__}")
    sub = parser.add_subparsers(dest="cmd", required=True, metavar="COMMAND")

    p = sub.add_parser("run", help="start the hub")
    _data_options(p)
    p.add_argument("--port", type=int, help="port to listen on (overrides hub.port)")
    p.add_argument("--strict-plugins", action="store_true",
                   help="refuse to start when any plugin fails (for plugin developers)")
    p.set_defaults(fn=cmd_run)

    p = sub.add_parser("check-config", help="validate the configuration and exit")
    _data_options(p)
    p.set_defaults(fn=cmd_check_config)

    for name, fn, help_ in (("plugins", cmd_plugins, "list plugins and their status"),
                            ("devices", cmd_devices, "list devices and their state")):
        p = sub.add_parser(name, help=help_)
        _client_options(p)
        p.add_argument("--json", action="store_true", help="print the raw JSON")
        p.set_defaults(fn=fn)

    p = sub.add_parser("dashboard", help="print a one-time sign-in link to the dashboard")
    _client_options(p)
    p.add_argument("--open", action="store_true", help="open the link in a browser too")
    p.set_defaults(fn=cmd_dashboard)

    p = sub.add_parser("act", help="perform an action: hub act DEVICE ACTION [key=value ...]")
    _client_options(p)
    p.add_argument("device")
    p.add_argument("action")
    p.add_argument("params", nargs="*", metavar="key=value",
                   help="values are JSON when they parse as JSON (volume=30, muted=true)")
    p.add_argument("--dry-run", action="store_true", help="decide, audit, but do not act")
    p.set_defaults(fn=cmd_act)

    p = sub.add_parser("automations", help="list, run, turn on/off and trace automations")
    msub = p.add_subparsers(dest="automations_cmd", required=True, metavar="ACTION")
    c = msub.add_parser("list", help="every automation and its last result")
    _client_options(c)
    c.add_argument("--json", action="store_true", help="print the raw JSON")
    c = msub.add_parser("trigger", help="run an automation now (conditions skipped)")
    _client_options(c)
    c.add_argument("id")
    c.add_argument("variables", nargs="*", metavar="key=value",
                   help="variables of the run; values are JSON when they parse as JSON")
    c.add_argument("--check-conditions", action="store_true",
                   help="check the automation's conditions first")
    for name, help_ in (("enable", "turn an automation on (kept across restarts)"),
                        ("disable", "turn an automation off (kept across restarts)")):
        c = msub.add_parser(name, help=help_)
        _client_options(c)
        c.add_argument("id")
    c = msub.add_parser("trace", help="what the last run did (trigger, conditions, steps)")
    _client_options(c)
    c.add_argument("id")
    c.add_argument("--run", help="a run id (default: the newest run)")
    c.add_argument("--all", action="store_true", help="every stored run, newest first")
    c.add_argument("--json", action="store_true", help="print the raw JSON")
    p.set_defaults(fn=cmd_automations)


    p = sub.add_parser("mcp", help="serve the hub to AI agents over MCP (docs/agents.md)")
    p.add_argument("-c", "--config", help=f"configuration file, for the hub's address "
                                          f"(default: $HUB_CONFIG or ./{DEFAULT_CONFIG})")
    p.add_argument("--url", help="the running hub's URL (default: from the config)")
    p.add_argument("--token-file", metavar="PATH",
                   help="file holding the agent's token (default: $HUB_TOKEN)")
    p.add_argument("--http", action="store_true",
                   help="serve streamable HTTP at http://HOST:PORT/mcp instead of stdio")
    p.add_argument("--host", default="127.0.0.1", help="with --http (default 127.0.0.1)")
    p.add_argument("--port", dest="http_port", type=int, default=8766, metavar="PORT",
                   help="with --http (default 8766)")
    p.set_defaults(fn=cmd_mcp)

    p = sub.add_parser("token", help="manage principals and their tokens")
    tsub = p.add_subparsers(dest="token_cmd", required=True, metavar="ACTION")
    c = tsub.add_parser("create", help="create a token (printed once, alone on the last line)")
    _data_options(c)
    c.add_argument("--name", required=True)
    c.add_argument("--kind", default="agent", choices=["agent", "automation", "owner"])
    c.add_argument("--maturity", choices=["STUDENT", "INTERN", "SUPERVISED", "AUTONOMOUS"],
                   type=str.upper)
    c = tsub.add_parser("list", help="list tokens (never their values)")
    _data_options(c)
    c = tsub.add_parser("revoke", help="revoke a token by name")
    _data_options(c)
    c.add_argument("name")
    p.set_defaults(fn=cmd_token)

    p = sub.add_parser("audit", help="read and verify the audit log")
    asub = p.add_subparsers(dest="audit_cmd", required=True, metavar="ACTION")
    c = asub.add_parser("verify", help="check the hash chain (exit 1 when tampered)")
    _data_options(c)
    c = asub.add_parser("export", help="print records as JSON lines, oldest first (with "
                                       "their hashes), e.g. before retention prunes them")
    _data_options(c)
    c.add_argument("--since", help="epoch seconds or ISO 8601 time (default: everything)")
    c = asub.add_parser("tail", help="show the newest records")
    _data_options(c)
    c.add_argument("-n", type=int, default=20, help="how many records (default 20)")
    c.add_argument("--json", action="store_true")
    p.set_defaults(fn=cmd_audit)

    p = sub.add_parser("vault", help="manage the credential vault")
    vsub = p.add_subparsers(dest="vault_cmd", required=True, metavar="ACTION")
    c = vsub.add_parser("rotate", help="re-encrypt every secret under a new key (hub stopped)")
    _data_options(c)
    p.set_defaults(fn=cmd_vault)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and not argv[0].startswith("-") and argv[0] not in CORE_COMMANDS:
            result = _plugin_command(argv)
            if result is not None:
                return result
        args = build_parser().parse_args(argv)
        return int(args.fn(args) or 0)
    except KeyboardInterrupt:
        return 130
    except Exception as err:  # every expected failure becomes one line, exit 1
        from hub.errors import ConfigError, HubError

        if isinstance(err, ConfigError | CliError):
            message = str(err)
        elif isinstance(err, HubError):
            message = f"{err.code}: {err.message}"
        elif type(err).__name__ in ("VaultError", "StorageError", "PluginLoadError",
                                    "LockError") or isinstance(err, OSError):
            message = str(err)
        else:
            raise
        print(f"hub: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
