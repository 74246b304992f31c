"""The real CLI with --docker: `up` in the foreground, Ctrl-C, clear errors, leftovers."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from typing import Any

from dev_orchestrator.backends.docker import cleanup_project, container_status

CLI = [sys.executable, "-c", "from dev_orchestrator.cli import main; main()"]
IDLE = "trap 'exit 0' TERM; sleep 1000 & wait"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cli(stack: Any, *args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args, "-f", str(stack.root / "services.yaml")],
        cwd=stack.root, env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=timeout,
    )


def spawn_up(stack: Any, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*CLI, "up", "--docker", *args, "-f", str(stack.root / "services.yaml")],
        cwd=stack.root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "NO_COLOR": "1"},
    )


def wait_for(predicate: Any, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.1)


def web_stack(stack: Any, image: str) -> int:
    port = free_port()
    stack.write({
        "web": {
            "docker": {"image": image, "ports": [f"{port}:8080"],
                       "command": ["sh", "-c", "trap 'exit 0' TERM; echo serving; httpd -f -p 8080 -h /www & wait"]},
            "healthcheck": {"http": {"url": f"http://127.0.0.1:{port}/"}, "interval": "0.2s"},
        },
        "worker": {"command": [sys.executable, "-c", "import time; print('working', flush=True); time.sleep(600)"],
                   "depends_on": ["web"]},
    })
    return port


def test_up_docker_then_ctrl_c_leaves_nothing(stack: Any, busybox_image: str) -> None:
    web_stack(stack, busybox_image)
    proc = spawn_up(stack)
    try:
        wait_for(lambda: (stack.root / "logs" / "worker.log").exists()
                 and "working" in (stack.root / "logs" / "worker.log").read_text())
        status = container_status(stack.project)
        assert status["web"].state == "running"
        assert "serving" in (stack.root / "logs" / "web.log").read_text()  # container output logged
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "web" in err and "stopped 2 services" in err
    assert container_status(stack.project) == {}


def test_orphans_of_a_killed_up_are_cleaned(stack: Any, busybox_image: str) -> None:
    web_stack(stack, busybox_image)
    proc = spawn_up(stack, "web")
    try:
        log = stack.root / "logs" / "web.log"
        wait_for(lambda: "web" in container_status(stack.project) and log.exists() and "serving" in log.read_text())
    finally:
        proc.kill()  # the supervisor dies without stopping anything
        proc.wait(timeout=10)
    orphan = container_status(stack.project)["web"]
    assert orphan.state == "running"
    done = cleanup_project(stack.project)  # what `stop` does for leftovers
    assert done.containers == [f"{stack.project}-web"]
    assert container_status(stack.project) == {}


def test_unreachable_engine_is_a_clear_error(stack: Any, busybox_image: str) -> None:
    marker = stack.root / "started"
    stack.write({
        "local": {"command": [sys.executable, "-c", f"open({str(marker)!r}, 'w'); import time; time.sleep(60)"]},
        "box": {"docker": {"image": busybox_image, "command": ["sh", "-c", IDLE]}, "depends_on": ["local"]},
    })
    done = cli(stack, "up", "--docker", env={"DOCKER_HOST": "unix:///nonexistent.sock"})
    assert done.returncode == 1, done.stderr
    assert (
        "Docker is not reachable at unix:///nonexistent.sock: No such file or directory; "
        "start the engine or run without --docker"
    ) in done.stderr
    assert "Traceback" not in done.stderr
    assert not marker.exists()
    assert container_status(stack.project) == {}


def test_missing_image_exit_code_and_message(stack: Any) -> None:
    stack.write({"gone": {"docker": {"image": "dev-orchestrator-test/no-such-image:1"}}})
    done = cli(stack, "up", "--docker")
    assert done.returncode == 1, done.stderr
    assert 'image "dev-orchestrator-test/no-such-image:1" is not available locally and cannot be pulled' in done.stderr
    assert container_status(stack.project) == {}


def test_docker_only_service_without_docker_is_usage_error(stack: Any, busybox_image: str) -> None:
    stack.write({"box": {"docker": {"image": busybox_image}}})
    done = cli(stack, "up", "--no-docker")
    assert done.returncode == 2, done.stderr
    assert "run only in Docker" in done.stderr and "--docker" in done.stderr


def test_container_output_goes_to_the_service_log(stack: Any, busybox_image: str) -> None:
    stack.write({"once": {"docker": {"image": busybox_image, "command": ["sh", "-c", "echo out; echo err >&2"]}}})
    done = cli(stack, "up", "--docker")
    assert done.returncode == 0, done.stderr
    text = (stack.root / "logs" / "once.log").read_text()
    assert "out" in text and "err" in text
    assert container_status(stack.project) == {}
