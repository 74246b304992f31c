"""Fixtures for compose files run as they are, on the real Docker engine and docker-compose.

The test images are built locally from a static busybox (tests/integration/docker/images.py);
each test's project has a unique name, and whatever carries its label is removed afterwards.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

LABEL = "dev-orchestrator.project"
SKIP = os.environ.get("DEV_ORCHESTRATOR_SKIP_DOCKER", "") not in ("", "0")


def _load_images() -> Any:
    # By path: the docker test folder has no __init__.py (a package named "docker" would
    # shadow the Docker SDK).
    path = Path(__file__).resolve().parents[1] / "docker" / "images.py"
    spec = importlib.util.spec_from_file_location("dev_orchestrator_test_images", path)
    assert spec is not None and spec.loader is not None
    if spec.name in sys.modules:
        return sys.modules[spec.name]
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


images = _load_images()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents and "docker_client" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.docker)
            if SKIP:
                item.add_marker(pytest.mark.skip(reason="DEV_ORCHESTRATOR_SKIP_DOCKER=1"))


@pytest.fixture(scope="session")
def docker_client() -> Iterator[Any]:
    import docker

    try:
        client = docker.from_env()
        client.ping()
    except Exception as exc:  # fail, never skip: CI must not pass without the engine
        pytest.fail(f"the Docker engine is not reachable ({exc}); start it, or set DEV_ORCHESTRATOR_SKIP_DOCKER=1",
                    pytrace=False)
    yield client
    client.close()


@pytest.fixture(scope="session")
def busybox_image(docker_client: Any) -> str:
    return str(images.busybox(docker_client))


@pytest.fixture
def project(docker_client: Any) -> Iterator[str]:
    """A unique project name; its containers, networks and volumes are removed afterwards."""
    name = f"dotest-compose-{uuid.uuid4().hex[:8]}"
    yield name
    flt = {"label": [f"{LABEL}={name}"]}
    for info in docker_client.api.containers(all=True, filters=flt):
        with contextlib.suppress(Exception):
            docker_client.api.remove_container(info["Id"], force=True)
    for net in docker_client.api.networks(filters=flt):
        with contextlib.suppress(Exception):
            docker_client.api.remove_network(net["Id"])
    for vol in docker_client.api.volumes(filters=flt).get("Volumes") or []:
        with contextlib.suppress(Exception):
            docker_client.api.remove_volume(vol["Name"], force=True)
