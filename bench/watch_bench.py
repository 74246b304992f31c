"""Watch latency: from a file write to the new instance answering, against the floor.

For a local process with a tcp healthcheck, N trials of: write a watched file, then poll
the service's port every 5 ms until an instance with a new pid answers. The floor is the
same server started directly (spawn to first answer), measured in the same run; compose
1.29 has no watch to compare with. Reported: ours, the floor, and ours minus the floor
and the debounce (the watch's own overhead; goal under 100 ms).

    .venv/bin/python bench/watch_bench.py [--trials 5] [--debounce 300ms]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

CLI = [sys.executable, "-m", "dev_orchestrator.cli"]
SERVER = textwrap.dedent(
    """
    import os, socket, sys
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(64)
    while True:
        c, _ = s.accept(); c.sendall(str(os.getpid()).encode()); c.close()
    """
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def answer(port: int) -> str | None:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
            return sock.recv(32).decode() or None
    except OSError:
        return None


def wait_new(port: int, old: str | None, limit: float = 30.0) -> float:
    began = time.monotonic()
    while time.monotonic() - began < limit:
        got = answer(port)
        if got and got != old:
            return time.monotonic()
        time.sleep(0.005)
    raise SystemExit("no new instance answered in time")


def floor(server: Path, trials: int) -> list[float]:
    out = []
    for _ in range(trials):
        port = free_port()
        began = time.monotonic()
        proc = subprocess.Popen([sys.executable, str(server), str(port)])
        try:
            out.append(wait_new(port, None) - began)
        finally:
            proc.kill()
            proc.wait()
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--debounce", default="300ms")
    args = parser.parse_args()
    debounce = float(args.debounce[:-2]) / 1000 if args.debounce.endswith("ms") else float(args.debounce.rstrip("s"))
    with tempfile.TemporaryDirectory(prefix="watch-bench-") as folder:
        root = Path(folder)
        (root / "server.py").write_text(SERVER)
        (root / "src").mkdir()
        (root / "src" / "app.py").write_text("x = 0\n")
        port = free_port()
        (root / "services.yaml").write_text(textwrap.dedent(f"""
            name: bench
            services:
              api:
                command: {json.dumps([sys.executable, str(root / "server.py"), str(port)])}
                healthcheck: {{tcp: {{port: {port}}}}}
                develop:
                  watch:
                    - {{path: ./src, action: restart, x-debounce: {args.debounce}}}
            """))
        env = {**os.environ, "NO_COLOR": "1"}
        watcher = subprocess.Popen([*CLI, "watch"], cwd=root, env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True)
        try:
            assert watcher.stdout is not None
            for line in watcher.stdout:
                if line.startswith("watching "):
                    break
            ours = []
            for i in range(args.trials):
                time.sleep(1.0)
                old = answer(port)
                began = time.monotonic()
                (root / "src" / "app.py").write_text(f"x = {i + 1}\n")
                ours.append(wait_new(port, old) - began)
        finally:
            watcher.terminate()
            watcher.wait(timeout=30)
            subprocess.run([*CLI, "stop"], cwd=root, env=env, capture_output=True, timeout=60)
        base = floor(root / "server.py", args.trials)
    med_ours, med_floor = statistics.median(ours), statistics.median(base)
    print(f"watch latency, local process: {args.trials} trials, debounce {args.debounce}, "
          f"{os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"  write -> new instance answers   median {med_ours * 1000:.0f} ms  (all: "
          f"{', '.join(f'{t * 1000:.0f}' for t in ours)})")
    print(f"  floor: spawn -> first answer     median {med_floor * 1000:.0f} ms")
    print(f"  ratio ours/floor {med_ours / med_floor:.1f}x; overhead beyond floor and debounce "
          f"{(med_ours - med_floor - debounce) * 1000:.0f} ms (goal < 100 ms)")


if __name__ == "__main__":
    main()
