"""The supervisor at scale: a stack of N services under the real CLI and a background supervisor.

The stack (N services, default 500) is written as services.yaml in a temporary folder, in
three levels: a tenth of the http servers are roots, the other http servers depend on one
root each, and every sleeper depends on one http server (round-robin, the default
``service_healthy`` condition). The http servers (``--http-share``, default 20 %) are the
tiny servers of engine_bench.py (``python -I -S``, only ``socket`` imported, 127.0.0.1 on a
distinct free port) with an http healthcheck at its defaults (liveness every 10 s). The
sleepers are the coreutils ``sleep 1000000`` binary (``--sleeper python``: ``python -I -S``
sleeping): no interpreter to start, so the machine's CPU goes to the supervisor, not to
the services. ``--stubborn`` sleepers (default 5) ignore SIGTERM (``trap '' TERM; exec
sleep``) with a 2 s stop grace, so that the stop has a grace to wait out; every other
service keeps the default stop_grace_period (10 s) and stops at SIGTERM.

Figures (each prints its method):
  1. ``start`` wall time for all N (cold: the supervisor is spawned by it), and the
     supervisor's CPU time (user+sys, psutil) per started service;
  2. supervisor RSS with N services running minus its RSS with 1 service, per service;
  3. cold ``status --json`` wall time (median of 7), with ``python -c pass`` for scale;
  4. supervisor CPU % of one core while idle (http liveness probes only), also per 100
     http services;
  5. ``stop`` of everything: wall time against the longest stop grace waited out.

    .venv/bin/python bench/scale_bench.py [--services 500] [--http-share 0.2] [--idle-seconds 20]
        [--stubborn 5] [--sleeper sleep|python]

CPU times come in clock ticks (10 ms on Linux): the per-service and idle figures need the
full-size defaults to mean anything. Run it by hand on an otherwise quiet machine; small
numbers only check that it works.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
import yaml
from engine_bench import SERVER, free_ports, machine

BIN = Path(sys.executable).parent
CLI = str(BIN / "dev-orchestrator")
# What a user's shell has: byte-code caches on, no colours (the stop summary is parsed).
ENV = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "ZYRON_ENV")}
ENV["NO_COLOR"] = "1"
SLEEP_S = 1_000_000
STUBBORN_GRACE = 2.0
SETTLE_S = 2.0
CLI_RUNS = 7
GOALS = {"cpu_ms": 2.0, "kb": 100.0, "status_ms": 150.0, "idle_pct": 1.0, "stop_margin_s": 2.0}


def sleeper_argv(kind: str, stubborn: bool) -> list[str]:
    if kind == "python":
        code = "import time\n"
        if stubborn:
            code += "import signal; signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        return [sys.executable, "-I", "-S", "-c", code + f"time.sleep({SLEEP_S})"]
    sleep = shutil.which("sleep") or "/bin/sleep"
    if stubborn:  # an ignored signal stays ignored across exec
        return ["/bin/sh", "-c", f"trap '' TERM; exec {sleep} {SLEEP_S}"]
    return [sleep, str(SLEEP_S)]


def build_stack(folder: Path, n: int, http_share: float, stubborn: int, sleeper: str,
                server: Path, ready: Path) -> dict[str, Any]:
    """Write folder/services.yaml; return what was written (names, ports, graces)."""
    folder.mkdir(parents=True)
    n_http = min(n, max(0, round(n * http_share)))
    n_sleep = n - n_http
    width = len(str(max(n_http, n_sleep, 1) - 1))
    http = [f"h{i:0{width}d}" for i in range(n_http)]
    sleepers = [f"s{i:0{width}d}" for i in range(n_sleep)]
    roots = http[:max(1, n_http // 10)] if n_http else []
    stubborn = min(stubborn, n_sleep)
    step = n_sleep // stubborn if stubborn else 0
    stubborn_names = {sleepers[i * step] for i in range(stubborn)}
    ports = free_ports(n_http)
    if len(set(ports)) != n_http:
        raise RuntimeError("free ports are not distinct")
    services: dict[str, Any] = {}
    for i, (name, port) in enumerate(zip(http, ports, strict=True)):
        services[name] = {
            "command": [sys.executable, "-I", "-S", str(server), name, str(port), "0", str(ready)],
            "ports": [port],
            "healthcheck": {"http": {"url": f"http://127.0.0.1:{port}/"}},
        }
        if name not in roots:
            services[name]["depends_on"] = [roots[i % len(roots)]]
    for j, name in enumerate(sleepers):
        services[name] = {"command": sleeper_argv(sleeper, name in stubborn_names)}
        if http:
            services[name]["depends_on"] = [http[j % n_http]]
        if name in stubborn_names:
            services[name]["stop_grace_period"] = f"{STUBBORN_GRACE:g}s"
    (folder / "services.yaml").write_text(yaml.safe_dump({"name": "scale", "services": services}, sort_keys=False))
    graces = {name: (STUBBORN_GRACE if name in stubborn_names else 10.0) for name in services}
    depth = 1 + (n_http > len(roots)) + (bool(http) and bool(sleepers))
    return {"n": n, "http": n_http, "sleep": n_sleep, "roots": len(roots), "stubborn": stubborn_names,
            "graces": graces, "depth": depth if n else 0}


def cli(argv: list[str], cwd: Path, timeout: float, check: bool = True) -> tuple[float, subprocess.CompletedProcess[str]]:
    began = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, env=ENV, capture_output=True, text=True, timeout=timeout)
    took = time.perf_counter() - began
    if check and proc.returncode:
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return took, proc


def supervisor(folder: Path) -> psutil.Process:
    state = json.loads((folder / ".orchestrator" / "state.json").read_text())
    proc = psutil.Process(state["supervisor"]["pid"])
    if abs(proc.create_time() - state["supervisor"]["create_time"]) > 1:
        raise RuntimeError("state.json names another process as the supervisor")
    return proc


def cpu_s(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return times.user + times.system


def record_services(folder: Path, started: dict[int, float]) -> dict[str, Any]:
    """status --json; remember every service pid (with its start time) for the final sweep."""
    _, proc = cli([CLI, "status", "--json"], folder, 60)
    data = json.loads(proc.stdout)
    for record in data["services"].values():
        if record.get("pid"):
            started[record["pid"]] = record.get("create_time") or 0.0
    return data


def stop_project(folder: Path) -> None:
    if (folder / ".orchestrator").exists():
        with contextlib.suppress(subprocess.TimeoutExpired, OSError):
            subprocess.run([CLI, "stop"], cwd=folder, env=ENV, capture_output=True, timeout=180)


def leftovers(tmp: Path, started: dict[int, float]) -> list[psutil.Process]:
    """Processes of ours still alive: a recorded pid with its start time, or one of our
    user's processes that runs in the temporary folder or names it on its command line."""
    prefix = str(tmp) + os.sep
    found = []
    for proc in psutil.process_iter(["pid", "uids", "cwd", "cmdline", "create_time"]):
        info = proc.info
        if info["pid"] == os.getpid() or not info["uids"] or info["uids"].real != os.getuid():
            continue
        ctime = started.get(info["pid"])
        recorded = ctime is not None and (not ctime or abs(ctime - (info["create_time"] or 0)) < 1)
        cwd = info["cwd"] or ""
        in_tmp = cwd == str(tmp) or cwd.startswith(prefix) or any(prefix in a for a in info["cmdline"] or ())
        if recorded or in_tmp:
            found.append(proc)
    return found


def sweep(tmp: Path, started: dict[int, float]) -> int:
    """Kill (by pid) what is left of ours; the count of processes that were left."""
    left = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # the stop may still be reaping
        left = leftovers(tmp, started)
        if not left:
            return 0
        time.sleep(0.2)
    for proc in left:
        with contextlib.suppress(psutil.Error):
            proc.send_signal(signal.SIGKILL)
    psutil.wait_procs(left, timeout=5)
    return len(left)


def median_ms(argv: list[str], cwd: Path, runs: int) -> list[float]:
    return [cli(argv, cwd, 60)[0] * 1000 for _ in range(runs)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=500)
    parser.add_argument("--http-share", type=float, default=0.2)
    parser.add_argument("--idle-seconds", type=float, default=20)
    parser.add_argument("--stubborn", type=int, default=5, help="sleepers that ignore SIGTERM (2 s grace)")
    parser.add_argument("--sleeper", choices=["sleep", "python"], default="sleep")
    args = parser.parse_args()
    if args.services < 2 or not 0 <= args.http_share <= 1 or args.idle_seconds <= 0 or args.stubborn < 0:
        parser.error("need --services >= 2, 0 <= --http-share <= 1, --idle-seconds > 0, --stubborn >= 0")
    n = args.services
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.2f} at the start")
    started: dict[int, float] = {}
    results: list[tuple[str, str, str, bool | None]] = []
    tmp = Path(tempfile.mkdtemp(prefix="scale-bench-")).resolve()
    one, stack_dir = tmp / "one", tmp / "stack"
    left = 0
    try:
        (tmp / "server.py").write_text(SERVER)
        (tmp / "ready").mkdir()
        info = build_stack(stack_dir, n, args.http_share, args.stubborn, args.sleeper, tmp / "server.py", tmp / "ready")
        build_stack(one, 1, 0.0, 0, args.sleeper, tmp / "server.py", tmp / "ready")
        sleeper = (f"python -I -S -c 'import time; time.sleep({SLEEP_S})'" if args.sleeper == "python"
                   else " ".join(sleeper_argv("sleep", False)) + ", the coreutils binary")
        print(f"stack: {n} services in {info['depth']} levels: {info['http']} http servers (python -I -S, "
              f"socket only, 127.0.0.1; {info['roots']} as roots, the rest on one root each; http healthcheck "
              f"at its defaults: liveness every 10 s), {info['sleep']} sleepers ({sleeper}) each on one "
              f"http server; {len(info['stubborn'])} sleepers ignore SIGTERM (grace {STUBBORN_GRACE:g} s), "
              f"the others stop at SIGTERM (grace 10 s, the default)")
        print(f"folder: {tmp}\n", flush=True)

        # Baseline: the same supervisor with a 1-service stack (one sleeper), settled, then stopped.
        _, _ = cli([CLI, "start"], one, 120)
        base = supervisor(one)
        base_cpu = cpu_s(base)
        record_services(one, started)
        started[base.pid] = base.create_time()
        time.sleep(SETTLE_S)
        base_rss = base.memory_info().rss
        base_idle = (cpu_s(base) - base_cpu) / SETTLE_S * 100
        cli([CLI, "stop"], one, 120)
        print(f"baseline, 1-service stack: supervisor CPU {base_cpu * 1000:.0f} ms when `start` returned "
              f"(interpreter, imports, config, one service), RSS {base_rss / 2**20:.1f} MiB after "
              f"{SETTLE_S:g} s, {base_idle:.2f} % of a core over those {SETTLE_S:g} s", flush=True)

        # 1. start
        start_timeout = 120 + 0.5 * n
        start_wall, proc = cli([CLI, "start"], stack_dir, start_timeout)
        sup = supervisor(stack_dir)
        started[sup.pid] = sup.create_time()
        start_cpu = cpu_s(sup)
        data = record_services(stack_dir, started)
        running = sum(1 for r in data["services"].values() if r["state"] == "running")
        healthy = sum(1 for r in data["services"].values() if r["health"] == "healthy")
        if running != n:
            raise RuntimeError(f"{running} of {n} services running after start")
        per_cpu = (start_cpu - base_cpu) / (n - 1) * 1000
        says = re.search(r"\d+ services up in \S+", proc.stdout)
        print(f"\n1. start: `dev-orchestrator start` in the stack folder, launch to exit (supervisor spawn, "
              f"all {n} running, {healthy} of {info['http']} http healthy): {start_wall:.2f} s"
              f"{f'  [start says: {says.group(0)}]' if says else ''}")
        print(f"   supervisor CPU (user+sys) when start returned {start_cpu * 1000:.0f} ms; minus the "
              f"1-service supervisor's at the same point ({base_cpu * 1000:.0f} ms: its 'before'), over the "
              f"{n - 1} services more: {per_cpu:.2f} ms per service", flush=True)
        results.append(("start wall time", f"{start_wall:.2f} s", "-", None))
        results.append(("supervisor CPU per started service", f"{per_cpu:.2f} ms", f"<= {GOALS['cpu_ms']:g} ms",
                        per_cpu <= GOALS["cpu_ms"]))

        # 2. RSS
        time.sleep(SETTLE_S)
        rss = sup.memory_info().rss
        kb = (rss - base_rss) / n / 1024
        print(f"2. memory: supervisor RSS {SETTLE_S:g} s after start {rss / 2**20:.1f} MiB, minus the 1-service "
              f"supervisor's {base_rss / 2**20:.1f} MiB, over {n}: {kb:.1f} KiB per service", flush=True)
        results.append(("supervisor RSS per service", f"{kb:.1f} KiB", f"<= {GOALS['kb']:g} KiB",
                        kb <= GOALS["kb"]))

        # 4. idle CPU (before the CLI runs, which would add their requests to the window)
        began, before = time.monotonic(), cpu_s(sup)
        time.sleep(args.idle_seconds)
        wall = time.monotonic() - began
        pct = (cpu_s(sup) - before) / wall * 100
        per100 = pct * 100 / info["http"] if info["http"] else None
        probes = info["http"] * wall / 10
        per100_text = f"{per100:.2f} % per 100 http services" if per100 is not None else "no http services"
        print(f"4. idle: supervisor CPU over {wall:.1f} s with nothing asked of it (about {probes:.0f} liveness "
              f"probes: {info['http']} http services every 10 s; taken before 3, so that no CLI request falls in "
              f"it): {pct:.2f} % of one core; {per100_text}",
              flush=True)
        results.append((f"supervisor CPU idle, {args.idle_seconds:g} s", f"{pct:.2f} %", f"< {GOALS['idle_pct']:g} %",
                        pct < GOALS["idle_pct"]))
        if per100 is not None:
            results.append(("  the same per 100 http services", f"{per100:.2f} %", "-", None))

        # 3. status --json, cold, against python -c pass
        cli([CLI, "status", "--json"], stack_dir, 60)  # untimed: byte-code caches in place
        bare = median_ms([sys.executable, "-c", "pass"], stack_dir, CLI_RUNS)
        status = median_ms([CLI, "status", "--json"], stack_dir, CLI_RUNS)
        st = statistics.median(status)
        print(f"3. status --json: a fresh CLI process each time (interpreter, imports, socket round trip, "
              f"{n} records rendered, exit), median of {CLI_RUNS}: {st:.1f} ms (min {min(status):.1f}, max "
              f"{max(status):.1f}); python -c pass {statistics.median(bare):.1f} ms; ratio "
              f"{st / statistics.median(bare):.1f}x", flush=True)
        results.append(("status --json, cold CLI", f"{st:.1f} ms", f"<= {GOALS['status_ms']:g} ms",
                        st <= GOALS["status_ms"]))
        results.append(("  python -c pass, same run", f"{statistics.median(bare):.1f} ms", "-", None))

        # 5. stop
        stop_wall, proc = cli([CLI, "stop"], stack_dir, 120 + 0.2 * n)
        text = proc.stdout + proc.stderr
        match = re.search(r"killed after their grace period \(([^)]*)\)", text)
        killed = [x.strip() for x in match.group(1).split(",")] if match else []
        grace = max((info["graces"].get(x, 0.0) for x in killed), default=0.0)
        says = re.search(r"stopped \d+ services in \S+?(?=;|$)", proc.stdout, re.M)
        print(f"5. stop: `dev-orchestrator stop`, launch to exit (dependents first, supervisor gone): "
              f"{stop_wall:.2f} s; {len(killed)} killed after their grace (of {len(info['stubborn'])} that "
              f"ignore SIGTERM), longest grace waited out {grace:g} s"
              f"{f'  [stop says: {says.group(0)}]' if says else ''}", flush=True)
        results.append(("stop wall time", f"{stop_wall:.2f} s", f"<= {grace:g} s grace + {GOALS['stop_margin_s']:g} s",
                        stop_wall <= grace + GOALS["stop_margin_s"]))
    finally:
        stop_project(stack_dir)
        stop_project(one)
        left = sweep(tmp, started)
        shutil.rmtree(tmp, ignore_errors=True)
    killed_note = " (found after the stop and killed by pid)" if left else ""
    print(f"\nleft running after the stop: {left} processes{killed_note}; temporary folder removed")
    print(f"load average {os.getloadavg()[0]:.2f} at the end\n")
    print(f"{'figure':40s} {'value':>12s}  {'goal':<22s} met")
    for label, value, goal, met in results:
        print(f"{label:40s} {value:>12s}  {goal:<22s} {'-' if met is None else ('met' if met else 'NOT met')}")
    return 0 if left == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
