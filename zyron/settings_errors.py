"""Readable messages for invalid settings (no traceback for a wrong variable)."""

from __future__ import annotations

from pydantic import ValidationError


def settings_error(service: str, prefix: str, exc: ValidationError) -> str:
    """``BACKEND_PORT: Input should be a valid integer (got 'abc')``, one line per problem."""
    lines = [f"{service}: invalid settings ({exc.error_count()}):"]
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        name = prefix + "__".join(p.upper() for p in loc) if loc else prefix.rstrip("_")
        lines.append(f"  {name}: {err['msg']} (got {err.get('input')!r})")
    return "\n".join(lines)
