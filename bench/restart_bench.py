"""Restarts under load, side by side: proxy mode, fd mode, and a service without `listen`.

For each variant a temp project runs one service (the zero-downtime tests' app.py)
under the real supervisor; a constant loopback load (``--rate`` requests/s, at most 32
in flight, 2 s timeout) runs while ``restart`` is called ``--restarts`` times. Reported
per variant: requests sent and failed by kind (refused, reset, truncated, 5xx, timeout),
request latency p50/p99 over the whole run, and the wall time of one ``restart``
command (median). The last column is each figure's ratio to the no-listen variant,
which stops the old process before the new one starts (the behaviour without `listen`).

    .venv/bin/python bench/restart_bench.py [--rate 200] [--seconds 15] [--restarts 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))

from zero_downtime.load import request  # noqa: E402  (the tests' classified client)

APP = ROOT / "tests" / "integration" / "zero_downtime" / "app.py"
CLI = [sys.executable, "-m", "dev_orchestrator.cli"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def services_yaml(variant: str, port: int) -> str:
    app = json.dumps([sys.executable, str(APP)])
    if variant == "no-listen":
        return (f"name: bench\nservices:\n  web:\n    command: {app}\n    environment: {{PORT: '{port}'}}\n"
                f"    ports: [{port}]\n    healthcheck: {{http: {{url: 'http://127.0.0.1:{port}/health'}}, "
                "interval: 1s}\n")
    check = "notify: true" if variant == "fd" else f"http: {{url: 'http://127.0.0.1:{port}/health'}}"
    return (f"name: bench\nservices:\n  web:\n    command: {app}\n    listen: [{{port: {port}, mode: "
            f"{'fd' if variant == 'fd' else 'proxy'}}}]\n    deploy: {{update_config: {{monitor: 500ms}}}}\n"
            f"    healthcheck: {{{check}, interval: 1s}}\n")


async def load(port: int, rate: float, seconds: float, stop: threading.Event) -> tuple[dict[str, int], list[float]]:
    outcomes: dict[str, int] = {}
    latencies: list[float] = []
    places = asyncio.Semaphore(32)
    loop = asyncio.get_running_loop()
    began = loop.time()
    tasks = set()

    async def one() -> None:
        start = time.perf_counter()
        try:
            kind, _ = await request(port, timeout=2.0)
        finally:
            places.release()
        outcomes[kind] = outcomes.get(kind, 0) + 1
        if kind == "ok":
            latencies.append((time.perf_counter() - start) * 1000)

    for index in range(int(rate * seconds)):
        if stop.is_set():
            break
        delay = began + index / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        if places.locked():
            outcomes["skipped"] = outcomes.get("skipped", 0) + 1
            continue
        await places.acquire()
        task = asyncio.create_task(one())
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.wait(set(tasks), timeout=3)
    return outcomes, latencies


def run_variant(variant: str, rate: float, seconds: float, restarts: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        port = free_port()
        (root / "services.yaml").write_text(services_yaml(variant, port))
        env = {**os.environ, "NO_COLOR": "1"}

        def cli(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([*CLI, *args], cwd=root, env=env, capture_output=True, text=True, timeout=120)

        started = cli("start")
        if started.returncode != 0:
            raise SystemExit(f"{variant}: start failed\n{started.stderr}")
        stop = threading.Event()
        box: dict[str, object] = {}
        thread = threading.Thread(target=lambda: box.update(r=asyncio.run(load(port, rate, seconds, stop))))
        walls = []
        try:
            thread.start()
            time.sleep(min(1.0, seconds / 10))
            gap = seconds * 0.8 / max(restarts, 1)
            for _ in range(restarts):
                began = time.perf_counter()
                cli("restart", "web")
                walls.append(time.perf_counter() - began)
                time.sleep(max(0.0, gap - walls[-1]))
            thread.join(seconds + 10)
        finally:
            stop.set()
            cli("stop", "--grace", "2s")
        outcomes, latencies = box["r"]  # type: ignore[misc]
        latencies.sort()
        return {
            "sent": sum(outcomes.values()) - outcomes.get("skipped", 0),
            "failed": sum(n for k, n in outcomes.items() if k not in ("ok", "skipped")),
            "kinds": {k: n for k, n in outcomes.items() if k != "ok"},
            "p50_ms": statistics.median(latencies) if latencies else float("nan"),
            "p99_ms": latencies[int(len(latencies) * 0.99) - 1] if latencies else float("nan"),
            "restart_s": statistics.median(walls) if walls else float("nan"),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--restarts", type=int, default=5)
    args = parser.parse_args()
    print(f"restart_bench: {args.rate:g} req/s for {args.seconds:g}s, {args.restarts} restarts, "
          f"python {platform.python_version()} on {platform.platform()}, {os.cpu_count()} CPUs")
    results = {v: run_variant(v, args.rate, args.seconds, args.restarts) for v in ("no-listen", "proxy", "fd")}
    base = results["no-listen"]
    print(f"{'variant':10} {'sent':>6} {'failed':>7} {'p50 ms':>8} {'p99 ms':>8} {'restart s':>10}  "
          "failures by kind; ratios to no-listen (p50, p99, restart)")
    for name, r in results.items():
        ratios = ", ".join(f"{float(r[k]) / float(base[k]):.2f}" for k in ("p50_ms", "p99_ms", "restart_s")
                           if float(base[k]) > 0)
        print(f"{name:10} {r['sent']:>6} {r['failed']:>7} {float(r['p50_ms']):>8.2f} {float(r['p99_ms']):>8.2f} "
              f"{float(r['restart_s']):>10.2f}  {r['kinds'] or '-'}; {ratios}")


if __name__ == "__main__":
    main()
