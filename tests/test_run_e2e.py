"""`hub run` as a user starts it, driven by the CLI over REST."""

from __future__ import annotations

import json
import os
import subprocess
import sys

DEADLINE = 30.0


def hub(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hub", *args], capture_output=True, text=True,
                          timeout=DEADLINE, env={**os.environ, "HUB_PLUGINS": "demo"})


async def test_run_prints_owner_token_path_and_cli_drives_it(hub_process):
    hp = hub_process(players=2)
    config, data, port = hp.config, hp.data, hp.port
    await hp.start()
    try:
        assert oct((data / "owner.token").stat().st_mode & 0o777) == "0o600"
        c = ["-c", str(config)]
        result = hub("plugins", *c)
        assert result.returncode == 0, result.stderr
        assert "demo" in result.stdout and "loaded" in result.stdout
        result = hub("devices", *c)
        assert "demo.player_1" in result.stdout and "demo.player_2" in result.stdout
        result = hub("act", "demo.player_1", "volume_set", "volume=20", *c)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["state"]["attributes"]["volume"] == 20
        result = hub("act", "demo.player_1", "volume_set", "volume=200", *c)
        assert result.returncode == 1
        assert "400 invalid_params" in result.stderr and "Traceback" not in result.stderr
        # With the hub running, token commands go through it: usable at once, and audited.
        result = hub("token", "create", "--name", "dash", "--maturity", "SUPERVISED", *c)
        assert result.returncode == 0, result.stderr
        dash = result.stdout.strip().splitlines()[-1]
        result = hub("act", "demo.player_2", "play", "--token", dash, *c)
        assert result.returncode == 0, result.stderr
        tail = hub("audit", "tail", "-n", "6", *c).stdout
        assert "create_token" in tail and "dash" in tail
        # A second hub on the same data directory is refused.
        second = subprocess.run([sys.executable, "-m", "hub", "run", "-c", str(config),
                                 "--port", str(port + 1)], capture_output=True, text=True,
                                timeout=DEADLINE)
        assert second.returncode == 1 and "in use by a running hub" in second.stderr
    finally:
        out = hp.stop()
    assert hp.proc.returncode == 0
    assert f"listening on http://127.0.0.1:{port}" in out
    assert f"Owner token: {data / 'owner.token'}" in out
