"""Strict schema validation of exported manifests with kubernetes-validate (offline schemas).

An optional dependency: only ``export kubernetes --validate`` and the tests need it.
"""

from __future__ import annotations

from typing import Any

from ..errors import UsageError


def validate(objects: list[dict[str, Any]], versions: list[str]) -> list[str]:
    """Strict schema validation with kubernetes-validate; returns the problems found."""
    try:
        import kubernetes_validate
    except ImportError as exc:
        raise UsageError(
            "validation needs the kubernetes-validate package", hint="pip install kubernetes-validate"
        ) from exc
    problems: list[str] = []
    for version in versions:
        for obj in objects:
            where = f"{obj['kind']}/{obj['metadata']['name']} (Kubernetes {version})"
            try:
                kubernetes_validate.validate(obj, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                path = ".".join(str(p) for p in exc.path)
                problems.append(f"{where}: {path}: {exc.message}")
            except kubernetes_validate.utils.SchemaNotFoundError as exc:
                problems.append(f"{where}: {exc.message}")
            except kubernetes_validate.utils.VersionNotSupportedError as exc:
                problems.append(exc.message)
                break
    return problems
