"""CPU and memory of each service's process tree, for `status`.

The trees are walked down from each service's pid through the kernel's
``/proc/PID/task/TID/children`` lists, so a status costs a few reads per service rather
than a pass over every process of the machine; without those files (a kernel built
without them) it falls back to one pass over the process table.
"""

from __future__ import annotations

import time
from typing import Any

import psutil

from ..backends.proctree import children_map, children_of, family, kernel_children

__all__ = ["Usage", "children_map", "family", "kernel_children"]


class Usage:
    """Keeps each process's CPU time between calls: CPU % is measured since the previous call."""

    def __init__(self) -> None:
        # (pid, create time or None) -> (process, its CPU seconds, when they were read)
        self._procs: dict[tuple[int, float | None], tuple[psutil.Process, float, float]] = {}

    def fill(self, services: dict[str, dict[str, Any]]) -> None:
        """Add ``cpu_percent`` and ``rss_bytes`` to each service record that has a pid."""
        children = children_of()
        families = {name: family(r.get("pid"), children) for name, r in services.items()}
        alive = {pid for members in families.values() for pid in members}
        self._procs = {k: p for k, p in self._procs.items() if k[0] in alive}  # forget ended ones
        for name, record in services.items():
            record.update(self.of(record.get("pid"), record.get("create_time"), families[name]))

    def of(self, pid: int | None, create_time: float | None, family: list[int]) -> dict[str, Any]:
        """CPU % (since the last status, of one core) and RSS of a service's whole process tree.

        Each member costs one read of ``/proc/PID/stat`` and one of ``statm``. The leader is
        keyed by its recorded create time, so a recycled pid is a new entry; the other
        members were just read from the kernel's children lists, so they are alive.
        (psutil's ``is_running`` builds a second Process to compare, and ``cpu_percent``
        counts the CPUs at every call: together most of a status of 500 services.)
        """
        if not pid:
            return {"cpu_percent": None, "rss_bytes": None}
        cpu = 0.0
        rss = 0
        now = time.monotonic()
        for member in family:
            key = (member, create_time if member == pid else None)
            try:
                known = self._procs.get(key)
                proc = known[0] if known is not None else psutil.Process(member)
                with proc.oneshot():
                    times = proc.cpu_times()
                    rss += proc.memory_info().rss
                used = times.user + times.system
                if known is not None and now > known[2]:
                    cpu += max(0.0, used - known[1]) / (now - known[2]) * 100
                self._procs[key] = (proc, used, now)
            except psutil.Error:
                if member == pid:
                    return {"cpu_percent": None, "rss_bytes": None}
        return {"cpu_percent": round(cpu, 1), "rss_bytes": rss}
