"""Helpers for config tests: a project folder written from strings, loaded with a clean environment."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from dev_orchestrator.config.loader import LoadedConfig, load
from dev_orchestrator.errors import ConfigError

Write = Callable[..., Path]


@pytest.fixture
def write(tmp_path: Path) -> Write:
    """write("services.yaml", "...") -> the path; text is dedented, folders are created."""

    def _write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return _write


@pytest.fixture
def load_project(tmp_path: Path) -> Callable[..., LoadedConfig]:
    def _load(env: str | None = None, environ: Mapping[str, str] | None = None) -> LoadedConfig:
        return load(tmp_path / "services.yaml", env, cwd=tmp_path, environ=environ or {})

    return _load


@pytest.fixture
def errors(tmp_path: Path) -> Callable[..., list[str]]:
    """The diagnostics of a load that must fail, as the lines a user sees."""

    def _errors(env: str | None = None, environ: Mapping[str, str] | None = None) -> list[str]:
        with pytest.raises(ConfigError) as info:
            load(tmp_path / "services.yaml", env, cwd=tmp_path, environ=environ or {})
        return [str(d) for d in info.value.diagnostics]

    return _errors
