"""Turning service names (from the command line or a control request) into a checked selection.

One place, so that a name unknown to a running supervisor gets the same exit-2 message,
with did-you-mean or the list of services, as without one.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

from ..errors import UsageError


def select(stack: Any, names: Iterable[str]) -> list[str]:
    """The named services (all active, enabled ones when none), each checked to exist.

    A service left out by its profiles is active when named (the loader saw the name);
    one that is still missing is reported with its profiles, not as unknown.
    """
    names = list(dict.fromkeys(names))
    known = list(stack.graph.deps)
    if not names:
        return known
    activation = getattr(stack.config, "activation", None)
    for name in names:
        if name not in stack.graph:
            if activation is not None and name in activation.inactive:
                raise UsageError(
                    f'service "{name}" is {activation.describe(name)}',
                    hint=f"activate it with --profile {activation.inactive[name][0]} (or name it on the command line)",
                )
            spec = stack.config.spec.services.get(name)
            if spec is not None and not spec.enabled:
                raise UsageError(f'service "{name}" is disabled (enabled: false) in env {stack.config.env}')
            close = difflib.get_close_matches(name, known, n=1)
            hint = f'did you mean "{close[0]}"?' if close else f"services: {', '.join(sorted(known))}"
            raise UsageError(f'unknown service "{name}"', hint=hint)
    return names
