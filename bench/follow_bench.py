"""`logs -f` behind a service that writes a burst of log lines.

One service (engine_bench.py's writer: 40-byte lines as fast as Python writes them) is
started with `dev-orchestrator start` while `dev-orchestrator logs -f writer` already runs;
a reader thread counts the lines `logs -f` prints. Printed: when `start` returned (the
writer has finished by then), when `logs -f` had printed every line, and the writer's own
time into a file (`cat > file`) for scale.

    .venv/bin/python bench/follow_bench.py [--mb 50] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from engine_bench import WRITER, machine, writer_into_file  # noqa: E402

BIN = Path(sys.executable).parent
CLI = str(BIN / "dev-orchestrator")
ENV = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "ZYRON_ENV")}


def one_run(proj: Path, expected: int) -> tuple[float, float]:
    shutil.rmtree(proj / "logs", ignore_errors=True)
    (proj / "logs").mkdir(mode=0o700)
    (proj / "logs" / "writer.log").touch(mode=0o600)
    follower = subprocess.Popen([CLI, "logs", "-f", "writer"], cwd=proj, env=ENV, stdout=subprocess.PIPE)
    seen = [0]
    done = threading.Event()
    finished: list[float] = []

    def read() -> None:
        assert follower.stdout is not None
        for _line in follower.stdout:
            seen[0] += 1
            if seen[0] >= expected and not finished:
                finished.append(time.monotonic())
                done.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        time.sleep(1.0)  # the follower has started and holds the (empty) file
        began = time.monotonic()
        subprocess.run([CLI, "start"], cwd=proj, env=ENV, capture_output=True, check=True)
        returned = time.monotonic() - began
        if not done.wait(300):
            raise RuntimeError(f"logs -f printed {seen[0]} of {expected} lines")
        return returned, finished[0] - began
    finally:
        follower.terminate()
        follower.wait(30)
        subprocess.run([CLI, "stop"], cwd=proj, env=ENV, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory(prefix="follow-bench-") as tmp:
        root = Path(tmp)
        (root / "writer.py").write_text(WRITER)
        argv = [sys.executable, "-I", "-S", str(root / "writer.py"), str(args.mb * 1024 * 1024)]
        alone, lines, _size = writer_into_file(root, argv)
        proj = root / "proj"
        proj.mkdir()
        (proj / "services.yaml").write_text(yaml.safe_dump({
            "name": "follow-bench", "services": {"writer": {"command": argv, "restart": "no"}},
            "orchestrator": {"log_max_bytes": 1 << 40},
        }))
        runs = [one_run(proj, lines) for _ in range(args.runs)]
        returned = statistics.median(r[0] for r in runs)
        caught = statistics.median(r[1] for r in runs)
        print(f"writer: {lines:,} lines ({args.mb} MB); alone into a file (cat > file): {alone:.2f} s")
        print(f"`start` returned after {returned:.2f} s; `logs -f` had every line after {caught:.2f} s, "
              f"{caught - returned:.2f} s later (median of {args.runs})")


if __name__ == "__main__":
    main()
