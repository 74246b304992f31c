"""Fixtures of the Zyron integration tests: a process launcher per test or per module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from zyron_procs import Launcher


@pytest.fixture
def launcher(tmp_path: Path) -> Iterator[Launcher]:
    runner = Launcher(tmp_path)
    try:
        yield runner
    finally:
        runner.close()


@pytest.fixture(scope="module")
def module_launcher(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Launcher]:
    runner = Launcher(tmp_path_factory.mktemp("zyron"))
    try:
        yield runner
    finally:
        runner.close()
