"""CPU and memory of each service's process tree, for `status`.

The trees are walked down from each service's pid through the kernel's
``/proc/PID/task/TID/children`` lists, so a status costs a few reads per service rather
than a pass over every process of the machine; without those files (a kernel built
without them) it falls back to one pass over the process table.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

import psutil


class Usage:
    """Keeps psutil objects between calls: cpu_percent() measures since the previous call."""

    def __init__(self) -> None:
        self._procs: dict[tuple[int, float | None], psutil.Process] = {}

    def fill(self, services: dict[str, dict[str, Any]]) -> None:
        """Add ``cpu_percent`` and ``rss_bytes`` to each service record that has a pid."""
        children = kernel_children if os.path.exists(f"/proc/{os.getpid()}/task/{os.getpid()}/children") \
            else children_map().get
        families = {name: family(r.get("pid"), children) for name, r in services.items()}
        alive = {pid for members in families.values() for pid in members}
        self._procs = {k: p for k, p in self._procs.items() if k[0] in alive}  # forget ended ones
        for name, record in services.items():
            record.update(self.of(record.get("pid"), record.get("create_time"), families[name]))

    def of(self, pid: int | None, create_time: float | None, family: list[int]) -> dict[str, Any]:
        """CPU % (since the last status) and RSS of a service's whole process tree."""
        if not pid:
            return {"cpu_percent": None, "rss_bytes": None}
        cpu = 0.0
        rss = 0
        for member in family:
            try:
                proc = self._process(member, create_time if member == pid else None)
                cpu += proc.cpu_percent(None)
                rss += proc.memory_info().rss
            except psutil.Error:
                if member == pid:
                    return {"cpu_percent": None, "rss_bytes": None}
        return {"cpu_percent": round(cpu, 1), "rss_bytes": rss}

    def _process(self, pid: int, create_time: float | None) -> psutil.Process:
        proc = self._procs.get((pid, create_time))
        if proc is None or not proc.is_running():
            proc = self._procs[(pid, create_time)] = psutil.Process(pid)
        return proc


def family(pid: int | None, children: Callable[[int], Iterable[int] | None]) -> list[int]:
    """``pid`` and all its descendants, breadth-first (empty without a pid)."""
    if not pid:
        return []
    members = [pid]
    seen = {pid}
    for member in members:  # grows while we walk; a pid is taken once (no cycles)
        for child in children(member) or ():
            if child not in seen:
                seen.add(child)
                members.append(child)
    return members


def kernel_children(pid: int) -> list[int]:
    """The children of ``pid`` from /proc/PID/task/*/children (empty when it is gone)."""
    out: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", "rb") as fh:
                out.extend(int(n) for n in fh.read().split())
        except (OSError, ValueError):
            continue
    return out


def children_map() -> dict[int, list[int]]:
    """ppid -> child pids, from one pass over the process table."""
    tree: dict[int, list[int]] = {}
    for proc in psutil.process_iter(["ppid"]):
        tree.setdefault(proc.info["ppid"], []).append(proc.pid)
    return tree
