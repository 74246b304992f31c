"""Exports carry the replicas and the update order that a service's deploy: states."""

from __future__ import annotations

from typing import Any

import pytest
from export_unit_support import KUBE_VERSIONS, MakeStack

from dev_orchestrator.export.compose import export_compose
from dev_orchestrator.export.kubernetes import export_kubernetes
from dev_orchestrator.export.kubevalidate import validate

STACK = """
name: shop
services:
  api:
    command: [python, -m, api]
    listen: [{port: 8700}]
    deploy:
      replicas: 3
      update_config: {monitor: 2s}
    docker: {image: "shop/api:1", ports: ["8700"]}
  worker:
    command: [python, -m, worker]
    deploy:
      update_config: {order: stop-first}
    docker: {image: "shop/worker:1"}
  web:
    command: [python, -m, web]
    listen: [{port: 8800}]
    docker: {image: "shop/web:1", ports: ["8800"]}
  plain:
    docker: {image: "shop/plain:1", ports: ["9000"]}
  db:
    listen: [{port: 5432}]
    command: [postgres]
    docker: {image: "postgres:16", ports: ["127.0.0.1:5432:5432"], volumes: ["pgdata:/var/lib/postgresql/data"]}
"""


def _deployments(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == "Deployment"}


def test_compose_writes_replicas_and_update_config(make_stack: MakeStack) -> None:
    services = export_compose(make_stack(STACK)).document["services"]
    assert services["api"]["deploy"] == {
        "replicas": 3,
        "update_config": {"parallelism": 1, "order": "start-first", "monitor": "2s", "failure_action": "rollback"},
    }
    # a listen port alone means start-first (the default of issue 12), one replica
    assert services["web"]["deploy"]["replicas"] == 1
    assert services["web"]["deploy"]["update_config"]["order"] == "start-first"
    assert services["worker"]["deploy"]["update_config"]["order"] == "stop-first"
    # no deploy:, no listen: nothing written, the engine's default applies
    assert "deploy" not in services["plain"]


def test_compose_deploy_keeps_gpu_reservations(make_stack: MakeStack) -> None:
    stack = make_stack("""
    services:
      gpu:
        deploy: {replicas: 2}
        gpus: 1
        docker: {image: "shop/gpu:1"}
    """)
    deploy = export_compose(stack).document["services"]["gpu"]["deploy"]
    assert deploy["replicas"] == 2
    assert deploy["resources"]["reservations"]["devices"][0]["count"] == 1


def test_kubernetes_start_first_is_a_rolling_update_that_never_drops_a_pod(make_stack: MakeStack) -> None:
    result = export_kubernetes(make_stack(STACK))
    deployments = _deployments(result.objects)
    api = deployments["api"]["spec"]
    assert api["replicas"] == 3
    assert api["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}
    assert deployments["web"]["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


def test_kubernetes_stop_first(make_stack: MakeStack) -> None:
    result = export_kubernetes(make_stack(STACK))
    deployments = _deployments(result.objects)
    # asked for in so many words: the old pod stops before the new one starts
    assert deployments["worker"]["spec"]["strategy"] == {"type": "Recreate"}
    # the default stop-first of a plain service keeps Kubernetes' own rolling update
    assert "strategy" not in deployments["plain"]["spec"]
    assert deployments["plain"]["spec"]["replicas"] == 1
    # a ReadWriteOnce claim wins over start-first, and the export says so
    assert deployments["db"]["spec"]["strategy"] == {"type": "Recreate"}
    assert any("db: start-first cannot hold with a ReadWriteOnce" in n for n in result.notes)


@pytest.mark.parametrize("version", KUBE_VERSIONS)
def test_kubernetes_strategies_validate(make_stack: MakeStack, version: str) -> None:
    assert validate(export_kubernetes(make_stack(STACK)).objects, [version]) == []
