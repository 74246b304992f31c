"""The everyday commands against a running supervisor with 50 services.

Measures, in one run: cold `status`, `status --json`, `health --json` and `logs -n 100` latency (process start to exit, the whole CLI),
`health` of 50 HTTP services (wall time of the whole command, CLI start-up included),
and the supervisor's resident memory when idle with 50 services. For scale it also
times a bare `python -c pass`. Targets: health under 300 ms (the seed script needed
under 500 ms), supervisor RSS under 50 MB.

    .venv/bin/python bench/supervisor_bench.py [--services 50] [--runs 15]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
from engine_bench import Stack, machine, shape

BIN = Path(sys.executable).parent
CLI = str(BIN / "dev-orchestrator")
# What a user's shell has: byte-code caches written and used (a set PYTHONDONTWRITEBYTECODE
# would recompile every changed module on every run and measure the compiler instead).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


FULL = {**ENV, "DEV_ORCHESTRATOR_QUICK": "0"}  # the same command lines through click (cli/app.py)


def timed(argv: list[str], cwd: Path, runs: int, ok_codes: tuple[int, ...] = (0,),
          env: dict[str, str] = ENV) -> list[float]:
    out = []
    for _ in range(runs):
        began = time.perf_counter()
        proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, env=env)
        out.append((time.perf_counter() - began) * 1000)
        if proc.returncode not in ok_codes:
            raise RuntimeError(f"{argv} exited {proc.returncode}: {proc.stderr}")
    return out


def summary(values: list[float]) -> str:
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))]
    return f"median {statistics.median(values):7.1f} ms   p90 {p90:7.1f} ms   min {ordered[0]:7.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--services", type=int, default=50)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    print(f"stack: {args.services} tiny HTTP servers (fan: one root, the rest depend on it), each with an "
          f"http healthcheck; {args.runs} runs per command\n")
    with tempfile.TemporaryDirectory(prefix="sup-bench-") as tmp:
        root = Path(tmp)
        Stack(root, shape("fan", args.services), delay_ms=0)
        began = time.perf_counter()
        subprocess.run([CLI, "start"], cwd=root, check=True, capture_output=True)
        print(f"start (supervisor spawn + {args.services} services healthy): {time.perf_counter() - began:.2f} s")
        try:
            time.sleep(1.0)
            bare = timed([sys.executable, "-c", "pass"], root, args.runs)
            status = timed([CLI, "status"], root, args.runs)
            status_json = timed([CLI, "status", "--json"], root, args.runs)
            health = timed([CLI, "health"], root, args.runs)
            health_json = timed([CLI, "health", "--json"], root, args.runs)
            logs = timed([CLI, "logs", "-n", "100"], root, args.runs)
            full = {label: timed([CLI, *argv], root, args.runs, env=FULL)
                    for label, argv in (("status", ["status"]), ("status --json", ["status", "--json"]),
                                        ("health", ["health"]), ("health --json", ["health", "--json"]),
                                        ("logs -n 100", ["logs", "-n", "100"]))}
            report = json.loads(subprocess.run([CLI, "health", "--json"], cwd=root, capture_output=True,
                                               text=True, check=True).stdout)
            state = json.loads((root / ".orchestrator" / "state.json").read_text())
            time.sleep(2.0)  # idle
            rss = psutil.Process(state["supervisor"]["pid"]).memory_info().rss
            print(f"python -c pass                 {summary(bare)}")
            print(f"status (cold CLI)              {summary(status)}")
            print(f"status --json (cold CLI)       {summary(status_json)}")
            print(f"health, {args.services} http probes      {summary(health)}")
            print(f"health --json                  {summary(health_json)}")
            print(f"logs -n 100                    {summary(logs)}")
            base = statistics.median(bare)
            for label, values, goal in (("status", status, 4), ("status --json", status_json, 4),
                                        ("health", health, 6), ("health --json", health_json, 6),
                                        ("logs -n 100", logs, 4)):
                ratio = statistics.median(values) / base
                slow = statistics.median(full[label])
                print(f"  {label:14s} {ratio:5.1f}x python -c pass (goal {goal}x); through click "
                      f"(DEV_ORCHESTRATOR_QUICK=0) {slow:.1f} ms, {slow / base:.1f}x")
            print(f"  probes inside the supervisor: wall {report['wall_ms']:.1f} ms for {len(report['services'])}"
                  f" services, all healthy: {report['healthy']}")
            print(f"supervisor RSS, idle, {args.services} services: {rss / 1e6:.1f} MB (target < 50 MB)")
            print(f"health vs targets: median {statistics.median(health):.0f} ms / 300 ms ours = "
                  f"{statistics.median(health) / 300:.2f}; / 500 ms seed = {statistics.median(health) / 500:.2f}")
        finally:
            subprocess.run([CLI, "stop"], cwd=root, capture_output=True)


if __name__ == "__main__":
    main()
