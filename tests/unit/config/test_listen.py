"""`listen`, `deploy` and the notify probe: what they resolve to, and errors with their places."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from dev_orchestrator.config.loader import LoadedConfig
from dev_orchestrator.config.resolve import resolve
from dev_orchestrator.errors import ConfigError

from .conftest import Write

Load = Callable[..., LoadedConfig]


def resolve_errors(load_project: Load) -> list[str]:
    with pytest.raises(ConfigError) as info:
        resolve(load_project(), environ={})
    return [str(d) for d in info.value.diagnostics]


def test_listen_defaults_and_start_first(write: Write, load_project: Load) -> None:
    write("services.yaml", """
        services:
          web:
            command: run
            listen: [{port: 8700}]
            healthcheck: {http: {url: "http://127.0.0.1:8700/health"}}
          job:
            command: run
            ports: [9000]
    """)
    stack = resolve(load_project(), environ={})
    web, job = stack.services["web"], stack.services["job"]
    entry = web.listen[0]
    assert (entry.port, entry.host, entry.mode, entry.env_name) == (8700, "127.0.0.1", "proxy", "PORT")
    assert web.start_first and web.replicas == 1 and web.monitor == 1.0
    assert web.ports == (8700,)
    assert not job.start_first and job.update_order == "stop-first"


def test_deploy_and_named_listen(write: Write, load_project: Load) -> None:
    write("services.yaml", """
        services:
          web:
            command: run
            listen: [{port: 8700}, {port: 8701, name: admin}, {port: 8702, env: APP_PORT}]
            deploy: {update_config: {order: stop-first, monitor: 2s}}
    """)
    web = resolve(load_project(), environ={}).services["web"]
    assert [e.env_name for e in web.listen] == ["PORT", "PORT_ADMIN", "APP_PORT"]
    assert web.update_order == "stop-first" and not web.start_first and web.monitor == 2.0


def test_notify_probe(write: Write, load_project: Load) -> None:
    write("services.yaml", "services:\n  web:\n    command: run\n    healthcheck: {notify: true}\n")
    check = resolve(load_project(), environ={}).services["web"].healthcheck
    assert check is not None and check != "docker" and check.kind == "notify"
    assert check.describe() == "notify READY=1"


def test_a_port_used_twice_is_named_at_its_place(write: Write, load_project: Load) -> None:
    write("services.yaml", """
        services:
          a:
            command: run
            ports: [8700]
          b:
            command: run
            listen: [{port: 8700}]
    """)
    assert resolve_errors(load_project) == [
        "services.yaml:7:21: services.b.listen.0.port: port 8700 is already used by services.a.ports.0; "
        "each listen port belongs to one service"
    ]


def test_fd_mode_needs_a_probe_that_tells_instances_apart(write: Write, load_project: Load) -> None:
    write("services.yaml", """
        services:
          web:
            command: run
            listen: [{port: 8700, mode: fd}]
            healthcheck: {http: {url: "http://127.0.0.1:8700/"}}
          other:
            command: run
            listen: [{port: 8701, mode: fd}]
            healthcheck: {notify: true}
    """)
    (message,) = resolve_errors(load_project)
    assert message.startswith("services.yaml:4:33: services.web.listen.0.mode: fd mode needs a notify, log or "
                              "command probe (found an http probe)")


def test_replicas_with_a_port_need_listen_and_a_listen_name_is_checked(write: Write, load_project: Load,
                                                            errors: Callable[..., list[str]]) -> None:
    write("services.yaml", "services:\n  web:\n    command: run\n    ports: [8080]\n    deploy: {replicas: 2}\n")
    assert resolve_errors(load_project) == [
        "services.yaml:5:24: services.web.deploy.replicas: deploy.replicas 2 needs a listen port: the replicas "
        "would all bind port 8080; add `listen: [{port: 8080}]` so they share it"
    ]
    # workers without a port, and replicas behind a listen port, are fine
    write("services.yaml", "services:\n  worker:\n    command: run\n    deploy: {replicas: 3}\n")
    assert resolve(load_project(), environ={}).services["worker"].replicas == 3
    write("services.yaml", "services:\n  web:\n    command: run\n    listen: [{port: 8080}]\n    deploy: {replicas: 2}\n")
    assert resolve(load_project(), environ={}).services["web"].replicas == 2
    write("services.yaml", "services:\n  web:\n    command: run\n    listen: [{port: 1, name: 'a-b'}]\n")
    assert any('invalid listen name "a-b"' in e for e in errors())


def test_a_container_behind_listen_publishes_that_port_and_no_other(write: Write, load_project: Load) -> None:
    write("services.yaml", """
        services:
          web:
            listen: [{port: 8700}]
            docker: {image: app, ports: ["127.0.0.1:8700:80"]}
            deploy: {replicas: 2}
    """)
    web = resolve(load_project(), docker=True, environ={}).services["web"]
    assert web.runtime == "docker" and web.start_first and web.replicas == 2
    write("services.yaml", """
        services:
          web:
            listen: [{port: 8700, mode: fd}, {port: 8701, name: admin}]
            docker: {image: app, ports: ["127.0.0.1:8700:80", "9090:9090"]}
    """)
    with pytest.raises(ConfigError) as info:
        resolve(load_project(), docker=True, environ={})
    found = [str(d) for d in info.value.diagnostics]
    assert any("services.web.listen.0.mode: fd mode hands the socket to a local process" in e for e in found)
    assert any("services.web.listen.1.port: listen port 8701 of a container must be one of its docker.ports "
               '(add "127.0.0.1:8701:<container port>")' in e for e in found)
    assert any("services.web.docker.ports.1: port 9090 is published by every instance of web" in e for e in found)
    # the same file as a local process: the docker section does not count
    write("services.yaml", """
        services:
          web:
            command: run
            listen: [{port: 8700}]
            docker: {image: app, ports: ["9090:9090"]}
    """)
    assert resolve(load_project(), docker=False, environ={}).services["web"].runtime == "process"
