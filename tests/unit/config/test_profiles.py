"""Compose profiles: which services run for a command, from flags, the environment and names."""

from __future__ import annotations

from pathlib import Path

import pytest

from dev_orchestrator.config.loader import load
from dev_orchestrator.config.profiles import profiles_from_environ, split_list
from dev_orchestrator.config.resolve import resolve

from .conftest import Write

STACK = """
services:
  db: {command: sleep 1}
  api: {command: sleep 1, depends_on: [db]}
  tools: {command: sleep 1, profiles: [debug], depends_on: [cache]}
  cache: {command: sleep 1, profiles: [extras]}
  docs: {command: sleep 1, profiles: [docs, debug]}
"""


def _load(tmp_path: Path, **kwargs: object) -> tuple[list[str], dict[str, tuple[str, ...]]]:
    loaded = load(tmp_path / "services.yaml", None, cwd=tmp_path, environ=kwargs.pop("environ", {}), **kwargs)  # type: ignore[arg-type]
    stack = resolve(loaded, environ={})
    return sorted(stack.graph.deps), dict(loaded.activation.inactive)


def test_services_with_profiles_are_inactive_by_default(tmp_path: Path, write: Write) -> None:
    write("services.yaml", STACK)
    names, inactive = _load(tmp_path)
    assert names == ["api", "db"]
    assert inactive == {"tools": ("debug",), "cache": ("extras",), "docs": ("docs", "debug")}


def test_an_active_profile_brings_its_services_and_their_dependencies(tmp_path: Path, write: Write) -> None:
    write("services.yaml", STACK)
    names, inactive = _load(tmp_path, profiles=["debug"])
    assert names == ["api", "cache", "db", "docs", "tools"]  # cache comes with tools
    assert inactive == {}


def test_a_named_service_is_active_whatever_its_profiles(tmp_path: Path, write: Write) -> None:
    write("services.yaml", STACK)
    names, inactive = _load(tmp_path, named=["cache"])
    assert names == ["api", "cache", "db"]
    assert set(inactive) == {"tools", "docs"}


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"COMPOSE_PROFILES": "docs"}, ["api", "db", "docs"]),
        ({"DEV_ORCHESTRATOR_PROFILES": "extras, docs"}, ["api", "cache", "db", "docs"]),
        ({"COMPOSE_PROFILES": "*"}, ["api", "cache", "db", "docs", "tools"]),
        ({"DEV_ORCHESTRATOR_NAMED_SERVICES": "tools"}, ["api", "cache", "db", "tools"]),
    ],
)
def test_profiles_from_the_environment(tmp_path: Path, write: Write, environ: dict[str, str],
                                       expected: list[str]) -> None:
    write("services.yaml", STACK)
    assert _load(tmp_path, environ=environ)[0] == expected


def test_explicit_profiles_replace_the_environment(tmp_path: Path, write: Write) -> None:
    write("services.yaml", STACK)
    assert _load(tmp_path, profiles=[], environ={"COMPOSE_PROFILES": "docs"})[0] == ["api", "db"]


def test_inactive_services_are_described_and_dump_as_written(tmp_path: Path, write: Write) -> None:
    write("services.yaml", STACK)
    loaded = load(tmp_path / "services.yaml", None, cwd=tmp_path, environ={})
    assert loaded.activation.describe("tools") == "inactive (profile debug)"
    assert loaded.activation.describe("docs") == "inactive (profiles docs, debug)"
    dumped = loaded.spec.model_dump(mode="json", exclude_unset=True)["services"]["tools"]
    assert "enabled" not in dumped and dumped["profiles"] == ["debug"]
    assert loaded.spec.services["tools"].enabled is False


def test_a_service_in_an_inactive_profile_is_still_validated(tmp_path: Path, write: Write) -> None:
    write("services.yaml", """
    services:
      tools: {command: sleep 1, profiles: [debug], depends_on: [nothere]}
    """)
    from dev_orchestrator.errors import ConfigError

    with pytest.raises(ConfigError, match='unknown service "nothere"'):
        load(tmp_path / "services.yaml", None, cwd=tmp_path, environ={})


def test_lists() -> None:
    assert split_list(" a, ,b ") == ["a", "b"]
    assert profiles_from_environ({"COMPOSE_PROFILES": "a,b", "DEV_ORCHESTRATOR_PROFILES": "b,c"}) == ["b", "c", "a"]
