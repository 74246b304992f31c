"""Compose export: the Docker view of a stack as a compose document."""

from __future__ import annotations

from pathlib import Path

import pytest
from export_unit_support import MakeStack

from dev_orchestrator.config.loader import load
from dev_orchestrator.config.resolve import ResolvedStack, resolve
from dev_orchestrator.errors import UsageError
from dev_orchestrator.export.compose import export_compose

STACK = """
name: shop
orchestrator: {env_var: SHOP_ENV}
settings:
  api: {port: 8080}
services:
  db:
    docker:
      image: postgres:16
      volumes: ["pgdata:/var/lib/postgresql/data"]
      healthcheck: {command: "pg_isready -U shop", interval: 5s, retries: 5, start_period: 10s}
  cache:
    docker: {image: redis:7, ports: ["6380:6379"]}
    healthcheck: {tcp: {port: 6380}}
  api:
    command: python -m api
    environment: {PRICE: "$$5", PASS_THROUGH: null}
    docker:
      build: {context: ./api, target: prod}
      image: shop/api:1
      ports: ["127.0.0.1:8081:8080"]
      volumes: ["./src:/app:ro"]
      healthcheck: {http: {url: "http://127.0.0.1:8081/health"}, interval: 1s}
    depends_on:
      db: {condition: service_healthy}
      cache: {condition: service_healthy}
      tool: {condition: service_started}
    gpus: 1
    stop_grace_period: 30s
    stop_signal: SIGINT
    restart: on-failure:3
  tool:
    command: python -m tool
"""


def test_services_images_and_dependencies(make_stack: MakeStack, tmp_path: Path) -> None:
    result = export_compose(make_stack(STACK))
    services = result.document["services"]
    assert list(services) == ["cache", "db", "api"]
    api = services["api"]
    assert api["image"] == "shop/api:1"
    assert api["build"] == {"context": "./api", "target": "prod"}
    assert api["depends_on"] == {
        "db": {"condition": "service_healthy"},
        "cache": {"condition": "service_healthy"},
    }
    assert result.skipped == ["tool"]
    assert any("dependency on tool left out" in n for n in result.notes)
    assert result.document["volumes"] == {"pgdata": {}}


def test_healthchecks_become_tests_inside_the_container(make_stack: MakeStack) -> None:
    services = export_compose(make_stack(STACK)).document["services"]
    assert services["db"]["healthcheck"] == {
        "test": ["CMD-SHELL", "pg_isready -U shop"], "interval": "5s", "timeout": "2s",
        "retries": 5, "start_period": "10s",
    }
    api_test = services["api"]["healthcheck"]["test"]
    assert api_test[0] == "CMD-SHELL" and "http://127.0.0.1:8080/health" in api_test[1]
    assert "127.0.0.1 6379" in services["cache"]["healthcheck"]["test"][1]


def test_environment_escapes_dollars_and_keeps_pass_through(make_stack: MakeStack) -> None:
    env = export_compose(make_stack(STACK)).document["services"]["api"]["environment"]
    assert env["SHOP_ENV"] == "dev" and env["API_PORT"] == "8080"
    assert env["PRICE"] == "$$5"
    assert env["PASS_THROUGH"] is None


def test_runtime_options(make_stack: MakeStack) -> None:
    api = export_compose(make_stack(STACK)).document["services"]["api"]
    assert api["restart"] == "on-failure:3"
    assert api["stop_grace_period"] == "30s" and api["stop_signal"] == "SIGINT"
    assert api["deploy"]["resources"]["reservations"]["devices"][0]["count"] == 1
    assert api["ports"] == ["127.0.0.1:8081:8080"]


def test_paths_relative_to_the_output_folder(make_stack: MakeStack, tmp_path: Path) -> None:
    stack = make_stack(STACK)
    api = export_compose(stack, base=tmp_path / "deploy").document["services"]["api"]
    assert api["volumes"] == ["../src:/app:ro"]
    assert api["build"]["context"] == "../api"


def test_deterministic(make_stack: MakeStack) -> None:
    assert export_compose(make_stack(STACK)).text() == export_compose(make_stack(STACK)).text()


def test_nothing_to_export(make_stack: MakeStack) -> None:
    with pytest.raises(UsageError):
        export_compose(make_stack("services:\n  a: {command: sleep 1}\n"))


SECRETS = """
name: shop
orchestrator: {env_var: SHOP_ENV}
settings:
  api:
    database: {url: "postgresql://shop:${DB_PASSWORD}@db/shop"}
    origins: ["${API_TOKEN}"]
    port: 8080
  web: {title: "Shop"}
services:
  api:
    docker:
      image: shop/api
      command: [serve, --token, "${API_TOKEN}"]
      environment: {DSN: "pg://${DB_PASSWORD:-dev}@db", PLAIN: "$${HOME}"}
      build: {context: ., args: {PIP_TOKEN: "${PIP_TOKEN:?set PIP_TOKEN}", PLAIN_ARG: "a$$b"}}
  web:
    docker: {image: shop/web}
"""
SECRET_ENV = {"DB_PASSWORD": "hunter2", "API_TOKEN": "tok-123", "PIP_TOKEN": "pip-456"}


def secret_stack(tmp_path: Path) -> ResolvedStack:
    (tmp_path / "services.yaml").write_text(SECRETS.lstrip(), encoding="utf-8")
    loaded = load(tmp_path / "services.yaml", cwd=tmp_path, environ=SECRET_ENV)
    return resolve(loaded, docker=True, environ=SECRET_ENV)


def test_secret_values_become_references_not_literals(tmp_path: Path) -> None:
    result = export_compose(secret_stack(tmp_path))
    text = result.text()
    for value in SECRET_ENV.values():
        assert value not in text
    api = result.document["services"]["api"]
    env = api["environment"]
    assert env["API_DATABASE__URL"] == "postgresql://shop:${DB_PASSWORD}@db/shop"  # as written, for compose
    assert env["API_ORIGINS"] == "${API_ORIGINS}"  # built from a list: a reference of its own
    assert env["DSN"] == "pg://${DB_PASSWORD:-dev}@db"
    assert env["API_PORT"] == "8080" and env["PLAIN"] == "$${HOME}" and env["SHOP_ENV"] == "dev"
    assert api["command"] == ["serve", "--token", "${API_TOKEN}"]
    assert api["build"]["args"] == {"PIP_TOKEN": "${PIP_TOKEN:?set PIP_TOKEN}", "PLAIN_ARG": "a$$b"}
    assert result.variables == ["API_ORIGINS", "API_TOKEN", "DB_PASSWORD", "PIP_TOKEN"]
    example = result.env_example("compose.yaml")
    assert example.splitlines()[2:] == ["API_ORIGINS=", "API_TOKEN=", "DB_PASSWORD=", "PIP_TOKEN="]
    assert "hunter2" not in example


def test_settings_reach_only_their_own_service(tmp_path: Path) -> None:
    services = export_compose(secret_stack(tmp_path)).document["services"]
    assert services["web"]["environment"] == {"SHOP_ENV": "dev", "WEB_TITLE": "Shop"}
    assert not any(key.startswith("API_") for key in services["web"]["environment"])


DEVELOP = """
name: dev
services:
  web:
    docker: {image: web:1}
    develop:
      watch:
        - {path: ./src, action: sync+restart, target: /app/src, x-debounce: 500ms}
"""


def test_develop_is_kept_when_asked_and_noted_otherwise(make_stack: MakeStack, tmp_path: Path) -> None:
    stack = make_stack(DEVELOP)
    plain = export_compose(stack)
    assert "develop" not in plain.document["services"]["web"]
    assert any("develop.watch is left out" in n for n in plain.notes)
    kept = export_compose(stack, base=tmp_path / "out", develop=True)
    assert kept.document["services"]["web"]["develop"] == {
        "watch": [{"path": "../src", "action": "sync+restart", "target": "/app/src", "x-debounce": "500ms"}]
    }
