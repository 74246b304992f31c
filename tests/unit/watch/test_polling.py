"""The second look that polling needs, on a fake clock and a fake stat."""

from __future__ import annotations

from pathlib import Path

import pytest

from dev_orchestrator.watch.polling import DELAY, Rechecker, Signature, polling_enabled

from .conftest import FakeClock

APP = Path("/project/src/app.py")


class Disk:
    def __init__(self) -> None:
        self.signatures: dict[Path, Signature] = {APP: (1, 10, 7)}

    def __call__(self, path: Path) -> Signature:
        return self.signatures.get(path)


def test_a_file_that_changed_again_is_reported_after_the_delay(clock: FakeClock) -> None:
    disk = Disk()
    recheck = Rechecker(clock, stat=disk)
    recheck.seen(APP)
    assert recheck.next_due() == pytest.approx(clock.now + DELAY)
    disk.signatures[APP] = (2, 10, 7)  # rewritten in the same second: same size, new mtime
    clock.advance(DELAY - 0.01)
    assert recheck.due() == []
    clock.advance(0.02)
    assert recheck.due() == [APP]
    assert recheck.next_due() is None


def test_an_unchanged_or_removed_file_is_dropped(clock: FakeClock) -> None:
    disk = Disk()
    recheck = Rechecker(clock, stat=disk)
    recheck.seen(APP)
    recheck.seen(Path("/project/gone.py"))
    clock.advance(DELAY)
    assert recheck.due() == []
    assert recheck.next_due() is None


def test_a_new_report_restarts_the_wait(clock: FakeClock) -> None:
    disk = Disk()
    recheck = Rechecker(clock, stat=disk)
    recheck.seen(APP)
    clock.advance(0.8)
    disk.signatures[APP] = (2, 11, 7)
    recheck.seen(APP)  # the poller saw this change itself
    clock.advance(0.5)
    assert recheck.due() == []  # compared with the newer signature, and not due yet
    clock.advance(DELAY)
    assert recheck.due() == []


def test_files_written_in_the_second_before_the_watch_are_looked_at_again(clock: FakeClock) -> None:
    disk = Disk()
    old = Path("/project/old.py")
    disk.signatures[APP] = (100_400_000_000, 10, 7)  # written at 100.4 s
    disk.signatures[old] = (90_000_000_000, 10, 8)  # ten seconds earlier
    recheck = Rechecker(clock, stat=disk)
    recheck.recent([APP, old, Path("/project/gone.py")], wall=lambda: 100.7)
    assert recheck.next_due() == pytest.approx(clock.now + DELAY)
    disk.signatures[APP] = (100_900_000_000, 10, 7)  # edited again within that second
    disk.signatures[old] = (100_900_000_000, 10, 8)  # the poller sees this one itself
    clock.advance(DELAY)
    assert recheck.due() == [APP]


@pytest.mark.parametrize(
    ("argument", "env", "expected"),
    [(True, None, True), (False, "1", False), (None, "1", True), (None, "false", False), (None, "disabled", False)],
)
def test_polling_follows_the_argument_then_the_environment(
    monkeypatch: pytest.MonkeyPatch, argument: bool | None, env: str | None, expected: bool
) -> None:
    if env is None:
        monkeypatch.delenv("WATCHFILES_FORCE_POLLING", raising=False)
    else:
        monkeypatch.setenv("WATCHFILES_FORCE_POLLING", env)
    assert polling_enabled(argument) is expected
