"""`x-on-busy`: what a change does while the service's previous action still runs, through
`dev-orchestrator watch` on a real supervisor. The service takes 2.5 s to become ready
after each start, so three edits 0.7 s apart all arrive while the first restart runs."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import psutil
import pytest
from test_watch_cli import WatchProject

SLOW = json.dumps([sys.executable, "-c", "import time; time.sleep(2.5); print('ready', flush=True); time.sleep(600)"])


@pytest.mark.parametrize("mode", ["queue", "ignore", "restart"])
def test_changes_during_a_restart_follow_x_on_busy(tmp_path: Path, mode: str) -> None:
    project = WatchProject(tmp_path, polling=False)
    src = tmp_path / "src"
    src.mkdir()
    for name in ("a.py", "b.py", "c.py"):
        (src / name).write_text("x = 1\n")
        os.utime(src / name, (time.time() - 5, time.time() - 5))
    project.write(
        f"""
        name: busy
        services:
          api:
            command: {SLOW}
            healthcheck: {{log: "ready", retries: 60}}
            develop:
              watch:
                - {{path: ./src, action: restart, x-on-busy: {mode}, x-debounce: 200ms}}
        """
    )
    try:
        project.watch()
        (src / "a.py").write_text("x = 2\n")
        assert project.wait_for("restart ", timeout=0.1) is False  # nothing is done before the debounce
        time.sleep(0.7)
        (src / "b.py").write_text("x = 2\n")
        time.sleep(0.7)
        (src / "c.py").write_text("x = 2\n")
        if mode == "queue":
            # the first restart, then b.py and c.py merged into one more: nothing lost, nothing doubled
            assert project.wait_for("restart ", count=2, timeout=30), project.lines()
            time.sleep(1.0)
            restarts = project.actions("restart")
            assert len(restarts) == 2, project.lines()
            assert "src/a.py" in restarts[0]
            assert "2 files: src/b.py, src/c.py" in restarts[1]
        elif mode == "ignore":
            assert project.wait_for("restart ", count=1, timeout=30), project.lines()
            assert project.wait_for("ignored ", count=2, timeout=10), project.lines()
            time.sleep(1.0)
            assert len(project.actions("restart")) == 1 and "src/a.py" in project.actions("restart")[0]
            ignored = project.actions("ignored")
            assert "src/b.py (busy)" in ignored[0] and "src/c.py (busy)" in ignored[1], project.lines()
        else:
            # each newer change starts over; only the last one's restart runs to its end
            assert project.wait_for("restart ", count=1, timeout=30), project.lines()
            time.sleep(1.0)
            restarts = project.actions("restart")
            assert len(restarts) == 1 and "1 file: src/c.py" in restarts[0], project.lines()
        assert project.status()["api"]["state"] == "running"
        assert project.stop_watching() == 0
    finally:
        if project.proc is not None and project.proc.poll() is None:
            project.proc.kill()
            project.proc.wait()
        project.run("stop", "--grace", "1s", check=False)
    left = [p for p in psutil.process_iter(["cmdline"]) if any(str(tmp_path) in a for a in p.info["cmdline"] or [])]
    assert not left
