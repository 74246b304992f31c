"""watch with containers: sync into a running container, rebuild recreates it, a broken build keeps it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from conftest import Stack  # type: ignore[import-not-found]


def cli(stack: Stack, *args: str) -> list[str]:
    base = stack.cli()  # [python, -m, dev_orchestrator.cli, -f, file]: options go after the command
    return [*base[:3], args[0], *base[3:], *args[1:]]


def wait_for(path: Path, text: str, proc: subprocess.Popen[str], timeout: float = 90.0, count: int = 1) -> str:
    deadline = time.monotonic() + timeout
    while True:
        seen = path.read_text() if path.exists() else ""
        if seen.count(text) >= count:
            return seen
        assert time.monotonic() < deadline and proc.poll() is None, seen
        time.sleep(0.1)


def test_sync_rebuild_and_a_broken_build(stack: Stack, busybox_image: str, docker_client: Any) -> None:
    root = stack.root
    (root / "app").mkdir()
    (root / "app" / "version.txt").write_text("one\n")
    (root / "app" / "Dockerfile").write_text(
        f"FROM {busybox_image}\nCOPY version.txt /version.txt\n"
        'CMD ["sh", "-c", "cat /version.txt; mkdir -p /srv/static; exec sleep 600"]\n')
    (root / "static").mkdir()
    stack.write({
        "web": {
            "docker": {"image": f"{stack.project}/web:dev", "build": {"context": "app"}},
            "develop": {"watch": [
                {"path": "./static", "target": "/srv/static", "action": "sync"},
                {"path": "./app", "action": "rebuild"},
            ]},
        },
    })
    env = {**os.environ, "NO_COLOR": "1"}
    out = root / "watch.out"
    watcher = subprocess.Popen(cli(stack, "watch", "--docker"), cwd=root, env=env, text=True,
                               stdout=out.open("w"), stderr=subprocess.STDOUT)

    def container() -> dict[str, Any]:
        status = json.loads(subprocess.run(cli(stack, "status", "--json"), cwd=root, env=env,
                                           capture_output=True, text=True, timeout=60).stdout)
        record = status["services"]["web"]
        info = docker_client.api.inspect_container(record["container"])
        return {"id": info["Id"], "image": info["Image"], "running": info["State"]["Running"]}

    try:
        wait_for(out, "watching 1 service", watcher)
        first = container()
        (root / "static" / "page.html").write_text("<p>synced</p>")
        wait_for(out, "web          sync", watcher)
        cat = docker_client.containers.get(first["id"]).exec_run(["cat", "/srv/static/page.html"])
        assert cat.output.decode() == "<p>synced</p>"
        # a rebuild makes a new image and a new container from it
        (root / "app" / "version.txt").write_text("two\n")
        wait_for(out, "web          rebuild", watcher)
        second = container()
        assert second["image"] != first["image"] and second["id"] != first["id"] and second["running"]
        # a broken build keeps the container that runs, and leaves no build container behind
        before = {c.id for c in docker_client.containers.list(all=True)}
        (root / "app" / "Dockerfile").write_text(f"FROM {busybox_image}\nRUN false\n")
        seen = wait_for(out, "web          FAILED", watcher)
        assert "build" in seen.split("web          FAILED", 1)[1].splitlines()[0]
        third = container()
        assert third == second
        assert {c.id for c in docker_client.containers.list(all=True)} == before
    finally:
        watcher.send_signal(signal.SIGINT)
        watcher.wait(timeout=30)
        subprocess.run(cli(stack, "stop"), cwd=root, env=env, capture_output=True, timeout=120)
