"""`hub run` as a user starts it, driven by the CLI over REST."""

from __future__ import annotations

import json
import os
import signal
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


async def test_sighup_reloads_policy_and_automations_without_restart(hub_process):
    import asyncio

    import aiohttp

    hp = hub_process(players=1)
    await hp.start()
    headers = {"Authorization": f"Bearer {hp.owner_token}"}
    config = hp.config.read_text()
    hp.config.write_text(config + (
        "automations:\n"
        "  - id: evening\n"
        "    triggers: [{trigger: time, at: '21:00'}]\n"
        "    actions: [{device: demo.player_1, action: pause}]\n"))
    hp.proc.send_signal(signal.SIGHUP)
    async with aiohttp.ClientSession(headers=headers) as session:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + DEADLINE
        ids: list[str] = []
        while not ids and loop.time() < deadline:
            async with session.get(hp.url + "/automations") as resp:
                ids = [a["id"] for a in (await resp.json())["automations"]]
            await asyncio.sleep(0.05)  # polling a real process: bounded by DEADLINE
        assert ids == ["evening"]
        # An invalid file is refused and the running configuration is kept.
        hp.config.write_text(config + "automations: [{id: broken}]\n")
        hp.proc.send_signal(signal.SIGHUP)
        async with session.get(hp.url + "/health") as resp:
            assert resp.status == 200
        async with session.get(hp.url + "/automations") as resp:
            assert [a["id"] for a in (await resp.json())["automations"]] == ["evening"]
    out = hp.stop()
    assert hp.proc.returncode == 0
    assert "reload failed, keeping the running configuration" in out
