"""A process's output goes from its pipes straight into the log: all of it, before the
exit is reported, and nothing is left open after the exit."""

from __future__ import annotations

import asyncio
import gc
import sys
import warnings
from pathlib import Path

from dev_orchestrator.backends.process import ProcessBackend
from dev_orchestrator.config.loader import load
from dev_orchestrator.config.resolve import resolve
from dev_orchestrator.logs.writer import LogSink

WRITER = ("import sys\n"
          "for i in range(60000): sys.stdout.write(f'out {i:06d} ' + 'x' * 40 + '\\n')\n"
          "sys.stdout.flush()\n"
          "for i in range(500): sys.stderr.write(f'err {i}\\n')\n")


def test_every_line_is_logged_before_the_exit_and_the_transport_is_closed(tmp_path: Path) -> None:
    (tmp_path / "writer.py").write_text(WRITER)
    (tmp_path / "services.yaml").write_text(
        f"name: out\nservices:\n  w:\n    command: [{sys.executable!r}, writer.py]\n")
    stack = resolve(load(tmp_path / "services.yaml", "dev", cwd=tmp_path, environ={}), environ={})

    async def main() -> tuple[bool, list[str]]:
        backend = ProcessBackend()
        sink = LogSink("w", tmp_path / "w.log")
        handle = await backend.start(stack.services["w"], sink)
        status = await asyncio.wait_for(handle.wait(), 60)
        assert status.code == 0
        closed = handle.proc._transport._closed  # type: ignore[attr-defined]
        lines = (tmp_path / "w.log").read_text().splitlines()
        sink.close()
        await backend.close()
        return closed, lines

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        closed, lines = asyncio.run(main())
        gc.collect()
    assert closed
    outs = [line for line in lines if " out " in line]
    assert len(outs) == 60000 and outs[-1].endswith("out 059999 " + "x" * 40)
    assert sum(" err " in line for line in lines) == 500
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)], [str(w.message) for w in caught]
