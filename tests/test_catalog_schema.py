"""The JSON Schema in /actions/catalog tells the truth: every action of every installed plugin
has a schema valid against the JSON Schema meta-schema, and for the standard vocabulary what
the schema accepts is what the pipeline accepts."""

from __future__ import annotations

import inspect
from importlib import metadata

import jsonschema
import pytest
import voluptuous as vol

from hub.catalog import parameters_schema
from hub.vocabulary import STANDARD_ACTIONS


def _plugin_actions():
    for ep in sorted(metadata.entry_points(group="hub.plugins"), key=lambda e: e.name):
        obj = ep.load()
        obj = obj() if inspect.isclass(obj) else obj
        for name, spec in sorted(obj.describe().actions.items()):
            yield pytest.param(spec, id=f"{ep.name}.{name}")


@pytest.mark.parametrize("spec", list(_plugin_actions()))
def test_every_catalog_schema_is_valid_json_schema(spec):
    schema = parameters_schema(spec)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["type"] == "object"


def _accepts_json(schema, value) -> bool:
    return jsonschema.Draft202012Validator(schema).is_valid(value)


def _accepts_hub(spec, value) -> bool:
    try:
        spec.schema(value)
    except vol.Invalid:
        return False
    return True


SAMPLES = {
    "volume_set": [{"volume": 50}, {"volume": 50.0}, {"volume": True}, {"volume": "50"},
                   {"volume": 50.5}, {"volume": 101}, {}, {"volume": 5, "x": 1}],
    "volume_step": [{"step": -5}, {"step": "5"}, {"step": False}, {"step": 2.5}],
    "seek": [{"position": 12}, {"position": 1.5}, {"position": "12"}, {"position": True},
             {"position": -1}],
    "join": [{"leader": "demo.player_1"}, {"group_members": ["demo.player_2"]},
             {"group_members": []}, {"leader": "a", "group_members": ["b"]}, {},
             {"group_members": "demo.player_2"}, {"leader": ""}],
    "mute": [{"muted": True}, {"muted": 1}, {"muted": "true"}],
    "repeat_set": [{"repeat": "all"}, {"repeat": "sometimes"}],
    "play": [{}, {"x": 1}],
}


@pytest.mark.parametrize("action", sorted(SAMPLES))
def test_the_catalog_accepts_what_the_pipeline_accepts(action):
    spec = STANDARD_ACTIONS[action]
    schema = parameters_schema(spec)
    for sample in SAMPLES[action]:
        assert _accepts_json(schema, sample) == _accepts_hub(spec, sample), (action, sample)


def test_join_says_exactly_one_of_its_two_keys():
    schema = parameters_schema(STANDARD_ACTIONS["join"])
    members = schema["properties"]["group_members"]
    assert members["type"] == "array" and members["minItems"] == 1
    assert "minLength" not in members
    assert schema["oneOf"] == [{"required": ["group_members"]}, {"required": ["leader"]}]
