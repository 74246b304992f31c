"""Colours per service and the multiplexed output of `up` (honcho-style prefixes)."""

from __future__ import annotations

import sys

import click

from .views import PALETTE as PALETTE
from .views import color_for as color_for
from .views import use_color


class LogPrinter:
    """Multiplexed service output, honcho-style: ``12:01:07.311 backend | line``."""

    def __init__(self, names: list[str]) -> None:
        self.width = max((len(n) for n in names), default=0)
        self.color = use_color(sys.stdout)
        self.prefixes: dict[str, bytes] = {}
        for i, name in enumerate(sorted(names)):
            label = f"{name.ljust(self.width)} | "
            self.prefixes[name] = (click.style(label, fg=color_for(i)) if self.color else label).encode()

    def __call__(self, service: str, lines: bytes) -> None:
        import time

        now = time.time()
        stamp = (time.strftime("%H:%M:%S", time.localtime(now)) + f".{int(now % 1 * 1000):03d} ").encode()
        prefix = stamp + self.prefixes.get(service, f"{service} | ".encode())
        data = prefix + lines[:-1].replace(b"\n", b"\n" + prefix) + b"\n"
        out = sys.stdout  # looked up each time: the live view redirects it while it runs
        buffer = getattr(out, "buffer", None)
        if buffer is not None:
            buffer.write(data)
        else:
            out.write(data.decode(errors="replace"))
        out.flush()
