"""The log sink: private files, a failing disk that never reaches the pipe reader, and a
rotation that cannot happen; on real files, ``/dev/full`` and real folders."""

from __future__ import annotations

import errno
import json
import os
import shutil
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from dev_orchestrator.errors import UsageError
from dev_orchestrator.logs.reader import STAMP_LEN
from dev_orchestrator.logs.writer import LogSink, human_size


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


class FullDisk:
    """Opens every log file on ``/dev/full`` (each write fails with ENOSPC) and can give the
    sink a real file again under the same descriptor, as when space is freed."""

    def __init__(self) -> None:
        self.fds: list[int] = []

    def __call__(self, path: Path, flags: int, mode: int) -> int:
        fd = os.open("/dev/full", os.O_WRONLY)
        self.fds.append(fd)
        return fd

    def free(self, path: Path) -> None:
        real = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.dup2(real, self.fds[-1])
        os.close(real)


# -- permissions ----------------------------------------------------------------------------


def test_new_folder_is_0700_and_files_are_0600_rotated_ones_too(tmp_path: Path) -> None:
    logs = tmp_path / "project" / "logs"
    sink = LogSink("svc", logs / "svc.log", max_bytes=1024, backups=2)
    for i in range(100):
        sink.feed(f"line {i:04d}\n".encode())
    sink.close()
    assert mode(logs) == 0o700
    assert sorted(p.name for p in logs.iterdir()) == ["svc.log", "svc.log.1", "svc.log.2"]
    assert {mode(p) for p in logs.iterdir()} == {0o600}


def test_existing_folder_and_files_of_ours_are_made_private(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir(mode=0o755)
    os.chmod(logs, 0o755)
    for name in ("svc.log", "svc.log.1", "svc.log.2"):
        (logs / name).write_text("2026-11-26T12:01:07.311 old\n")
        os.chmod(logs / name, 0o644)
    (logs / "other.log").write_text("not this service's\n")
    os.chmod(logs / "other.log", 0o644)
    sink = LogSink("svc", logs / "svc.log", backups=2)
    sink.close()
    assert mode(logs) == 0o700
    assert [mode(logs / n) for n in ("svc.log", "svc.log.1", "svc.log.2")] == [0o600] * 3
    assert mode(logs / "other.log") == 0o644


def test_a_symlinked_logs_folder_is_refused_and_its_target_left_alone(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.mkdir()
    os.chmod(target, 0o755)
    (tmp_path / "logs").symlink_to(target)
    with pytest.raises(UsageError) as err:
        LogSink("svc", tmp_path / "logs" / "svc.log")
    assert str(tmp_path / "logs") in str(err.value)
    assert "symlink" in str(err.value) and "rm " in str(err.value)
    assert mode(target) == 0o755
    assert list(target.iterdir()) == []


def test_a_symlinked_log_file_is_refused_and_its_target_left_alone(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    target = tmp_path / "target.txt"
    target.write_text("keep\n")
    os.chmod(target, 0o644)
    (logs / "svc.log").symlink_to(target)
    with pytest.raises(UsageError) as err:
        LogSink("svc", logs / "svc.log")
    assert str(logs / "svc.log") in str(err.value) and "symlink" in str(err.value)
    assert target.read_text() == "keep\n" and mode(target) == 0o644


READ_ONLY_PROBE = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from dev_orchestrator.errors import UsageError
    from dev_orchestrator.logs.writer import LogSink, human_size
    try:
        LogSink("svc", Path(sys.argv[1]) / "svc.log")
    except UsageError as exc:
        print(json.dumps({"error": str(exc), "type": type(exc).__name__}))
    except BaseException as exc:
        print(json.dumps({"error": repr(exc), "type": type(exc).__name__}))
    else:
        print(json.dumps({"error": None, "type": None}))
    """
)


def test_a_read_only_logs_folder_is_a_usage_error_naming_the_folder_and_the_fix(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    os.chmod(logs, 0o500)
    try:
        if os.geteuid() != 0:
            with pytest.raises(UsageError) as err:
                LogSink("svc", logs / "svc.log")
            message = str(err.value)
        else:
            # root writes anywhere: the check runs in a child of ours without the capability
            # to override file permissions.
            setpriv = shutil.which("setpriv")
            if setpriv is None:
                pytest.skip("running as root and setpriv (util-linux) is not installed")
            proc = subprocess.run(
                [setpriv, "--bounding-set=-dac_override,-dac_read_search", sys.executable, "-c",
                 READ_ONLY_PROBE, str(logs)],
                capture_output=True, text=True, timeout=60,
            )
            assert proc.returncode == 0, proc.stderr
            result = json.loads(proc.stdout)
            assert result["type"] == "UsageError", result
            message = result["error"]
    finally:
        os.chmod(logs, 0o700)
    assert list(logs.iterdir()) == []
    assert str(logs) in message
    assert "permission denied" in message and "chmod u+rwx" in message


# -- a failing disk -------------------------------------------------------------------------


def test_a_full_disk_drops_and_counts_bytes_and_keeps_listeners_watchers_and_tail(tmp_path: Path) -> None:
    disk = FullDisk()
    sink = LogSink("svc", tmp_path / "logs" / "web.log", opener=disk)
    got: list[bytes] = []
    sink.add_listener(lambda _name, lines: got.append(lines))
    matched: list[str] = []
    sink.watch(r"listening on \d+", matched.append)
    chunks = [b"booting\n", b"now listening on 8000\nready\n", b"x" * 3000 + b"\n"]
    for chunk in chunks:
        sink.feed(chunk)  # never raises into the pipe reader
    sink.note("a note of the orchestrator")
    assert got == [*chunks, b"[dev-orchestrator] a note of the orchestrator\n"]
    assert matched == ["now listening on 8000"]
    assert sink.last_lines(3) == ["ready", "x" * 3000, "[dev-orchestrator] a note of the orchestrator"]
    written = [chunk.count(b"\n") * STAMP_LEN + len(chunk) for chunk in got]
    assert sink.dropped_bytes == sum(written)
    assert sink.problem == f"{tmp_path / 'logs' / 'web.log'}: disk full, 3.2 kB dropped"
    # Space comes back: the file says once what is missing, then goes on.
    disk.free(tmp_path / "logs" / "web.log")
    sink.feed(b"after\n")
    sink.feed(b"more\n")
    sink.close()
    lines = (tmp_path / "logs" / "web.log").read_text().splitlines()
    assert [line[STAMP_LEN:] for line in lines] == [
        "[dev-orchestrator] 3.2 kB of output could not be written here (disk full)",
        "after",
        "more",
    ]
    assert sink.dropped_bytes == sum(written)
    assert sink.problem == f"{tmp_path / 'logs' / 'web.log'}: disk full, 3.2 kB dropped; writing again"


def test_a_rotation_onto_a_full_disk_never_raises(tmp_path: Path) -> None:
    path = tmp_path / "svc.log"
    path.write_bytes(b"2026-11-26T12:01:07.311 old\n" * 100)
    disk = FullDisk()
    calls = 0

    def opener(path: Path, flags: int, mode: int) -> int:
        # The file as it is; then no room for a new one; then a new one on a full disk.
        nonlocal calls
        calls += 1
        if calls == 1:
            return os.open(path, flags, mode)
        if calls == 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return disk(path, flags, mode)

    sink = LogSink("svc", path, max_bytes=1024, backups=2, opener=opener)
    seen = 0

    def count(_name: str, lines: bytes) -> None:
        nonlocal seen
        seen += lines.count(b"\n")

    sink.add_listener(count)
    for i in range(500):
        sink.feed(f"line {i}\n".encode())
    sink.flush()
    assert seen == 500
    assert sink.dropped_bytes == sum(STAMP_LEN + len(f"line {i}\n") for i in range(500))
    assert (tmp_path / "svc.log.1").read_bytes() == b"2026-11-26T12:01:07.311 old\n" * 100
    disk.free(path)
    sink.feed(b"back\n")
    sink.close()
    assert [line[STAMP_LEN:] for line in path.read_text().splitlines()] == [
        f"[dev-orchestrator] {human_size(sink.dropped_bytes)} of output could not be written here (disk full)",
        "back",
    ]


def test_a_rotation_that_fails_keeps_writing_to_the_current_file(tmp_path: Path) -> None:
    path = tmp_path / "svc.log"
    (tmp_path / "svc.log.1").mkdir()  # a folder in the way: the rename fails
    (tmp_path / "svc.log.1" / "keep").write_text("x")
    sink = LogSink("svc", path, max_bytes=1024, backups=1)
    got: list[bytes] = []
    sink.add_listener(lambda _name, lines: got.append(lines))
    for i in range(100):
        sink.feed(f"line {i:04d}\n".encode())
    sink.close()
    assert len(got) == 100
    assert [line[STAMP_LEN:] for line in path.read_text().splitlines()] == [f"line {i:04d}" for i in range(100)]
    assert sink.dropped_bytes == 0
    assert sink.problem is not None and sink.problem.startswith(f"{path}: cannot rotate")
