"""Deterministic YAML output: same data, same bytes, so exported files can live in git."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import yaml


class _Dumper(yaml.SafeDumper):
    """Block style, no aliases, multi-line strings as ``|`` blocks."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_Dumper.add_representer(str, _str)


def dump(data: Any) -> str:
    """One YAML document; mapping order is kept (callers build it in a fixed order)."""
    return yaml.dump(
        data, Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True, width=4096
    )


def dump_all(documents: Iterable[Any], header: str = "") -> str:
    """Several documents separated by ``---``, with an optional comment header."""
    out = [header] if header else []
    for document in documents:
        out.append("---\n" + dump(document))
    return "".join(out)
