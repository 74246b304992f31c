"""Pydantic's validation errors turned into located, one-per-place diagnostics.

Pydantic reports a union (``command: list[str] | str``) once per member, under tags
such as ``list[str]`` or ``function-after[...]``, and names internal classes
("instance of HttpCheck"). Users need one message per value, in the file's words,
at the place they wrote it.
"""

from __future__ import annotations

import difflib
import json
import re
import types
from collections.abc import Mapping
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from ..errors import Diagnostic, Location
from . import models
from .source import PathKey, dotted

# Error kinds that only say "this value has the wrong type": for a union, one per member.
_TYPE_NOUNS = {
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "dict_type": "a mapping",
    "list_type": "a list",
    "string_type": "a string",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "none_required": "null",
}
_CHOICE_KINDS = ("literal_error", "enum")
_BOUNDS = {
    "greater_than_equal": ("ge", "at least"),
    "greater_than": ("gt", "greater than"),
    "less_than_equal": ("le", "at most"),
    "less_than": ("lt", "less than"),
}


def pydantic_diagnostics(
    exc: ValidationError,
    data: Any,
    values: Mapping[PathKey, Location],
    keys: Mapping[PathKey, Location],
) -> list[Diagnostic]:
    """One diagnostic per offending place, located at the value (or the key) in its file."""
    grouped: dict[PathKey, list[ErrorDetails]] = {}
    key_errors: set[PathKey] = set()
    for err in exc.errors():
        path = _real_path(err["loc"], data)
        if err["type"] == "missing" and path and path[-1] == err["loc"][-1]:
            path = path[:-1]  # report a missing key at the mapping that lacks it
        if err["loc"] and err["loc"][-1] == "[key]":
            key_errors.add(path)
        grouped.setdefault(path, []).append(err)

    # A type mismatch next to a deeper error is the union member that did not fit:
    # the deeper error (from the member that did) is the one that helps.
    def deeper(path: PathKey) -> bool:
        return any(len(o) > len(path) and o[: len(path)] == path for o in grouped)

    out: list[Diagnostic] = []
    for path, errors in grouped.items():
        specific = [e for e in errors if not _is_type_error(e)]
        if not specific and deeper(path):
            continue
        message = _message(specific[0], path) if specific else _type_message(errors)
        if path in key_errors or (specific and specific[0]["type"] == "extra_forbidden"):
            loc = keys.get(path) or values.get(path)
        else:
            loc = values.get(path) or _nearest(path, values)
        out.append(Diagnostic(message, dotted(path), loc))
    return out


def _is_type_error(err: ErrorDetails) -> bool:
    return err["type"] in _TYPE_NOUNS or err["type"] in _CHOICE_KINDS


def _type_message(errors: list[ErrorDetails]) -> str:
    nouns: list[str] = []
    for err in errors:
        if err["type"] in _CHOICE_KINDS:
            noun = str((err.get("ctx") or {}).get("expected", "")).replace("'", '"')
        else:
            noun = _TYPE_NOUNS[err["type"]]
        if noun and noun not in nouns:
            nouns.append(noun)
    wanted = nouns[0] if len(nouns) == 1 else ", ".join(nouns[:-1]) + " or " + nouns[-1]
    return f"expected {wanted} (got {_shown(errors[0].get('input'))})"


def _message(err: ErrorDetails, path: PathKey) -> str:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    if kind == "extra_forbidden":
        key = str(path[-1]) if path else "?"
        close = difflib.get_close_matches(key, _known_keys(path[:-1]), n=1)
        hint = f' (did you mean "{close[0]}"?)' if close else " (remove it)"
        return f'unknown key "{key}"{hint}'
    if kind == "missing":
        return f'missing required key "{err["loc"][-1]}"'
    if kind in ("value_error", "assertion_error"):
        return str(err["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if kind in _BOUNDS:
        name, words = _BOUNDS[kind]
        return f"must be {words} {ctx.get(name)} (got {_shown(err.get('input'))})"
    message = str(err["msg"]).replace("Input should be", "should be")
    return f"{message} (got {_shown(err.get('input'))})"


def _shown(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return json.dumps(value, default=str)


def _real_path(loc: tuple[Any, ...], data: Any) -> PathKey:
    """Drop pydantic's union-member tags from ``loc``, keeping the keys that exist in data."""
    path: list[str | int] = []
    node = data
    for part in loc:
        if isinstance(node, dict) and part in node or isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            path.append(part)
            node = node[part]
        elif isinstance(node, dict) and isinstance(part, str) and not _is_tag(part):
            path.append(part)  # a key that is absent (missing) or unknown
            node = None
    return tuple(path)


_TYPE_TAGS = {"str", "int", "float", "bool", "none", "dict", "list", "tuple", "any"}


def _is_tag(part: str) -> bool:
    return bool(re.search(r"[\[\]()]", part)) or part[:1].isupper() or part in _TYPE_TAGS


def _nearest(path: PathKey, values: Mapping[PathKey, Location]) -> Location | None:
    for cut in range(len(path), -1, -1):
        if path[:cut] in values:
            return values[path[:cut]]
    return None


def _known_keys(path: PathKey) -> list[str]:
    """The keys the model at ``path`` accepts (every model's keys when unknown)."""
    found = _models_at(path)
    if not found:
        found = [m for m in vars(models).values() if isinstance(m, type) and issubclass(m, BaseModel)]
    return sorted({name for model in found for name in model.model_fields})


def _models_at(path: PathKey) -> list[type[BaseModel]]:
    current: list[Any] = [models.StackFile]
    for part in path:
        following: list[Any] = []
        for kind in (t for ann in current for t in _members(ann)):
            origin = get_origin(kind)
            if isinstance(kind, type) and issubclass(kind, BaseModel):
                field = kind.model_fields.get(str(part))
                if field is not None:
                    following.append(field.annotation)
            elif origin is dict:
                following.append(get_args(kind)[1])
            elif origin is list and isinstance(part, int):
                following.append(get_args(kind)[0])
        current = following
    return [t for ann in current for t in _members(ann) if isinstance(t, type) and issubclass(t, BaseModel)]


def _members(annotation: Any) -> list[Any]:
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        return [m for arg in get_args(annotation) for m in _members(arg)]
    if origin is Annotated:
        return _members(get_args(annotation)[0])
    return [annotation]
