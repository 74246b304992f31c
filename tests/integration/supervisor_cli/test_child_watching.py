"""Children are waited for in the event loop (a pidfd each), not by a thread per child:
the supervisor and `up` with 40 running services keep a handful of threads."""

from __future__ import annotations

import os
import signal
import subprocess

import psutil

from .conftest import CLI, Project, wait_until

SERVICES = 40


def write_sleepers(project: Project) -> None:
    lines = "\n".join(f"  s{i}: {{command: [sleep, '600']}}" for i in range(SERVICES))
    (project.root / "services.yaml").write_text(f"name: sleepers\nservices:\n{lines}\n")


def test_the_supervisor_runs_no_thread_per_service(project: Project) -> None:
    write_sleepers(project)
    project.run("start", check=True, timeout=120)
    pid = project.supervisor_pid()
    assert pid is not None
    supervisor = psutil.Process(pid)
    assert len([c for c in supervisor.children() if c.name() == "sleep"]) == SERVICES
    assert supervisor.num_threads() < 10, supervisor.num_threads()  # a thread per child would be 40 more
    project.run("stop", check=True, timeout=120)


def test_up_runs_no_thread_per_service(project: Project) -> None:
    write_sleepers(project)
    env = {**os.environ, "NO_COLOR": "1"}
    proc = subprocess.Popen([*CLI, "up"], cwd=project.root, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        up = psutil.Process(proc.pid)
        assert wait_until(lambda: len([c for c in up.children() if c.name() == "sleep"]) == SERVICES, timeout=60)
        assert up.num_threads() < 10, up.num_threads()
    finally:
        proc.send_signal(signal.SIGINT)  # the process this test started
        assert proc.wait(timeout=60) == 0, proc.stderr.read() if proc.stderr else ""
