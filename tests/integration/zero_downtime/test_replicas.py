"""`deploy.replicas` of a local service behind a `listen` port: N instances, one port, rolling restarts."""

from __future__ import annotations

import asyncio
import os
import signal

import psutil
from supervisor_cli.conftest import wait_until

from .conftest import ZeroDowntimeProject, port_is_free
from .load import Background, request, wait_time


def replica_pids(project: ZeroDowntimeProject) -> dict[int, int | None]:
    record = project.status()["services"]["web"]
    return {r["replica"]: r["pid"] for r in record.get("replicas", [])}


def served_by(port: int, count: int) -> set[str]:
    async def many() -> list[tuple[str, str]]:
        return [await request(port) for _ in range(count)]

    results = asyncio.run(many())
    assert all(outcome == "ok" for outcome, _ in results), results
    return {body.split()[0] for _, body in results}


def test_replicas_share_one_port_and_a_crashed_one_costs_no_request(project: ZeroDowntimeProject,
                                                                     port: int) -> None:
    project.service(port, replicas=3, extra="restart: always\n")
    project.run("start", check=True)
    pids = replica_pids(project)
    assert sorted(pids) == [1, 2, 3] and len(set(pids.values())) == 3 and None not in pids.values()
    for pid in pids.values():  # each knows its number
        assert psutil.Process(pid).environ()["DEV_ORCHESTRATOR_REPLICA"] in ("1", "2", "3")
    assert served_by(port, 30) == {str(p) for p in pids.values()}  # round robin over all three

    table = project.run("status", check=True).stdout
    assert "web#2" in table and "web#3" in table, table

    with Background(port, rate=100, duration=3.0) as load:
        wait_time(0.5)
        victim = pids[2]
        assert victim is not None
        os.kill(victim, signal.SIGKILL)  # a process this test's supervisor started
        result = load.finish()
    assert result.failed == 0, (result.outcomes, result.errors)
    assert wait_until(lambda: replica_pids(project).get(2) not in (None, victim), timeout=15)
    project.run("stop", check=True)
    assert port_is_free(port)
    for pid in pids.values():
        assert pid is not None and not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_rolling_restart_of_replicas_under_load_loses_no_request(project: ZeroDowntimeProject, port: int) -> None:
    project.service(port, replicas=2)
    project.run("start", check=True)
    before = replica_pids(project)
    with Background(port, rate=120, duration=6.0) as load:
        wait_time(0.4)
        proc = project.run("restart", "web", check=True)
        result = load.finish()
    after = replica_pids(project)
    assert result.failed == 0, (result.outcomes, result.errors)
    assert sorted(after) == [1, 2]
    assert not set(after.values()) & set(before.values()), (before, after)  # every replica replaced
    assert f"replaced pid {before[1]} -> {after[1]}" in proc.stderr + proc.stdout


def test_scaling_up_in_the_files_starts_the_extra_replica(project: ZeroDowntimeProject, port: int) -> None:
    project.service(port, replicas=1)
    project.run("start", check=True)
    assert "replicas" not in project.status()["services"]["web"]
    project.service(port, replicas=2)
    project.run("start", check=True)  # apply: the definition changed, replaced start-first
    pids = replica_pids(project)
    assert sorted(pids) == [1, 2] and None not in pids.values()
    assert served_by(port, 10) == {str(p) for p in pids.values()}
    project.service(port, replicas=1)
    project.run("start", check=True)
    assert "replicas" not in project.status()["services"]["web"]
    assert len(served_by(port, 6)) == 1


def test_a_killed_supervisor_leaves_no_replica_behind(project: ZeroDowntimeProject, port: int) -> None:
    project.service(port, replicas=2)
    project.run("start", check=True)
    pids = [p for p in replica_pids(project).values() if p is not None]
    supervisor = project.supervisor_pid()
    assert supervisor is not None and len(pids) == 2
    os.kill(supervisor, signal.SIGKILL)  # the supervisor this test started
    assert wait_until(lambda: not psutil.pid_exists(supervisor) or
                      psutil.Process(supervisor).status() == psutil.STATUS_ZOMBIE, timeout=10)
    project.run("stop", check=True)  # finds the leftovers by the state file and the marker
    assert wait_until(lambda: not any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE
                                      for p in pids), timeout=10)


def test_start_scale_adds_and_removes_replicas_and_replaces_none(project: ZeroDowntimeProject, port: int) -> None:
    project.service(port, replicas=2)
    project.run("start", check=True)
    before = replica_pids(project)
    dry = project.run("start", "--scale", "web=3", "--dry-run", check=True)
    assert "scale" in dry.stdout and "replicas 2 -> 3" in dry.stdout, dry.stdout
    assert replica_pids(project) == before  # a dry run changes nothing
    project.run("start", "--scale", "web=3", check=True)
    three = replica_pids(project)
    assert sorted(three) == [1, 2, 3] and None not in three.values()
    assert {k: three[k] for k in (1, 2)} == before  # the running replicas were kept, one was added
    assert served_by(port, 30) == {str(p) for p in three.values()}
    project.run("start", "--scale", "web=1", check=True)
    assert "replicas" not in project.status()["services"]["web"]
    assert served_by(port, 6) == {str(before[1])}  # replica 1 kept serving; 2 and 3 stopped
    for pid in (three[2], three[3]):
        assert pid is not None
        assert wait_until(lambda pid=pid: not psutil.pid_exists(pid)
                          or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE, timeout=10)
    bad = project.run("start", "--scale", "web=lots")
    assert bad.returncode == 2 and "expected SERVICE=NUMBER" in bad.stderr and "Traceback" not in bad.stderr
