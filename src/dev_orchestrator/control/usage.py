"""CPU and memory of each service's process tree, for `status` (one pass over the table)."""

from __future__ import annotations

from typing import Any

import psutil


class Usage:
    """Keeps psutil objects between calls: cpu_percent() measures since the previous call."""

    def __init__(self) -> None:
        self._procs: dict[tuple[int, float | None], psutil.Process] = {}

    def fill(self, services: dict[str, dict[str, Any]]) -> None:
        """Add ``cpu_percent`` and ``rss_bytes`` to each service record that has a pid."""
        tree = children_map()
        alive = {pid for kids in tree.values() for pid in kids}
        self._procs = {k: p for k, p in self._procs.items() if k[0] in alive}  # forget ended ones
        for record in services.values():
            record.update(self.of(record.get("pid"), record.get("create_time"), tree))

    def of(self, pid: int | None, create_time: float | None, tree: dict[int, list[int]]) -> dict[str, Any]:
        """CPU % (since the last status) and RSS of a service's whole process tree."""
        if not pid:
            return {"cpu_percent": None, "rss_bytes": None}
        family = [pid]
        for member in family:  # grows while we walk: breadth-first over the tree
            family.extend(tree.get(member, ()))
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


def children_map() -> dict[int, list[int]]:
    """ppid -> child pids, from one pass over the process table."""
    tree: dict[int, list[int]] = {}
    for proc in psutil.process_iter(["ppid"]):
        tree.setdefault(proc.info["ppid"], []).append(proc.pid)
    return tree
