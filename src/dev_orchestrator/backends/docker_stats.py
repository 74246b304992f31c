"""CPU and memory of containers for `status`, from Docker's stats (one sample per call).

``one_shot`` stats answer at once (no two-second wait for a second sample); the CPU share
is computed against the previous sample of the same container, as `status` does for
processes (the share used since the previous `status`).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any


class ContainerStats:
    """Remembers the last CPU sample of each container between calls."""

    def __init__(self) -> None:
        self._last: dict[str, tuple[int, int]] = {}

    async def fill(self, api: Any, services: dict[str, dict[str, Any]]) -> None:
        """Add ``cpu_percent`` and ``rss_bytes`` to each record that names a container."""
        wanted = {name: str(r["container"]) for name, r in services.items() if r.get("container")}
        if not wanted:
            return
        samples = await asyncio.gather(*(asyncio.to_thread(self._sample, api, cid) for cid in wanted.values()))
        for name, usage in zip(wanted, samples, strict=True):
            services[name].update(usage)
        self._last = {cid: v for cid, v in self._last.items() if cid in wanted.values()}

    def _sample(self, api: Any, container: str) -> dict[str, Any]:
        try:
            stats = api.stats(container, stream=False, one_shot=True)
        except Exception:  # noqa: BLE001 - a container that just went away, an old engine
            return {"cpu_percent": None, "rss_bytes": None}
        return {"cpu_percent": self._cpu(container, stats), "rss_bytes": memory(stats)}

    def _cpu(self, container: str, stats: dict[str, Any]) -> float | None:
        cpu = stats.get("cpu_stats") or {}
        total = (cpu.get("cpu_usage") or {}).get("total_usage")
        system = cpu.get("system_cpu_usage")
        if not isinstance(total, int) or not isinstance(system, int):
            return None
        previous = self._last.get(container)
        self._last[container] = (total, system)
        if previous is None or system <= previous[1]:
            return 0.0
        cpus = cpu.get("online_cpus") or len((cpu.get("cpu_usage") or {}).get("percpu_usage") or []) or 1
        return round((total - previous[0]) / (system - previous[1]) * cpus * 100.0, 1)


def memory(stats: dict[str, Any]) -> int | None:
    """Resident memory as `docker stats` shows it: usage less the page cache."""
    mem = stats.get("memory_stats") or {}
    usage = mem.get("usage")
    if not isinstance(usage, int):
        return None
    detail = mem.get("stats") or {}
    cache = 0
    with contextlib.suppress(TypeError, ValueError):
        cache = int(detail.get("inactive_file", detail.get("total_inactive_file", detail.get("cache", 0))) or 0)
    return max(usage - cache, 0)
