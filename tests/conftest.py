"""The whole suite: tests that use the Docker engine run one after another in one worker.

`./dev test` runs the suite on two pytest-xdist workers (`--dist loadgroup`). Every test
that talks to the Docker daemon is put in the one group "docker", so those tests never
run beside each other: a Swarm test changes the whole daemon, and image builds would
compete. Docker-free tests share out over both workers around them.
"""

from __future__ import annotations

import pytest

DOCKER_FIXTURES = {
    "docker_client", "busybox_image", "busybox_health_image", "redis_image", "postgres_image",
    "zyron_base_image", "zyron_images", "swarm",
}


def uses_docker(item: pytest.Item) -> bool:
    if item.get_closest_marker("docker") or item.get_closest_marker("swarm"):
        return True
    return bool(DOCKER_FIXTURES & set(getattr(item, "fixturenames", ())))


@pytest.hookimpl(trylast=True)  # after the folders' own hooks have added their markers
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if uses_docker(item):
            item.add_marker(pytest.mark.xdist_group("docker"))
