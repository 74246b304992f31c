"""Values that interpolate a secret variable are secret themselves: paths, layers, services."""

from __future__ import annotations

from collections.abc import Callable

from dev_orchestrator.config.loader import LoadedConfig
from dev_orchestrator.config.resolve import resolve
from dev_orchestrator.config.secrets import MASK, mask_paths

from .conftest import Write

Load = Callable[..., LoadedConfig]

STACK = """
name: app
orchestrator: {secrets: [SIGNING_SEED]}
settings:
  backend:
    database: {url: "postgresql://app:${DB_PASSWORD:-dev-pw}@${DB_HOST:-db}/app", pool: 5}
    origins: ["http://${HOST:-localhost}", "${SIGNING_SEED}"]
    seed_hint: "${SIGNING_SEED:+set}"
    plain: "${DB_HOST:-db}"
  frontend:
    backend_url: "http://${DB_HOST:-db}:8700"
services:
  backend:
    command: backend
    environment: ["DSN=pg://${DB_PASSWORD:-x}@db", "MODE=${MODE:-web}"]
    docker:
      image: app
      environment: {DSN: "pg://docker", TOKEN_FILE: "/run/${API_TOKEN:-none}"}
  frontend: {command: frontend}
"""


def test_paths_of_values_that_read_a_secret(write: Write, load_project: Load) -> None:
    write("services.yaml", STACK)
    config = load_project(environ={"SIGNING_SEED": "seed"})
    assert dict(config.secrets) == {
        ("settings", "backend", "database", "url"): "postgresql://app:${DB_PASSWORD:-dev-pw}@${DB_HOST:-db}/app",
        ("settings", "backend", "origins", 1): "${SIGNING_SEED}",  # declared in orchestrator.secrets
        ("settings", "backend", "seed_hint"): "${SIGNING_SEED:+set}",
        # a KEY=VALUE list item is kept under its KEY, as the models see it
        ("services", "backend", "environment", "DSN"): "pg://${DB_PASSWORD:-x}@db",
        ("services", "backend", "docker", "environment", "TOKEN_FILE"): "/run/${API_TOKEN:-none}",
    }
    assert config.spec.orchestrator.secrets == ["SIGNING_SEED"]


def test_an_overlay_that_replaces_a_value_replaces_its_taint(write: Write, load_project: Load) -> None:
    write("services.yaml", STACK)
    write(
        "config/app.staging.yaml",
        """
        orchestrator: {secrets: [STAGING_ONLY]}
        settings:
          backend:
            database: {url: "sqlite:///staging.db"}
            origins: "${STAGING_ONLY:-x}"
          frontend: {backend_url: "http://${STAGING_ONLY:-x}"}
        """,
    )
    config = load_project("staging")
    paths = config.secret_paths
    assert ("settings", "backend", "database", "url") not in paths
    assert ("settings", "backend", "origins", 1) not in paths  # the list was replaced by a string
    assert ("settings", "backend", "origins") in paths
    assert ("settings", "frontend", "backend_url") in paths
    assert ("settings", "backend", "seed_hint") in paths  # untouched by the overlay
    # the lists of every file add up: a variable secret in one file stays secret in all
    assert config.spec.orchestrator.secrets == ["SIGNING_SEED", "STAGING_ONLY"]


def test_services_know_their_secret_variables(write: Write, load_project: Load) -> None:
    write("services.yaml", STACK)
    stack = resolve(load_project(), environ={})
    backend = stack.services["backend"]
    assert backend.env["BACKEND_DATABASE__URL"] == "postgresql://app:dev-pw@db/app"
    assert {"BACKEND_DATABASE__URL", "BACKEND_ORIGINS", "BACKEND_SEED_HINT", "DSN"} <= backend.secret_env
    assert "TOKEN_FILE" in backend.secret_env  # named like one (and tainted in the docker view)
    assert not {"BACKEND_PLAIN", "BACKEND_DATABASE__POOL", "MODE"} & backend.secret_env
    assert stack.services["frontend"].secret_env == frozenset()


def test_mask_paths_masks_the_values_at_those_paths() -> None:
    data = {"settings": {"a": {"url": "pg://u:pw@h"}, "list": ["x", "secret"]}, "other": "keep"}
    masked = mask_paths(data, [("settings", "a", "url"), ("settings", "list", 1), ("missing", "path"), ()])
    assert masked == {"settings": {"a": {"url": MASK}, "list": ["x", MASK]}, "other": "keep"}
    assert data["settings"]["a"]["url"] == "pg://u:pw@h"  # a copy: the input is unchanged


def test_settings_lists_keep_their_item_paths(write: Write, load_project: Load) -> None:
    write("services.yaml", "settings:\n  a: {environment: ['X=${DB_PASSWORD:-p}']}\nservices:\n  a: {command: run}\n")
    assert load_project().secret_paths == {("settings", "a", "environment", 0)}
