"""Start-up readiness and liveness loops for one running service.

Start-up polls fast: every 10 ms at first, then every 5% of the time spent waiting so far
(at most ``start_interval``, by default ``interval`` up to 2 s), so readiness is seen
within a twentieth of the start-up time while a slow service costs few probes; log
probes are event-driven (the log sink calls back on the first matching line). Once
healthy, liveness probes every ``interval`` (default 10 s) and reports after ``retries``
failures in a row (default 3), so a healthy stack's logs are not full of probes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Literal

from .probes import ProbeResult, run_probe

if TYPE_CHECKING:
    from ..config.models import HealthCheck
    from ..logs.writer import LogSink
    from ..net.notify import NotifySocket

FIRST_DELAY = 0.01
PACE = 0.05  # start-up poll delay as a share of the time waited so far

Progress = Callable[[int, str], None]


class Prober:
    """Probes one service instance through its handle (host, exec, docker health)."""

    def __init__(
        self,
        check: HealthCheck | Literal["docker"],
        handle: Any,
        sink: LogSink,
        *,
        clock: Callable[[], float] = time.monotonic,
        notify: NotifySocket | None = None,
    ) -> None:
        self.check = check
        self.notify = notify  # the instance's sd_notify socket, for ``notify: true``
        self.handle = handle
        self.sink = sink
        self.clock = clock
        self.last: ProbeResult | None = None
        self._matched: asyncio.Future[str] | None = None
        self._armed_at = 0.0
        self._unwatch: Callable[[], None] | None = None
        if check != "docker" and check.log is not None:
            # Armed now, before the process starts: a line printed at once is not missed.
            self._arm(check.log)

    def _arm(self, pattern: str) -> None:
        matched: asyncio.Future[str] = asyncio.get_running_loop().create_future()

        def on_match(line: str) -> None:
            if not matched.done():
                matched.set_result(line)

        self._matched = matched
        self._armed_at = time.perf_counter()
        self._unwatch = self.sink.watch(pattern, on_match)

    def close(self) -> None:
        """Stop watching the log and close the notify socket (the instance is gone)."""
        if self._unwatch is not None:
            self._unwatch()
            self._unwatch = None
        if self.notify is not None:
            self.notify.close()

    @property
    def interval(self) -> float:
        """Between liveness probes once healthy."""
        return 1.0 if self.check == "docker" else self.check.interval

    @property
    def startup_interval(self) -> float:
        """The longest pause between start-up probes."""
        return 1.0 if self.check == "docker" else self.check.startup_interval()

    @property
    def retries(self) -> int:
        return 30 if self.check == "docker" else self.check.retries

    def deadline(self) -> float:
        if self.check == "docker":
            return 120.0
        return self.check.startup_deadline()

    async def once(self, *, starting: bool = False) -> ProbeResult:
        if self.check == "docker":
            result = await self.handle.docker_health()
        else:
            result = await run_probe(
                self.check, host=self.handle.probe_host(), run=self.handle.exec, starting=starting,
                proxied=getattr(self.handle, "container", None) is not None,
            )
        self.last = result
        return result

    async def until_ready(self, deadline: float | None, progress: Progress | None = None) -> ProbeResult:
        """Return the first passing result, or a failing one when ``deadline`` seconds pass."""
        limit = self.deadline() if deadline is None else deadline
        if self.check != "docker" and self.check.log is not None:
            return await self._log_ready(self.check.log, limit)
        if self.check != "docker" and self.check.notify:
            return await self._notify_ready(limit)
        began = self.clock()
        attempt = 0
        while True:
            attempt += 1
            result = await self.once(starting=True)
            if result.ok:
                return result
            if progress:
                progress(attempt, result.detail)
            waited = self.clock() - began
            left = limit - waited
            if left <= 0:
                return ProbeResult(False, result.latency_ms, f"not healthy within {limit:g}s: {result.detail}")
            delay = min(max(FIRST_DELAY, waited * PACE), self.startup_interval)
            await asyncio.sleep(min(delay, left))

    async def _log_ready(self, pattern: str, limit: float) -> ProbeResult:
        if self._matched is None:
            self._arm(pattern)
        assert self._matched is not None
        try:
            line = await asyncio.wait_for(asyncio.shield(self._matched), limit)
        except TimeoutError:
            return ProbeResult(False, 0.0, f"no log line matched /{pattern}/ within {limit:g}s")
        finally:
            self.close()
        latency = round((time.perf_counter() - self._armed_at) * 1000, 2)
        self.last = ProbeResult(True, latency, f"log /{pattern}/")
        return ProbeResult(True, latency, f"log matched: {line[:80]}")

    async def _notify_ready(self, limit: float) -> ProbeResult:
        """Readiness is the instance's own READY=1: an event, no polling."""
        began = time.perf_counter()
        if self.notify is None or not await self.notify.ready(limit):
            return ProbeResult(False, 0.0, f"no READY=1 on NOTIFY_SOCKET within {limit:g}s")
        latency = round((time.perf_counter() - began) * 1000, 2)
        status = self.notify.status
        self.last = ProbeResult(True, latency, "notify READY=1")
        return ProbeResult(True, latency, "notify READY=1" + (f": {status}" if status else ""))

    async def until_unhealthy(self, on_result: Callable[[ProbeResult], Awaitable[None] | None] | None = None) -> ProbeResult:
        """Liveness: return the failing result after ``retries`` failures in a row."""
        if self.check != "docker" and (self.check.log is not None or self.check.notify):
            await asyncio.Event().wait()  # a log or notify probe is a start-up signal only
        failures = 0
        while True:
            await asyncio.sleep(self.interval)
            result = await self.once()
            failures = 0 if result.ok else failures + 1
            if failures >= self.retries:
                return ProbeResult(False, result.latency_ms, f"unhealthy: {failures} failed probes in a row: {result.detail}")
