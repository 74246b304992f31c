"""The watcher on real files in a tmp dir, with inotify and with polling forced on.

Each case starts a real watcher, changes files, and keeps watching for a while after
the last change, so that "exactly one batch" also means "and nothing after it".
Files that exist before a case starts are aged by a minute, as files being edited
are, except where a case is about a file written just before the watch began: the
poller compares whole-second mtimes, and the watcher looks again at such files.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import pytest

from dev_orchestrator.watch import Batch, ChangeKind, ConfigChanged, Watcher, from_dict
from dev_orchestrator.watch.rules import WatchRule

pytestmark = pytest.mark.timeout(30)

Event = Batch | ConfigChanged
SETTLE = 1.0  # watched after the last change: more than the debounce, with polling's delay


@pytest.fixture(params=[False, True], ids=["inotify", "polling"])
def polling(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "src").mkdir()
    aged(tmp_path / "services.yaml", "services: {}\n")
    return tmp_path


def rules_of(root: Path, *entries: dict[str, object]) -> tuple[WatchRule, ...]:
    return from_dict("api", {"command": "run", "develop": {"watch": list(entries)}}, root)


def write(path: Path, text: str = "x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def aged(path: Path, text: str = "x") -> Path:
    """A file that has been there for a minute."""
    write(path, text)
    past = time.time() - 60
    os.utime(path, (past, past))
    return path


async def observe(
    root: Path,
    rules: Sequence[WatchRule],
    act: Callable[[], Awaitable[None]],
    *,
    polling: bool,
    config: Sequence[Path] = (),
) -> list[Event]:
    """Start a watcher, run ``act``, watch for SETTLE seconds more; every event seen."""
    stop = asyncio.Event()
    events: list[Event] = []

    async def drive() -> None:
        await act()
        await asyncio.sleep(SETTLE)  # the observation window: nothing else may come
        stop.set()

    async def main() -> None:
        watcher = Watcher(rules, root=root, config_files=config, stop_event=stop,
                          force_polling=polling, poll_delay_ms=50)
        async with watcher, asyncio.TaskGroup() as group:
            group.create_task(drive())
            async for event in watcher.batches():
                events.append(event)

    await asyncio.wait_for(main(), 20)
    return events


def batches(events: list[Event]) -> list[Batch]:
    assert all(isinstance(e, Batch) for e in events), events
    return [e for e in events if isinstance(e, Batch)]


def test_one_touch_is_exactly_one_batch(root: Path, polling: bool) -> None:
    rules = rules_of(root, {"path": "./src", "action": "restart"})

    async def act() -> None:
        write(root / "src" / "app.py")

    (batch,) = batches(asyncio.run(observe(root, rules, act, polling=polling)))
    assert (batch.service, batch.files) == ("api", (root / "src" / "app.py",))
    assert batch.restart and batch.first_seen <= batch.emitted_at


def test_a_burst_of_50_writes_in_one_second_is_one_batch(root: Path, polling: bool) -> None:
    rules = rules_of(root, {"path": "./src", "action": "restart"})

    async def act() -> None:
        for i in range(50):
            write(root / "src" / f"mod{i:02}.py", str(i))
            await asyncio.sleep(0.02)

    (batch,) = batches(asyncio.run(observe(root, rules, act, polling=polling)))
    assert batch.files == tuple(root / "src" / f"mod{i:02}.py" for i in range(50))


def test_two_saves_within_one_second_are_both_acted_on(root: Path, polling: bool) -> None:
    app = aged(root / "src" / "app.py")
    rules = rules_of(root, {"path": "./src", "action": "restart"})
    second: list[float] = []

    async def act() -> None:
        # Both saves in one wall-clock second: the poller's mtimes cannot tell them apart,
        # so only its second look finds the later one.
        await asyncio.sleep(1.02 - time.time() % 1)
        write(app, "first save")
        await asyncio.sleep(0.5)
        write(app, "second save")
        second.append(time.monotonic())
        await asyncio.sleep(0.8)

    found = batches(asyncio.run(observe(root, rules, act, polling=polling)))
    assert [b.files for b in found] == [(app,), (app,)]
    assert found[1].first_seen > second[0]


def test_ignored_paths_git_and_logs_make_no_batch(root: Path, polling: bool) -> None:
    write(root / ".gitignore", "build/\n")
    rules = rules_of(root, {"path": ".", "action": "restart", "ignore": ["*.tmp", "**/__pycache__/**"]})

    async def act() -> None:
        write(root / "src" / "scratch.tmp")
        write(root / "src" / "__pycache__" / "app.cpython-311.pyc")
        write(root / "src" / "build" / "bundle.js")
        write(root / ".git" / "objects" / "ab" / "cdef")
        write(root / ".git" / "index")
        write(root / "logs" / "api.log", "a line\n")
        write(root / ".orchestrator" / "state.json", "{}")
        write(root / "src" / ".app.py.swp")
        write(root / "src" / "4913")
        await asyncio.sleep(0.7)  # long enough for a batch of those to fire, if they made one
        write(root / "src" / "app.py")  # the control: the watcher was listening

    (batch,) = batches(asyncio.run(observe(root, rules, act, polling=polling)))
    assert batch.files == (root / "src" / "app.py",)


def test_a_rename_and_a_delete_are_seen(root: Path, polling: bool) -> None:
    old, doomed = aged(root / "src" / "old.py"), aged(root / "src" / "doomed.py")
    rules = rules_of(root, {"path": "./src", "action": "sync", "target": "./out"})

    async def act() -> None:
        old.rename(root / "src" / "new.py")
        doomed.unlink()

    (batch,) = batches(asyncio.run(observe(root, rules, act, polling=polling)))
    changes = dict(batch.changes)
    assert changes[root / "src" / "old.py"] is ChangeKind.DELETED
    assert changes[root / "src" / "doomed.py"] is ChangeKind.DELETED
    assert changes[root / "src" / "new.py"] in (ChangeKind.ADDED, ChangeKind.MODIFIED)
    assert set(changes) == {root / "src" / n for n in ("old.py", "doomed.py", "new.py")}


def test_a_single_file_rule_survives_a_save_by_rename(root: Path, polling: bool) -> None:
    conf = aged(root / "app.toml", "a = 1\n")
    rules = rules_of(root, {"path": "./app.toml", "action": "sync+restart", "target": "./out/app.toml"})

    async def act() -> None:
        for text in ("a = 2\n", "a = 3\n"):  # as an editor saves: a new file renamed over the old
            write(root / ".app.toml.new", text)
            os.replace(root / ".app.toml.new", conf)
            await asyncio.sleep(0.6)

    found = batches(asyncio.run(observe(root, rules, act, polling=polling)))
    assert [b.files for b in found] == [(conf,), (conf,)]


def test_a_config_file_edit_is_a_config_change(root: Path, polling: bool) -> None:
    files = [root / "services.yaml", root / "config" / "base.yaml", root / ".env"]
    (root / "config").mkdir()

    async def act() -> None:
        write(root / ".services.yaml.tmp", "services: {a: {command: run}}\n")
        os.replace(root / ".services.yaml.tmp", root / "services.yaml")
        write(root / ".env", "A=1\n")
        write(root / "config" / "base.yaml", "settings: {}\n")
        write(root / "unrelated.txt")

    events = asyncio.run(observe(root, (), act, polling=polling, config=files))
    assert len(events) == 1 and isinstance(events[0], ConfigChanged)
    assert events[0].files == tuple(sorted(files))


def test_a_config_file_written_just_before_the_watch_and_edited_in_that_second_is_seen(
    root: Path, polling: bool
) -> None:
    config = root / "services.yaml"
    # written at the start of a second, edited (same size) before that second is over:
    # the poller's first snapshot and its next one show the same whole-second mtime
    deadline = time.monotonic() + 2
    while time.time() % 1 > 0.05 and time.monotonic() < deadline:
        time.sleep(0.005)
    write(config, "MODE: one\n")

    async def act() -> None:
        await asyncio.sleep(0.2)
        write(config, "MODE: two\n")
        await asyncio.sleep(1.0)  # past the second look

    events = asyncio.run(observe(root, (), act, polling=polling, config=[config]))
    assert [type(e) for e in events] == [ConfigChanged], events
