"""Shell completion of service names (click's completion: `_DEV_ORCHESTRATOR_COMPLETE=bash_source`).

Reads the YAML files as they are, without validation, so that completion stays quick
and works while a file is being edited.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from click.shell_completion import CompletionItem


def service_names(ctx: Any, param: Any, incomplete: str) -> list[CompletionItem]:
    import yaml

    from ..config.locate import services_file

    try:
        file = services_file(ctx.params.get("file"))
    except Exception:
        return []
    names: set[str] = set()
    for path in (file, *sorted((file.parent / "config").glob("*.yaml"))):
        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError):
            continue
        services = data.get("services") if isinstance(data, dict) else None
        if isinstance(services, dict):
            names.update(str(n) for n in services)
    return [CompletionItem(n) for n in sorted(names) if n.startswith(incomplete)]
