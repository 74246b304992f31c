"""`dev-orchestrator watch` on real files, a real supervisor and real processes."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

CLI = [sys.executable, "-m", "dev_orchestrator.cli"]
SLEEPER = json.dumps([sys.executable, "-c", "import time; print('up', flush=True); time.sleep(600)"])


class WatchProject:
    def __init__(self, root: Path, polling: bool) -> None:
        self.root = root
        self.env = {**os.environ, "NO_COLOR": "1", "PYTHONUNBUFFERED": "1"}
        if polling:
            self.env["WATCHFILES_FORCE_POLLING"] = "1"
        self.proc: subprocess.Popen[str] | None = None
        self.out = root / "watch.out"

    def write(self, text: str) -> None:
        (self.root / "services.yaml").write_text(textwrap.dedent(text))

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([*CLI, *args], cwd=self.root, env=self.env, capture_output=True, text=True, timeout=60)
        if check:
            assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc

    def status(self) -> dict[str, Any]:
        return dict(json.loads(self.run("status", "--json").stdout)["services"])

    def pid(self, name: str) -> int | None:
        return self.status()[name]["pid"]

    def watch(self, *names: str) -> None:
        self.proc = subprocess.Popen([*CLI, "watch", *names], cwd=self.root, env=self.env, text=True,
                                     stdout=self.out.open("w"), stderr=subprocess.STDOUT)
        assert self.wait_for("watching ", timeout=60), self.lines()

    def lines(self) -> str:
        return self.out.read_text() if self.out.exists() else ""

    def actions(self, kind: str) -> list[str]:
        return [ln for ln in self.lines().splitlines() if f" {kind} " in ln and ln[:2].isdigit()]

    def wait_for(self, text: str, timeout: float = 20.0, count: int = 1) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.lines().count(text) >= count:
                return True
            if self.proc is not None and self.proc.poll() is not None:
                return self.lines().count(text) >= count
            time.sleep(0.05)
        return False

    def stop_watching(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(timeout=30)


@pytest.fixture(params=[False, True], ids=["inotify", "polling"])
def wp(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[WatchProject]:
    project = WatchProject(tmp_path, polling=request.param)
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text("x = 1\n")
    (tmp_path / "static").mkdir()
    (tmp_path / "static" / "old.txt").write_text("old\n")
    os.utime(tmp_path / "src" / "app.py", (time.time() - 5, time.time() - 5))  # polling sees whole seconds
    project.write(
        f"""
        name: watched
        services:
          api:
            command: {SLEEPER}
            environment: {{MODE: one}}
            develop:
              watch:
                - path: ./src
                  action: restart
                  ignore: ["*.tmp"]
                - path: ./static
                  target: ./public
                  action: sync
          other:
            command: {SLEEPER}
        """
    )
    yield project
    if project.proc is not None and project.proc.poll() is None:
        project.proc.kill()
        project.proc.wait()
    with contextlib.suppress(Exception):
        project.run("stop", "--grace", "1s", check=False)
    left = [p for p in psutil.process_iter(["cmdline"]) if any(str(tmp_path) in a for a in p.info["cmdline"] or [])]
    assert not left


def test_one_touch_one_restart_bursts_coalesce_and_ignored_paths_do_nothing(wp: WatchProject) -> None:
    wp.watch()
    assert wp.status()["api"]["watch"] is True and wp.status()["other"]["watch"] is False
    first = wp.pid("api")
    other = wp.pid("other")
    (wp.root / "src" / "app.py").write_text("x = 2\n")
    assert wp.wait_for(" restart ", count=1), wp.lines()
    second = wp.pid("api")
    assert second != first
    # a burst of 50 writes is one restart (written back to back: a loaded machine could
    # otherwise pause the writer longer than the 300 ms of quiet that ends a batch)
    for i in range(50):
        (wp.root / "src" / "app.py").write_text(f"x = {i}\n")
    assert wp.wait_for(" restart ", count=2), wp.lines()
    time.sleep(1.5)
    assert len(wp.actions("restart")) == 2, wp.lines()
    # ignored: the rule's own ignore, .git, the logs folder
    (wp.root / "src" / "scratch.tmp").write_text("t")
    (wp.root / ".git").mkdir(exist_ok=True)
    (wp.root / ".git" / "HEAD").write_text("ref")
    (wp.root / "logs" / "extra.log").write_text("x")
    time.sleep(2.5)
    assert len(wp.actions("restart")) == 2, wp.lines()
    assert wp.pid("other") == other
    assert wp.stop_watching() == 0
    assert wp.status()["api"]["state"] == "running"  # Ctrl-C stops watching, not the stack
    assert wp.status()["api"]["watch"] is False


def test_sync_copies_renames_and_deletes_without_a_restart(wp: WatchProject) -> None:
    wp.watch("api")
    pid = wp.pid("api")
    (wp.root / "static" / "page.html").write_text("<p>hi</p>")
    assert wp.wait_for(" sync ", count=1), wp.lines()
    assert (wp.root / "public" / "page.html").read_text() == "<p>hi</p>"
    (wp.root / "static" / "page.html").rename(wp.root / "static" / "moved.html")
    deadline = time.monotonic() + 20
    while not (wp.root / "public" / "moved.html").exists() or (wp.root / "public" / "page.html").exists():
        assert time.monotonic() < deadline, wp.lines()
        time.sleep(0.05)
    assert wp.pid("api") == pid
    assert not wp.actions("restart")


def test_an_edit_of_services_yaml_recreates_that_service_only(wp: WatchProject) -> None:
    wp.watch()
    api, other = wp.pid("api"), wp.pid("other")
    text = (wp.root / "services.yaml").read_text()
    (wp.root / "services.yaml").write_text(text.replace("MODE: one", "MODE: two"))
    assert wp.wait_for("services.yaml changed: api recreate (environment MODE)"), wp.lines()
    assert wp.pid("api") != api and wp.pid("other") == other
    # a broken edit is reported with its place; nothing changes
    (wp.root / "services.yaml").write_text(text.replace("MODE: one", "MODE: two") + "  bad: {command: 5}\n")
    assert wp.wait_for("not applied"), wp.lines()
    assert "services.bad.command" in wp.lines()


def test_start_watch_follows_in_the_background_and_ends_with_the_stack(wp: WatchProject) -> None:
    proc = wp.run("start", "--watch")
    assert "watching in the background" in proc.stdout
    log = wp.root / ".orchestrator" / "watch.log"
    deadline = time.monotonic() + 30
    while not (log.exists() and "watching 1 service" in log.read_text()):
        assert time.monotonic() < deadline, log.read_text() if log.exists() else "no watch.log"
        time.sleep(0.1)
    assert wp.status()["api"]["watch"] is True
    first = wp.pid("api")
    (wp.root / "src" / "app.py").write_text("x = 3\n")
    while " restart " not in log.read_text():
        assert time.monotonic() < deadline + 30, log.read_text()
        time.sleep(0.1)
    assert wp.pid("api") != first
    wp.run("stop")
    while "stopped watching" not in log.read_text():
        assert time.monotonic() < deadline + 60, log.read_text()
        time.sleep(0.1)


def test_up_watch_restarts_in_the_foreground_engine_and_ctrl_c_stops_all(wp: WatchProject) -> None:
    wp.proc = subprocess.Popen([*CLI, "up", "--watch"], cwd=wp.root, env=wp.env, text=True,
                               stdout=wp.out.open("w"), stderr=subprocess.STDOUT)
    assert wp.wait_for("services up", timeout=60), wp.lines()
    time.sleep(0.5)
    (wp.root / "src" / "app.py").write_text("x = 9\n")
    assert wp.wait_for(" restart ", timeout=30), wp.lines()
    text = (wp.root / "services.yaml").read_text()
    (wp.root / "services.yaml").write_text(text.replace("MODE: one", "MODE: three"))
    assert wp.wait_for("services.yaml changed: api recreate (environment MODE)", timeout=30), wp.lines()
    assert wp.stop_watching() == 0
    assert "stopped 2 services" in wp.lines()


def test_a_service_that_rewrites_its_own_watched_files_is_suspended(tmp_path: Path) -> None:
    wp = WatchProject(tmp_path, polling=False)
    (tmp_path / "gen").mkdir()
    writer = json.dumps([sys.executable, "-c",
                         "import time; open('gen/stamp.txt', 'w').write(str(time.time())); time.sleep(600)"])
    wp.write(
        f"""
        name: loop
        services:
          looper:
            command: {writer}
            develop:
              watch:
                - {{path: ./gen, action: restart, x-debounce: 100ms}}
        """
    )
    try:
        wp.watch()
        (tmp_path / "gen" / "stamp.txt").write_text("edit")
        assert wp.wait_for("suspended", timeout=60), wp.lines()
        line = next(ln for ln in wp.lines().splitlines() if "suspended" in ln)
        assert "gen/stamp.txt" in line
        restarts = len(wp.actions("restart"))
        time.sleep(2.0)
        assert len(wp.actions("restart")) == restarts  # no more restarts once suspended
    finally:
        if wp.proc is not None and wp.proc.poll() is None:
            wp.stop_watching()
        wp.run("stop", check=False)


def test_x_cascade_restarts_the_dependents_too(tmp_path: Path) -> None:
    project = WatchProject(tmp_path, polling=False)
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text("x = 1\n")
    os.utime(tmp_path / "src" / "app.py", (time.time() - 5, time.time() - 5))
    project.write(
        f"""
        name: cascade
        services:
          api:
            command: {SLEEPER}
            develop:
              watch:
                - {{path: ./src, action: restart, x-cascade: true}}
          worker:
            command: {SLEEPER}
            depends_on: [api]
          other:
            command: {SLEEPER}
        """
    )
    try:
        project.watch()
        before = {name: project.pid(name) for name in ("api", "worker", "other")}
        (tmp_path / "src" / "app.py").write_text("x = 2\n")
        assert project.wait_for("restart ", count=1), project.lines()
        assert "(and worker)" in project.lines()
        after = {name: project.pid(name) for name in ("api", "worker", "other")}
        assert after["api"] != before["api"] and after["worker"] != before["worker"]
        assert after["other"] == before["other"]  # not a dependent: left alone
        assert project.stop_watching() == 0
    finally:
        if project.proc is not None and project.proc.poll() is None:
            project.proc.kill()
            project.proc.wait()
        project.run("stop", "--grace", "1s", check=False)
    left = [p for p in psutil.process_iter(["cmdline"]) if any(str(tmp_path) in a for a in p.info["cmdline"] or [])]
    assert not left
