"""Crash recovery: kill -9 the supervisor (at a chosen moment, or at random ones during
`start`), break its state file, and check that `status` tells the truth and `stop` stops
exactly what the dead supervisor left, found by record or by marker."""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
from typing import Any

import psutil
import pytest

from .conftest import (
    CLI,
    Project,
    alive,
    gone,
    marked,
    output,
    processes_in,
    supervisor_processes,
    wait_until,
)


def _stack(project: Project) -> None:
    project.write(
        f"""
        name: chaos
        services:
          web:
            command: {project.sleeper()}
            stop_grace_period: 2s
          worker:
            command: {project.sleeper("--child")}
            stop_grace_period: 2s
            depends_on: [web]
        """
    )


def _family(pids: dict[str, int | None]) -> list[int]:
    """The services' pids and their descendants."""
    out = []
    for pid in pids.values():
        assert pid is not None
        out.append(pid)
        with contextlib.suppress(psutil.Error):
            out.extend(p.pid for p in psutil.Process(pid).children(recursive=True))
    return out


def _kill_supervisor(project: Project) -> int:
    sup = project.supervisor_pid()
    os.kill(sup, signal.SIGKILL)
    assert wait_until(lambda: gone(sup), timeout=10)
    return sup


@pytest.mark.timeout(90)
def test_kill_9_supervisor_then_status_and_stop_exactly_what_it_left(project: Project) -> None:
    _stack(project)
    project.run("start", check=True)
    pids = project.pids()
    assert wait_until(lambda: psutil.Process(pids["worker"]).children(), timeout=5)  # type: ignore[arg-type]
    family = _family(pids)
    bystander = project.bystander()
    _kill_supervisor(project)

    table = project.run("status", check=True).stdout
    assert "NOT running (it died)" in table and "still alive" in table, table
    data = project.status()
    assert data["supervisor"]["running"] is False
    for name, pid in pids.items():
        record = data["services"][name]
        assert record["state"] == "running" and record["pid"] == pid, (name, record)
        assert record["detail"] == "left running by a supervisor that died", (name, record)
    assert all(alive(p) for p in family), "status must not signal anything"

    proc = project.run("stop")
    assert proc.returncode == 0, output(proc)
    assert "stopped 2 services left by a supervisor that had died" in output(proc), output(proc)
    left = [p for p in family if not gone(p)]
    assert not left, f"still running after stop: {left}"
    assert alive(bystander), "stop signalled a process that was never the project's"
    assert not marked(f"{project.project_id}:")
    assert project.status()["supervisor"]["running"] is False


@pytest.mark.timeout(90)
def test_a_spawn_only_in_the_journal_is_found_by_its_record(project: Project) -> None:
    """The supervisor dies after a spawn reached the journal but before the next full write
    of state.json: the record comes from the journal (pid and create time, not a marker
    search), `status` shows the service and `stop` stops it."""
    from dev_orchestrator.control.recovery import find_leftovers
    from dev_orchestrator.state import Paths

    project.sleepers("web", "api")
    project.run("start", check=True)
    pids = project.pids()
    _kill_supervisor(project)
    state = project.state()
    web = state["services"]["web"]
    assert web["pid"] == pids["web"]
    # state.json as the last full write before web's spawn left it; the spawn in the journal
    line = {"seq": state["journal_seq"] + 1, "run_token": state["run_token"], "service": "web", "record": web}
    state["services"]["web"] = {**web, "state": "starting", "pid": None, "create_time": None}
    project.state_path.write_text(json.dumps(state))
    stranger = {**line, "seq": line["seq"] + 1, "run_token": "another-run",
                "record": {**web, "pid": os.getpid()}}
    (project.runtime / "state.journal").write_text(
        json.dumps(line) + "\n" + json.dumps(stranger) + "\n" + '{"seq": 99, "run_tok')

    found = find_leftovers(Paths(project.root))
    assert found.ours["web"]["pid"] == pids["web"] and "found_by" not in found.ours["web"], found.ours
    assert found.ours["api"]["pid"] == pids["api"]
    record = project.status()["services"]["web"]
    assert record["pid"] == pids["web"] and record["detail"] == "left running by a supervisor that died"
    proc = project.run("stop")
    assert proc.returncode == 0, output(proc)
    assert "stopped 2 services left by a supervisor that had died" in output(proc), output(proc)
    assert gone(pids["web"]) and gone(pids["api"])
    assert not marked(f"{project.project_id}:")
    # what the cleanup wrote back covers the journal: web is not resurrected from it
    assert project.status()["services"]["web"]["pid"] is None


CORRUPTIONS = {
    "truncated to half": lambda raw: raw[: len(raw) // 2],
    "garbage bytes": lambda raw: random.Random(7).randbytes(len(raw)),
    "another version": lambda raw: json.dumps({**json.loads(raw), "version": 99}).encode(),
}


@pytest.mark.timeout(90)
@pytest.mark.parametrize("how", list(CORRUPTIONS))
def test_corrupt_state_after_kill_9_is_reported_and_stop_finds_by_marker(project: Project, how: str) -> None:
    _stack(project)
    project.run("start", check=True)
    pids = project.pids()
    assert wait_until(lambda: psutil.Process(pids["worker"]).children(), timeout=5)  # type: ignore[arg-type]
    family = _family(pids)
    _kill_supervisor(project)
    project.state_path.write_bytes(CORRUPTIONS[how](project.state_path.read_bytes()))

    proc = project.run("status")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    warned = proc.stderr.lower()
    assert "not valid json" in warned or "unreadable" in warned or "ignored" in warned, proc.stderr
    assert "state.json" in proc.stderr, proc.stderr
    data = project.status()
    for name, pid in pids.items():
        assert data["services"][name]["pid"] == pid, (name, data["services"][name])
        assert data["services"][name]["state"] == "running", (name, data["services"][name])
    assert all(alive(p) for p in family)

    proc = project.run("stop")
    assert proc.returncode == 0, output(proc)
    assert "left by a supervisor that had died" in output(proc), output(proc)
    left = [p for p in family if not gone(p)]
    assert not left, f"still running after stop with a corrupt state file: {left}"
    assert not marked(f"{project.project_id}:")


TRIALS = 8


def _marked_children(pid: int) -> int:
    """How many descendants of ``pid`` carry a marker (services spawned so far)."""
    try:
        kids = psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return 0
    count = 0
    for kid in kids:
        with contextlib.suppress(psutil.Error):
            count += "DEV_ORCHESTRATOR_MARKER" in kid.environ()
    return count


def _daemon_of(starter: subprocess.Popen[Any], project: Project) -> psutil.Process | None:
    """The supervisor that this `start` spawned (a child of ours, in the project folder)."""
    with contextlib.suppress(psutil.Error):
        for kid in psutil.Process(starter.pid).children():
            with contextlib.suppress(psutil.Error):
                if "dev_orchestrator.control.daemon" in " ".join(kid.cmdline()) and kid.cwd() == str(project.root):
                    return kid
    return None


@pytest.mark.timeout(150)
def test_kill_9_at_random_moments_of_start_leaves_nothing(project: Project) -> None:
    """`start` in the background; kill -9 its supervisor a random 0-200 ms (fixed seed)
    after a stage of its start-up: the supervisor exists, then 1, 2 and all 3 services
    have been spawned (stages in turn, so that every window is hit whatever the load).
    Then `stop`: afterwards no process carries the project's marker."""
    project.write(
        f"""
        name: chaos
        services:
          a:
            command: {project.sleeper()}
            stop_grace_period: 1s
          b:
            command: {project.sleeper("--child")}
            stop_grace_period: 1s
            depends_on: [a]
          c:
            command: {project.sleeper()}
            stop_grace_period: 1s
        """
    )
    rng = random.Random(20251201)
    prefix = f"{project.project_id}:"
    outcomes: list[str] = []
    recovered = 0
    for trial in range(TRIALS):
        stage = trial % 4  # services spawned before the random delay starts
        delay = rng.uniform(0.0, 0.2)
        starter = subprocess.Popen([*CLI, "start"], cwd=project.root, env=project.env(),
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            holder: list[psutil.Process] = []

            def appeared(starter: subprocess.Popen[Any] = starter, holder: list[psutil.Process] = holder) -> bool:
                daemon = _daemon_of(starter, project)
                if daemon is not None:
                    holder.append(daemon)
                return daemon is not None or starter.poll() is not None

            assert wait_until(appeared, timeout=30, interval=0.005), f"trial {trial}: no supervisor appeared"
            assert holder, f"trial {trial}: start exited before its supervisor appeared"
            daemon = holder[0]
            wait_until(lambda daemon=daemon, stage=stage: _marked_children(daemon.pid) >= stage,
                       timeout=30, interval=0.005)
            wait_until(lambda: False, timeout=delay, interval=0.005)
            spawned = _marked_children(daemon.pid)
            with contextlib.suppress(psutil.Error):
                daemon.send_signal(signal.SIGKILL)
            code = starter.wait(timeout=60)
        finally:
            if starter.poll() is None:
                starter.kill()
                starter.wait(timeout=10)
        assert wait_until(lambda daemon=daemon: gone(daemon.pid), timeout=10)
        stop = project.run("stop")
        said = output(stop).strip()
        recovered += "left by a supervisor that had died" in said
        last = said.splitlines()[-1] if said else "-"
        outcomes.append(f"trial {trial}: stage {stage} + {delay * 1000:.0f} ms ({spawned} marked processes),"
                        f" start exit {code}, stop: {last}")
        assert stop.returncode == 0, f"{outcomes[-1]}\n{said}"
        left = marked(prefix)
        assert not left, f"{outcomes[-1]}: left behind: {[(p.pid, p.cmdline()) for p in left]}"
        assert not supervisor_processes(project.root), outcomes[-1]
        assert not processes_in(project.root), outcomes[-1]
    print("\n".join(outcomes))
    assert recovered, "no trial left services behind: the kills all came too early to test recovery"
