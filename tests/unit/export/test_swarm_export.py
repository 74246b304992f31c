"""Swarm export: the compose export rewritten for docker stack deploy."""

from __future__ import annotations

from pathlib import Path

import pytest
from export_unit_support import MakeStack

from dev_orchestrator.config.resolve import ResolvedStack
from dev_orchestrator.export.swarm import export_swarm, image_tools

STACK = """
name: shop
orchestrator: {secrets: [API_KEY]}
services:
  cache:
    docker: {image: "shop/busybox:1", command: [httpd, -f, -p, "6379"]}
    healthcheck: {tcp: {port: 6379}, interval: 1s}
    restart: always
  migrate:
    docker: {image: "python:3.11-slim", command: [python, -m, migrate]}
    restart: on-failure:2
  api:
    command: [python, -m, api]
    listen: [{port: 8700}]
    environment: {TOKEN: "${API_KEY}", PRICE: "$$5"}
    deploy: {replicas: 2}
    docker:
      build: {context: ./api}
      ports: ["8700"]
      volumes: ["./secrets/pw.txt:/run/secrets/db_password:ro", "./conf/api.ini:/etc/api.ini:ro", "data:/data"]
      healthcheck: {http: {url: "http://127.0.0.1:8700/health"}, interval: 2s}
    depends_on:
      cache: {condition: service_healthy}
      migrate: {condition: service_completed_successfully}
  front:
    command: [node, server.js]
    listen: [{port: 3000}]
    docker: {image: "shop/front:1", ports: ["127.0.0.1:3000:3000"]}
    healthcheck: {http: {url: "http://127.0.0.1:3000/"}}
"""
FILES = {
    "secrets/pw.txt": "s3cret\n",
    "conf/api.ini": "[api]\n",
    "api/Dockerfile": "ARG BASE=python:3.11-slim\nFROM ${BASE}\nCMD [\"python\", \"-m\", \"api\"]\n",
}


@pytest.fixture
def stack(make_stack: MakeStack) -> ResolvedStack:
    return make_stack(STACK, files=FILES)


def test_images_only_and_what_to_build(stack: ResolvedStack, tmp_path: Path) -> None:
    result = export_swarm(stack)
    api = result.document["services"]["api"]
    assert "build" not in api and api["image"] == "shop-api:latest"
    assert [(b.service, b.image, b.context) for b in result.builds] == [("api", "shop-api:latest", tmp_path / "api")]
    assert result.document["version"] == "3.9"


def test_depends_on_is_a_list_with_a_note(stack: ResolvedStack) -> None:
    result = export_swarm(stack)
    assert result.document["services"]["api"]["depends_on"] == ["cache", "migrate"]
    assert any("Swarm ignores it" in n for n in result.notes)


def test_restart_becomes_the_restart_policy(stack: ResolvedStack) -> None:
    services = export_swarm(stack).document["services"]
    assert "restart" not in services["cache"]
    assert services["cache"]["deploy"]["restart_policy"] == {"condition": "any"}
    assert services["front"]["deploy"]["restart_policy"] == {"condition": "none"}
    # a one-shot job runs once as a Swarm job, retried on failure as its restart says
    assert services["migrate"]["deploy"]["mode"] == "replicated-job"
    assert services["migrate"]["deploy"]["restart_policy"] == {"condition": "on-failure", "max_attempts": 2}


def test_replicas_and_update_order_vip(stack: ResolvedStack) -> None:
    services = export_swarm(stack, network="vip").document["services"]
    api, front = services["api"]["deploy"], services["front"]["deploy"]
    assert api["replicas"] == 2 and api["update_config"]["order"] == "start-first"
    assert "endpoint_mode" not in api
    # ingress publishing: the port is the service's, not a task's, so start-first holds
    assert services["front"]["ports"] == [{"target": 3000, "published": 3000, "protocol": "tcp", "mode": "ingress"}]
    assert front["update_config"]["order"] == "start-first"
    # an unpublished port cannot go through ingress: each task gets its own host port
    assert services["api"]["ports"] == [{"target": 8700, "protocol": "tcp", "mode": "host"}]


def test_dnsrr_host_ports_and_colliding_start_first(stack: ResolvedStack) -> None:
    result = export_swarm(stack, network="dnsrr")
    services = result.document["services"]
    assert all(s["deploy"]["endpoint_mode"] == "dnsrr" for s in services.values())
    assert services["front"]["ports"] == [{"target": 3000, "published": 3000, "protocol": "tcp", "mode": "host"}]
    assert services["front"]["deploy"]["update_config"]["order"] == "stop-first"
    assert any("front: start-first becomes stop-first" in n for n in result.notes)
    assert any("every address of the node" in n for n in result.notes)
    # ephemeral host ports never collide: two replicas on one node, start-first kept
    assert services["api"]["deploy"]["update_config"]["order"] == "start-first"
    assert "placement" not in services["api"]["deploy"]


def test_replicas_on_a_fixed_host_port_go_one_per_node(make_stack: MakeStack) -> None:
    stack = make_stack("""
    services:
      web:
        deploy: {replicas: 3}
        docker: {image: "shop/web:1", ports: ["8080:80"]}
    """)
    result = export_swarm(stack, network="dnsrr")
    assert result.document["services"]["web"]["deploy"]["placement"] == {"max_replicas_per_node": 1}
    assert any("so it needs 3 nodes" in n for n in result.notes)


def test_healthchecks_use_a_client_the_image_has(stack: ResolvedStack) -> None:
    services = export_swarm(stack).document["services"]
    # busybox (by name): nc for tcp, wget for http
    assert services["cache"]["healthcheck"]["test"] == ["CMD", "sh", "-c", "echo | nc -w 2 127.0.0.1 6379 >/dev/null"]
    # a build FROM python (ARG default filled in): python -c
    api = services["api"]["healthcheck"]["test"]
    assert api[:3] == ["CMD", "python3", "-c"] and "http://127.0.0.1:8700/health" in api[3]


def test_no_known_client_is_said(stack: ResolvedStack) -> None:
    result = export_swarm(stack)
    assert any("front: no http client known in shop/front:1" in n for n in result.notes)
    # what the image's history shows decides when it is known
    known = export_swarm(stack, facts=lambda image: "/bin/sh -c apk add curl" if image == "shop/front:1" else "")
    test = known.document["services"]["front"]["healthcheck"]["test"]
    assert test[:2] == ["CMD", "curl"]


def test_image_tools_from_text() -> None:
    assert image_tools("dev-orchestrator-test/busybox:1") == ["wget"]
    assert image_tools("zyron/backend copy python3-venv") == ["python"]
    assert image_tools("nginx:1") == []


def test_secrets_and_configs_from_read_only_files(stack: ResolvedStack) -> None:
    result = export_swarm(stack)
    api = result.document["services"]["api"]
    assert api["secrets"] == [{"source": "db_password", "target": "/run/secrets/db_password"}]
    assert api["configs"] == [{"source": "api_etc_api.ini", "target": "/etc/api.ini"}]
    assert api["volumes"] == ["data:/data"]
    secret = result.document["secrets"]["db_password"]
    assert secret["file"] == "./secrets/pw.txt"
    # named by content, so that a changed file is a new secret (Swarm never edits one)
    assert secret["name"].startswith("shop_db_password_") and len(secret["name"]) == len("shop_db_password_") + 12
    assert "s3cret" not in result.text()


def test_secret_values_stay_references(stack: ResolvedStack) -> None:
    result = export_swarm(stack)
    env = result.document["services"]["api"]["environment"]
    assert env["TOKEN"] == "${API_KEY}" and env["PRICE"] == "$$5"
    assert result.variables == ["API_KEY"]
    assert any("Swarm reads no .env" in n for n in result.notes)
    assert not any("probe runs as" in n for n in result.notes)
