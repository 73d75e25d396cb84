"""Templates: Home Assistant's helpers and native types, the sandbox, and the limits that make
a runaway template fail its own run (a clear TemplateError), never the hub."""

from __future__ import annotations

import datetime as dt

import pytest

from hub.automations import template as tpl
from hub.automations.template import RenderContext, TemplateError, render

NOW = dt.datetime(2026, 11, 20, 9, 30, tzinfo=dt.UTC).timestamp()
PLAYER = {"id": "demo.player_1", "entity_id": "demo.player_1", "name": "Living Room",
          "state": "playing", "attributes": {"volume": 30, "source": "Radio"}}
HUB = RenderContext(device=lambda i: PLAYER if i == "demo.player_1" else None,
                    devices=lambda: [PLAYER], time=lambda: NOW, tz=dt.UTC)


def r(source: str, **variables):
    return render(source, variables, HUB)


@pytest.mark.parametrize(("source", "expected"), [
    ("{{ states('demo.player_1') }}", "playing"),
    ("{{ state('demo.player_1') }}", "playing"),
    ("{{ states('demo.nothing') }}", "unknown"),
    ("{{ state_attr('demo.player_1', 'volume') + 5 }}", 35),
    ("{{ is_state('demo.player_1', ['paused', 'playing']) }}", True),
    ("{{ is_state_attr('demo.player_1', 'source', 'Radio') }}", True),
    ("{{ has_value('demo.nothing') }}", False),
    ("{{ states.demo.player_1.attributes.volume }}", 30),
    ("{{ states.demo | map(attribute='name') | list }}", ["Living Room"]),
    ("{{ now().hour }}:{{ now().minute }}", "9:30"),
    ("{{ (today_at('22:00') - now()).total_seconds() }}", 45000.0),
    ("{{ as_timestamp('2026-11-20T09:30:00+00:00') == as_timestamp(now()) }}", True),
    ("{{ '0123' }}", "0123"),  # leading zeros stay a string, as in Home Assistant
    ("{{ '1.5' }}", 1.5),
    ("{{ [1, 'a'] }}", [1, "a"]),
    ("{{ {'a': trigger.id} }}", {"a": "x"}),
    ("{{ 'x' | float(2.5) }}", 2.5),
    ("{{ iif(true, 'yes', 'no') }}", "yes"),
    ("plain text", "plain text"),
    ("{{ trigger.missing.deeper }}", ""),
])
def test_helpers_and_native_types(source, expected):
    assert r(source, trigger={"id": "x"}) == expected


@pytest.mark.parametrize(("source", "message"), [
    ("{{ 'a' * 10**9 }}", "longer than"),
    ("{% set ns = namespace(s='ab') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}"
     "{% endfor %}{{ ns.s }}", "longer than"),
    ("{{ 'a'.ljust(10**9) }}", "width"),
    ("{{ 'a' | center(10**9) }}", "width"),
    ("{{ 'aa' | replace('a', 'a' * 60000) }}", "replace"),
    ("{{ '%0999999d' % 1 }}", "format width"),
    ("{{ 2 ** 100000 }}", "too large"),
    ("{{ range(100000) | list }}", "range is limited"),
    ("{{ [].append(1) }}", "unsafe"),
    ("{{ 1 / 0 }}", "ZeroDivisionError"),
    ("{{ float('x') }}", "no default"),
    ("{{ x", "invalid template"),
])
def test_runaway_or_broken_templates_raise_a_clear_error(source, message):
    with pytest.raises(TemplateError) as err:
        r(source)
    assert message in str(err.value)
    assert "in template" in str(err.value)


def test_private_attributes_are_out_of_reach():
    assert r("{{ trigger.__class__ }}", trigger={}) == ""
    assert r("{{ states.__class__ }}") == ""


def test_a_render_is_stopped_at_the_time_limit(monkeypatch):
    monkeypatch.setattr(tpl, "TIME_LIMIT", 0.05)
    with pytest.raises(TemplateError, match=r"longer than 0\.05 s"):
        r("{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}")
    assert r("{{ 1 + 1 }}") == 2  # the trace hook is gone afterwards


def test_output_size_is_limited(monkeypatch):
    monkeypatch.setattr(tpl, "TIME_LIMIT", 60.0)  # the size must stop it, however slow the CPU
    with pytest.raises(TemplateError, match="output is longer"):
        r("{% for i in range(2000) %}{{ 'x' * 60 }}{% endfor %}")


def test_conditions_hold_only_on_true():
    assert tpl.render_condition("{{ 'TRUE' }}", {}, HUB)
    assert not tpl.render_condition("{{ 1 }}", {}, HUB)
    assert tpl.render_boolean("{{ 1 }}", {}, HUB)  # a template trigger's truthiness


def test_syntax_is_checked_when_the_config_is():
    from voluptuous import Invalid

    from hub.automations import AUTOMATIONS_SCHEMA

    with pytest.raises(Invalid) as err:
        AUTOMATIONS_SCHEMA([{"id": "x", "triggers": [{"trigger": "hub_start"}],
                             "actions": [{"action": "play", "device": "demo.player_1",
                                          "params": {"v": "{{ oops( }}"}}]}])
    assert [e.path for e in err.value.errors] == [[0, "actions", 0, "params"]]
