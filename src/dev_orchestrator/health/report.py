"""`health`: run every selected probe now, all in parallel, and time the whole round."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .probes import ProbeResult, run_probe

if TYPE_CHECKING:
    from ..config.resolve import ResolvedStack


async def check_health(
    stack: ResolvedStack,
    names: list[str],
    *,
    deep: bool = False,
    handles: Mapping[str, Any] | None = None,
    alive: Mapping[str, bool] | None = None,
    completed: set[str] | None = None,
    ready: set[str] | None = None,
) -> dict[str, Any]:
    """The health JSON of DESIGN.md: ``{"healthy", "wall_ms", "services": {...}}``.

    ``handles`` (from a running supervisor) let command probes run inside containers and
    ``healthcheck: docker`` read the engine's verdict; without them probes run from here.
    """
    began = time.perf_counter()
    handles = handles or {}
    alive = alive or {}

    async def one(name: str) -> tuple[str, dict[str, Any]]:
        svc = stack.services[name]
        check = svc.healthcheck
        handle = handles.get(name)
        if check is None and name in (completed or set()):
            return name, {"healthy": True, "probe": "none", "latency_ms": 0.0, "detail": "completed (exit 0)"}
        if check is None:
            up = handle is not None or alive.get(name, False)
            return name, {"healthy": up, "probe": "none", "latency_ms": 0.0,
                          "detail": "running (no healthcheck)" if up else "not running"}
        if check != "docker" and getattr(check, "log", None):
            # A log probe's readiness, once reached, holds until the service restarts.
            up = name in (ready or set()) and (handle is not None or alive.get(name, False))
            detail = (f"log /{check.log}/ matched at start-up" if up  # type: ignore[union-attr]
                      else "not running" if handle is None and not alive.get(name, False)
                      else f"log /{check.log}/ not seen yet")  # type: ignore[union-attr]
            return name, {"healthy": up, "probe": check.describe(), "latency_ms": 0.0,  # type: ignore[union-attr]
                          "detail": detail}
        if check == "docker":
            if handle is None:
                result = ProbeResult(False, 0.0, "container not running")
            else:
                result = await handle.docker_health()
            probe = "docker"
        else:
            host = handle.probe_host() if handle is not None else "127.0.0.1"
            runner = handle.exec if handle is not None else None
            proxied = getattr(handle, "container", None) is not None
            result = await run_probe(check, host=host, run=runner, proxied=proxied)
            probe = check.describe()
            if deep and check.deep is not None:
                deep_result = await run_probe(check.deep, host=host, run=runner)
                probe += f" + deep {check.deep.describe()}"
                result = ProbeResult(
                    result.ok and deep_result.ok,
                    round(result.latency_ms + deep_result.latency_ms, 2),
                    f"{result.detail}; deep: {deep_result.detail}",
                )
        return name, {"healthy": result.ok, "probe": probe, "latency_ms": result.latency_ms, "detail": result.detail}

    results = dict(await asyncio.gather(*(one(n) for n in names)))
    return {
        "healthy": all(r["healthy"] for r in results.values()),
        "wall_ms": round((time.perf_counter() - began) * 1000, 2),
        "services": results,
    }
