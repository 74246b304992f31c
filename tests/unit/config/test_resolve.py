"""The resolved view: settings flattened to env vars, dependency conditions, env layering."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from dev_orchestrator.config.loader import LoadedConfig
from dev_orchestrator.config.models import Condition
from dev_orchestrator.config.resolve import flatten_settings, require_runnable, resolve
from dev_orchestrator.errors import UsageError

from .conftest import Write

Load = Callable[..., LoadedConfig]


def test_flatten_settings_follows_pydantic_settings() -> None:
    settings = {
        "backend": {"port": 8000, "db": {"url": "sqlite://", "pool": {"size": 5}}, "debug": True},
        "visual-brain": {"model.name": "small", "off": False, "none": None},
        "feature_flags": ["a", "b"],
        "level": "info",
        "limits": {"map": {"a": 1}, "list": [1, 2]},
    }
    assert flatten_settings(settings) == {
        "BACKEND_PORT": "8000",
        "BACKEND_DB__URL": "sqlite://",
        "BACKEND_DB__POOL__SIZE": "5",
        "BACKEND_DEBUG": "true",
        "VISUAL_BRAIN_MODEL_NAME": "small",
        "VISUAL_BRAIN_OFF": "false",
        "VISUAL_BRAIN_NONE": "",
        "FEATURE_FLAGS": '["a","b"]',
        "LEVEL": "info",
        "LIMITS_MAP__A": "1",
        "LIMITS_LIST": "[1,2]",
    }


def test_flattened_settings_read_back_with_pydantic_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    pydantic_settings = pytest.importorskip("pydantic_settings")
    from pydantic import BaseModel

    class Db(BaseModel):
        url: str
        pool: int

    class Backend(pydantic_settings.BaseSettings):  # type: ignore[misc,name-defined]
        model_config = pydantic_settings.SettingsConfigDict(
            env_prefix="BACKEND_", env_nested_delimiter="__"
        )
        port: int
        db: Db
        tags: list[str]

    env = flatten_settings({"backend": {"port": 8000, "db": {"url": "u", "pool": 3}, "tags": ["x"]}})
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    loaded = Backend()
    assert loaded.port == 8000
    assert loaded.db == Db(url="u", pool=3)
    assert loaded.tags == ["x"]


STACK = """
name: app
orchestrator: {env_var: APP_ENV}
settings:
  api: {port: 8080, db: {url: "sqlite://"}}
services:
  db:
    command: db
    healthcheck: {tcp: {port: 5432}}
  cache:
    command: cache
  job:
    command: job
  api:
    command: api --port 8080
    working_dir: srv
    environment:
      FROM_SERVICE: service
      SHARED: service-wins
      PASSTHROUGH:
    env_file: api.env
    depends_on:
      db: {}
      cache: {}
      job: {condition: service_completed_successfully}
"""


def test_default_dependency_conditions(write: Write, load_project: Load) -> None:
    write("services.yaml", STACK)
    write("api.env", "FROM_FILE=file\n")
    stack = resolve(load_project(), environ={})
    rules = {d.name: d.condition for d in stack.services["api"].depends_on}
    assert rules == {
        "db": Condition.HEALTHY,  # it has a healthcheck
        "cache": Condition.STARTED,  # it has none
        "job": Condition.COMPLETED,  # as written
    }
    assert stack.services["job"].one_shot
    assert not stack.services["db"].one_shot


DOCKER_CHECK = """
services:
  db:
    command: db
    docker:
      image: postgres:16
      healthcheck: {tcp: {port: 5432}}
  cache:
    command: cache
    docker: {image: redis:7}
    healthcheck: docker
  api:
    command: api
    depends_on: [db, cache]
"""


def test_default_condition_follows_the_resolved_healthcheck(write: Write, load_project: Load) -> None:
    write("services.yaml", DOCKER_CHECK)
    config = load_project()
    as_processes = resolve(config, docker=False, environ={})
    assert {d.name: d.condition for d in as_processes.services["api"].depends_on} == {
        "db": Condition.STARTED,  # its only healthcheck is for the container
        "cache": Condition.STARTED,  # "docker" means the image's HEALTHCHECK: none as a process
    }
    assert as_processes.services["cache"].healthcheck is None
    in_docker = resolve(config, docker=True, environ={})
    assert {d.name: d.condition for d in in_docker.services["api"].depends_on} == {
        "db": Condition.HEALTHY,
        "cache": Condition.HEALTHY,
    }
    assert in_docker.services["db"].runtime == "docker"
    assert in_docker.services["api"].runtime == "process"  # no docker: section


def test_environment_layering(write: Write, load_project: Load, tmp_path: Path) -> None:
    write("services.yaml", STACK)
    write(".env", "SHARED=dotenv\nDOTENV_ONLY=dotenv\n")
    write("api.env", "FROM_FILE=file\nSHARED=file\n")
    config = load_project()
    stack = resolve(config, environ={"PROCESS": "process", "PASSTHROUGH": "passed", "SHARED": "process"})
    env = stack.services["api"].env
    assert env["APP_ENV"] == "dev"
    assert env["API_PORT"] == "8080"
    assert env["API_DB__URL"] == "sqlite://"
    assert env["DOTENV_ONLY"] == "dotenv"
    assert env["PROCESS"] == "process"
    assert env["FROM_FILE"] == "file"
    assert env["FROM_SERVICE"] == "service"
    assert env["PASSTHROUGH"] == "passed"  # a key without value passes the process value through
    assert env["SHARED"] == "service-wins"  # environment: > env_file > process > .env
    assert stack.services["db"].env.get("FROM_SERVICE") is None
    assert stack.services["api"].cwd == (tmp_path / "srv").resolve()
    assert stack.services["api"].argv == ("api", "--port", "8080")


def test_env_file_beats_process_and_dotenv(write: Write, load_project: Load) -> None:
    write("services.yaml", "services:\n  a: {command: run, env_file: [a.env]}\n")
    write(".env", "X=dotenv\nY=dotenv\n")
    write("a.env", "X=file\n")
    env = resolve(load_project(), environ={"X": "process", "Y": "process"}).services["a"].env
    assert (env["X"], env["Y"]) == ("file", "process")


def test_settings_override_process_env_and_env_var_is_the_loaded_env(write: Write, load_project: Load) -> None:
    write(
        "services.yaml",
        "name: app\norchestrator: {env_var: APP_ENV}\nsettings: {app: {mode: file}}\nservices:\n  app: {command: run}\n",
    )
    write("config/app.staging.yaml", "settings: {app: {mode: staging}}\n")
    stack = resolve(load_project("staging"), environ={"APP_MODE": "process", "APP_ENV": "other"})
    assert stack.services["app"].env["APP_MODE"] == "staging"
    assert stack.services["app"].env["APP_ENV"] == "staging"
    assert stack.services["app"].stack_env == {"APP_ENV": "staging", "APP_MODE": "staging"}


def test_the_environment_name_goes_only_where_the_stack_says(write: Write, load_project: Load) -> None:
    write("services.yaml", "services:\n  a: {command: run}\n")
    env = resolve(load_project(), environ={}).services["a"].env
    assert "ZYRON_ENV" not in env and env == {}  # the tool names no project variable
    write("services.yaml", "orchestrator: {env_var: STAGE}\nservices:\n  a: {command: run}\n")
    assert resolve(load_project(), environ={}).services["a"].env == {"STAGE": "dev"}


SPLIT = """
settings:
  backend: {database: {url: "postgresql://app@db/app"}, port: 8700}
  visual_brain: {port: 8710}
  frontend: {backend_url: "http://127.0.0.1:8700"}
  shared: {region: eu}
services:
  backend: {command: b}
  migrate: {command: m, settings_from: [backend, shared]}
  visual-brain: {command: v}
  frontend: {command: f}
"""


def test_settings_reach_only_their_service(write: Write, load_project: Load) -> None:
    write("services.yaml", SPLIT)
    stack = resolve(load_project(), environ={})
    frontend = stack.services["frontend"].env
    assert frontend == {"FRONTEND_BACKEND_URL": "http://127.0.0.1:8700"}
    assert "BACKEND_DATABASE__URL" not in frontend
    assert stack.services["backend"].env == {"BACKEND_DATABASE__URL": "postgresql://app@db/app", "BACKEND_PORT": "8700"}
    assert stack.services["visual-brain"].env == {"VISUAL_BRAIN_PORT": "8710"}  # visual_brain is its section
    assert stack.services["migrate"].env == {
        "BACKEND_DATABASE__URL": "postgresql://app@db/app", "BACKEND_PORT": "8700", "SHARED_REGION": "eu",
    }


def test_settings_from_names_a_section_or_a_service(write: Write, errors: Callable[..., list[str]]) -> None:
    write("services.yaml", SPLIT.replace("[backend, shared]", "[bakend, frontend, nothing]"))
    assert errors() == [
        'services.yaml:8:41: services.migrate.settings_from: unknown settings section "bakend" (did you mean "backend"?)',
        'services.yaml:8:59: services.migrate.settings_from: unknown settings section "nothing" '
        "(sections: backend, visual_brain, frontend, shared)",
    ]


def test_disabled_services_drop_out_with_optional_dependencies(write: Write, load_project: Load) -> None:
    write(
        "services.yaml",
        """
        services:
          gpu: {command: g, enabled: false}
          api: {command: a, depends_on: {gpu: {required: false}}}
        """,
    )
    stack = resolve(load_project(), environ={})
    assert list(stack.services) == ["api"]
    assert stack.services["api"].depends_on == ()


def test_required_dependency_on_a_disabled_service_is_an_error(write: Write, errors: Callable[..., list[str]]) -> None:
    write("services.yaml", "services:\n  gpu: {command: g, enabled: false}\n  api: {command: a, depends_on: [gpu]}\n")
    assert errors() == [
        'services.yaml:3:34: services.api.depends_on: "gpu" is disabled (enabled: false); '
        "enable it or mark the dependency required: false"
    ]


def test_restart_policy_and_order(write: Write, load_project: Load) -> None:
    write("services.yaml", STACK.replace("command: job", "command: job\n    restart: on-failure:3"))
    write("api.env", "")
    stack = resolve(load_project(), environ={})
    assert list(stack.services) == ["cache", "db", "job", "api"]
    policy = stack.services["job"].restart
    assert (policy.mode, policy.max_retries, str(policy)) == ("on-failure", 3, "on-failure:3")


def test_docker_only_service_needs_docker(write: Write, load_project: Load) -> None:
    write("services.yaml", "services:\n  redis: {docker: {image: redis}}\n")
    stack = resolve(load_project(), docker=False, environ={})
    with pytest.raises(UsageError, match="redis run only in Docker"):
        require_runnable(stack, {"redis"})
    require_runnable(resolve(load_project(), docker=True, environ={}), {"redis"})


def test_sections_no_service_receives_are_known(write: Write, load_project: Load) -> None:
    from dev_orchestrator.config.service_env import unreached_sections

    write("services.yaml", SPLIT.replace("settings_from: [backend, shared]", "settings_from: [backend]"))
    assert unreached_sections(load_project().spec) == ["shared"]


def test_the_repository_stack_gives_each_service_its_own_settings() -> None:
    from dev_orchestrator.config.loader import load

    root = Path(__file__).resolve().parents[3]
    stack = resolve(load(root / "services.yaml", "staging", cwd=root, environ={}), environ={})
    frontend, migrate = stack.services["frontend"].env, stack.services["migrate"].env
    assert "BACKEND_DATABASE__URL" not in frontend and frontend["FRONTEND_PORT"] == "8720"
    assert migrate["BACKEND_DATABASE__URL"].startswith("postgresql+psycopg://")  # settings_from: [backend]
    assert not any(k.startswith(("BACKEND_", "FRONTEND_")) for k in stack.services["visual-brain"].env)
    assert {s.env["ZYRON_ENV"] for s in stack.services.values()} == {"staging"}  # orchestrator.env_var
    assert "BACKEND_DATABASE__URL" in stack.services["backend"].secret_env  # it carries ${POSTGRES_PASSWORD}
