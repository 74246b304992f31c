"""Load, validation and planning of a large services.yaml, in-process and through the CLI.

Writes a layered stack of N services (default 10,000; 100 levels, each service on two
services of the level above, every one a local process, one in ten with an http
healthcheck: the YAML reader's limit of 100,000 values per document allows no more),
then times, in one run: `config.loader.load` (YAML, merge, interpolation, pydantic
validation, the graph), `config.resolve.resolve` and `plan.plan` against
nothing running, each the median of --runs; and the whole `dev-orchestrator up --dry-run`
from a cold process. Goal: load + validate + plan under 1 s.

    .venv/bin/python bench/plan_bench.py [--services 10000] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from engine_bench import machine

BIN = Path(sys.executable).parent


def write_stack(root: Path, n: int, width: int) -> None:
    lines = ["name: plan-bench", "services:"]
    for i in range(n):
        level, _ = divmod(i, width)
        lines.append(f"  s{i:05d}:")
        lines.append(f"    command: python3 -m http.server {20000 + i % 40000}")
        if i % 10 == 0:  # the YAML reader refuses documents of over 100,000 values
            lines.append("    healthcheck:")
            lines.append(f"      http: {{url: \"http://127.0.0.1:{20000 + i % 40000}/\"}}")
        if level:
            above = (level - 1) * width
            deps = sorted({above + (i % width), above + ((i + 1) % width)})
            lines.append("    depends_on: [" + ", ".join(f"s{d:05d}" for d in deps) + "]")
    (root / "services.yaml").write_text("\n".join(lines) + "\n")


def median_ms(fn: object, runs: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(runs):
        began = time.perf_counter()
        out = fn()  # type: ignore[operator]
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times), out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--services", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    from dev_orchestrator.config.loader import load
    from dev_orchestrator.config.resolve import resolve
    from dev_orchestrator.plan import plan

    width = max(1, args.services // 100)
    print(f"machine: {machine()}  (load average {os.getloadavg()[0]:.1f})")
    print(f"stack: {args.services} process services, {args.services // width} levels of {width}, each on two "
          f"of the level above, 1 in 10 with an http healthcheck; median of {args.runs}\n")
    with tempfile.TemporaryDirectory(prefix="plan-bench-") as tmp:
        root = Path(tmp)
        write_stack(root, args.services, width)
        load_ms, loaded = median_ms(lambda: load(root / "services.yaml", cwd=root, environ={}), args.runs)
        resolve_ms, stack = median_ms(lambda: resolve(loaded, docker=False, environ={}), args.runs)  # type: ignore[arg-type]
        plan_ms, steps = median_ms(lambda: plan(stack, {}, environ={}), args.runs)  # type: ignore[arg-type]
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        began = time.perf_counter()
        proc = subprocess.run([str(BIN / "dev-orchestrator"), "up", "--dry-run"], cwd=root, env=env,
                              capture_output=True, text=True)
        cli_ms = (time.perf_counter() - began) * 1000
        total = load_ms + resolve_ms + plan_ms
        print(f"load + validate (loader.load)   {load_ms:8.0f} ms")
        print(f"resolve                         {resolve_ms:8.0f} ms")
        print(f"plan (nothing running)          {plan_ms:8.0f} ms  ({len(getattr(steps, 'steps', []) or [])} steps)")
        print(f"total                           {total:8.0f} ms  = {total / 1000:.2f}x the 1 s goal")
        print(f"`up --dry-run`, cold CLI        {cli_ms:8.0f} ms  (exit {proc.returncode})")
        if proc.returncode:
            print(proc.stderr[-800:])


if __name__ == "__main__":
    main()
