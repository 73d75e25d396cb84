"""`hub check-config` against the plugins' catalogs (errors with file and line), run-time
warnings for what only a running hub knows, and Home Assistant's !include family with an
`automations/` folder merged in order."""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path

import pytest
import yaml

from hub.automations.check import KEY_ALIASES, Catalog, check_automations
from hub.cli import main
from hub.config import load_config
from hub.errors import ConfigError

HEADER = """\
hub:
  time_zone: UTC
plugins:
  demo: {players: 2}
automations:
"""

# Each automation is broken in one way check-config must see; `# <-` marks the wrong line.
BROKEN = """\
  - id: unknown_plugin
    triggers: [{trigger: hub_start}]
    actions:
      - action: pause
        entity_id: kodi.living_room            # <- no plugin kodi
  - id: not_configured
    triggers: [{trigger: hub_start}]
    actions:
      - action: pause
        target: {entity_id: "sonos.*"}        # <- installed, not configured
  - id: unknown_action
    triggers: [{trigger: hub_start}]
    actions:
      - action: fly                           # <- demo offers no fly
        device: "demo.*"
  - id: bad_param
    triggers: [{trigger: hub_start}]
    actions:
      - action: volume_set
        device: demo.player_1
        params:
          volume: "loud"                      # <- not an integer
  - id: bad_ha_data
    triggers: [{trigger: hub_start}]
    actions:
      - action: media_player.volume_set
        entity_id: demo.player_1
        data:
          volume_level: 2                     # <- 0 to 1
  - id: unknown_event
    triggers:
      - trigger: event
        event_type: door_bell                 # <- nothing fires door_bell
    actions: [{action: pause, device: demo.player_1}]
  - id: bad_trigger_device
    triggers:
      - trigger: state
        entity_id: player_1                   # <- not <plugin>.<id>
    actions: [{action: pause, device: demo.player_1}]
"""

GOOD = """\
  - id: fine
    triggers:
      - trigger: event
        event_type: doorbell
    actions:
      - action: volume_set
        device: "demo.*"
        params: {volume: "{{ 10 * 2 }}"}
      - action: play
        device: "name:Kitchen"
      - action: media_player.volume_set
        entity_id: demo.player_2
        data: {volume_level: "{{ 0.5 }}"}
  - id: bell
    triggers: [{trigger: webhook, webhook_id: Zq8wK3vN1xR5tY7uP0oI2eA4sD6fG9hJ}]
    actions: [{event: doorbell}]
"""


def lines_marked(text: str, first_line: int) -> list[int]:
    return [first_line + i for i, line in enumerate(text.splitlines()) if "# <-" in line]


def check_config(path: Path, capsys) -> tuple[int, str, str]:
    code = main(["check-config", "-c", str(path)])
    out, err = capsys.readouterr()
    return code, out, err


def test_check_config_names_each_wrong_line(tmp_path, capsys):
    path = tmp_path / "hub.yaml"
    path.write_text(HEADER + BROKEN + GOOD)
    code, out, err = check_config(path, capsys)
    assert code == 1, out + err
    reported = sorted(int(line.split(":")[1]) for line in err.splitlines() if "error" in line)
    assert reported == lines_marked(BROKEN, HEADER.count("\n") + 1), err
    assert "no plugin 'kodi' is installed" in err
    assert "the sonos plugin is installed but not configured" in err
    assert "the demo plugin offers no action 'fly'" in err
    assert "automations[3].actions[0].params.volume" in err
    assert "unknown event type 'door_bell'" in err
    assert "'player_1' is not a device id" in err
    assert "fine" not in err and "bell" not in err.replace("door_bell", "")


def test_a_valid_config_passes(tmp_path, capsys):
    path = tmp_path / "hub.yaml"
    path.write_text(HEADER + GOOD)
    code, out, err = check_config(path, capsys)
    assert code == 0, err
    assert "2 automations" in out and "device ids not checked" in out


def test_check_automations_is_precise_about_templates():
    from hub.automations import AUTOMATIONS_SCHEMA
    from hub.plugin import standard_actions

    catalog = Catalog(status={"demo": "loaded"}, actions={"demo": standard_actions()})
    automations = AUTOMATIONS_SCHEMA([{
        "id": "a", "triggers": [{"trigger": "hub_start"}],
        "actions": [{"action": "play_media", "device": "demo.player_1",
                     "params": {"media_id": "{{ x }}", "enqueue": "sometimes"}}]}])
    [problem] = check_automations(automations, catalog)
    assert problem.path == (0, "actions", 0, "params", "enqueue")  # media_id is a template


async def test_a_running_hub_warns_about_devices_it_does_not_know(kit, tmp_path, capsys):
    harness = await kit.hub([
        {"id": "ghost", "triggers": [{"trigger": "state", "entity_id": "demo.player_9"}],
         "actions": [{"action": "seek", "device": ["demo.player_1", "name:Attic"],
                      "params": {"position": 10}}]}])
    problems = kit.auto(harness, "ghost").status()["problems"]
    assert {(p["severity"], p["message"]) for p in problems} == {
        ("warning", "demo.player_9 is not a known device (not discovered yet?)"),
        ("warning", "no device is named 'Attic' (yet)")}
    assert kit.auto(harness, "ghost").enabled  # warnings never stop an automation

    # `hub check-config` asks the running hub for its devices
    config = tmp_path / "running.yaml"
    config.write_text(yaml.safe_dump({
        "hub": {"port": harness.hub.config.port, "data_dir": str(harness.hub.data_dir)},
        "plugins": {"demo": {"players": 3}},
        "automations": harness.hub.config.automations}))
    code = await asyncio.to_thread(main, ["check-config", "-c", str(config)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "warning: automations[0].triggers[0].device: demo.player_9 is not a known" in err
    assert f"{config}:" in err and "checked against the 3 devices of the running hub" in out


# -- !include and the automations/ folder ---------------------------------------------------


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def test_include_and_an_automations_folder_merged_in_order(tmp_path):
    write(tmp_path / "hub.yaml", """\
        plugins: {demo: {}}
        automations: !include_dir_merge_list more
        """)
    write(tmp_path / "more" / "b.yaml", """\
        - id: second
          triggers: [{trigger: hub_start}]
          actions: !include ../actions/pause.yaml
        """)
    write(tmp_path / "more" / "a.yaml", """\
        - id: first
          triggers: [{trigger: hub_start}]
          actions: [{delay: 1}]
        """)
    write(tmp_path / "actions" / "pause.yaml", "- {action: pause, device: demo.x}\n")
    write(tmp_path / "automations" / "20_late.yaml", """\
        id: fourth
        triggers: [{trigger: hub_start}]
        actions: [{delay: 4}]
        """)
    write(tmp_path / "automations" / "10_early.yaml", """\
        - id: third
          triggers: [{trigger: hub_start}]
          actions: [{delay: 3}]
        """)
    cfg = load_config(tmp_path / "hub.yaml", env={})
    assert [a["id"] for a in cfg.automations] == ["first", "second", "third", "fourth"]
    assert cfg.automations[1]["actions"] == [{"action": "pause", "device": ["demo.x"],
                                              "params": {}}]
    where = cfg.locate(["automations", 1, "actions", 0, "device"], KEY_ALIASES)
    assert where == f"{(tmp_path / 'actions' / 'pause.yaml').resolve()}:1"
    where = cfg.locate(["automations", 3, "actions"], KEY_ALIASES)
    assert where == f"{(tmp_path / 'automations' / '20_late.yaml').resolve()}:3"


def test_errors_in_included_files_name_that_file_and_line(tmp_path):
    write(tmp_path / "hub.yaml", "automations: !include automations.yaml\n")
    write(tmp_path / "automations.yaml", """\
        - id: ok
          triggers: [{trigger: hub_start}]
          actions: [{delay: 1}]
        - id: broken
          triggers:
            - trigger: time
              at: "25:00"
          actions: [{delay: 1}]
        """)
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path / "hub.yaml", env={})
    assert f"{(tmp_path / 'automations.yaml').resolve()}:7" in str(err.value)
    assert "automations[1].triggers[0].at" in str(err.value)


@pytest.mark.parametrize(("main_text", "files", "message"), [
    ("automations: !include self.yaml\n", {"self.yaml": "!include self.yaml\n"},
     "includes itself"),
    ("automations: !include missing.yaml\n", {}, "no such file"),
    ("automations: !include_dir_merge_list dir\n", {"dir/x.yaml": "id: not_a_list\n"},
     "expects a list"),
    ("automations: !include bad.yaml\n", {"bad.yaml": "- id: [unclosed\n"}, "invalid YAML"),
])
def test_broken_includes(tmp_path, main_text, files, message):
    write(tmp_path / "hub.yaml", main_text)
    for name, text in files.items():
        write(tmp_path / name, text)
    with pytest.raises(ConfigError, match=message):
        load_config(tmp_path / "hub.yaml", env={})
