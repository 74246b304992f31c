"""Two instances of one service side by side (a start-first replace): stopping one spares the other.

Both carry the service's marker; the old one's family must not reach the new one's
children, which are descendants of a process the supervisor still waits for.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sys
from pathlib import Path

import psutil

from dev_orchestrator.backends.process import ProcessBackend
from dev_orchestrator.config.loader import load
from dev_orchestrator.config.resolve import resolve
from dev_orchestrator.logs.writer import LogSink

PARENT = "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); time.sleep(60)"


def test_stopping_the_old_instance_leaves_the_new_ones_children(tmp_path: Path) -> None:
    (tmp_path / "services.yaml").write_text(
        f"services:\n  web:\n    command: [{sys.executable!r}, -c, {PARENT!r}]\n    stop_grace_period: 2s\n")
    svc = resolve(load(tmp_path / "services.yaml", None, cwd=tmp_path, environ={}), environ={}).services["web"]
    svc = dataclasses.replace(svc, env={"PATH": "/usr/bin:/bin"})

    async def scenario() -> None:
        backend = ProcessBackend()
        sink = LogSink("web", tmp_path / "web.log")
        old = await backend.start(svc, sink)
        new = await backend.start(svc, sink)
        try:
            for _ in range(200):  # bounded: until the new instance's child exists (up to 4 s)
                if new.descendants():
                    break
                await asyncio.sleep(0.02)
            children = new.descendants()
            assert children, "the new instance did not start its child"
            await old.stop("SIGTERM", 2.0)
            assert all(child.is_running() and child.status() != psutil.STATUS_ZOMBIE for child in children)
            assert old.proc.returncode is not None and new.proc.returncode is None
        finally:
            await new.stop("SIGTERM", 2.0)
            await old.stop("SIGTERM", 0.5)
            await backend.close()
            sink.close()
        assert not any(child.is_running() and child.status() != psutil.STATUS_ZOMBIE for child in children)

    asyncio.run(scenario())
