"""Container options of docker: (compose's keys and shapes) and what the container is created with."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from dev_orchestrator.backends.docker_spec import plan_container
from dev_orchestrator.config.loader import LoadedConfig
from dev_orchestrator.config.resolve import resolve
from dev_orchestrator.errors import ConfigError

from .conftest import Write

Load = Callable[..., LoadedConfig]


def test_compose_shapes_become_create_arguments(write: Write, load_project: Load) -> None:
    write("services.yaml", """
        name: shop
        services:
          web:
            docker:
              image: app
              hostname: web-host
              labels: [team=core, tier=front]
              networks: {front: {aliases: [www]}, default: null}
              extra_hosts: {db.local: 10.0.0.9}
              expose: [8080, "53/udp"]
              tmpfs: /scratch:size=1m
              read_only: true
              init: true
              tty: true
              cap_drop: ALL
              ulimits: {nofile: 1024, nproc: {soft: 10, hard: 20}}
              shm_size: 64m
              sysctls: [net.core.somaxconn=1024]
    """)
    stack = resolve(load_project(), docker=True, environ={})
    plan = plan_container(stack, stack.services["web"])
    assert plan.name == "shop-web"
    assert plan.networks == (("shop_front", ("web", "www")), ("shop_default", ("web",)))
    assert plan.network == "shop_front"
    kwargs = plan.create_kwargs()
    assert kwargs["hostname"] == "web-host" and kwargs["tty"] is True
    assert (8080, "tcp") in kwargs["ports"] and (53, "udp") in kwargs["ports"]
    host = plan.host_config()
    assert host["read_only"] is True and host["init"] is True
    assert host["tmpfs"] == {"/scratch": "size=1m"}
    assert host["cap_drop"] == ["ALL"]
    assert host["extra_hosts"] == ["db.local:10.0.0.9"]
    assert host["ulimits"] == [{"Name": "nofile", "Soft": 1024, "Hard": 1024}, {"Name": "nproc", "Soft": 10, "Hard": 20}]
    assert host["shm_size"] == "64m" and host["sysctls"] == {"net.core.somaxconn": "1024"}
    labelled = plan.with_image_id("sha256:1")
    assert labelled.labels["team"] == "core" and labelled.labels["dev-orchestrator.project"] == "shop"
    # an option is part of the definition: changing it makes another container
    write("services.yaml", """
        name: shop
        services:
          web: {docker: {image: app, hostname: other}}
    """)
    other = resolve(load_project(), docker=True, environ={})
    assert plan_container(other, other.services["web"]).with_image_id("sha256:1").hash != labelled.hash


def test_a_fixed_container_name_and_bad_shapes_are_errors_at_their_place(write: Write, load_project: Load) -> None:
    write("services.yaml", """
        services:
          web:
            listen: [{port: 8700}]
            docker: {image: app, container_name: web, ports: ["127.0.0.1:8700:80"]}
    """)
    with pytest.raises(ConfigError) as info:
        resolve(load_project(), docker=True, environ={})
    assert any("services.web.docker.container_name: container_name 'web' names one container" in str(d)
               for d in info.value.diagnostics)
    write("services.yaml", """
        services:
          web: {docker: {image: app, networks: {"bad name": {}}, ulimits: {nofile: {soft: 1}}}}
    """)
    with pytest.raises(ConfigError) as info:
        resolve(load_project(), docker=True, environ={})
    text = "\n".join(str(d) for d in info.value.diagnostics)
    assert 'invalid network name "bad name"' in text
    assert 'services.web.docker.ulimits.nofile: missing required key "hard"' in text
