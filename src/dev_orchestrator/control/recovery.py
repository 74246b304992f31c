"""Crash recovery: find what a dead supervisor left running (pid + create time from the
state file) and stop exactly that, then clear the stale socket and state."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psutil

from ..state import Lock, Paths, process_matches, read_state, write_state


def supervisor_alive(paths: Paths) -> bool:
    """True while a supervisor holds the project's lock."""
    return Lock(paths.lock).is_held_elsewhere()


def orphans(state: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Services of the state file whose recorded process still runs (same pid, same start)."""
    if not state:
        return {}
    out = {}
    for name, record in (state.get("services") or {}).items():
        if process_matches(record.get("pid"), record.get("create_time")):
            out[name] = record
    return out


def cleanup_orphans(paths: Paths, *, volumes: bool = False) -> dict[str, dict[str, Any]]:
    """Stop every leftover of a dead supervisor; return what was stopped and how."""
    if supervisor_alive(paths):
        return {}
    state = read_state(paths.state)
    stopped: dict[str, dict[str, Any]] = {}
    left = orphans(state)
    if left:
        # Parallel: each waits out its own grace period; the slowest sets the total.
        with ThreadPoolExecutor(max_workers=min(32, len(left))) as pool:
            results = pool.map(_stop_process, left.values())
            stopped = dict(zip(left, results, strict=True))
    if state and (state.get("docker") or any(r.get("container") for r in (state.get("services") or {}).values())):
        with contextlib.suppress(Exception):
            from ..backends import docker as docker_backend

            for name in docker_backend.cleanup_project(state["project"], volumes=volumes).containers:
                stopped.setdefault(name, {"duration": 0.0, "killed": False})
    with contextlib.suppress(FileNotFoundError):
        paths.socket.unlink()
    if state:
        for record in (state.get("services") or {}).values():
            record.update(state="stopped", health="none", pid=None, create_time=None, container=None)
        write_state(paths.state, {k: v for k, v in state.items() if k != "version"} | {"stopped": True})
    return stopped


def _stop_process(record: dict[str, Any]) -> dict[str, Any]:
    began = time.monotonic()
    pid = int(record["pid"])
    sig = signal.Signals[record.get("stop_signal") or "SIGTERM"]
    grace = float(record.get("stop_grace_period") or 10.0)
    try:
        family = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    except psutil.Error:
        family = []
    with contextlib.suppress(OSError):
        os.killpg(pid, sig)
    for proc in family:
        with contextlib.suppress(psutil.Error):
            proc.send_signal(sig)
    alive = _wait_gone(family, grace)
    killed = bool(alive)
    if alive:
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)
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
