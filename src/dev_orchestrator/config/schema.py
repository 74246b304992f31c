"""JSON Schema of the file format, generated from the models (for editors).

The models describe values after their "before" validators have normalised them; the
schema must accept what a user may write, so the short forms those validators take
(``depends_on: [db]``, ``environment: [KEY=VALUE]``, ``env_file: .env``, ``build: .``)
are added here.
"""

from __future__ import annotations

from typing import Any

from .models import StackFile

_STRINGS = {"type": "array", "items": {"type": "string"}}
_SCALAR = {"type": ["string", "number", "boolean", "null"]}

# (model, field) -> other forms the field accepts
_SHORT_FORMS: dict[tuple[str, str], list[dict[str, Any]]] = {
    ("Service", "depends_on"): [_STRINGS, {"type": "string"}],
    ("Service", "environment"): [_STRINGS],
    ("DockerSpec", "environment"): [_STRINGS],
    ("BuildSpec", "args"): [_STRINGS],
    ("Service", "env_file"): [{"type": "string"}],
    ("DockerSpec", "env_file"): [{"type": "string"}],
    ("DockerSpec", "build"): [{"type": "string"}],
    ("Service", "settings_from"): [{"type": "string"}],
}
_KEEP = ("title", "description", "default")


def json_schema() -> dict[str, Any]:
    schema = StackFile.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["description"] = (
        "services.yaml and its overlays (config/base.yaml, config/<project>.<env>.yaml) "
        "for dev-orchestrator"
    )
    schema.setdefault("patternProperties", {})["^x-"] = {}
    defs = schema["$defs"]
    for (model, name), forms in _SHORT_FORMS.items():
        prop = defs[model]["properties"][name]
        core = {k: v for k, v in prop.items() if k not in _KEEP}
        options = core["anyOf"] if list(core) == ["anyOf"] else [core]
        defs[model]["properties"][name] = {
            **{k: prop[k] for k in _KEEP if k in prop},
            "anyOf": [*options, *forms],
        }
    # numbers and booleans in environment maps become strings; `db:` alone means defaults
    for model in ("Service", "DockerSpec"):
        defs[model]["properties"]["environment"]["anyOf"][0]["additionalProperties"] = _SCALAR
    defs["Service"]["properties"]["depends_on"]["anyOf"][0]["additionalProperties"] = {
        "anyOf": [{"$ref": "#/$defs/Dependency"}, {"type": "null"}]
    }
    defs["DockerSpec"]["properties"]["ports"]["items"] = {"type": ["string", "integer"]}
    return schema
