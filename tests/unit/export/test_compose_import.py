"""Compose import: what each compose key becomes, notes for what is left out, errors with paths."""

from __future__ import annotations

from pathlib import Path

import pytest
from export_unit_support import FIXTURES

from dev_orchestrator.errors import ConfigError
from dev_orchestrator.export.compose_import import import_compose, import_compose_text

COMPOSE = FIXTURES / "compose"


@pytest.mark.parametrize("name", ["web-db-cache", "worker-migrate", "healthchecks", "interpolation"])
def test_fixtures_import_to_valid_services_yaml(name: str) -> None:
    result = import_compose(COMPOSE / f"{name}.yaml")
    result.validate({})
    assert result.document["orchestrator"] == {"docker": True}


def test_typical_web_stack() -> None:
    result = import_compose(COMPOSE / "web-db-cache.yaml")
    services = result.document["services"]
    api = services["api"]
    assert api["docker"]["command"] == ["gunicorn", "-b", "0.0.0.0:8000", "app:app"]
    assert api["docker"]["ports"] == ["127.0.0.1:8000:8000"]
    assert api["ports"] == [8000]
    assert api["depends_on"] == {
        "db": {"condition": "service_healthy"},
        "cache": {"condition": "service_started"},
    }
    assert api["docker"]["healthcheck"]["command"][0] == "wget"
    assert services["web"]["depends_on"] == {"api": {"condition": "service_started"}}
    assert services["web"]["docker"]["environment"]["API_URL"] == "http://api:8000"
    assert services["db"]["docker"]["healthcheck"] == {
        "command": "pg_isready -U app -d app", "interval": "5s", "timeout": "5s",
        "retries": 10, "start_period": "20s",
    }
    assert services["api"]["docker"]["networks"] == ["front", "back"]  # carried: each a project network
    assert services["web"]["docker"]["networks"] == ["front"]


def test_anchors_one_shots_and_gpus() -> None:
    services = import_compose(COMPOSE / "worker-migrate.yaml").document["services"]
    assert services["api"]["docker"]["image"] == "example/shop:${TAG:-latest}"
    assert services["api"]["docker"]["env_file"] == ["app.env"]
    assert services["api"]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    assert services["migrate"]["restart"] == "no"
    assert services["worker"]["gpus"] == 1
    assert services["worker"]["restart"] == "on-failure:5"
    assert services["api"]["stop_signal"] == "SIGINT"


def test_healthcheck_shapes() -> None:
    services = import_compose(COMPOSE / "healthchecks.yaml").document["services"]
    assert services["exec-form"]["docker"]["healthcheck"]["interval"] == "1m30s"
    assert services["shell-form"]["docker"]["healthcheck"]["command"] == "test -f /tmp/ready || exit 1"
    assert services["string-form"]["docker"]["healthcheck"] == {
        "command": "echo ok", "interval": "30s", "timeout": "30s", "retries": 3,
    }
    assert "healthcheck" not in services["disabled"]["docker"]
    assert "healthcheck" not in services["none"]["docker"]


def test_interpolation_is_kept_verbatim() -> None:
    docker = import_compose(COMPOSE / "interpolation.yaml").document["services"]["app"]["docker"]
    assert docker["image"] == "example/app:${APP_TAG:-1.0}"
    assert docker["ports"] == ["${APP_PORT:-8080}:8080"]
    assert docker["environment"]["PRICE"] == "$$5"


def test_long_syntax_ports_and_volumes() -> None:
    result = import_compose_text("""
services:
  web:
    image: nginx
    ports:
      - {target: 80, published: 8080, host_ip: 127.0.0.1, protocol: tcp}
      - "9000-9005:9000-9005"
    volumes:
      - {type: volume, source: data, target: /data, read_only: true}
      - {type: bind, source: ./conf, target: /etc/nginx/conf.d}
      - {type: tmpfs, target: /tmp}
    gpus: all
    labels: {a: b}
""")
    web = result.document["services"]["web"]
    assert web["docker"]["ports"] == ["127.0.0.1:8080:80/tcp"]
    assert web["ports"] == [8080]
    assert web["docker"]["volumes"] == ["data:/data:ro", "./conf:/etc/nginx/conf.d"]
    assert web["gpus"] == 1
    notes = " | ".join(result.notes)
    assert "port range" in notes and "tmpfs mount not carried over" in notes
    assert web["docker"]["labels"] == {"a": "b"}  # a container option: carried as it is


def test_bad_keys_are_reported_with_their_paths() -> None:
    with pytest.raises(ConfigError) as info:
        import_compose(COMPOSE / "bad-keys.yaml")
    lines = [str(d) for d in info.value.diagnostics]
    text = "\n".join(lines)
    assert 'services.web.imgae: unknown compose key "imgae" (did you mean "image"?)' in text
    assert "services.web.ports: expected a list of ports, got the number 8080" in text
    assert 'services.web.depends_on.db.condition: unknown condition "service_ready"' in text
    assert "services.db.healthcheck.test: expected a string or a list" in text
    assert 'servces: unknown top-level key "servces" (did you mean "services"?)' in text
    assert all(line.startswith(str(COMPOSE / "bad-keys.yaml") + ":") for line in lines)


def test_bad_yaml_names_the_line() -> None:
    with pytest.raises(ConfigError, match=r"bad-yaml.yaml:4:\d+: YAML syntax error"):
        import_compose(COMPOSE / "bad-yaml.yaml")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("services: []", "services: expected a mapping of services, got a list"),
        ("services:\n  web: nginx", "services.web: expected a mapping, got the string 'nginx'"),
        ("services:\n  web: {command: ls}", "services.web: a service needs an image or a build"),
        ("version: '3'", 'missing "services"'),
        ("services:\n  web: {image: x, healthcheck: {test: [FOO, x]}}", 'expected ["CMD", ...]'),
        ("services:\n  web: {image: x, depends_on: [1]}", "services.web.depends_on[0]: expected a service name"),
    ],
)
def test_malformed_input(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        import_compose_text(text)
    assert message in str(info.value)


def test_invalid_result_is_reported(tmp_path: Path) -> None:
    result = import_compose_text("services:\n  web: {image: x, ports: ['abc']}")
    with pytest.raises(ConfigError, match="would not validate"):
        result.validate({})


def test_merge_keys_with_overrides() -> None:
    result = import_compose_text("""
x-common: &common
  image: example/app:1
  restart: always
  environment: {MODE: web}
x-quiet: &quiet
  restart: on-failure
  stop_signal: SIGINT
services:
  web:
    <<: *common
    restart: "no"
  worker:
    <<: [*common, *quiet]
    command: work
""")
    services = result.document["services"]
    assert services["web"]["restart"] == "no"  # the service's own key wins over the merged one
    assert services["web"]["docker"]["image"] == "example/app:1"
    assert services["worker"]["restart"] == "always"  # the first merged mapping wins over a later one
    assert services["worker"]["stop_signal"] == "SIGINT"
    result.validate({})


def test_interpolated_depends_on_items_stay_interpolated(tmp_path: Path) -> None:
    from dev_orchestrator.config.loader import load

    result = import_compose_text("""
services:
  db: {image: postgres:16}
  replica: {image: postgres:16}
  api:
    image: example/api
    depends_on: ["${DB_HOST:-db}"]
""")
    assert result.document["services"]["api"]["depends_on"] == ["${DB_HOST:-db}"]
    assert any("kept as a list" in n for n in result.notes)
    result.validate({})
    (tmp_path / "services.yaml").write_text(result.text())
    loaded = load(tmp_path / "services.yaml", cwd=tmp_path, environ={"DB_HOST": "replica"})
    assert list(loaded.spec.services["api"].depends_on) == ["replica"]
