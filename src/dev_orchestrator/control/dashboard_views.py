"""The web dashboard's pure parts: the request checks, the graph's layout, the start-up waterfall.

Plain values and functions (no sockets, no clock of their own), so that each security rule
and each picture is testable as data; control/dashboard.py serves them.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

LOCAL_HOSTS = ("localhost", "127.0.0.1", "[::1]")


def host_allowed(host: str | None, port: int) -> bool:
    """Whether a Host header names this machine's loopback (DNS rebinding: any other name is
    a page of another site that resolved its own name to 127.0.0.1)."""
    if not host:
        return False
    host = host.strip().lower()
    if host.startswith("["):
        name, _, rest = host.partition("]")
        name += "]"
        if rest and not rest.startswith(":"):
            return False
        given = rest[1:] if rest else None
    else:
        name, sep, given_port = host.partition(":")
        given = given_port if sep else None
    if name not in LOCAL_HOSTS:
        return False
    return given is None or given == str(port)


def same_origin(headers: Mapping[str, str], host: str) -> bool:
    """A state-changing request came from the dashboard's own page.

    Browsers send ``Sec-Fetch-Site`` and ``Origin`` with every POST; a page of another
    site (or a form it submits) shows up as ``cross-site`` and its own origin. A request
    with neither is refused too: only the dashboard's page is meant to send these.
    """
    site = headers.get("sec-fetch-site")
    origin = headers.get("origin")
    if site is None and origin is None:
        return False
    if site is not None and site != "same-origin":
        return False
    return origin is None or origin.lower() == f"http://{host.lower()}"


def token_matches(given: str | None, token: str) -> bool:
    """Constant-time comparison, so the token cannot be guessed a character at a time."""
    if not given:
        return False
    return hmac.compare_digest(given.encode(), token.encode())


def cookie_value(header: str | None, name: str) -> str | None:
    """The value of cookie ``name`` in a ``Cookie`` header, if there."""
    if not header:
        return None
    for part in header.split(";"):
        key, sep, value = part.strip().partition("=")
        if sep and key == name:
            return value
    return None


# -- the dependency graph ---------------------------------------------------------------------

NODE_W, NODE_H, GAP_X, GAP_Y, PAD = 150, 36, 70, 18, 12


def graph_layout(deps: Mapping[str, Sequence[str]], layers: Sequence[Sequence[str]],
                 extra: Sequence[str] = ()) -> dict[str, Any]:
    """Boxes and edges of the dependency graph, left to right: a service one column after its
    deepest dependency (the layers the start walks), ``extra`` (running but no longer in the
    files) in a last column of their own."""
    columns = [list(layer) for layer in layers if layer]
    if extra:
        columns.append(list(extra))
    nodes: dict[str, dict[str, Any]] = {}
    tallest = max((len(c) for c in columns), default=0)
    for col, names in enumerate(columns):
        offset = (tallest - len(names)) * (NODE_H + GAP_Y) / 2  # centre short columns
        for row, name in enumerate(names):
            nodes[name] = {"name": name, "x": PAD + col * (NODE_W + GAP_X),
                           "y": round(PAD + offset + row * (NODE_H + GAP_Y), 1), "w": NODE_W, "h": NODE_H}
    edges = [{"from": dep, "to": name} for name in nodes for dep in deps.get(name, ()) if dep in nodes]
    width = PAD * 2 + max(0, len(columns) * (NODE_W + GAP_X) - GAP_X)
    height = PAD * 2 + max(0, tallest * (NODE_H + GAP_Y) - GAP_Y)
    return {"nodes": list(nodes.values()), "edges": edges, "width": width, "height": height}


# -- the start-up waterfall -------------------------------------------------------------------


@dataclass
class Bar:
    """One service's launch in a start: launched -> (spawned) -> ready, or how it ended."""

    key: str
    launched: float
    spawned: float | None = None
    ended: float | None = None
    outcome: str = "starting"  # starting, healthy, running, completed, failed, stopped, replaced

    def to_json(self, began: float) -> dict[str, Any]:
        def rel(t: float | None) -> float | None:
            return None if t is None else round(t - began, 4)

        return {"service": self.key, "launched": rel(self.launched), "spawned": rel(self.spawned),
                "ended": rel(self.ended), "outcome": self.outcome}


@dataclass
class Waterfall:
    """The bars of the last start or restart, one per service, from the engine's events.

    A start is the launches of one operation (a start, restart or apply, which hold the
    supervisor's operation lock): the first launch opens it, and it closes once no
    operation runs. A crash restart outside any operation opens a start of its own,
    unless one is still under way.
    """

    began: float | None = None  # wall-clock time of the first launch
    bars: dict[str, Bar] = field(default_factory=dict)
    open: bool = False
    version: int = 0

    def tick(self, in_operation: bool) -> None:
        if not in_operation:
            self.open = False

    def close(self) -> None:
        """A new operation is about to begin: its launches start a new picture."""
        self.open = False

    def _pending(self) -> bool:
        return any(b.ended is None for b in self.bars.values())

    def event(self, key: str, kind: str, now: float, *, in_operation: bool, has_healthcheck: bool,
              one_shot: bool, code: int | None = None) -> None:
        """Record one engine event of service (or replica) ``key``; ``kind``: its class name."""
        if kind in ("Starting", "Replacing"):
            if not self.open and not (not in_operation and self._pending()):
                self.began, self.bars = now, {}
            self.open = self.open or in_operation
            self.bars[key] = Bar(key, now)
            self.version += 1
            return
        bar = self.bars.get(key)
        if bar is None or bar.ended is not None:
            return
        if kind == "Replaced":
            self._end(bar, now, "replaced")
        elif kind == "Spawned":
            bar.spawned = now
            if not has_healthcheck and not one_shot:
                self._end(bar, now, "running")
        elif kind == "Healthy":
            self._end(bar, now, "healthy")
        elif kind == "Exited":
            self._end(bar, now, "completed" if one_shot and code == 0 else "failed")
        elif kind in ("Failed", "GaveUp", "Skipped"):
            self._end(bar, now, "failed")
        elif kind == "Stopped":
            self._end(bar, now, "stopped")
        else:
            return
        self.version += 1

    @staticmethod
    def _end(bar: Bar, now: float, outcome: str) -> None:
        bar.ended, bar.outcome = now, outcome

    def to_json(self, order: Sequence[str] = ()) -> dict[str, Any]:
        """Bars in launch order (ties: the stack's order), times in seconds from the first launch."""
        began = self.began or 0.0
        place = {name: i for i, name in enumerate(order)}
        bars = sorted(self.bars.values(), key=lambda b: (b.launched, place.get(b.key.split("#")[0], len(place)), b.key))
        ends = [b.ended for b in bars if b.ended is not None]
        total = round(max(ends) - began, 4) if ends and len(ends) == len(bars) else None
        return {"began": self.began, "bars": [b.to_json(began) for b in bars], "total": total,
                "version": self.version}
