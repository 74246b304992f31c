"""Crash recovery: find what a dead supervisor left running and stop exactly that.

A leftover is ours only when it is provably ours (state.py): the recorded pid runs with
the recorded create time and carries the recorded marker, or, when the state file is
lost or corrupt, a live process carries this project's marker. Anything else is reported
and left alone: a record with a null create time or a recycled pid never gets a signal.
"""

from __future__ import annotations

import contextlib
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import psutil

from ..state import (
    Lock,
    Paths,
    StateUnreadable,
    load_state,
    marked_processes,
    marker,
    marker_of,
    protected_pids,
    verify,
    write_state,
)


def supervisor_alive(paths: Paths) -> bool:
    """True while a supervisor holds the project's lock."""
    return Lock(paths.lock).is_held_elsewhere()


@dataclass
class Leftovers:
    """What a dead supervisor left: provably ours, and records that are not ours any more."""

    state: dict[str, Any] | None
    ours: dict[str, dict[str, Any]] = field(default_factory=dict)
    foreign: dict[str, str] = field(default_factory=dict)  # service -> why it is not ours
    unreadable: str | None = None  # why state.json could not be used


def find_leftovers(paths: Paths) -> Leftovers:
    """Read the state file and the process table; decide what is ours (signals nothing)."""
    try:
        state = load_state(paths.state)
        unreadable = None
    except StateUnreadable as exc:
        state, unreadable = None, str(exc)
    out = Leftovers(state, unreadable=unreadable)
    for name, record in ((state or {}).get("services") or {}).items():
        if not isinstance(record, dict) or record.get("container"):
            continue
        expected = expected_marker(paths, state, name)
        # deploy.replicas: replica 1 is the record itself; the others are proven one by one
        extra = [r for r in record.get("replicas") or () if isinstance(r, dict) and r.get("replica") != 1]
        for key, entry in [(name, record), *((f"{name}#{r.get('replica')}", r) for r in extra)]:
            verdict = verify(entry.get("pid"), entry.get("create_time"), expected)
            if verdict.ours:
                out.ours[key] = {**record, **entry, "marker": expected}
            elif verdict.kind == "foreign":
                out.foreign[key] = verdict.reason
    # Processes recorded nowhere (killed between spawn and write, or a lost state file)
    # are found by this project's marker.
    known = {r.get("pid") for r in out.ours.values()}
    for proc in marked_processes(f"{paths.project_id}:"):
        if proc.pid in known:
            continue
        value = marker_of(proc) or ""
        service = value.split(":", 2)[-1]
        with contextlib.suppress(psutil.Error):
            # Only the topmost marked process of a family: its descendants go with it.
            parent = proc.parent()
            if parent is not None and marker_of(parent) == value:
                continue
            name = service if service not in out.ours else f"{service} (pid {proc.pid})"
            out.ours[name] = {"pid": proc.pid, "create_time": proc.create_time(), "marker": value,
                              "stop_signal": "SIGTERM", "stop_grace_period": 10.0, "found_by": "marker"}
            known.add(proc.pid)
    return out


def expected_marker(paths: Paths, state: dict[str, Any] | None, name: str) -> str | None:
    """The marker a process of ``name`` must carry: this project's id and the state's run.

    Built from the project's folder, not read from the record: a state file copied from
    another project (or edited) cannot make that project's processes look like ours.
    """
    token = (state or {}).get("run_token")
    if not isinstance(token, str) or not token:
        return None
    return marker(paths.project_id, token, name)


def orphans(paths: Paths, state: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Services of the state file whose recorded process is provably still ours."""
    if not state:
        return {}
    out = {}
    for name, record in (state.get("services") or {}).items():
        if isinstance(record, dict) and verify(
            record.get("pid"), record.get("create_time"), expected_marker(paths, state, name)
        ).ours:
            out[name] = record
    return out


def cleanup_orphans(paths: Paths, *, volumes: bool = False) -> dict[str, dict[str, Any]]:
    """Stop every leftover of a dead supervisor; return what was stopped and how."""
    if supervisor_alive(paths):
        return {}
    found = find_leftovers(paths)
    state = found.state
    stopped: dict[str, dict[str, Any]] = {}
    if found.ours:
        # Parallel: each waits out its own grace period; the slowest sets the total.
        with ThreadPoolExecutor(max_workers=min(32, len(found.ours))) as pool:
            results = pool.map(_stop_process, found.ours.values())
            stopped = dict(zip(found.ours, results, strict=True))
    if state and (state.get("docker") or any(isinstance(r, dict) and r.get("container")
                                              for r in (state.get("services") or {}).values())):
        with contextlib.suppress(Exception):
            from ..backends import docker as docker_backend

            for name in docker_backend.cleanup_project(state["project"], volumes=volumes).containers:
                stopped.setdefault(name, {"duration": 0.0, "killed": False})
    with contextlib.suppress(FileNotFoundError, IsADirectoryError):
        paths.socket.unlink()
    if state:
        for record in (state.get("services") or {}).values():
            record.update(state="stopped", health="none", pid=None, create_time=None, container=None)
            record.pop("replicas", None)
        with contextlib.suppress(OSError):
            write_state(paths.state, {k: v for k, v in state.items() if k != "version"} | {"stopped": True})
    return stopped


def _family(record: dict[str, Any]) -> list[psutil.Process]:
    """The leader, its descendants, and every process carrying the same marker."""
    pid = int(record["pid"])
    protected = protected_pids()
    members: dict[int, psutil.Process] = {}
    with contextlib.suppress(psutil.Error):
        leader = psutil.Process(pid)
        members[pid] = leader
        for child in leader.children(recursive=True):
            members.setdefault(child.pid, child)
    value = record.get("marker")
    if value:
        for proc in marked_processes(value):
            if marker_of(proc) == value:
                members.setdefault(proc.pid, proc)
    return [p for p in members.values() if p.pid not in protected]


def _stop_process(record: dict[str, Any]) -> dict[str, Any]:
    """Signal each member of a proven family by pid (never a whole process group)."""
    began = time.monotonic()
    try:
        sig = signal.Signals[str(record.get("stop_signal") or "SIGTERM")]
    except KeyError:
        sig = signal.SIGTERM
    try:
        grace = min(max(float(record.get("stop_grace_period") or 10.0), 0.0), 300.0)
    except (TypeError, ValueError):
        grace = 10.0
    family = _family(record)
    for proc in family:
        with contextlib.suppress(psutil.Error):
            proc.send_signal(sig)
    alive = _wait_gone(family, grace)
    killed = bool(alive)
    if alive:
        for proc in alive:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        _wait_gone(alive, 5.0)
    return {"duration": round(time.monotonic() - began, 4), "killed": killed}


def _running(proc: psutil.Process) -> bool:
    # An orphan's zombie waits for init to reap it: it is gone for our purposes.
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _wait_gone(procs: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    deadline = time.monotonic() + timeout
    alive = [p for p in procs if _running(p)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.02)
        alive = [p for p in alive if _running(p)]
    return alive
