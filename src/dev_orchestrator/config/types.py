"""Small value types of the config format: durations, restart policies, signals, ports."""

from __future__ import annotations

import re
import signal
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)")
_UNIT_SECONDS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(value: Any) -> float:
    """``500ms``, ``2s``, ``1m30s``, ``1.5`` (seconds) -> seconds as float."""
    if isinstance(value, bool):
        raise ValueError(f'invalid duration "{value}" (use 500ms, 2s, 1m)')
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError(f'invalid duration "{value}": must not be negative')
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        try:
            seconds = float(text)
        except ValueError:
            pass
        else:
            if seconds < 0:
                raise ValueError(f'invalid duration "{value}": must not be negative')
            return seconds
        pos = 0
        total = 0.0
        for match in _DURATION_PART.finditer(text):
            if match.start() != pos:
                break
            total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
            pos = match.end()
        if text and pos == len(text):
            return total
    raise ValueError(f'invalid duration "{value}" (use 500ms, 2s, 1m)')


def format_duration(seconds: float) -> str:
    """Seconds -> the shortest exact duration string (``1m30s``, ``500ms``)."""
    ms = round(seconds * 1000)
    if ms % 1000:
        return f"{ms}ms"
    total = ms // 1000
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    out = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "")
    return out + (f"{secs}s" if secs or not out else "")


# The JSON Schema says what a user may write (not the float it becomes), so editors accept "2s".
_DURATION_SCHEMA = {
    "anyOf": [
        {"type": "number", "minimum": 0},
        {"type": "string", "pattern": r"^\s*(\d+(\.\d+)?|(\d+(\.\d+)?(us|ms|h|m|s))+)\s*$"},
    ],
    "description": "seconds, or a duration such as 500ms, 2s, 1m30s",
}

Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema(_DURATION_SCHEMA, mode="validation"),
]


@dataclass(frozen=True)
class RestartPolicy:
    """A parsed ``restart:`` value."""

    mode: str  # no | on-failure | always | unless-stopped
    max_retries: int | None = None

    def __str__(self) -> str:
        if self.mode == "on-failure" and self.max_retries is not None:
            return f"on-failure:{self.max_retries}"
        return self.mode


def parse_restart(value: Any) -> str:
    """Validate a restart policy string; YAML's bare ``no`` (False) means "no"."""
    if value is False or value is None:
        return "no"
    if isinstance(value, str):
        text = value.strip()
        if text in ("no", "always", "unless-stopped", "on-failure"):
            return text
        match = re.fullmatch(r"on-failure:(\d+)", text)
        if match:
            return text
    raise ValueError(
        f'invalid restart policy "{value}" (use no, on-failure, on-failure:N, always, unless-stopped)'
    )


def restart_policy(text: str) -> RestartPolicy:
    if text.startswith("on-failure:"):
        return RestartPolicy("on-failure", int(text.split(":", 1)[1]))
    return RestartPolicy(text)


RestartText = Annotated[
    str,
    BeforeValidator(parse_restart),
    WithJsonSchema(
        {
            "anyOf": [
                {"enum": ["no", "on-failure", "always", "unless-stopped", False]},
                {"type": "string", "pattern": r"^on-failure:\d+$"},
            ]
        },
        mode="validation",
    ),
]


def parse_signal(value: Any) -> str:
    """``SIGTERM``, ``TERM``, ``15`` -> ``SIGTERM``."""
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return signal.Signals(value).name
        except ValueError:
            pass
    elif isinstance(value, str):
        name = value.strip().upper()
        if not name.startswith("SIG"):
            name = "SIG" + name
        if name in signal.Signals.__members__:
            return name
    raise ValueError(f'unknown signal "{value}" (use SIGTERM, SIGINT, SIGQUIT, SIGHUP, ...)')


SignalName = Annotated[
    str,
    BeforeValidator(parse_signal),
    WithJsonSchema({"type": ["string", "integer"], "examples": ["SIGTERM", "SIGINT"]}, mode="validation"),
]


def parse_port(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError(f'invalid port "{value}"')
    try:
        port = int(value)
    except (TypeError, ValueError):
        raise ValueError(f'invalid port "{value}" (use a number from 1 to 65535)') from None
    if not 1 <= port <= 65535:
        raise ValueError(f"invalid port {port} (use a number from 1 to 65535)")
    return port


Port = Annotated[
    int,
    BeforeValidator(parse_port),
    # a string is allowed for "${PORT:-8000}", which is interpolated before validation
    WithJsonSchema(
        {"anyOf": [{"type": "integer", "minimum": 1, "maximum": 65535}, {"type": "string"}]},
        mode="validation",
    ),
]
