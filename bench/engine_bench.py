"""The engine on local processes: start-up against the ideal and against honcho and supervisord,
memory with 100 services, log throughput against ``cat``, and stop time.

Every service is a tiny Python server (``python -I -S``, only ``socket`` imported) that
sleeps D ms, listens, creates a file in a "ready" folder and prints "ready". Shapes:
chain (each on the previous), diamond (root, N-2 on it, one on all of those), fan
(root, N-1 on it) and layered (5 levels of N/5, each service on all of the level above). Our side runs the real ``dev-orchestrator up`` with an http
healthcheck per service (so each dependent waits for its dependencies to be healthy);
the time is from launching ``up`` until it prints that every service is up. honcho and
supervisord do not gate on dependencies: their time is from launch until every server
created its ready file. Ratios are peer / ours (above 1: we are faster).

    .venv/bin/python bench/engine_bench.py [--delay-ms 300] [--sizes 10,50,100]
        [--shapes chain,diamond,fan,layered] [--log-mb 200] [--no-peers] [--startup-only]

honcho and supervisor come from the ``bench`` extra (pip install -e '.[bench]').
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import psutil
import yaml

BIN = Path(sys.executable).parent
CLI = BIN / "dev-orchestrator"

SERVER = r'''
import os, socket, sys, time, signal
name, port, delay, ready_dir = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
stubborn = len(sys.argv) > 5
signal.signal(signal.SIGTERM, signal.SIG_IGN if stubborn else (lambda *_: os._exit(0)))
time.sleep(delay / 1000)
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port))
s.listen(64)
open(os.path.join(ready_dir, name), "w").close()
sys.stdout.write(name + " ready\n")
sys.stdout.flush()
while True:
    c, _ = s.accept()
    try:
        c.recv(4096)
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    except OSError:
        pass
    c.close()
'''

WRITER = r'''
import sys
total = int(sys.argv[1])
block = b"".join(b"line %08d abcdefghijklmnopqrstuvwxyz\n" % i for i in range(16384))
out = sys.stdout.buffer
written = 0
while written < total:
    out.write(block)
    written += len(block)
out.flush()
'''


def free_ports(count: int) -> list[int]:
    socks = []
    for _ in range(count):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


LEVELS = 5


def shape(kind: str, n: int) -> dict[str, list[str]]:
    """name -> dependencies."""
    names = [f"s{i:03d}" for i in range(n)]
    if kind == "chain":
        return {name: ([names[i - 1]] if i else []) for i, name in enumerate(names)}
    if kind == "fan":
        return {name: ([names[0]] if i else []) for i, name in enumerate(names)}
    if kind == "diamond":
        deps = {names[0]: []}
        for name in names[1:-1]:
            deps[name] = [names[0]]
        deps[names[-1]] = names[1:-1]
        return deps
    if kind == "layered":  # 5 levels of n/5 services, each on every service of the level above
        width = max(1, n // LEVELS)
        levels = [names[i * width:(i + 1) * width] for i in range(LEVELS)]
        return {name: (levels[k - 1] if k else []) for k, level in enumerate(levels) for name in level}
    raise ValueError(kind)


def depth(deps: dict[str, list[str]]) -> int:
    memo: dict[str, int] = {}

    def d(name: str) -> int:
        if name not in memo:
            memo[name] = 1 + max((d(x) for x in deps[name]), default=0)
        return memo[name]

    return max(d(n) for n in deps)


class Stack:
    def __init__(self, root: Path, deps: dict[str, list[str]], delay_ms: float, stubborn: set[str] = frozenset(),
                 grace: str = "10s") -> None:
        self.root = root
        self.deps = deps
        self.ready = root / "ready"
        self.ready.mkdir(parents=True)
        (root / "server.py").write_text(SERVER)
        ports = free_ports(len(deps))
        self.argv = {}
        for (name, _), port in zip(deps.items(), ports, strict=True):
            argv = [sys.executable, "-I", "-S", str(root / "server.py"), name, str(port), str(delay_ms), str(self.ready)]
            self.argv[name] = argv + (["stubborn"] if name in stubborn else [])
        services = {}
        for (name, dep), port in zip(deps.items(), ports, strict=True):
            services[name] = {
                "command": self.argv[name],
                "ports": [port],
                "depends_on": dep,
                "healthcheck": {"http": {"url": f"http://127.0.0.1:{port}/"}, "interval": "2s", "retries": 30},
                "stop_grace_period": grace,
            }
        (root / "services.yaml").write_text(yaml.safe_dump({"name": "bench", "services": services}, sort_keys=False))
        (root / "Procfile").write_text("".join(f"{n}: {' '.join(a)}\n" for n, a in self.argv.items()))
        conf = [
            "[supervisord]", f"logfile={root}/supervisord.log", f"pidfile={root}/supervisord.pid",
            f"childlogdir={root}", "nodaemon=true", "",
            "[unix_http_server]", f"file={root}/supervisor.sock", "",
        ]
        for name, argv in self.argv.items():
            conf += [f"[program:{name}]", f"command={' '.join(argv)}", "autorestart=false", "startsecs=0",
                     "stopasgroup=true", "killasgroup=true", ""]
        (root / "supervisord.conf").write_text("\n".join(conf))
        circus = ["[circus]", f"endpoint = ipc://{root}/circus.sock", f"pubsub_endpoint = ipc://{root}/circus-pub.sock",
                  "statsd = False", "check_delay = 5", ""]
        for name, argv in self.argv.items():
            circus += [f"[watcher:{name}]", f"cmd = {' '.join(argv)}", "numprocesses = 1", "copy_env = True", ""]
        (root / "circus.ini").write_text("\n".join(circus))

    def clear_ready(self) -> None:
        for f in self.ready.iterdir():
            f.unlink()

    def wait_all_ready(self, began: float, timeout: float = 300) -> float:
        n = len(self.deps)
        while len(os.listdir(self.ready)) < n:
            if time.monotonic() - began > timeout:
                raise RuntimeError("peers did not get ready in time")
            time.sleep(0.005)
        return time.monotonic() - began


def stop_tree(proc: subprocess.Popen[Any], sig: int = signal.SIGTERM, timeout: float = 30) -> None:
    with_children = []
    with contextlib.suppress(psutil.Error):
        with_children = psutil.Process(proc.pid).children(recursive=True)
    proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    for child in with_children:
        with contextlib.suppress(psutil.Error):
            child.kill()


class Ours:
    """``dev-orchestrator up`` in the stack folder; stderr read by a thread."""

    def __init__(self, stack: Stack) -> None:
        self.began = time.monotonic()
        env = {k: v for k, v in os.environ.items() if k != "ZYRON_ENV"}
        env["NO_COLOR"] = "1"
        self.proc = subprocess.Popen([str(CLI), "up"], cwd=stack.root, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)
        self.up_at: float | None = None
        self.done = threading.Event()
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)
            if " up in " in line and self.up_at is None:
                self.up_at = time.monotonic()
                self.done.set()
        self.done.set()

    def wait_up(self, timeout: float = 300) -> float:
        self.done.wait(timeout)
        if self.up_at is None:
            raise RuntimeError("up did not start the stack:\n" + "".join(self.lines[-30:]))
        return self.up_at - self.began

    def rss_mb(self) -> float:
        return psutil.Process(self.proc.pid).memory_info().rss / 1e6

    def stop(self) -> float:
        began = time.monotonic()
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(120)
        return time.monotonic() - began

    def reported_stop(self) -> str:
        """What up itself says the stop took (without its own exit)."""
        time.sleep(0.1)  # the reader thread gets the last lines
        line = next((x for x in reversed(self.lines) if "stopped" in x and " services in " in x), "")
        return line.rsplit(" in ", 1)[-1].strip() if line else "?"


def process_start(root: Path) -> float:
    """Median time to launch one server (D=0) until it printed ready."""
    times = []
    stack = Stack(root / "start", {"probe": []}, 0)
    for _ in range(5):
        stack.clear_ready()
        began = time.monotonic()
        proc = subprocess.Popen(stack.argv["probe"], stdout=subprocess.PIPE)
        assert proc.stdout is not None
        proc.stdout.readline()
        times.append(time.monotonic() - began)
        proc.kill()
        proc.wait()
    return statistics.median(times)


def run_peer(stack: Stack, argv: list[str]) -> float:
    stack.clear_ready()
    began = time.monotonic()
    proc = subprocess.Popen(argv, cwd=stack.root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        return stack.wait_all_ready(began)
    finally:
        stop_tree(proc)


def floor(stack: Stack, timeout: float = 300) -> float:
    """The same servers launched directly with perfect gating: each one the moment all of its
    dependencies created their ready file (polled every 2 ms); launch until all are ready."""
    stack.clear_ready()
    began = time.monotonic()
    procs: dict[str, subprocess.Popen[Any]] = {}
    try:
        while True:
            ready = {f.name for f in stack.ready.iterdir()}
            if len(ready) >= len(stack.deps):
                return time.monotonic() - began
            for name, deps in stack.deps.items():
                if name not in procs and all(d in ready for d in deps):
                    procs[name] = subprocess.Popen(stack.argv[name], cwd=stack.root, stdout=subprocess.DEVNULL,
                                                   stderr=subprocess.DEVNULL, start_new_session=True)
            if time.monotonic() - began > timeout:
                raise TimeoutError("floor: not every server became ready")
            time.sleep(0.002)
    finally:
        for proc in procs.values():
            stop_tree(proc)


def writer_into_file(root: Path, writer: list[str]) -> tuple[float, int, int]:
    """The writer piped into ``cat > file``: seconds, lines and bytes it wrote."""
    began = time.monotonic()
    with open(root / "cat.out", "wb") as out:
        w = subprocess.Popen(writer, stdout=subprocess.PIPE)
        c = subprocess.Popen(["cat"], stdin=w.stdout, stdout=out)
        assert w.stdout is not None
        w.stdout.close()
        c.wait()
        w.wait()
    took = time.monotonic() - began
    with open(root / "cat.out", "rb") as fh:
        lines = sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))
    size = os.path.getsize(root / "cat.out")
    (root / "cat.out").unlink()
    return took, lines, size


def log_throughput(root: Path, megabytes: int) -> dict[str, float]:
    total = megabytes * 1024 * 1024
    (root / "writer.py").write_text(WRITER)
    writer = [sys.executable, "-I", "-S", str(root / "writer.py"), str(total)]
    cat_s, expected_lines, size = writer_into_file(root, writer)
    # ours: the writer is a service; up prints every line (to /dev/null) and logs it to a file
    proj = root / "logproj"
    proj.mkdir()
    (proj / "services.yaml").write_text(yaml.safe_dump({
        "name": "logbench", "services": {"writer": {"command": writer}},
        "orchestrator": {"log_max_bytes": 1 << 40},
    }))
    env = {k: v for k, v in os.environ.items() if k != "ZYRON_ENV"}
    began = time.monotonic()
    subprocess.run([str(CLI), "up"], cwd=proj, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                   check=False)
    up_s = time.monotonic() - began
    (proj / "logs" / "writer.log").unlink()
    ours_s = asyncio.run(_engine_log_run(proj))
    logged = 0
    with open(proj / "logs" / "writer.log", "rb") as fh:
        for line in fh:
            if line.endswith(b" abcdefghijklmnopqrstuvwxyz\n"):
                logged += 1
    shutil.rmtree(proj)
    return {"mb": size / 1e6, "cat_s": cat_s, "ours_s": ours_s, "up_s": up_s, "lines": expected_lines,
            "logged": logged}


async def _engine_log_run(proj: Path) -> float:
    """The engine alone (as up runs it, output printed to /dev/null): spawn until exit seen."""
    from dev_orchestrator.cli.render import LogPrinter
    from dev_orchestrator.config.loader import load
    from dev_orchestrator.config.resolve import resolve
    from dev_orchestrator.runtime import events as ev
    from dev_orchestrator.runtime.engine import Engine

    env = {k: v for k, v in os.environ.items() if k != "ZYRON_ENV"}
    stack = resolve(load(proj / "services.yaml", None, cwd=proj, environ=env), environ=env)
    marks: dict[str, float] = {}

    def on_event(event: Any, _status: Any) -> None:
        if isinstance(event, (ev.Spawned, ev.Exited)):
            marks[type(event).__name__] = time.monotonic()

    real_stdout = sys.stdout
    with open(os.devnull, "w") as devnull, contextlib.ExitStack() as restore:
        sys.stdout = devnull  # the printer writes to sys.stdout's buffer, as under `up`
        restore.callback(setattr, sys, "stdout", real_stdout)
        printer = LogPrinter(["writer"])
        async with Engine(stack) as engine:
            engine.listeners.append(on_event)
            engine.sink("writer").add_listener(printer)
            await engine.start()
            await engine.wait_idle()
            await engine.stop()
    return marks["Exited"] - marks["Spawned"]


def machine() -> str:
    model = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{os.cpu_count()} cores ({len(os.sched_getaffinity(0))} usable), {model}; "
            f"Python {platform.python_version()}; {platform.system()} {platform.release()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay-ms", type=float, default=300)
    parser.add_argument("--sizes", default="10,50,100")
    parser.add_argument("--shapes", default="chain,diamond,fan")
    parser.add_argument("--log-mb", type=int, default=200)
    parser.add_argument("--no-peers", action="store_true")
    parser.add_argument("--startup-only", action="store_true", help="skip the stop, memory and log figures")
    args = parser.parse_args()
    delay = args.delay_ms
    sizes = [int(x) for x in args.sizes.split(",")]
    shapes = args.shapes.split(",")
    peers = {} if args.no_peers else {"honcho": [str(BIN / "honcho"), "start"],
                                      "supervisord": [str(BIN / "supervisord"), "-n", "-c", "supervisord.conf"],
                                      "circus": [str(BIN / "circusd"), "circus.ini"]}
    print(f"machine: {machine()}")
    print(f"services: python -I -S servers ready after D={delay:g} ms; ours: dev-orchestrator up, http probes")
    with tempfile.TemporaryDirectory(prefix="engine-bench-") as tmp:
        root = Path(tmp)
        start_cost = process_start(root)
        print(f"one process start (launch until 'ready', D=0): {start_cost * 1000:.1f} ms\n")
        head = f"{'stack':<14}{'depth':>6}{'ideal s':>9}{'floor s':>9}{'ours s':>9}{'/ideal':>8}{'/floor':>8}"
        head += "".join(f"{p + ' s':>16}{p + '/ours':>18}" for p in peers)
        print(head)
        rss = None
        for kind in shapes:
            for n in sizes:
                deps = shape(kind, n)
                stack = Stack(root / f"{kind}{n}", deps, delay)
                ideal = depth(deps) * (delay / 1000 + start_cost)  # every level: D and one process start
                ours = Ours(stack)
                try:
                    took = ours.wait_up()
                    if n == 100 and rss is None:
                        time.sleep(1.0)  # let start-up garbage settle before reading the RSS
                        rss = (kind, ours.rss_mb())
                finally:
                    ours.stop()
                direct = floor(stack)
                row = (f"{kind + ' ' + str(n):<14}{depth(deps):>6}{ideal:>9.2f}{direct:>9.2f}{took:>9.2f}"
                       f"{took / ideal:>8.2f}{took / direct:>8.2f}")
                for _name, argv in peers.items():
                    peer = run_peer(stack, argv)
                    row += f"{peer:>16.2f}{peer / took:>18.2f}"
                print(row, flush=True)
        if args.startup_only:
            return
        if rss:
            print(f"\nengine RSS with 100 services running ({rss[0]}): {rss[1]:.1f} MB (target < 50 MB)")

        # Stop time, SIGINT to up until it exited. Diamond: 5 of the 48 middle services ignore
        # SIGTERM and are killed after a 1 s grace (graces used: 1 s). Chain: every service
        # stops at SIGTERM, one after the other (graces used: 0; cost is per service).
        for kind, stubborn_every, target in (("diamond", 10, 1.5), ("chain", 0, 0.5)):
            deps = shape(kind, 50)
            stubborn = {name for i, name in enumerate(deps) if stubborn_every and i % stubborn_every == 5}
            stack = Stack(root / f"stop-{kind}", deps, 0, stubborn, grace="1s")
            ours = Ours(stack)
            ours.wait_up()
            took = ours.stop()
            print(f"stop of 50 services ({kind}, {len(stubborn)} ignore SIGTERM, grace 1s): {took:.2f} s "
                  f"from SIGINT to exit, {ours.reported_stop()} as up reports it (target <= {target:g} s)")

        stats = log_throughput(root, args.log_mb)
        lost = stats["lines"] - stats["logged"]
        print(f"\nlog throughput, {stats['mb']:.0f} MB of 40-byte lines from one service:")
        print(f"  cat > file:          {stats['cat_s']:.2f} s  {stats['mb'] / stats['cat_s']:.0f} MB/s")
        print(f"  engine:              {stats['ours_s']:.2f} s  {stats['mb'] / stats['ours_s']:.0f} MB/s "
              f"(spawn until exit seen; log file + multiplexed output to /dev/null)")
        print(f"  lines logged {stats['logged']} of {stats['lines']}, lost {lost}")
        print(f"  engine / cat:        {stats['ours_s'] / stats['cat_s']:.2f}x (goal 1.3x)")
        print(f"  (dev-orchestrator up, launch to exit, imports and start-up included: {stats['up_s']:.2f} s, "
              f"{stats['up_s'] / stats['cat_s']:.2f}x)")


if __name__ == "__main__":
    main()
