"""CPU and memory of each service's process tree, for `status`.

The trees are walked down from each service's pid through the kernel's
``/proc/PID/task/TID/children`` lists, so a status costs a few reads per service rather
than a pass over every process of the machine; without those files (a kernel built
without them) it falls back to one pass over the process table.
"""

from __future__ import annotations

from typing import Any

import psutil

from ..backends.proctree import children_map, children_of, family, kernel_children

__all__ = ["Usage", "children_map", "family", "kernel_children"]


class Usage:
    """Keeps psutil objects between calls: cpu_percent() measures since the previous call."""

    def __init__(self) -> None:
        self._procs: dict[tuple[int, float | None], psutil.Process] = {}

    def fill(self, services: dict[str, dict[str, Any]]) -> None:
        """Add ``cpu_percent`` and ``rss_bytes`` to each service record that has a pid."""
        children = children_of()
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
