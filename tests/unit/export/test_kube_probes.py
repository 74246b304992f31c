"""Kubernetes probes: readiness from the health check, startup from start_period, liveness on request."""

from __future__ import annotations

from typing import Any

from export_unit_support import KUBE_VERSIONS, MakeStack

from dev_orchestrator.export.kubernetes import export_kubernetes
from dev_orchestrator.export.kubevalidate import validate

STACK = """
name: shop
services:
  api:
    docker:
      image: shop/api:1
      ports: ["8081:8080"]
      labels: {dev-orchestrator.kubernetes.liveness: "true"}
    healthcheck: {http: {url: "http://127.0.0.1:8081/health"}, interval: 5s, retries: 4, start_period: 20s}
  web:
    docker: {image: shop/web:1, ports: ["3000"], labels: {dev-orchestrator.kubernetes.liveness: "maybe"}}
    healthcheck: {tcp: {port: 3000}}
  logger:
    docker: {image: busybox, labels: {dev-orchestrator.kubernetes.liveness: "true"}}
    healthcheck: {log: "ready"}
"""


def container(result: Any, name: str) -> dict[str, Any]:
    for obj in result.objects:
        if obj["kind"] == "Deployment" and obj["metadata"]["name"] == name:
            found: dict[str, Any] = obj["spec"]["template"]["spec"]["containers"][0]
            return found
    raise AssertionError(name)


def test_readiness_startup_and_liveness_when_asked(make_stack: MakeStack) -> None:
    result = export_kubernetes(make_stack(STACK), environ={})
    api = container(result, "api")
    ready = {"httpGet": {"path": "/health", "port": 8080}, "periodSeconds": 5, "timeoutSeconds": 2,
             "failureThreshold": 4}
    assert api["readinessProbe"] == ready
    assert api["livenessProbe"] == ready
    assert api["startupProbe"] == {**ready, "failureThreshold": 4 + 4}  # ceil(20/5) + retries
    web = container(result, "web")
    assert web["readinessProbe"]["tcpSocket"] == {"port": 3000}
    assert "livenessProbe" not in web and "startupProbe" not in web
    assert any('web: label dev-orchestrator.kubernetes.liveness: "maybe" is not true or false' in n
               for n in result.notes)
    assert validate(result.objects, list(KUBE_VERSIONS)) == []


def test_log_checks_are_reported_not_translated(make_stack: MakeStack) -> None:
    result = export_kubernetes(make_stack(STACK), environ={})
    assert not {"readinessProbe", "livenessProbe", "startupProbe"} & set(container(result, "logger"))
    assert any(n.startswith("logger: log probe /ready/ is not translatable") for n in result.notes)
