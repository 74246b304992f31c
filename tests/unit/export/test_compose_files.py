"""Compose files read as compose reads them: profiles, mount flags, extends, include, overrides."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from dev_orchestrator.config.loader import load
from dev_orchestrator.config.locate import find_services_file
from dev_orchestrator.config.resolve import resolve
from dev_orchestrator.errors import ConfigError
from dev_orchestrator.export.compose import export_compose
from dev_orchestrator.export.compose_import import import_compose, import_compose_text


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def test_import_keeps_profiles_and_export_writes_them_back(tmp_path: Path) -> None:
    result = import_compose_text("""
services:
  web: {image: nginx}
  debug: {image: busybox, profiles: [debug, tools]}
""")
    assert result.document["services"]["debug"] == {"docker": {"image": "busybox"}, "profiles": ["debug", "tools"]}
    assert "enabled" not in result.text()
    _write(tmp_path, "services.yaml", result.text())
    stack = resolve(load(tmp_path / "services.yaml", None, cwd=tmp_path, environ={}, profiles=["*"]),
                    docker=True, environ={})
    exported = export_compose(stack).document["services"]
    assert exported["debug"]["profiles"] == ["debug", "tools"]
    assert "profiles" not in exported["web"]


def test_export_keeps_bind_mounts_verbatim(tmp_path: Path) -> None:
    _write(tmp_path, "services.yaml", """
    services:
      web:
        docker:
          image: nginx
          volumes:
            - /var/run/docker.sock:/var/run/docker.sock
            - /etc/localtime:/etc/localtime:ro
            - ./conf:/etc/nginx/conf.d:Z
            - ./data:/data:rw,rshared
            - ~/cache:/cache:ro,z
            - cache:/var/cache:nocopy
            - /scratch
    """)
    stack = resolve(load(tmp_path / "services.yaml", None, cwd=tmp_path, environ={}), docker=True, environ={})
    volumes = export_compose(stack, base=tmp_path / "deploy" / "compose").document["services"]["web"]["volumes"]
    assert volumes == [
        "/var/run/docker.sock:/var/run/docker.sock",
        "/etc/localtime:/etc/localtime:ro",
        "../../conf:/etc/nginx/conf.d:Z",
        "../../data:/data:rw,rshared",
        "~/cache:/cache:ro,z",
        "cache:/var/cache:nocopy",
        "/scratch",
    ]
    assert export_compose(stack).document["services"]["web"]["volumes"][2] == "./conf:/etc/nginx/conf.d:Z"


def test_export_does_not_resolve_symlinks_of_relative_sources(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    _write(tmp_path, "services.yaml", "services:\n  web: {docker: {image: nginx, volumes: ['./link:/x']}}\n")
    stack = resolve(load(tmp_path / "services.yaml", None, cwd=tmp_path, environ={}), docker=True, environ={})
    assert export_compose(stack).document["services"]["web"]["volumes"] == ["./link:/x"]


def test_long_syntax_mounts_keep_their_flags() -> None:
    result = import_compose_text("""
services:
  web:
    image: nginx
    volumes:
      - {type: bind, source: ./src, target: /src, read_only: true, bind: {propagation: rshared, selinux: Z}}
      - {type: volume, source: data, target: /data, volume: {nocopy: true}}
""")
    assert result.document["services"]["web"]["docker"]["volumes"] == ["./src:/src:ro,rshared,Z", "data:/data:nocopy"]


def test_extends_in_the_same_file_and_from_another(tmp_path: Path) -> None:
    _write(tmp_path, "common.yaml", """
    services:
      base:
        image: busybox
        environment: {A: "1", B: "1"}
        ports: ["8080:80"]
        depends_on: [db]
    """)
    path = _write(tmp_path, "compose.yaml", """
    services:
      db: {image: postgres}
      web:
        extends: {file: common.yaml, service: base}
        environment: {B: "2"}
        ports: ["9090:90"]
      worker:
        extends: web
        command: ["work"]
    """)
    services = import_compose(path).document["services"]
    web = services["web"]["docker"]
    assert web["image"] == "busybox"
    assert web["environment"] == {"A": "1", "B": "2"}
    assert web["ports"] == ["8080:80", "9090:90"]
    assert "depends_on" not in services["web"]  # compose never shares depends_on through extends
    assert services["worker"]["docker"]["command"] == ["work"]
    assert services["worker"]["docker"]["environment"] == {"A": "1", "B": "2"}


def test_extends_errors_name_the_service(tmp_path: Path) -> None:
    path = _write(tmp_path, "compose.yaml", "services:\n  web: {image: x, extends: nothere}\n")
    with pytest.raises(ConfigError) as info:
        import_compose(path)
    assert 'compose.yaml:2:3: services.web.extends.service: extends names unknown service "nothere"' in str(info.value)


def test_include_adds_the_included_services(tmp_path: Path) -> None:
    _write(tmp_path, "db/compose.yaml", """
    services:
      db: {image: postgres, build: ./image, env_file: db.env, volumes: ["./init:/init:ro", "data:/data"]}
    """)
    path = _write(tmp_path, "compose.yaml", """
    include: [db/compose.yaml]
    services:
      web: {image: nginx, depends_on: [db]}
    """)
    result = import_compose(path)
    assert sorted(result.document["services"]) == ["db", "web"]
    db = result.document["services"]["db"]["docker"]  # paths are read from the included file's folder
    assert (db["build"], db["env_file"], db["volumes"]) == (
        "./db/image", ["./db/db.env"], ["./db/init:/init:ro", "data:/data"])
    assert not any("include" in note for note in result.notes)


def test_a_compose_file_runs_as_it_is(tmp_path: Path) -> None:
    _write(tmp_path, "compose.yaml", """
    name: shop
    services:
      web:
        image: nginx
        ports: ["8080:80"]
        mem_limit: 512m
        depends_on: {db: {condition: service_healthy}}
      db:
        image: postgres
        healthcheck: {test: ["CMD-SHELL", "pg_isready"], interval: 1s}
      adminer: {image: adminer, profiles: [debug]}
    """)
    _write(tmp_path, "compose.override.yaml", "services:\n  web:\n    environment: {DEBUG: '1'}\n")
    deep = tmp_path / "src"
    deep.mkdir()
    assert find_services_file(deep) == (tmp_path / "compose.yaml").resolve()
    loaded = load(None, None, cwd=deep, environ={})
    assert loaded.compose and loaded.project == "shop"
    assert sorted(loaded.activation.inactive) == ["adminer"]
    assert loaded.spec.services["web"].docker.environment == {"DEBUG": "1"}  # type: ignore[union-attr]
    assert "services.web.mem_limit: not carried over" in loaded.notes
    stack = resolve(loaded, environ={})
    assert stack.docker and stack.services["web"].runtime == "docker"
    # -f naming the file itself: compose reads no override then.
    explicit = load(tmp_path / "compose.yaml", None, cwd=tmp_path, environ={"COMPOSE_PROJECT_NAME": "other"})
    assert explicit.project == "other"
    assert explicit.spec.services["web"].docker.environment == {}  # type: ignore[union-attr]


def test_a_bad_compose_file_names_its_line(tmp_path: Path) -> None:
    _write(tmp_path, "docker-compose.yml", "services:\n  web:\n    image: nginx\n    imgae: x\n")
    with pytest.raises(ConfigError) as info:
        load(tmp_path, None, cwd=tmp_path, environ={})
    assert str(info.value.diagnostics[0]) == (
        'docker-compose.yml:4:5: services.web.imgae: unknown compose key "imgae" (did you mean "image"?)'
    )


def test_a_translated_value_error_names_the_compose_line(tmp_path: Path) -> None:
    _write(tmp_path, "compose.yaml", "services:\n  web:\n    image: nginx\n    ports: ['80:80:80:80']\n")
    with pytest.raises(ConfigError) as info:
        load(tmp_path, None, cwd=tmp_path, environ={})
    assert str(info.value.diagnostics[0]).startswith("compose.yaml:4:")


def test_secrets_carry_over_and_configs_become_read_only_mounts() -> None:
    result = import_compose_text("""
services:
  db:
    image: postgres
    environment: {POSTGRES_PASSWORD_FILE: /run/secrets/db_password}
    volumes: ["data:/var/lib/postgresql/data"]
    secrets: [db_password, {source: api_key, target: key.txt}, {source: tls, target: /etc/tls.pem, mode: 0400}]
    configs: [nginx, {source: nginx, target: /etc/nginx.conf}]
secrets:
  db_password: {file: ./db_password.txt}
  api_key: {file: ./api.key}
  tls: {file: /etc/ssl/tls.pem}
  token: {environment: TOKEN}
configs:
  nginx: {file: ./nginx.conf}
""")
    db = result.document["services"]["db"]
    assert db["docker"]["volumes"] == [
        "data:/var/lib/postgresql/data",
        "./nginx.conf:/nginx:ro",
        "./nginx.conf:/etc/nginx.conf:ro",
    ]
    assert db["secrets"] == ["db_password", {"source": "api_key", "target": "key.txt"},
                             {"source": "tls", "target": "/etc/tls.pem"}]
    assert result.document["secrets"] == {
        "api_key": {"file": "./api.key"}, "db_password": {"file": "./db_password.txt"},
        "tls": {"file": "/etc/ssl/tls.pem"}, "token": {"environment": "TOKEN"},
    }
    notes = list(result.notes)
    assert any(n.startswith("services.db.secrets[2].mode: not carried over") for n in notes)


def test_an_undeclared_secret_is_an_error() -> None:
    with pytest.raises(ConfigError) as info:
        import_compose_text("services:\n  db:\n    image: postgres\n    secrets: [pw]\n")
    assert 'compose.yaml:4:15: services.db.secrets[0]: unknown secret "pw"' in str(info.value)
