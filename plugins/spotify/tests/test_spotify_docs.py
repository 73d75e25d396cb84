"""docs/plugins/spotify.md, section 7, run as a new user would: the fake Spotify, `hub run`
with the documented configuration, `hub spotify link`, opening the URL, and the commands
after it. Only the ports change (free ones instead of 8799 and 8765) and the browser is an
HTTP client; everything else is read from the page itself.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import sys
from pathlib import Path

import aiohttp
from aiohttp.test_utils import unused_port

DOC = Path(__file__).resolve().parents[3] / "docs" / "plugins" / "spotify.md"
SECTION = "## 7. Trying it without a Spotify account"
BIN = Path(sys.executable).parent
FAKE_PORT, HUB_PORT = "8799", "8765"


def section() -> str:
    text = DOC.read_text()
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    return text[start:end if end > 0 else None]


def commands(text: str) -> list[str]:
    """The shell lines of the section's indented blocks, comments removed."""
    found = []
    fenced = False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and line.startswith("    ") and line.strip():
            found.append(line.split(" #", 1)[0].strip())
    return found


def yaml_block(text: str) -> str:
    return re.search(r"```yaml\n(.*?)```", text, re.S).group(1)


async def run(argv: list[str], env: dict[str, str], cwd: Path) -> str:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
        cwd=cwd)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, (argv, out.decode(), err.decode())
    return out.decode()


async def start(argv: list[str], env: dict[str, str], cwd: Path,
                ready: str) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=env,
        cwd=cwd)
    seen = []
    while True:
        line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
        seen.append(line)
        assert line, f"{argv} ended before it was ready: {''.join(seen)}"
        if ready in line:
            return proc


async def test_trying_it_without_a_spotify_account_works_as_written(tmp_path):
    text = section()
    fake_port, hub_port = str(unused_port()), str(unused_port())
    config = yaml_block(text).replace(FAKE_PORT, fake_port)
    lines = commands(text)
    env = dict(os.environ)
    processes: list[asyncio.subprocess.Process] = []
    url = f"http://127.0.0.1:{hub_port}"
    outputs: dict[str, str] = {}
    try:
        for line in lines:
            argv = shlex.split(line)
            if argv[0] == "export":
                for assignment in argv[1:]:
                    key, _, value = assignment.partition("=")
                    env[key] = value.replace("$PWD/.venv/bin", str(BIN)).replace(
                        "$PATH", os.environ.get("PATH", ""))
                (tmp_path / env["HUB_CONFIG"]).write_text(config)  # "Save this as ..."
                continue
            if argv[0] == "python":
                processes.append(await start(
                    [sys.executable, *argv[1:], "--port", fake_port], env, tmp_path,
                    "listening"))
                continue
            if argv[0] == "TOKEN=$(cat":
                env["TOKEN"] = (tmp_path / argv[1].rstrip(")")).read_text().strip()
                continue
            if argv[0] == "curl":  # with Python, so the test needs no curl
                target = argv[-1].replace(HUB_PORT, hub_port)
                header = argv[argv.index("-H") + 1].replace("$TOKEN", env["TOKEN"])
                name, _, value = header.partition(": ")
                async with aiohttp.ClientSession() as client, client.get(
                        target, headers={name: value}) as resp:
                    assert resp.status == 200, await resp.text()
                    outputs[line] = await resp.text()
                continue
            assert argv[0] == "hub", line
            hub = [str(BIN / "hub"), *argv[1:]]
            if argv[1] == "run":
                processes.append(await start([*hub, "--port", hub_port], env, tmp_path,
                                             "listening on"))
                continue
            outputs[line] = await run([*hub, "--url", url], env, tmp_path)
            if argv[1:3] == ["spotify", "link"]:
                # "Open the URL in a browser on this machine"
                link = next(x for x in outputs[line].split() if x.startswith("http"))
                async with aiohttp.ClientSession() as browser, browser.get(link) as resp:
                    page = await resp.text()
                assert resp.status == 200 and "Spotify account linked" in page, page
                assert "Demo User" in page and "spotify.demo" in page
    finally:
        for proc in reversed(processes):
            proc.terminate()
            await asyncio.wait_for(proc.wait(), 30)
    played = json.loads(outputs["hub act spotify.demo play"])
    state = played["state"]
    assert state["state"] == "playing" and state["attributes"]["source"] == "Living Room"
    assert state["attributes"]["media_position"] >= 72  # resumed where it was paused
    moved = json.loads(outputs["hub act spotify.demo select_source source=Laptop"])
    assert moved["state"]["attributes"]["source"] == "Laptop"
    assert "spotify.demo" in outputs["hub devices"]
    browsed, searched = (json.loads(v) for k, v in outputs.items() if k.startswith("curl"))
    focus = browsed["children"][0]
    assert focus["title"] == "Focus" and focus["can_play"] and focus["can_expand"]
    assert searched["results"] and searched["errors"] == []
    [play_focus] = [k for k in outputs if "play_media" in k]
    assert focus["id"] in play_focus  # the id the page names is the one browsing gives
    state = json.loads(outputs[play_focus])["state"]
    assert state["state"] == "playing" and state["attributes"]["media_content_id"]
