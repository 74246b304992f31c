"""Turning service names given on the command line into a checked selection."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

from ..errors import UsageError


def select(stack: Any, names: Iterable[str]) -> list[str]:
    """The named services (all enabled ones when none), each checked to exist."""
    names = list(dict.fromkeys(names))
    known = list(stack.graph.deps)
    if not names:
        return known
    for name in names:
        if name not in stack.graph:
            spec = stack.config.spec.services.get(name)
            if spec is not None and not spec.enabled:
                raise UsageError(f'service "{name}" is disabled (enabled: false) in env {stack.config.env}')
            close = difflib.get_close_matches(name, known, n=1)
            hint = f'did you mean "{close[0]}"?' if close else f"services: {', '.join(sorted(known))}"
            raise UsageError(f'unknown service "{name}"', hint=hint)
    return names
