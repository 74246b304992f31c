"""Prometheus text exposition without a client library: counters kept in memory.

Request counters are per process; job counters come from Redis (``JobStore.stats``)
so they survive restarts and agree across instances.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterable, Mapping

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: Mapping[str, str]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items())) + "}"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


class Family:
    """One metric: name, help, type, samples."""

    def __init__(self, name: str, kind: str, help_text: str) -> None:
        self.name = name
        self.kind = kind
        self.help = help_text
        self.samples: list[tuple[str, dict[str, str], float]] = []

    def add(self, value: float, suffix: str = "", **labels: str) -> Family:
        self.samples.append((suffix, labels, value))
        return self

    def render(self) -> str:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]
        for suffix, labels, value in self.samples:
            lines.append(f"{self.name}{suffix}{_labels(labels)} {_number(value)}")
        return "\n".join(lines)


def render(families: Iterable[Family]) -> str:
    return "\n".join(f.render() for f in families) + "\n"


class RequestMetrics:
    """HTTP request counts and durations by method, route template and status."""

    def __init__(self) -> None:
        # Updated from the event loop and read by the /metrics handler; the lock keeps
        # a scrape from seeing a half-updated pair of count and sum.
        self._lock = threading.Lock()
        self._count: dict[tuple[str, str, str], int] = defaultdict(int)
        self._seconds: dict[tuple[str, str], float] = defaultdict(float)
        self._observed: dict[tuple[str, str], int] = defaultdict(int)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        with self._lock:
            self._count[(method, route, str(status))] += 1
            self._seconds[(method, route)] += seconds
            self._observed[(method, route)] += 1

    def families(self) -> list[Family]:
        with self._lock:
            count = dict(self._count)
            seconds = dict(self._seconds)
            observed = dict(self._observed)
        requests = Family("visual_brain_http_requests_total", "counter", "HTTP requests served.")
        for (method, route, status), n in sorted(count.items()):
            requests.add(n, method=method, route=route, status=status)
        duration = Family(
            "visual_brain_http_request_duration_seconds", "summary", "Time spent serving requests."
        )
        for (method, route), total in sorted(seconds.items()):
            duration.add(total, "_sum", method=method, route=route)
            duration.add(observed[(method, route)], "_count", method=method, route=route)
        return [requests, duration]
