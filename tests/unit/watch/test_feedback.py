"""The feedback guard on a fake clock: a service that rewrites its own watched files is suspended."""

from __future__ import annotations

from pathlib import Path

from dev_orchestrator.watch.debounce import Batch, ChangeKind, Debouncer
from dev_orchestrator.watch.feedback import FeedbackGuard
from dev_orchestrator.watch.rules import Action, WatchRule

from .conftest import FakeClock, rule

ROOT = Path("/project")
API = rule("api", ROOT / "api")
CACHE = ROOT / "api" / "cache.db"


def batch_of(clock: FakeClock, *paths: Path, which: WatchRule = API) -> Batch:
    debouncer = Debouncer(clock)
    for path in paths:
        debouncer.add(which, path, ChangeKind.MODIFIED)
    clock.advance(0.3)
    (batch,) = debouncer.due()
    assert isinstance(batch, Batch)
    return batch


def restart(clock: FakeClock, guard: FeedbackGuard, batch: Batch, took: float = 0.5) -> None:
    clock.advance(took)
    guard.restarted(batch)


def test_a_service_that_rewrites_its_files_on_start_is_suspended(clock: FakeClock) -> None:
    guard = FeedbackGuard(clock, root=ROOT)
    verdicts = []
    batch = batch_of(clock, ROOT / "api" / "main.py")  # the user's edit starts it
    for _ in range(10):
        verdict = guard.check(batch)
        verdicts.append(verdict)
        if verdict is not None:
            break
        restart(clock, guard, batch)
        clock.advance(0.1)  # the service writes its cache right after it is up
        batch = batch_of(clock, CACHE)
    # the first cache write after the user's edit is not yet a loop; five are allowed, the sixth is not
    assert verdicts[:7] == [None] * 7
    suspension = verdicts[7]
    assert suspension is not None
    assert (suspension.service, suspension.rules, suspension.files, suspension.restarts) == (
        "api", (("api", 0),), (CACHE,), 6,
    )
    assert suspension.message == (
        'watch of "api" suspended: it restarted 6 times in 10s, each time right after api/cache.db '
        "changed, which it seems to write itself (a feedback loop); add it to "
        "services.api.develop.watch[0].ignore, then edit the config to watch again"
    )


def test_a_write_during_start_up_counts_too(clock: FakeClock) -> None:
    guard = FeedbackGuard(clock, limit=1)
    batch = batch_of(clock, CACHE)
    verdicts = []
    for _ in range(3):
        verdicts.append(guard.check(batch))
        if verdicts[-1] is not None:
            break
        # the restart is under way: the service writes its cache before it reports ready
        debouncer = Debouncer(clock)
        clock.advance(0.1)
        debouncer.add(API, CACHE, ChangeKind.MODIFIED)
        clock.advance(0.4)
        guard.restarted(batch)
        clock.advance(0.3)
        (due,) = debouncer.due()
        assert isinstance(due, Batch)
        batch = due
    assert verdicts[:2] == [None, None] and verdicts[2] is not None


def test_edits_by_the_user_between_restarts_never_suspend(clock: FakeClock) -> None:
    guard = FeedbackGuard(clock)
    for _ in range(20):
        batch = batch_of(clock, ROOT / "api" / "main.py")
        assert guard.check(batch) is None
        restart(clock, guard, batch)
        clock.advance(5)  # the user types, saves again a few seconds later


def test_different_files_each_time_are_not_a_loop(clock: FakeClock) -> None:
    guard = FeedbackGuard(clock)
    for i in range(20):
        batch = batch_of(clock, ROOT / "api" / f"step{i}.py")
        assert guard.check(batch) is None
        restart(clock, guard, batch)


def test_loops_older_than_the_window_are_forgotten(clock: FakeClock) -> None:
    guard = FeedbackGuard(clock, limit=2, window=3.0)
    batch = batch_of(clock, CACHE)
    for _ in range(10):
        assert guard.check(batch) is None
        restart(clock, guard, batch, took=1.5)  # one loop every ~2 s: at most two within 3 s
        clock.advance(0.1)
        batch = batch_of(clock, CACHE)


def test_only_restarts_and_rebuilds_are_guarded(clock: FakeClock) -> None:
    guard = FeedbackGuard(clock, limit=0)
    sync = rule("api", ROOT / "static", Action.SYNC, target="/srv")
    batch = batch_of(clock, ROOT / "static" / "a.css", which=sync)
    guard.restarted(batch)
    assert guard.check(batch_of(clock, ROOT / "static" / "a.css", which=sync)) is None


def test_reset_forgets_a_services_history(clock: FakeClock) -> None:
    guard = FeedbackGuard(clock, limit=0)
    batch = batch_of(clock, CACHE)
    restart(clock, guard, batch)
    guard.reset("api")
    assert guard.check(batch_of(clock, CACHE)) is None
