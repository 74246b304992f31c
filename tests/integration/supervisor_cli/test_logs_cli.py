"""`logs`: last lines merged in time order, and -f following across rotation."""

from __future__ import annotations

import os
import subprocess
import time

from .conftest import CLI, Project


def write_log(project: Project, service: str, lines: list[tuple[str, str]]) -> None:
    logs = project.root / "logs"
    logs.mkdir(exist_ok=True)
    with open(logs / f"{service}.log", "a") as fh:
        for stamp, text in lines:
            fh.write(f"2026-11-26T{stamp} {text}\n")


def test_logs_merge_in_time_order_and_n(project: Project) -> None:
    project.write("services:\n  a: {command: 'true'}\n  b: {command: 'true'}\n")
    write_log(project, "a", [("10:00:00.000", "a1"), ("10:00:02.000", "a2"), ("10:00:04.000", "a3")])
    write_log(project, "b", [("10:00:01.000", "b1"), ("10:00:03.000", "b2")])
    out = project.run("logs", check=True).stdout.splitlines()
    assert [line.split("| ")[1] for line in out] == ["a1", "b1", "a2", "b2", "a3"]
    assert out[0].startswith("10:00:00.000 a |")
    out = project.run("logs", "-n", "2", check=True).stdout.splitlines()
    assert [line.split("| ")[1] for line in out] == ["b2", "a3"]
    out = project.run("logs", "b", check=True).stdout.splitlines()
    assert [line.split("| ")[1] for line in out] == ["b1", "b2"]
    bad = project.run("logs", "c")
    assert bad.returncode == 2 and "no log for c" in bad.stderr


def test_logs_follow_across_rotation(project: Project) -> None:
    project.write("services:\n  a: {command: 'true'}\n")
    write_log(project, "a", [("10:00:00.000", "old")])
    env = {**os.environ, "NO_COLOR": "1", "PYTHONUNBUFFERED": "1"}
    follower = subprocess.Popen([*CLI, "logs", "-f", "-n", "1", "a"], cwd=project.root, env=env,
                                stdout=subprocess.PIPE, text=True)
    try:
        assert follower.stdout is not None
        assert "old" in follower.stdout.readline()
        write_log(project, "a", [("10:00:01.000", "before-rotation")])
        assert "before-rotation" in follower.stdout.readline()
        log = project.root / "logs" / "a.log"
        os.replace(log, log.with_name("a.log.1"))  # rotation: a new file takes the name
        time.sleep(0.3)  # let the follower see the old file end (the poll interval is 0.1 s)
        write_log(project, "a", [("10:00:02.000", "after-rotation")])
        assert "after-rotation" in follower.stdout.readline()
    finally:
        follower.terminate()
        follower.wait(10)
