"""The debouncer on a fake clock: quiet time, the cap on a steady stream, one batch per service."""

from __future__ import annotations

from pathlib import Path

import pytest

from dev_orchestrator.watch.debounce import (
    Batch,
    ChangeKind,
    ConfigChanged,
    Debouncer,
    combined_action,
)
from dev_orchestrator.watch.rules import Action, ExecSpec

from .conftest import FakeClock, rule

ROOT = Path("/project")
API = rule("api", ROOT / "api")
WEB = rule("web", ROOT / "web")
TICK = 0.01


def run_until(clock: FakeClock, debouncer: Debouncer, end: float) -> list[Batch | ConfigChanged]:
    """Move the clock in small steps up to ``end``, collecting what comes due."""
    out: list[Batch | ConfigChanged] = []
    while clock.now < end:
        clock.advance(TICK)
        out.extend(debouncer.due())
    return out


def test_one_change_fires_after_the_quiet_time(clock: FakeClock) -> None:
    debouncer = Debouncer(clock)
    start = clock.now
    debouncer.add(API, ROOT / "api" / "a.py", ChangeKind.MODIFIED)
    assert debouncer.next_deadline() == pytest.approx(start + 0.3)
    clock.advance(0.29)
    assert debouncer.due() == []
    clock.advance(0.02)
    (batch,) = debouncer.due()
    assert isinstance(batch, Batch)
    assert (batch.service, batch.action, batch.files) == ("api", Action.RESTART, (ROOT / "api" / "a.py",))
    assert batch.first_seen == start and batch.emitted_at == clock.now
    assert batch.latency == pytest.approx(0.31)
    assert debouncer.due() == [] and debouncer.next_deadline() is None


def test_a_burst_of_50_writes_in_one_second_is_one_batch(clock: FakeClock) -> None:
    debouncer = Debouncer(clock)
    start = clock.now
    for i in range(50):
        debouncer.add(API, ROOT / "api" / f"f{i}.py", ChangeKind.ADDED)
        assert debouncer.due() == []
        clock.advance(0.02)
    batches = run_until(clock, debouncer, start + 3)
    assert len(batches) == 1
    (batch,) = batches
    assert len(batch.files) == 50
    assert batch.emitted_at - start == pytest.approx(0.98 + 0.3, abs=2 * TICK)


def test_a_steady_stream_fires_at_most_every_cap(clock: FakeClock) -> None:
    debouncer = Debouncer(clock)
    start = clock.now
    batches: list[Batch | ConfigChanged] = []
    while clock.now < start + 5:
        debouncer.add(API, ROOT / "api" / "build.log", ChangeKind.MODIFIED)
        clock.advance(0.05)
        batches.extend(debouncer.due())
    batches.extend(run_until(clock, debouncer, start + 7))
    emitted = [b.emitted_at - start for b in batches]
    assert len(batches) == 3, emitted
    assert emitted[0] == pytest.approx(2.0, abs=0.06) and emitted[1] == pytest.approx(4.05, abs=0.06)
    assert all(b.latency <= 2.0 + 0.05 for b in batches)
    assert emitted[2] == pytest.approx(5.3, abs=0.06)  # the tail: quiet after the stream stopped


def test_two_services_get_separate_batches(clock: FakeClock) -> None:
    debouncer = Debouncer(clock)
    debouncer.add(API, ROOT / "api" / "a.py", ChangeKind.MODIFIED)
    clock.advance(0.1)
    debouncer.add(WEB, ROOT / "web" / "b.js", ChangeKind.MODIFIED)
    batches = run_until(clock, debouncer, clock.now + 1)
    assert [(b.service, b.files) for b in batches if isinstance(b, Batch)] == [
        ("api", (ROOT / "api" / "a.py",)),
        ("web", (ROOT / "web" / "b.js",)),
    ]
    assert batches[1].emitted_at - batches[0].emitted_at == pytest.approx(0.1, abs=2 * TICK)


def test_one_services_writes_do_not_hold_back_anothers(clock: FakeClock) -> None:
    debouncer = Debouncer(clock)
    debouncer.add(WEB, ROOT / "web" / "b.js", ChangeKind.MODIFIED)
    start = clock.now
    fired: dict[str, float] = {}
    while clock.now < start + 1.5:
        debouncer.add(API, ROOT / "api" / "a.py", ChangeKind.MODIFIED)
        clock.advance(0.05)
        for batch in debouncer.due():
            assert isinstance(batch, Batch)
            fired.setdefault(batch.service, clock.now - start)
    assert fired == {"web": pytest.approx(0.3, abs=0.06)}


def test_a_service_with_a_longer_quiet_time_waits_longer(clock: FakeClock) -> None:
    slow = rule("slow", ROOT / "slow", debounce=1.0, debounce_cap=2.0)
    debouncer = Debouncer(clock)
    debouncer.add(slow, ROOT / "slow" / "x", ChangeKind.MODIFIED)
    assert debouncer.next_deadline() == pytest.approx(clock.now + 1.0)


def test_config_changes_come_as_their_own_event_first(clock: FakeClock) -> None:
    debouncer = Debouncer(clock)
    debouncer.add(API, ROOT / "api" / "a.py", ChangeKind.MODIFIED)
    debouncer.add_config(ROOT / "services.yaml", ChangeKind.MODIFIED)
    debouncer.add_config(ROOT / ".env", ChangeKind.ADDED)
    events = run_until(clock, debouncer, clock.now + 1)
    assert isinstance(events[0], ConfigChanged)
    assert events[0].files == (ROOT / ".env", ROOT / "services.yaml")
    assert isinstance(events[1], Batch)


def test_changes_to_one_path_collapse(clock: FakeClock) -> None:
    debouncer = Debouncer(clock)
    a, b, c = (ROOT / "api" / n for n in "abc")
    debouncer.add(API, a, ChangeKind.ADDED)
    debouncer.add(API, a, ChangeKind.MODIFIED)
    debouncer.add(API, b, ChangeKind.DELETED)
    debouncer.add(API, b, ChangeKind.ADDED)  # an editor's save by rename
    debouncer.add(API, c, ChangeKind.ADDED)
    debouncer.add(API, c, ChangeKind.DELETED)
    (batch,) = debouncer.flush()
    assert isinstance(batch, Batch)
    assert dict(batch.changes) == {a: ChangeKind.ADDED, b: ChangeKind.MODIFIED, c: ChangeKind.DELETED}
    assert batch.deleted == (c,)


def test_several_rules_of_a_service_make_one_combined_batch(clock: FakeClock) -> None:
    restart = rule("api", ROOT / "api", Action.RESTART, index=0, cascade=True)
    sync = rule("api", ROOT / "static", Action.SYNC, index=1, target="/app/static")
    debouncer = Debouncer(clock)
    debouncer.add(sync, ROOT / "static" / "a.css", ChangeKind.MODIFIED)
    debouncer.add(restart, ROOT / "api" / "a.py", ChangeKind.MODIFIED)
    (batch,) = debouncer.flush()
    assert isinstance(batch, Batch)
    assert batch.action is Action.SYNC_RESTART and batch.restart and batch.cascade
    assert [(rf.rule.index, rf.files) for rf in batch.syncs] == [(1, (ROOT / "static" / "a.css",))]
    assert batch.execs == ()


def test_combined_actions() -> None:
    assert combined_action([Action.SYNC, Action.REBUILD]) is Action.REBUILD
    assert combined_action([Action.SYNC_EXEC, Action.SYNC_RESTART]) is Action.SYNC_RESTART
    assert combined_action([Action.SYNC_EXEC, Action.SYNC]) is Action.SYNC_EXEC
    assert combined_action([Action.RESTART]) is Action.RESTART
    assert combined_action([Action.SYNC]) is Action.SYNC


def test_a_sync_exec_batch_lists_its_commands(clock: FakeClock) -> None:
    hup = rule("api", ROOT / "app.toml", Action.SYNC_EXEC, target="/app/app.toml",
               exec=ExecSpec(command=["kill", "-HUP", "1"]))
    debouncer = Debouncer(clock)
    debouncer.add(hup, ROOT / "app.toml", ChangeKind.MODIFIED)
    (batch,) = debouncer.flush()
    assert isinstance(batch, Batch)
    assert batch.execs == (hup,) and not batch.restart and not batch.cascade


def test_a_queued_batch_merges_with_the_next(clock: FakeClock) -> None:
    debouncer = Debouncer(clock)
    debouncer.add(API, ROOT / "api" / "a.py", ChangeKind.ADDED)
    (first,) = debouncer.flush()
    clock.advance(1)
    debouncer.add(API, ROOT / "api" / "a.py", ChangeKind.MODIFIED)
    debouncer.add(API, ROOT / "api" / "b.py", ChangeKind.MODIFIED)
    (second,) = debouncer.flush()
    assert isinstance(first, Batch) and isinstance(second, Batch)
    merged = first.merge(second)
    assert merged.files == (ROOT / "api" / "a.py", ROOT / "api" / "b.py")
    assert dict(merged.changes)[ROOT / "api" / "a.py"] is ChangeKind.ADDED
    assert (merged.first_seen, merged.emitted_at) == (first.first_seen, second.emitted_at)
    with pytest.raises(ValueError):
        first.merge(_web_batch(clock))


def _web_batch(clock: FakeClock) -> Batch:
    debouncer = Debouncer(clock)
    debouncer.add(WEB, ROOT / "web" / "x", ChangeKind.ADDED)
    (batch,) = debouncer.flush()
    assert isinstance(batch, Batch)
    return batch
