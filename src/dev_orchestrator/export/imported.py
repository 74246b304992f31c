"""A services.yaml produced by an importer: its text, what was left out, and its validation.

Importers never drop anything silently: whatever they cannot carry over is a note that
the CLI prints on stderr. The written file must load with the ordinary loader.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config.loader import SERVICES_FILE, load
from ..errors import ConfigError, Diagnostic
from .render import dump
from .view import Notes


@dataclass
class Imported:
    """The services.yaml document an importer built from ``source``."""

    document: dict[str, Any]
    source: str
    notes: Notes = field(default_factory=Notes)

    def text(self) -> str:
        header = f"# Imported from {self.source} by dev-orchestrator import.\n"
        return header + dump(self.document)

    def validate(self, variables: Mapping[str, str] | None = None) -> None:
        """Load the document like any services.yaml; raise ConfigError if it does not validate."""
        environ = {k: v for k, v in (os.environ if variables is None else variables).items() if k != "DEV_ORCHESTRATOR_ENV"}
        with tempfile.TemporaryDirectory(prefix="dev-orchestrator-import-") as folder:
            path = Path(folder) / SERVICES_FILE
            path.write_text(self.text(), encoding="utf-8")
            try:
                load(path, cwd=Path(folder), environ=environ)
            except ConfigError as exc:
                raise ConfigError(
                    [Diagnostic(f"the imported services.yaml would not validate: {d.message}", d.path)
                     for d in exc.diagnostics]
                ) from exc
