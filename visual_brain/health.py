"""Liveness, readiness and deep health of Visual Brain, and the cached GPU probe.

Readiness: Redis answers and the worker runs. Deep: readiness, a queue round trip and
the GPU probe (a CPU fallback is healthy unless ``gpu.required``).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from dev_orchestrator.gpu import GpuReport, detect

from .jobs import JobStore
from .worker import Worker

CHECK_TIMEOUT_S = 2.0
GPU_TIMEOUT_S = 15.0  # a first nvidia-smi call can take seconds without persistence mode


@dataclass
class GpuProbe:
    """GPU detection is slow (NVML init, nvidia-smi): run it in a thread, reuse it a while."""

    cache_s: float = 30.0
    _report: GpuReport | None = None
    _at: float = 0.0
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def report(self, refresh: bool = False) -> GpuReport:
        async with self._lock:  # one detection at a time; waiters reuse its result
            fresh = self._report is not None and time.monotonic() - self._at < self.cache_s
            if refresh or not fresh:
                try:
                    self._report = await asyncio.to_thread(detect)
                except Exception as exc:  # detection bugs become an error report
                    self._report = GpuReport(backend="none", error=f"{type(exc).__name__}: {exc}")
                self._at = time.monotonic()
            assert self._report is not None
            return self._report


async def _timed(name: str, coro: Any, timeout: float = CHECK_TIMEOUT_S) -> dict[str, Any]:
    start = time.perf_counter()
    try:
        detail = await asyncio.wait_for(coro, timeout)
        ok = True
    except TimeoutError:
        ok, detail = False, f"no answer within {timeout:g}s"
    except Exception as exc:
        ok, detail = False, f"{type(exc).__name__}: {exc}"
    return {
        "name": name,
        "ok": ok,
        "detail": detail,
        "latency_ms": round((time.perf_counter() - start) * 1000, 2),
    }


async def _redis_ping(store: JobStore) -> str:
    await store.redis.ping()
    return "PONG"


async def _worker_state(worker: Worker | None) -> str:
    if worker is None:
        return "disabled (jobs.concurrency is 0: this instance only accepts jobs)"
    if not worker.alive:
        raise RuntimeError("worker is not running or its heartbeat is stale")
    return (
        f"worker running: {worker.in_flight} of {worker.concurrency} "
        f"{'slot' if worker.concurrency == 1 else 'slots'} busy, {worker.processed} "
        f"{'job' if worker.processed == 1 else 'jobs'} done"
    )


async def _round_trip(store: JobStore) -> str:
    ms = await store.round_trip()
    return f"queue round trip {ms:.2f} ms"


async def _gpu(probe: GpuProbe, required: bool) -> dict[str, Any]:
    report = await probe.report()
    if report.error is not None:
        raise RuntimeError(f"GPU detection failed: {report.error}")
    if required and not report.usable:
        raise RuntimeError(f"a GPU is required but none is usable: {report.reason}")
    return {"device": report.device, "gpus": len(report.gpus), "reason": report.reason}


def _summary(checks: list[dict[str, Any]]) -> dict[str, Any]:
    ok = all(c["ok"] for c in checks)
    return {"status": "ok" if ok else "unhealthy", "checks": {c.pop("name"): c for c in checks}}


async def readiness(store: JobStore, worker: Worker | None) -> dict[str, Any]:
    checks = await asyncio.gather(
        _timed("redis", _redis_ping(store)), _timed("worker", _worker_state(worker))
    )
    return _summary(list(checks))


async def deep(
    store: JobStore, worker: Worker | None, probe: GpuProbe, gpu_required: bool
) -> dict[str, Any]:
    checks = await asyncio.gather(
        _timed("redis", _redis_ping(store)),
        _timed("worker", _worker_state(worker)),
        _timed("queue", _round_trip(store)),
        _timed("gpu", _gpu(probe, gpu_required), GPU_TIMEOUT_S),
    )
    return _summary(list(checks))
