"""The watcher's plumbing with a scripted change source: roots, readiness, errors, stopping."""

from __future__ import annotations

import asyncio
import errno
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from dev_orchestrator.watch.debounce import Batch, ConfigChanged
from dev_orchestrator.watch.rules import Action
from dev_orchestrator.watch.watcher import (
    INSTANCE_LIMIT,
    WATCH_LIMIT,
    RawChanges,
    StopFlag,
    Watcher,
    WatchError,
    WatchLimitError,
    config_files,
    initial_syncs,
    watch_roots,
)

from .conftest import rule

pytestmark = pytest.mark.timeout(20)


def run(coro: object) -> object:
    return asyncio.run(asyncio.wait_for(coro, 10))  # type: ignore[arg-type]


class Script:
    """A change source that plays back groups of raw changes, then waits to be stopped."""

    def __init__(self, *groups: RawChanges, fail: BaseException | None = None) -> None:
        self.groups = list(groups)
        self.fail = fail
        self.calls: list[tuple[tuple[Path, ...], bool]] = []
        self.ended = 0

    def __call__(self, paths: Sequence[Path], *, recursive: bool, stop_event: StopFlag) -> AsyncIterator[RawChanges]:
        self.calls.append((tuple(paths), recursive))
        return self._play(stop_event, recursive)

    async def _play(self, stop: StopFlag, recursive: bool) -> AsyncIterator[RawChanges]:
        stop.is_set()  # watching now
        try:
            if self.fail is not None:
                raise self.fail
            if recursive:
                for group in self.groups:
                    yield group
                    await asyncio.sleep(0)
            while not stop.is_set():
                await asyncio.sleep(0.01)
        finally:
            self.ended += 1


def test_roots_are_the_fewest_folders(tmp_path: Path) -> None:
    for name in ("a", "a/b", "c"):
        (tmp_path / name).mkdir()
    (tmp_path / "c" / "app.toml").write_text("")
    (tmp_path / "services.yaml").write_text("")
    rules = [
        rule("x", tmp_path / "a"),
        rule("y", tmp_path / "a" / "b"),
        rule("z", tmp_path / "c" / "app.toml", Action.SYNC, target="/c"),
        rule("w", tmp_path / "a" / "b"),
    ]
    roots = watch_roots(rules, [tmp_path / "services.yaml", tmp_path / "config" / "base.yaml", tmp_path / "a" / ".env"])
    assert roots.recursive == (tmp_path / "a",)
    # config/ does not exist (nothing to watch there yet); a/.env is inside a watched folder
    assert roots.flat == (tmp_path, tmp_path / "c")


def test_a_missing_rule_path_is_an_error_naming_the_key(tmp_path: Path) -> None:
    with pytest.raises(WatchError) as caught:
        watch_roots([rule("api", tmp_path / "nope", index=2)])
    assert str(caught.value) == f"services.api.develop.watch[2].path: {tmp_path / 'nope'} does not exist"


def test_config_files_of_a_stack(tmp_path: Path) -> None:
    assert config_files(tmp_path / "services.yaml", project="zyron", env="dev") == (
        tmp_path / "services.yaml",
        tmp_path / "config" / "base.yaml",
        tmp_path / "config" / "zyron.dev.yaml",
        tmp_path / ".env",
        tmp_path / ".env.dev",
    )


def test_initial_syncs_are_the_whole_paths_of_initial_sync_rules(tmp_path: Path) -> None:
    first = rule("api", tmp_path, Action.SYNC, target="/app", initial_sync=True)
    assert [(rf.rule, rf.files) for rf in initial_syncs([first, rule("api", tmp_path, index=1)])] == [
        (first, (tmp_path,))
    ]


def test_changes_become_batches_and_config_changes(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "services.yaml").write_text("")
    source = Script({(2, str(tmp_path / "src" / "a.py")), (2, str(tmp_path / "src" / "a.py~"))},
                    {(2, str(tmp_path / "services.yaml"))})
    stop = asyncio.Event()

    async def main() -> list[Batch | ConfigChanged]:
        out: list[Batch | ConfigChanged] = []
        watcher = Watcher([rule("api", tmp_path / "src", debounce=0.05)], root=tmp_path,
                          config_files=[tmp_path / "services.yaml"], source=source, stop_event=stop)
        async with watcher:
            async for event in watcher.batches():
                out.append(event)
                if len(out) == 2:
                    stop.set()
        assert watcher.counters.raw == 3 and watcher.counters.matched == 2
        return out

    events = run(main())
    assert isinstance(events, list)
    assert sorted(type(e).__name__ for e in events) == ["Batch", "ConfigChanged"]
    batch = next(e for e in events if isinstance(e, Batch))
    assert batch.files == (tmp_path / "src" / "a.py",)
    assert source.calls == [((tmp_path / "src",), True), ((tmp_path,), False)]


def test_the_watch_limit_error_says_how_to_raise_it(tmp_path: Path) -> None:
    async def main(fail: BaseException) -> None:
        async with Watcher([rule("api", tmp_path)], root=tmp_path, source=Script(fail=fail)):
            await asyncio.sleep(5)

    for fail, message in [
        (OSError(errno.ENOSPC, "No space left on device"), WATCH_LIMIT),
        (RuntimeError("Error { kind: Io(Os { code: 28, kind: StorageFull }) } (os error 28)"), WATCH_LIMIT),
        (OSError(errno.EMFILE, "Too many open files"), INSTANCE_LIMIT),
    ]:
        with pytest.raises(WatchLimitError) as caught:
            run(main(fail))
        assert str(caught.value) == message
        assert caught.value.__cause__ is fail
    assert "max_user_watches=524288" in WATCH_LIMIT and "WATCHFILES_FORCE_POLLING=1" in WATCH_LIMIT
    with pytest.raises(WatchError, match="cannot watch"):
        run(main(PermissionError(errno.EACCES, "Permission denied")))


def test_an_error_in_the_block_comes_out_as_itself(tmp_path: Path) -> None:
    async def main() -> None:
        async with Watcher([rule("api", tmp_path)], root=tmp_path, source=Script()):
            raise KeyError("mine")

    with pytest.raises(KeyError, match="mine"):
        run(main())


def test_batches_need_the_watcher_running(tmp_path: Path) -> None:
    async def main() -> None:
        async for _ in Watcher([], root=tmp_path, source=Script()).batches():
            pass

    with pytest.raises(RuntimeError, match="async with"):
        run(main())


def test_leaving_the_block_stops_the_readers(tmp_path: Path) -> None:
    source = Script()

    async def main() -> None:
        async with Watcher([rule("api", tmp_path)], root=tmp_path, source=source):
            assert source.ended == 0

    run(main())
    assert source.ended == 1


def test_a_watcher_runs_once(tmp_path: Path) -> None:
    async def main() -> None:
        watcher = Watcher([rule("api", tmp_path)], root=tmp_path, source=Script())
        async with watcher:
            pass
        async with watcher:
            pass

    with pytest.raises(RuntimeError, match="runs once"):
        run(main())
