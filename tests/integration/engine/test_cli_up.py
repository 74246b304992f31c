"""The real ``dev-orchestrator up`` in a project folder: output, Ctrl-C, rollback, exit codes."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from .conftest import Project, UpRun, alive, marked_processes


def test_up_runs_the_stack_and_ctrl_c_stops_everything_with_exit_0(project: Project) -> None:
    db, api = project.port(), project.port()
    project.write({
        "db": project.server("db", db, "--delay", 0.2),
        "api": project.server("api", api, depends_on=["db"]),
        "seed": {"command": project.cmd("seed", "--exit", 0)},
    })
    run = UpRun(project.up())
    try:
        run.wait_line("3 services up")
        run.wait_line("db ready", stream="stdout")
        assert "api  | api ready" in run.wait_line("api ready", stream="stdout")
        run.signal(signal.SIGINT)
        code = run.finish()
    finally:
        run.finish()
    assert code == 0, run.stderr
    assert "stopped 2 services" in run.stderr
    assert "t · env dev · 3 services" in run.stderr
    assert "seed  exited  code 0" in run.stderr
    assert project.count("db", "term") == 1 and project.count("api", "term") == 1
    assert not marked_processes(project.mark)


def test_sigterm_stops_like_ctrl_c(project: Project) -> None:
    port = project.port()
    project.write({"one": project.server("one", port)})
    run = UpRun(project.up())
    try:
        run.wait_line("1 services up")
        run.signal(signal.SIGTERM)
        assert run.finish() == 0
    finally:
        run.finish()
    assert project.count("one", "term") == 1


def test_up_rolls_back_and_exits_1_naming_the_failure_and_its_last_lines(project: Project) -> None:
    db, broken = project.port(), project.port()
    project.write({
        "db": project.server("db", db, "--child"),
        # probed where nothing listens: it cannot look healthy in the moment before it exits
        "broken": {**project.server("broken", broken, "--delay", 0.2, "--exit", 7, healthcheck=never_healthy(project)),
                   "depends_on": ["db"]},
    })
    run = UpRun(project.up())
    code = run.finish()
    assert code == 1, run.stderr
    assert "broken failed: exited with code 7" in run.stderr
    assert "rolled back: stopped db" in run.stderr
    assert "last lines of" in run.stderr and "broken.log" in run.stderr
    assert "broken exiting with 7" in run.stderr
    assert not [p for p in project.pids("db") + project.pids("db-child") + project.pids("broken") if alive(p)]


def test_up_timeout_bounds_the_start(project: Project) -> None:
    port = project.port()
    project.write({"slow": project.server("slow", port, "--delay", 30)})
    began = time.monotonic()
    run = UpRun(project.up("--timeout", "500ms"))
    code = run.finish()
    assert code == 1
    assert "slow failed: not healthy within 0.5s" in run.stderr
    assert time.monotonic() - began < 10


def test_a_busy_port_fails_before_anything_starts(project: Project) -> None:
    busy, free = project.port(), project.port()
    squatter = subprocess.Popen(
        [sys.executable, "-c", f"import socket,time;s=socket.socket();s.bind(('127.0.0.1',{busy}));s.listen();"
         "print('up',flush=True);time.sleep(60)"],
        stdout=subprocess.PIPE, text=True, env=project.environ,
    )
    try:
        assert squatter.stdout is not None and squatter.stdout.readline() == "up\n"
        project.write({
            "first": project.server("first", free),
            "second": project.server("second", busy, depends_on=["first"]),
        })
        run = UpRun(project.up())
        assert run.finish() == 1
        assert f"port {busy} is needed by second but is in use by pid {squatter.pid}" in run.stderr
        assert "Nothing was started" in run.stderr
        assert project.events("first") == []
    finally:
        squatter.kill()
        squatter.wait()


def test_ctrl_c_during_start_up_stops_at_once(project: Project) -> None:
    fast, slow = project.port(), project.port()
    project.write({
        "fast": project.server("fast", fast),
        "slow": project.server("slow", slow, "--delay", 60),
    })
    run = UpRun(project.up())
    try:
        run.wait_line("fast ready", stream="stdout")
        began = time.monotonic()
        run.signal(signal.SIGINT)
        code = run.finish(timeout=20)
    finally:
        run.finish()
    assert code == 0, run.stderr
    assert time.monotonic() - began < 5
    assert project.count("fast", "term") == 1


def test_second_ctrl_c_kills_what_ignores_the_first(project: Project) -> None:
    port = project.port()
    project.write({"stubborn": project.server("stubborn", port, "--ignore-term", stop_grace_period="60s")})
    run = UpRun(project.up())
    try:
        run.wait_line("1 services up")
        run.signal(signal.SIGINT)
        run.wait_line("Ctrl-C again to kill")
        began = time.monotonic()
        run.signal(signal.SIGINT)
        code = run.finish(timeout=20)
    finally:
        run.finish()
    assert time.monotonic() - began < 5
    assert code == 0
    assert "killed" in run.stderr
    assert not [p for p in project.pids("stubborn") if alive(p)]


def test_the_rollback_summary_shows_wall_time_not_the_sum_of_parallel_stops(project: Project) -> None:
    # three independent services that each take their whole 1 s grace to stop, stopped in parallel
    ports = [project.port() for _ in range(4)]
    services = {
        f"slow{i}": project.server(f"slow{i}", ports[i], "--ignore-term", stop_grace_period="1s") for i in range(3)
    }
    services["broken"] = {**project.server("broken", ports[3], "--delay", 0.2, "--exit", 7,
                                           healthcheck=never_healthy(project)),
                          "depends_on": list(services)}
    project.write(services)
    run = UpRun(project.up())
    assert run.finish() == 1, run.stderr
    line = next(ln for ln in run.stderr.splitlines() if "rolled back: stopped" in ln)
    took = float(line.split("(")[1].split("s)")[0])
    assert 1.0 <= took < 2.5, line  # the sum would be at least 3 s


def never_healthy(project: Project) -> dict[str, object]:
    """An http check on a port nobody binds."""
    return {"http": {"url": f"http://127.0.0.1:{project.port()}/health"}}

