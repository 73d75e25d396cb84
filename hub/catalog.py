"""The JSON Schema of each action's parameters, as `GET /actions/catalog` hands it to agents.

voluptuous_openapi converts the voluptuous schema (as OpenAPI 3.1, i.e. JSON Schema 2020-12);
this module makes the result tell the truth about what the pipeline accepts:

* validators that carry a `__json_schema__` (hub.plugin.Integer, Number, the join rule "one
  of group_members or leader") are rendered by it;
* `vol.Coerce(int)`, `vol.Coerce(float)` and bare `int` accept more than their JSON type
  (numeric strings, `true`, 50.5): the schema lists what they accept;
* `vol.Length` on an array becomes `minItems`/`maxItems` (the converter says `minLength`);
* objects refuse unknown keys (`additionalProperties: false`) unless the schema allows extra.

tests/test_catalog_schema.py checks every action of every installed plugin against the JSON
Schema meta-schema.
"""

from __future__ import annotations

import functools
from typing import Any

import voluptuous as vol
import voluptuous_openapi

from hub.model import ActionSpec

_LOOSE_INT = {"type": ["integer", "number", "string", "boolean"],
              "description": "converted with int(): numbers are truncated, numeric strings "
                             "and booleans accepted"}
_LOOSE_FLOAT = {"type": ["number", "string", "boolean"],
                "description": "converted with float(): numeric strings and booleans accepted"}


def _serializer(schema: Any) -> Any:
    declared = getattr(schema, "__json_schema__", None)
    if isinstance(declared, dict):
        return dict(declared)
    if isinstance(schema, vol.Coerce):
        if schema.type is int:
            return dict(_LOOSE_INT)
        if schema.type is float:
            return dict(_LOOSE_FLOAT)
    if schema is int:
        return {"type": ["integer", "boolean"]}  # isinstance(True, int) holds
    return voluptuous_openapi.UNSUPPORTED


def _truthful(node: Any, closed: bool) -> Any:
    if isinstance(node, list | tuple):
        return [_truthful(item, closed) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _truthful(value, closed) for key, value in node.items()}
    types = out.get("type")
    if types == "array" or (isinstance(types, list) and "array" in types):
        for old, new in (("minLength", "minItems"), ("maxLength", "maxItems")):
            if old in out:
                out[new] = out.pop(old)
    if closed and out.get("type") == "object" and "properties" in out \
            and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


@functools.lru_cache(maxsize=1024)
def parameters_schema(spec: ActionSpec) -> dict[str, Any]:
    """The JSON Schema of `spec`'s params object (cached per spec)."""
    try:
        converted = voluptuous_openapi.convert(
            spec.schema, custom_serializer=_serializer,
            openapi_version=voluptuous_openapi.OpenApiVersion.V3_1)
    except Exception:  # a custom validator the converter does not know: say only "object"
        return {"type": "object"}
    closed = getattr(spec.schema, "extra", vol.PREVENT_EXTRA) == vol.PREVENT_EXTRA
    schema = _truthful(converted, closed)
    if schema.get("type") != "object":
        schema = {"type": "object", **schema}
    return schema
