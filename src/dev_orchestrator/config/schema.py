"""JSON Schema of the file format, generated from the models (for editors)."""

from __future__ import annotations

from typing import Any

from .models import StackFile


def json_schema() -> dict[str, Any]:
    schema = StackFile.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["description"] = (
        "services.yaml and its overlays (config/base.yaml, config/<project>.<env>.yaml) "
        "for dev-orchestrator"
    )
    schema.setdefault("patternProperties", {})["^x-"] = {}
    return schema
