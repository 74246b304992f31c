"""Time to all healthy: N busybox containers with healthchecks and dependencies.

The same stack (chain: each service waits for the previous one to be healthy; diamond:
one root, N-2 services on it, one service on all of those) is started by
dev-orchestrator (Engine API, --docker) and by docker compose, side by side in one run,
with a physical floor: the same containers created and started directly through the
Docker API, each as soon as its dependencies' first successful exec probe returned.
Every container runs busybox httpd; its health is ``wget`` of its own page, run
inside the container on both sides (compose: healthcheck ``test``; ours: a command probe).

Compose is measured with healthcheck timings a user would write: ``interval: 1s``, and
Docker's defaults (interval 30s). docker-compose 1.29 (the one installed here) has no
``up --wait``: we run ``up -d`` (which already waits for ``service_healthy``
dependencies) and then poll the containers' health every 20 ms until all are healthy,
which is what ``--wait`` does.

    .venv/bin/python bench/docker_bench.py [--n 10] [--runs 3] [--defaults-n 3]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import docker
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

SERVE = "trap 'exit 0' TERM; httpd -f -p 8080 -h /www & wait"
CHECK = ["wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/"]


def busybox_image(client: Any) -> str:
    path = REPO / "tests" / "integration" / "docker" / "images.py"
    spec = importlib.util.spec_from_file_location("bench_test_images", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return str(module.busybox(client))


def graph(shape: str, n: int) -> dict[str, list[str]]:
    names = [f"s{i}" for i in range(n)]
    if shape == "chain":
        return {name: names[i - 1 : i] for i, name in enumerate(names)}
    middle = names[1:-1]
    return {names[0]: [], **{m: [names[0]] for m in middle}, names[-1]: middle}


def ours_file(root: Path, project: str, image: str, deps: dict[str, list[str]]) -> Path:
    services = {
        name: {
            "docker": {"image": image, "command": ["sh", "-c", SERVE]},
            "healthcheck": {"command": CHECK, "interval": "1s", "retries": 60},
            "depends_on": {d: {"condition": "service_healthy"} for d in needs},
            "stop_grace_period": "2s",
        }
        for name, needs in deps.items()
    }
    path = root / "services.yaml"
    path.write_text(yaml.safe_dump({"name": project, "services": services}, sort_keys=False))
    return path


def compose_file(root: Path, image: str, deps: dict[str, list[str]], interval: str | None) -> Path:
    health: dict[str, Any] = {"test": ["CMD", *CHECK]}
    if interval:
        health.update(interval=interval, timeout="1s", retries=60)
    services = {
        name: {
            "image": image,
            "command": ["sh", "-c", SERVE],
            "healthcheck": health,
            "stop_grace_period": "2s",
            **({"depends_on": {d: {"condition": "service_healthy"} for d in needs}} if needs else {}),
        }
        for name, needs in deps.items()
    }
    path = root / "docker-compose.yml"
    path.write_text(yaml.safe_dump({"version": "2.4", "services": services}, sort_keys=False))
    return path


def run_ours(image: str, deps: dict[str, list[str]]) -> float:
    from dev_orchestrator.backends.docker import cleanup_project
    from dev_orchestrator.config.loader import load
    from dev_orchestrator.config.resolve import resolve
    from dev_orchestrator.runtime.engine import Engine

    project = f"bench-ours-{uuid.uuid4().hex[:6]}"
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        path = ours_file(root, project, image, deps)
        stack = resolve(load(path, "dev", cwd=root), docker=True)

        async def main() -> float:
            async with Engine(stack, logs_dir=root / "logs") as engine:
                began = time.perf_counter()
                report = await engine.start()
                took = time.perf_counter() - began
                if not report.ok:
                    raise SystemExit(f"ours failed: {report.failed}: {report.reason}")
                await engine.stop()
                return took

        try:
            return asyncio.run(main())
        finally:
            cleanup_project(project, volumes=True)


def run_compose(client: Any, image: str, deps: dict[str, list[str]], interval: str | None) -> float:
    project = f"benchcompose{uuid.uuid4().hex[:6]}"
    with tempfile.TemporaryDirectory() as tmp:
        path = compose_file(Path(tmp), image, deps, interval)
        base = ["docker-compose", "-p", project, "-f", str(path)]
        flt = {"label": [f"com.docker.compose.project={project}"]}
        try:
            began = time.perf_counter()
            subprocess.run([*base, "up", "-d"], check=True, capture_output=True)
            while True:  # what `up --wait` does: every container healthy
                states = [c.get("Status", "") for c in client.api.containers(all=True, filters=flt)]
                if len(states) == len(deps) and all("(healthy)" in s for s in states):
                    return time.perf_counter() - began
                time.sleep(0.02)
        finally:
            subprocess.run([*base, "down", "-v", "--timeout", "2"], capture_output=True)


def run_floor(client: Any, image: str, deps: dict[str, list[str]]) -> float:
    """The physical floor: the same containers created and started directly through the
    Docker API on a network of their own (both tools make one, so that service names
    resolve), each the moment all of its dependencies' first successful ``docker exec``
    probe returned (probed back to back, no pause); one thread per container."""
    import threading

    api = client.api
    label = f"bench-floor-{uuid.uuid4().hex[:6]}"
    ready = {name: threading.Event() for name in deps}
    failed: list[str] = []
    network: list[str] = []
    made = threading.Event()

    def one(name: str) -> None:
        try:
            for dep in deps[name]:
                if not ready[dep].wait(120):
                    raise TimeoutError(dep)
            if not made.wait(60):
                raise TimeoutError("network")
            cid = api.create_container(
                image, command=["sh", "-c", SERVE], labels={label: name},
                host_config=api.create_host_config(network_mode=label),
                networking_config=api.create_networking_config({label: api.create_endpoint_config(aliases=[name])}),
            )["Id"]
            api.start(cid)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                exe = api.exec_create(cid, CHECK)["Id"]
                api.exec_start(exe)
                if api.exec_inspect(exe)["ExitCode"] == 0:
                    ready[name].set()
                    return
            raise TimeoutError(name)
        except Exception as exc:  # reported after the run; the other threads time out
            failed.append(f"{name}: {exc}")

    threads = [threading.Thread(target=one, args=(name,), daemon=True) for name in deps]
    try:
        began = time.perf_counter()
        for thread in threads:
            thread.start()
        # a network of the stack's own, as both tools make one (names resolve to services)
        network.append(api.create_network(label, driver="bridge", labels={label: "network"})["Id"])
        made.set()
        for thread in threads:
            thread.join(180)
        took = time.perf_counter() - began
        if failed or not all(e.is_set() for e in ready.values()):
            raise SystemExit(f"floor failed: {failed}")
        return took
    finally:
        for c in api.containers(all=True, filters={"label": [label]}):
            api.remove_container(c["Id"], force=True)
        for net in network:
            api.remove_network(net)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10, help="services per stack (default 10)")
    parser.add_argument("--runs", type=int, default=3, help="runs per setting; the median is reported")
    parser.add_argument("--defaults-n", type=int, default=3,
                        help="services with compose's default timings (30s per level; default 3)")
    args = parser.parse_args()
    if min(args.n, args.defaults_n) < 3:
        parser.error("a diamond needs at least 3 services")

    client = docker.from_env()
    image = busybox_image(client)
    compose_version = subprocess.run(["docker-compose", "version", "--short"], capture_output=True, text=True).stdout.strip()
    print(f"docker_bench: {args.n} busybox containers per stack, median of {args.runs} runs")
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Docker {client.version()['Version']}, "
          f"docker-compose {compose_version}, Python {platform.python_version()}")
    print("health: wget of the container's own page, run inside the container, every side\n")
    print("floor: the same containers created and started through the Docker API on a network of their")
    print("own, each when its dependencies' first successful exec probe returned (probes back to back)\n")
    print(f"{'stack':<18}{'floor':>9}{'dev-orchestrator':>18}{'ours/floor':>12}{'compose 1s':>12}{'compose/ours':>14}")
    for shape in ("chain", "diamond"):
        deps = graph(shape, args.n)
        ours: list[float] = []
        theirs: list[float] = []
        floors: list[float] = []
        for _ in range(args.runs):
            floors.append(run_floor(client, image, deps))
            ours.append(run_ours(image, deps))
            theirs.append(run_compose(client, image, deps, "1s"))
        f, a, b = statistics.median(floors), statistics.median(ours), statistics.median(theirs)
        print(f"{shape + ' of ' + str(args.n):<18}{f:>8.2f}s{a:>17.2f}s{a / f:>12.2f}{b:>11.2f}s{b / a:>13.1f}x",
              flush=True)
    print(f"\ncompose with Docker's default healthcheck timings (interval 30s), one run, {args.defaults_n} services:")
    print(f"{'stack':<22}{'dev-orchestrator':>18}{'compose default':>17}{'ratio':>8}")
    for shape in ("chain", "diamond"):
        deps = graph(shape, args.defaults_n)
        a = run_ours(image, deps)
        b = run_compose(client, image, deps, None)
        print(f"{shape + ' of ' + str(args.defaults_n):<22}{a:>17.2f}s{b:>16.2f}s{b / a:>7.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
