"""A bounded loopback load generator: constant rate, few in flight, every failure classified.

Why classified: "no request lost" has several ways to go wrong that a client sees
differently (refused: nobody listens; reset: a connection cut before an answer;
truncated: an answer cut short; 5xx: an answer that says failure; a timeout). It stops by itself after
``duration`` seconds, never has more than ``max_in_flight`` requests open, and a
request that finds no free place is counted as ``skipped`` (the client's limit, not
the server's failure).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class LoadResult:
    """Counts by outcome, and the bodies seen (which pids served)."""

    outcomes: Counter[str] = field(default_factory=Counter)
    bodies: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return sum(n for kind, n in self.outcomes.items() if kind not in ("ok", "skipped"))

    @property
    def ok(self) -> int:
        return self.outcomes["ok"]


async def request(port: int, path: str = "/", timeout: float = 2.0) -> tuple[str, str]:
    """One HTTP/1.0 GET on a fresh connection: (outcome, body)."""
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            try:
                writer.write(f"GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".encode())
                await writer.drain()
                data = await reader.read()
            finally:
                writer.close()
    except ConnectionRefusedError:
        return "refused", ""
    except (ConnectionResetError, BrokenPipeError):
        return "reset", ""
    except TimeoutError:
        return "timeout", ""
    except OSError as exc:
        return f"error:{exc.errno}", ""
    head, _, body = data.partition(b"\r\n\r\n")
    if not head:
        return "reset", ""  # closed without an answer
    try:
        status = int(head.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return "garbled", ""
    length = next((line.split(b":", 1)[1].strip() for line in head.split(b"\r\n")[1:]
                   if line.lower().startswith(b"content-length:")), None)
    if length is not None and int(length) != len(body):
        return "truncated", ""  # the answer was cut: the server went away mid-response
    if status >= 500:
        return "5xx", body.decode(errors="replace")
    return ("ok" if status < 400 else "4xx"), body.decode(errors="replace")


async def run_load(port: int, *, rate: float, duration: float, max_in_flight: int = 32,
                   timeout: float = 2.0, stop: threading.Event | None = None, path: str = "/") -> LoadResult:
    """Send ``rate`` requests per second for ``duration`` seconds (or until ``stop``)."""
    result = LoadResult()
    places = asyncio.Semaphore(max_in_flight)
    tasks: set[asyncio.Task[None]] = set()
    loop = asyncio.get_running_loop()
    began = loop.time()
    total = int(rate * duration)

    async def one() -> None:
        try:
            outcome, body = await request(port, path, timeout=timeout)
            result.outcomes[outcome] += 1
            if outcome == "ok":
                result.bodies[body] += 1
            elif len(result.errors) < 20:
                result.errors.append(f"{loop.time() - began:.2f}s {outcome}")
        finally:
            places.release()

    for index in range(total):  # bounded: exactly `total` slots
        if stop is not None and stop.is_set():
            break
        due = began + index / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        if places.locked():
            result.outcomes["skipped"] += 1
            continue
        await places.acquire()
        task = asyncio.create_task(one())
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.wait(set(tasks), timeout=timeout + 1)
    return result


class Background:
    """Runs ``run_load`` in a thread of its own while the test drives the CLI."""

    def __init__(self, port: int, *, rate: float = 150, duration: float = 10.0, timeout: float = 2.0,
                 path: str = "/") -> None:
        self.stop = threading.Event()
        self.timeout = timeout
        self.result: LoadResult | None = None
        self._thread = threading.Thread(
            target=lambda: setattr(self, "result", asyncio.run(
                run_load(port, rate=rate, duration=duration, stop=self.stop, timeout=timeout, path=path))),
            daemon=True,
        )

    def __enter__(self) -> Background:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.finish()

    def finish(self, timeout: float = 30.0) -> LoadResult:
        """Wait for the run to end (stopping it early if the test failed)."""
        if not self._thread.is_alive() and self.result is not None:
            return self.result
        self._thread.join(timeout + self.timeout)
        if self._thread.is_alive():
            self.stop.set()
            self._thread.join(5)
        assert self.result is not None, "the load generator did not finish"
        return self.result


def wait_time(seconds: float) -> None:
    """Pause the test thread (the load runs meanwhile); bounded, used between restarts."""
    time.sleep(seconds)
