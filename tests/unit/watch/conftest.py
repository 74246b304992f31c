"""Helpers for the watch tests: a fake clock and rules built in one line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dev_orchestrator.watch.rules import Action, WatchRule


class FakeClock:
    """Monotonic seconds that move only when the test says so."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def rule(service: str, path: Path, action: Action | str = Action.RESTART, index: int = 0, **options: Any) -> WatchRule:
    return WatchRule(service=service, index=index, path=path, action=Action(action), **options)
