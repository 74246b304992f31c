"""A real one-node swarm for the tests here, and the daemon left as it was found.

Swarm mode changes the whole daemon (an ingress network, docker_gwbridge, services that
outlive a test), so these tests carry the ``swarm`` marker and must never run beside other
Docker tests. The fixture turns swarm mode on only when it is off, and then turns it off
again in its teardown, whatever the test did, and removes the docker_gwbridge network
that joining created (when it was not there before).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent


def _load_images() -> Any:
    # by path: tests/integration/docker has no __init__.py (a package "docker" would shadow the SDK)
    name = "dev_orchestrator_test_images"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, HERE.parent / "docker" / "images.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


images = _load_images()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.swarm)
            item.add_marker(pytest.mark.docker)


def _docker(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)


def swarm_state() -> str:
    """The daemon's swarm state, once it has settled ("pending" is a join or leave under way)."""
    import time

    deadline = time.monotonic() + 60
    while True:
        done = _docker("info", "--format", "{{.Swarm.LocalNodeState}}")
        if done.returncode != 0:
            pytest.fail(f"the Docker engine does not answer: {done.stderr.strip()}", pytrace=False)
        state = done.stdout.strip()
        if state != "pending" or time.monotonic() > deadline:
            return state
        time.sleep(0.5)


@pytest.fixture(scope="module")
def swarm() -> Iterator[bool]:
    """The daemon in swarm mode; True when this fixture turned it on (and will turn it off)."""
    state = swarm_state()
    if state == "active":
        yield False
        return
    if state not in ("inactive", ""):
        pytest.fail(f"the daemon's swarm state is {state!r}; expected inactive or active", pytrace=False)
    had_gwbridge = _docker("network", "inspect", "docker_gwbridge").returncode == 0
    started = _docker("swarm", "init", "--advertise-addr", "127.0.0.1")
    try:
        if started.returncode != 0:
            pytest.fail(f"docker swarm init failed: {started.stderr.strip()}", pytrace=False)
        yield True
    finally:
        left = _docker("swarm", "leave", "--force", timeout=120)
        if not had_gwbridge:
            _docker("network", "rm", "docker_gwbridge")
        assert left.returncode == 0 or "not part of a swarm" in left.stderr, left.stderr
        assert swarm_state() == "inactive"


@pytest.fixture(scope="module")
def busybox_image() -> str:
    import docker

    client = docker.from_env()
    try:
        return str(images.busybox(client))
    finally:
        client.close()


@pytest.fixture(scope="module")
def zyron_images() -> dict[str, str]:
    """The images of the Zyron staging stack's databases, and the Zyron images' base."""
    import docker

    client = docker.from_env()
    try:
        return {"postgres": str(images.postgres(client)), "redis": str(images.redis(client)),
                "base": str(images.zyron_base(client))}
    finally:
        client.close()
