"""`${VAR}` substitution with Docker Compose's meaning. Substitution only: no shell, no code.

Supported: ``$$`` (a literal ``$``), ``$VAR``, ``${VAR}``, ``${VAR:-default}`` (unset or
empty), ``${VAR-default}`` (unset), ``${VAR:?message}`` / ``${VAR?message}`` (error),
``${VAR:+alt}`` / ``${VAR+alt}`` (alternative), with nested expressions in the words.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPERATORS = (":-", ":?", ":+", "-", "?", "+")


class InterpolationError(ValueError):
    """A `${...}` expression is malformed or required variables are missing.

    ``messages`` holds every problem of one value (``${A:?}@${B:?}`` reports both).
    """

    def __init__(self, message: str, messages: list[str] | None = None) -> None:
        super().__init__(message)
        self.messages = messages or [message]


class Interpolator:
    """Expands expressions against ``env``; unset plain variables go to ``on_missing``.

    ``on_missing(name)`` returns the replacement (normally ``""`` after a warning) or
    raises InterpolationError (strict mode).
    """

    def __init__(self, env: Mapping[str, str], on_missing: Callable[[str], str]) -> None:
        self.env = env
        self.on_missing = on_missing
        self._read: set[str] = set()
        self._problems: list[str] = []

    def expand(self, text: str) -> str:
        out, _ = self.expand_tracked(text)
        return out

    def expand_tracked(self, text: str) -> tuple[str, frozenset[str]]:
        """The expansion and the names of the variables it read.

        Only the branches taken count: ``${A:-${B}}`` reads B only when A is unset or
        empty. A variable that decides a branch (``${A:+x}``) counts as read. The names
        tell whether a value carries a secret.
        """
        self._read = set()
        self._problems = []
        out, _ = self._expand(text, 0, stop_at_brace=False, active=True)
        if self._problems:
            # Every missing variable of the value at once, not only the first.
            problems = list(dict.fromkeys(self._problems))
            raise InterpolationError("; ".join(problems), problems)
        return out, frozenset(self._read)

    def _expand(
        self, text: str, pos: int, *, stop_at_brace: bool, active: bool
    ) -> tuple[str, int]:
        """Expand from ``pos``; ``active=False`` only checks syntax (a branch not taken)."""
        parts: list[str] = []
        i = pos
        n = len(text)
        while i < n:
            ch = text[i]
            if ch == "}" and stop_at_brace:
                return "".join(parts), i
            if ch != "$":
                j = i
                while j < n and text[j] != "$" and not (stop_at_brace and text[j] == "}"):
                    j += 1
                parts.append(text[i:j])
                i = j
                continue
            nxt = text[i + 1] if i + 1 < n else ""
            if nxt == "$":
                parts.append("$")
                i += 2
            elif nxt == "{":
                value, i = self._braced(text, i + 2, active=active)
                parts.append(value)
            elif match := _NAME.match(text, i + 1):
                parts.append(self._plain(match.group()) if active else "")
                i = match.end()
            else:
                raise InterpolationError(
                    f'invalid interpolation in "{text}": a lone "$" (write "$$" for a literal $)'
                )
        if stop_at_brace:
            raise InterpolationError(f'invalid interpolation in "{text}": missing closing "}}"')
        return "".join(parts), i

    def _braced(self, text: str, pos: int, *, active: bool) -> tuple[str, int]:
        match = _NAME.match(text, pos)
        if not match:
            raise InterpolationError(
                f'invalid interpolation in "{text}": expected a variable name after "${{"'
            )
        name = match.group()
        i = match.end()
        if i < len(text) and text[i] == "}":
            return (self._plain(name) if active else ""), i + 1
        if i >= len(text):
            raise InterpolationError(f'invalid interpolation in "{text}": missing closing "}}"')
        op = next((o for o in _OPERATORS if text.startswith(o, i)), None)
        if op is None:
            raise InterpolationError(
                f'invalid interpolation in "{text}": unexpected "{text[i]}" after '
                f'"${{{name}" (use ${{{name}}}, ${{{name}:-default}} or ${{{name}:?message}})'
            )
        value = self.env.get(name)
        if active:
            self._read.add(name)
        empty_counts = op.startswith(":")
        is_set = value is not None and (value != "" or not empty_counts)
        base = op.lstrip(":")
        # The word is always parsed, so a malformed branch is reported even when unused, but
        # it is evaluated only when taken: `${A:-${B}}` must not ask for B when A is set.
        used = active and (is_set if base == "+" else not is_set)
        word, end = self._expand(text, i + len(op), stop_at_brace=True, active=used)
        if not active:
            return "", end + 1
        if base == "-":
            result = value if is_set else word
        elif base == "+":
            result = word if is_set else ""
        else:  # "?"
            if not is_set:
                state = "unset or empty" if empty_counts else "unset"
                self._problems.append(
                    f"required variable {name} is {state}: {word or 'set it in the environment or .env'}"
                )
                return "", end + 1
            result = value
        return result or "", end + 1

    def _plain(self, name: str) -> str:
        self._read.add(name)
        value = self.env.get(name)
        if value is None:
            try:
                return self.on_missing(name)
            except InterpolationError as exc:
                self._problems.append(str(exc))
                return ""
        return value


_REFERENCE = re.compile(r"\$(?:\$|\{?([A-Za-z_][A-Za-z0-9_]*))")


def referenced_names(text: str) -> list[str]:
    """Every variable ``text`` names (taken branch or not), in order, once; ``$$`` is no reference."""
    out: list[str] = []
    for match in _REFERENCE.finditer(text):
        name = match.group(1)
        if name and name not in out:
            out.append(name)
    return out


def walk_strings(
    data: Any, fn: Callable[[str, tuple[str | int, ...]], str], path: tuple[str | int, ...] = ()
) -> Any:
    """Return a copy of ``data`` with ``fn(value, path)`` applied to every string value."""
    if isinstance(data, dict):
        return {k: walk_strings(v, fn, (*path, k)) for k, v in data.items()}
    if isinstance(data, list):
        return [walk_strings(v, fn, (*path, i)) for i, v in enumerate(data)]
    if isinstance(data, str):
        return fn(data, path)
    return data


def unset_names(data: Any, env: Mapping[str, str]) -> list[str]:
    """The variables that expanding every string of ``data`` against ``env`` would miss.

    Compose's rules: ``${A:-default}`` needs no A, ``${A}`` and ``${A:?msg}`` do. What a
    tool that fills ``${...}`` itself (``docker stack deploy``) must be given.
    """
    missing: list[str] = []

    def on_missing(name: str) -> str:
        if name not in missing:
            missing.append(name)
        return ""

    interpolator = Interpolator(env, on_missing)

    def check(text: str, _path: tuple[str | int, ...]) -> str:
        try:
            interpolator.expand(text)
        except InterpolationError:
            for name in referenced_names(text):
                if name not in env and name not in missing:
                    missing.append(name)
        return text

    walk_strings(data, check)
    return missing
