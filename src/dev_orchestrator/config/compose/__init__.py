"""Docker Compose files read as stacks: the key vocabulary, the value readers, the translation.

It lives in config so that the loader can run a compose file as it is (``up -f
compose.yaml``) through the same translation as ``import compose``.
"""

from __future__ import annotations

from pathlib import Path

from ..locate import COMPOSE_FILES
from ..source import Source
from .files import OVERRIDE_FILES, compose_source, is_compose_file
from .reader import Translation, translate, translated_positions

__all__ = ["COMPOSE_FILES", "OVERRIDE_FILES", "Translation", "compose_source", "is_compose_file",
           "read_compose_file", "translate"]


def read_compose_file(file: Path, display: str, *, with_override: bool) -> tuple[Source, tuple[str, ...]]:
    """A compose file as the loader's base source, and the notes of what it does not carry.

    Positions are keyed by the translated paths, so that an error in the translated stack
    still names the compose file's line.
    """
    source = compose_source(file, display, with_override=with_override)
    translation = translate(source)
    values, keys = translated_positions(source.values), translated_positions(source.keys)
    return Source(display, translation.document, values, keys), tuple(translation.notes)
