"""The quick commands of this checkout against those of a git revision, in one run.

Starts a 50-service stack (the servers of engine_bench.py, a fan, http healthchecks) with
this checkout's `dev-orchestrator start`, extracts `src/` of --ref (default HEAD) into a
temporary folder, and times cold `status`, `status --json`, `health --json` and
`logs -n 100` from both trees against the same supervisor (PYTHONPATH selects the tree),
with a bare `python -c pass` for scale; median of --runs each, byte-code caches on.

    .venv/bin/python bench/cli_bench.py [--ref HEAD] [--services 50] [--runs 15]
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

from engine_bench import Stack, machine, shape

REPO = Path(__file__).resolve().parent.parent
COMMANDS = [["status"], ["status", "--json"], ["health", "--json"], ["logs", "-n", "100"]]


def median_ms(argv: list[str], cwd: Path, env: dict[str, str], runs: int) -> float:
    out = []
    for _ in range(runs):
        began = time.perf_counter()
        proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True)
        out.append((time.perf_counter() - began) * 1000)
        if proc.returncode:
            raise RuntimeError(f"{argv} exited {proc.returncode}: {proc.stderr[-400:]!r}")
    return statistics.median(out)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ref", default="HEAD")
    parser.add_argument("--services", type=int, default=50)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    cli = [sys.executable, "-m", "dev_orchestrator.cli"]
    with tempfile.TemporaryDirectory(prefix="cli-bench-") as tmp:
        root, old = Path(tmp) / "stack", Path(tmp) / "old"
        root.mkdir()
        old.mkdir()
        archive = subprocess.run(["git", "-C", str(REPO), "archive", args.ref, "src"], check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(old)], input=archive, check=True)
        Stack(root, shape("fan", args.services), delay_ms=0)
        subprocess.run([*cli, "start"], cwd=root, env=env, check=True, capture_output=True)
        try:
            before = dict(env, PYTHONPATH=str(old / "src"))
            bare = median_ms([sys.executable, "-c", "pass"], root, env, args.runs)
            rows = [(c, median_ms([*cli, *c], root, before, args.runs), median_ms([*cli, *c], root, env, args.runs))
                    for c in COMMANDS]
        finally:
            subprocess.run([*cli, "stop"], cwd=root, env=env, capture_output=True)
    print(f"machine: {machine()}  (load average {os.getloadavg()[0]:.1f})")
    print(f"{args.services} services; python -c pass {bare:.1f} ms; median of {args.runs}\n")
    print(f"{'command':16s} {args.ref:>18s} {'this checkout':>18s}")
    for command, a, b in rows:
        print(f"{' '.join(command):16s} {a:7.1f} ms {a / bare:5.1f}x   {b:7.1f} ms {b / bare:5.1f}x")


if __name__ == "__main__":
    main()
