"""Stacks written from strings into a temporary folder, resolved for export."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from dev_orchestrator.config.loader import load
from dev_orchestrator.config.resolve import ResolvedStack, resolve

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
# Kubernetes versions every exported manifest is validated against (schemas ship offline
# with kubernetes-validate): an older supported release and the newest one it knows.
KUBE_VERSIONS = ("1.30", "1.33", "1.37")

MakeStack = Callable[..., ResolvedStack]


@pytest.fixture
def make_stack(tmp_path: Path) -> MakeStack:
    """make_stack(yaml_text, env=None, files={...}) -> the stack resolved with Docker on."""

    def _make(text: str, env: str | None = None, files: dict[str, str] | None = None) -> ResolvedStack:
        for name, content in (files or {}).items():
            path = tmp_path / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(content).lstrip("\n"), encoding="utf-8")
        (tmp_path / "services.yaml").write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        loaded = load(tmp_path / "services.yaml", env, cwd=tmp_path, environ={})
        return resolve(loaded, docker=True, environ={})

    return _make
