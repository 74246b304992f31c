"""Fixtures for tests against the real Docker engine.

The engine must answer: an unreachable engine fails every Docker test (CI has one).
A developer without Docker opts out explicitly with DEV_ORCHESTRATOR_SKIP_DOCKER=1.
Every test gets its own project name; teardown removes every container, network and
volume that carries that project's label, whatever the test left.
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
import yaml


def _load_images() -> Any:
    # Loaded by path: this folder has no __init__.py (a package named "docker" would
    # shadow the Docker SDK).
    spec = importlib.util.spec_from_file_location("dev_orchestrator_test_images", Path(__file__).with_name("images.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


images = _load_images()
SKIP = os.environ.get("DEV_ORCHESTRATOR_SKIP_DOCKER", "") not in ("", "0")
LABEL = "dev-orchestrator.project"
REPO = Path(__file__).resolve().parents[3]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
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
        pytest.fail(
            f"the Docker engine is not reachable ({exc}); start it, or set "
            "DEV_ORCHESTRATOR_SKIP_DOCKER=1 to skip the Docker tests on this machine",
            pytrace=False,
        )
    yield client
    client.close()


@pytest.fixture(scope="session")
def busybox_image(docker_client: Any) -> str:
    return images.busybox(docker_client)


@pytest.fixture(scope="session")
def busybox_health_image(docker_client: Any) -> str:
    return images.busybox_health(docker_client)


@pytest.fixture(scope="session")
def redis_image(docker_client: Any) -> str:
    return images.redis(docker_client)


@pytest.fixture(scope="session")
def postgres_image(docker_client: Any) -> str:
    return images.postgres(docker_client)


@pytest.fixture(scope="session")
def zyron_base_image(docker_client: Any) -> str:
    return images.zyron_base(docker_client)


def remove_project(client: Any, project: str) -> None:
    """Remove whatever carries the project's label (containers, networks, volumes)."""
    flt = {"label": [f"{LABEL}={project}"]}
    for info in client.api.containers(all=True, filters=flt):
        with contextlib.suppress(Exception):
            client.api.remove_container(info["Id"], force=True)
    for net in client.api.networks(filters=flt):
        with contextlib.suppress(Exception):
            client.api.remove_network(net["Id"])
    for vol in client.api.volumes(filters=flt).get("Volumes") or []:
        with contextlib.suppress(Exception):
            client.api.remove_volume(vol["Name"], force=True)


def leftovers(client: Any, project: str) -> dict[str, list[str]]:
    flt = {"label": [f"{LABEL}={project}"]}
    return {
        "containers": [c["Names"][0] for c in client.api.containers(all=True, filters=flt)],
        "networks": [n["Name"] for n in client.api.networks(filters=flt)],
        "volumes": [v["Name"] for v in client.api.volumes(filters=flt).get("Volumes") or []],
    }


@pytest.fixture
def project(docker_client: Any) -> Iterator[str]:
    name = f"dotest-{uuid.uuid4().hex[:8]}"
    yield name
    remove_project(docker_client, name)


class Stack:
    """A services.yaml in a tmp dir, loaded and resolved on demand."""

    def __init__(self, root: Path, project: str) -> None:
        self.root = root
        self.project = project

    def write(self, services: dict[str, Any], **top: Any) -> Path:
        doc = {"name": self.project, "services": services, **top}
        path = self.root / "services.yaml"
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        return path

    def resolve(self, *, docker: bool = True, environ: dict[str, str] | None = None) -> Any:
        from dev_orchestrator.config.loader import load
        from dev_orchestrator.config.resolve import resolve

        env = dict(os.environ if environ is None else environ)
        loaded = load(self.root / "services.yaml", "dev", cwd=self.root, environ=env)
        return resolve(loaded, docker=docker, environ=env)

    def cli(self) -> list[str]:
        return [sys.executable, "-m", "dev_orchestrator.cli", "-f", str(self.root / "services.yaml")]


@pytest.fixture
def stack(tmp_path: Path, project: str) -> Stack:
    return Stack(tmp_path, project)
