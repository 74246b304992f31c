"""The whole suite: tests that use the Docker engine run one after another in one worker.

`./dev test` runs the suite on two pytest-xdist workers (`--dist loadgroup`). Every test
that talks to the Docker daemon is put in the one group "docker", so those tests never
run beside each other: a Swarm test changes the whole daemon, and image builds would
compete. Docker-free tests share out over both workers around them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
DOCKER_FOLDERS = (HERE / "integration" / "docker", HERE / "integration" / "swarm")
DOCKER_FIXTURES = {
    "docker_client", "busybox_image", "busybox_health_image", "redis_image", "postgres_image",
    "zyron_base_image", "zyron_images", "swarm",
}


def uses_docker(item: pytest.Item) -> bool:
    path = Path(str(item.fspath)).resolve()
    if any(folder in path.parents for folder in DOCKER_FOLDERS):
        return True
    if item.get_closest_marker("docker") or item.get_closest_marker("swarm"):
        return True
    return bool(DOCKER_FIXTURES & set(getattr(item, "fixturenames", ())))


def pytest_itemcollected(item: pytest.Item) -> None:
    # here, not in pytest_collection_modifyitems: xdist reads the group there, in an order
    # among the hooks that is not ours to choose
    if uses_docker(item):
        item.add_marker(pytest.mark.xdist_group("docker"))
