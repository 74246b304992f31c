"""A services.yaml from a Docker Compose file (``import compose``).

The translation itself lives in ``config.compose``, shared with the loader that runs a
compose file as it is; this module wraps its result as an ``Imported`` file to write.
"""

from __future__ import annotations

from pathlib import Path

from ..config.compose import compose_source, translate
from ..config.compose.files import resolve_extends
from ..config.source import Source, parse_text
from .imported import Imported


def _imported(source: Source, name: str) -> Imported:
    translation = translate(source)
    result = Imported(translation.document, name)
    for note in translation.notes:
        result.notes.add(note)
    return result


def import_compose_text(text: str, file: str = "compose.yaml") -> Imported:
    """Build a services.yaml document from compose text; ConfigError lists every bad key."""
    source = parse_text(text, file)
    return _imported(resolve_extends(source, Path.cwd()), Path(file).name)


def import_compose(path: Path) -> Imported:
    """Build a services.yaml document from a compose file, with its ``include`` and ``extends``."""
    return _imported(compose_source(path, str(path), with_override=False), path.name)
