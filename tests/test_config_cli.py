"""Configuration errors name file, line and key; the CLI answers in one line, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hub.config import load_config
from hub.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def hub(*args: str, cwd: Path | None = None, env: dict | None = None,
        timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hub", *args], capture_output=True, text=True,
                          cwd=cwd, env={**os.environ, **(env or {})}, timeout=timeout)


def write(tmp_path: Path, text: str, name: str = "hub.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_unknown_key_names_file_line_and_path(tmp_path):
    path = write(tmp_path, "hub:\n  port: 8765\n  prot: 1\nplugins: {}\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value) == f"{path}:3: hub.prot: unknown key"


def test_wrong_type_deep_in_a_list(tmp_path):
    path = write(tmp_path, "governance:\n  rules:\n    - action: play\n      require: INTERN\n"
                           "    - action: stop\n      require: BOSS\n")
    with pytest.raises(ConfigError, match=r":6: governance\.rules\[1\]\.require: unknown level"):
        load_config(path)


def test_invalid_yaml_names_the_line(tmp_path):
    path = write(tmp_path, "hub:\n  port: [1, 2\nplugins: {}\n")
    with pytest.raises(ConfigError, match=rf"{path}:\d+: invalid YAML"):
        load_config(path)


def test_secret_and_env_var(tmp_path):
    write(tmp_path, "spotify_id: abc123\n", "secrets.yaml")
    path = write(tmp_path, "hub:\n  port: !env_var HUB_TEST_PORT 9999\nplugins:\n"
                           "  demo:\n    players: !env_var PLAYERS\n  x:\n"
                           "    client_id: !secret spotify_id\n")
    cfg = load_config(path, env={"PLAYERS": "4"})
    assert cfg.port == 9999
    assert cfg.plugins["demo"]["players"] == "4"
    assert cfg.plugins["x"]["client_id"] == "abc123"
    with pytest.raises(ConfigError, match=r":5: !env_var PLAYERS: not set and no default"):
        load_config(path, env={})


def test_missing_secret_names_the_secret_not_a_value(tmp_path):
    write(tmp_path, "other: hunter2\n", "secrets.yaml")
    path = write(tmp_path, "plugins:\n  x:\n    password: !secret pw\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert f"{path}:3: !secret pw: no such secret" in str(err.value)
    assert "hunter2" not in str(err.value)


def test_data_dir_is_relative_to_the_config_file(tmp_path):
    path = write(tmp_path, "hub:\n  data_dir: ./state\n")
    assert load_config(path).data_dir == (tmp_path / "state").resolve()


def test_check_config_ok_and_errors_exit_1_without_traceback(tmp_path):
    result = hub("check-config", "-c", str(ROOT / "config.example.yaml"))
    assert result.returncode == 0, result.stderr
    assert "valid" in result.stdout
    bad = write(tmp_path, "hub:\n  port: nope\nplugins:\n  demo:\n    players: 0\n")
    result = hub("check-config", "-c", str(bad))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert f"{bad}:2: hub.port: expected int" in result.stderr
    plugin_bad = write(tmp_path, "plugins:\n  demo:\n    players: 0\n", "p.yaml")
    result = hub("check-config", "-c", str(plugin_bad), env={"HUB_PLUGINS": "demo"})
    assert result.returncode == 1
    assert f"{plugin_bad}:3: plugins.demo.players" in result.stderr
    result = hub("check-config", "-c", str(tmp_path / "missing.yaml"))
    assert result.returncode == 1 and "no such file" in result.stderr


def test_token_commands(tmp_path):
    data = str(tmp_path / "data")
    (tmp_path / "data").mkdir()
    result = hub("token", "list", "--data-dir", data)
    assert result.returncode == 1 and "no hub database" in result.stderr
    # A database exists once a hub has opened the data directory.
    import asyncio

    from hub.storage import Storage

    async def init() -> None:
        storage = Storage(tmp_path / "data")
        await storage.open()
        await storage.close()

    asyncio.run(init())
    result = hub("token", "create", "--name", "planner", "--kind", "agent", "--maturity",
                 "intern", "--data-dir", data)
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip().splitlines()[-1]
    assert token.startswith("hub_") and len(token) > 40
    assert token not in (tmp_path / "data" / "hub.db").read_bytes().decode("latin-1")
    listing = hub("token", "list", "--data-dir", data).stdout
    assert "planner" in listing and "INTERN" in listing and token not in listing
    result = hub("token", "create", "--name", "planner", "--data-dir", data)
    assert result.returncode == 1 and "already exists" in result.stderr
    assert hub("token", "revoke", "planner", "--data-dir", data).returncode == 0
    assert "revoked" in hub("token", "list", "--data-dir", data).stdout
    result = hub("token", "revoke", "nobody", "--data-dir", data)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    # Every change was audited, failures included, and the chain holds.
    tail = hub("audit", "tail", "-n", "20", "--data-dir", data).stdout
    assert tail.count("create_token") == 4 and tail.count("revoke_token") == 4
    assert "already exists" in tail and "no active token" in tail
    assert token not in tail
    assert hub("audit", "verify", "--data-dir", data).returncode == 0


def test_help_is_fast_and_imports_nothing_heavy():
    code = ("import sys, time; t = time.perf_counter(); from hub.cli import build_parser; "
            "build_parser(); print(time.perf_counter() - t); "
            "print(','.join(m for m in ('aiohttp', 'aiosqlite', 'cryptography', 'pluggy', "
            "'voluptuous') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split("\n")
    assert out[1] == "", f"heavy modules imported for --help: {out[1]}"
    started = time.perf_counter()
    result = hub("--help")
    assert result.returncode == 0 and "check-config" in result.stdout
    assert time.perf_counter() - started < 5


def test_commands_against_a_hub_that_is_not_running(tmp_path):
    result = hub("devices", "--url", "http://127.0.0.1:9", "--token", "x")
    assert result.returncode == 1
    assert "not reachable" in result.stderr and "Traceback" not in result.stderr
