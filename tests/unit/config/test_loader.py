"""The load pipeline: files and their merge order, .env files, environments, strict mode."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from dev_orchestrator.config.loader import LoadedConfig, find_services_file, load
from dev_orchestrator.errors import Location, UsageError

from .conftest import Write

Load = Callable[..., LoadedConfig]
Errors = Callable[..., list[str]]

LAYERED = """
name: app
settings:
  api: {origin: services, base: services, env: services}
services:
  api: {command: run}
"""


def layered(write: Write) -> None:
    write("services.yaml", LAYERED)
    write("config/base.yaml", "settings:\n  api: {base: base, env: base}\n")
    write("config/app.dev.yaml", "settings:\n  api: {env: dev}\n")
    write("config/app.staging.yaml", "settings:\n  api: {env: staging}\n")


def test_merge_order_services_then_base_then_env(write: Write, load_project: Load) -> None:
    layered(write)
    config = load_project("staging")
    assert config.spec.settings == {"api": {"origin": "services", "base": "base", "env": "staging"}}
    assert config.files == ("services.yaml", "config/base.yaml", "config/app.staging.yaml")
    assert config.env == "staging"
    assert config.project == "app"


def test_default_env_is_dev(write: Write, load_project: Load) -> None:
    layered(write)
    config = load_project()
    assert config.env == "dev"
    assert config.spec.settings["api"]["env"] == "dev"


def test_the_shell_picks_the_environment(write: Write, load_project: Load) -> None:
    layered(write)
    assert load_project(environ={"DEV_ORCHESTRATOR_ENV": "staging"}).env == "staging"
    assert load_project("dev", environ={"DEV_ORCHESTRATOR_ENV": "staging"}).env == "dev"  # --env wins
    # the tool names no project's variable of its own
    assert load_project(environ={"ZYRON_ENV": "staging"}).env == "dev"


def test_the_stacks_env_var_picks_the_environment_too(write: Write, load_project: Load) -> None:
    layered(write)
    write("services.yaml", LAYERED + "orchestrator:\n  env_var: APP_ENV\n")
    assert load_project(environ={"APP_ENV": "staging"}).env == "staging"
    assert load_project(environ={"APP_ENV": "staging", "DEV_ORCHESTRATOR_ENV": "dev"}).env == "dev"


def test_locations_name_the_file_of_the_winning_value(write: Write, load_project: Load) -> None:
    layered(write)
    config = load_project("staging")
    assert config.location("settings", "api", "env") == Location("config/app.staging.yaml", 2, 14)
    assert config.location("settings", "api", "base") == Location("config/base.yaml", 2, 15)
    assert config.location("settings", "api", "origin") == Location("services.yaml", 3, 17)


def test_missing_overlays_are_fine(write: Write, load_project: Load) -> None:
    write("services.yaml", LAYERED)
    config = load_project()
    assert config.files == ("services.yaml",)
    assert config.env == "dev"


def test_explicit_dev_without_any_overlay_is_fine(write: Write, load_project: Load) -> None:
    write("services.yaml", LAYERED)
    assert load_project("dev").files == ("services.yaml",)


def test_unknown_env_lists_the_environments(write: Write, load_project: Load) -> None:
    layered(write)
    with pytest.raises(UsageError) as info:
        load_project("prod")
    assert info.value.message == (
        'no environment "prod": config/app.prod.yaml does not exist (environments: dev, staging)'
    )
    assert info.value.exit_code == 2


def test_unknown_env_without_overlays(write: Write, load_project: Load) -> None:
    write("services.yaml", LAYERED)
    with pytest.raises(UsageError) as info:
        load_project("staging")
    assert info.value.message == (
        'no environment "staging": config/app.staging.yaml does not exist (environments: none)'
    )


def test_invalid_env_name(write: Write, load_project: Load) -> None:
    write("services.yaml", LAYERED)
    with pytest.raises(UsageError, match=r'invalid environment name "\.\./x"'):
        load_project("../x")


def test_project_name_defaults_to_the_folder(tmp_path: Path) -> None:
    root = tmp_path / "My Shop"
    (root / "config").mkdir(parents=True)
    (root / "services.yaml").write_text("services:\n  a: {command: run}\n")
    (root / "config" / "my-shop.dev.yaml").write_text("settings: {from: overlay}\n")
    config = load(root / "services.yaml", None, cwd=root, environ={})
    assert config.project == "my-shop"
    assert config.spec.name == "my-shop"
    assert config.spec.settings == {"from": "overlay"}


def test_file_may_be_a_folder_and_is_found_by_walking_up(tmp_path: Path, write: Write) -> None:
    write("services.yaml", LAYERED)
    deep = tmp_path / "src" / "pkg"
    deep.mkdir(parents=True)
    assert find_services_file(deep) == (tmp_path / "services.yaml").resolve()
    assert load(None, None, cwd=deep, environ={}).root == tmp_path.resolve()
    assert load(tmp_path, None, cwd=deep, environ={}).file == (tmp_path / "services.yaml").resolve()


def test_no_services_file(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no services.yaml found in") as info:
        find_services_file(tmp_path)
    assert info.value.hint == "run the command inside a project, or pass -f path/to/services.yaml"
    with pytest.raises(UsageError, match="no such file"):
        load(tmp_path / "other.yaml", None, cwd=tmp_path, environ={})


# .env files -------------------------------------------------------------------------------

ENV_PROJECT = """
name: app
settings:
  a: ${A}
  b: ${B}
  c: ${C:-default}
"""


def test_dotenv_feeds_interpolation_and_process_env_wins(write: Write, load_project: Load) -> None:
    write("services.yaml", ENV_PROJECT)
    write(".env", "A=from-dotenv\nB=from-dotenv\nC=from-dotenv\n")
    write(".env.staging", "B=from-dotenv-staging\nC=from-dotenv-staging\n")
    write("config/app.staging.yaml", "{}\n")
    config = load_project("staging", environ={"C": "from-process"})
    assert config.spec.settings == {"a": "from-dotenv", "b": "from-dotenv-staging", "c": "from-process"}
    assert config.dotenv == {"A": "from-dotenv", "B": "from-dotenv-staging", "C": "from-dotenv-staging"}
    assert config.warnings == ()


def test_dotenv_of_another_env_is_not_read(write: Write, load_project: Load) -> None:
    write("services.yaml", ENV_PROJECT)
    write(".env.staging", "A=staging\nB=staging\n")
    config = load_project("dev")
    assert config.spec.settings == {"a": "", "b": "", "c": "default"}


def test_empty_process_value_is_set(write: Write, load_project: Load) -> None:
    write("services.yaml", ENV_PROJECT)
    write(".env", "A=dotenv\n")
    config = load_project(environ={"A": "", "B": "b", "C": ""})
    assert config.spec.settings == {"a": "", "b": "b", "c": "default"}


# strict mode ------------------------------------------------------------------------------


def test_unset_variable_warns_and_becomes_empty(write: Write, load_project: Load) -> None:
    write("services.yaml", "settings:\n  a: ${MISSING}\n  b: x-$MISSING-y\n  c: $OTHER\n")
    config = load_project()
    assert config.spec.settings == {"a": "", "b": "x--y", "c": ""}
    assert config.warnings == (
        "services.yaml:2:6: variable MISSING is not set; using an empty string",
        "services.yaml:4:6: variable OTHER is not set; using an empty string",
    )


def test_strict_mode_turns_unset_variables_into_errors(write: Write, errors: Errors) -> None:
    write("services.yaml", "orchestrator: {strict: true}\nsettings:\n  a: ${MISSING}\n  b: ${OK:-fine}\n")
    assert errors() == [
        "services.yaml:3:6: settings.a: variable MISSING is not set (strict mode: set it in the "
        "environment or .env, or give a default with ${MISSING:-default})"
    ]


def test_strict_mode_set_by_an_overlay_applies_to_every_file(write: Write, errors: Errors, load_project: Load) -> None:
    write("services.yaml", "name: app\nsettings:\n  a: ${MISSING}\n")
    write("config/app.prod.yaml", "orchestrator:\n  strict: true\n")
    write("config/app.dev.yaml", "{}\n")
    assert load_project("dev").warnings == (
        "services.yaml:3:6: variable MISSING is not set; using an empty string",
    )
    assert errors("prod") == [
        "services.yaml:3:6: settings.a: variable MISSING is not set (strict mode: set it in the "
        "environment or .env, or give a default with ${MISSING:-default})"
    ]
    assert load_project("prod", environ={"MISSING": "now set"}).spec.orchestrator.strict is True


def test_strict_flag_may_come_from_a_variable(write: Write, errors: Errors, load_project: Load) -> None:
    write("services.yaml", "orchestrator: {strict: '${STRICT:-false}'}\nsettings: {a: $MISSING}\n")
    assert load_project().warnings
    assert len(errors(environ={"STRICT": "true"})) == 1


def test_required_variable_is_an_error_in_every_mode(write: Write, errors: Errors) -> None:
    write("services.yaml", "settings:\n  a: ${NEEDED:?set NEEDED}\n  b: ${ALSO?}\n")
    assert errors() == [
        "services.yaml:2:6: settings.a: required variable NEEDED is unset or empty: set NEEDED",
        "services.yaml:3:6: settings.b: required variable ALSO is unset: set it in the environment or .env",
    ]


def test_interpolation_is_substitution_only(write: Write, load_project: Load) -> None:
    write("services.yaml", "settings:\n  a: '$$(rm -rf /) $${HOME} `id`'\n")
    assert load_project().spec.settings == {"a": "$(rm -rf /) ${HOME} `id`"}


def test_values_are_interpolated_before_validation(write: Write, load_project: Load) -> None:
    write(
        "services.yaml",
        "services:\n  api:\n    command: serve --port ${PORT:-8000}\n    ports: ['${PORT:-8000}']\n",
    )
    config = load_project(environ={"PORT": "9001"})
    assert config.spec.services["api"].ports == [9001]
    assert config.spec.services["api"].argv() == ["serve", "--port", "9001"]


def test_example_project_loads_in_every_env() -> None:
    example = Path(__file__).resolve().parents[3] / "examples" / "basic"
    for env in ("dev", "staging"):
        config = load(example, env, cwd=example, environ={})
        assert set(config.spec.services) == {"api", "cache", "seed"}
    prod = load(example, "prod", cwd=example, environ={"DB_PASSWORD": "p", "API_TOKEN": "t"})
    assert prod.spec.orchestrator.strict is True
    assert prod.spec.services["api"].restart == "always"


def test_merge_keys_with_overrides_load(write: Write, load_project: Load) -> None:
    write(
        "services.yaml",
        """
        x-common: &common
          restart: always
          command: run
        x-quiet: &quiet
          restart: on-failure
          critical: false
        services:
          api: {<<: *common, restart: "no"}
          worker:
            <<: [*common, *quiet]
            command: work
        """,
    )
    services = load_project().spec.services
    assert (services["api"].restart, services["api"].command) == ("no", "run")
    assert (services["worker"].restart, services["worker"].command) == ("always", "work")
    assert services["worker"].critical is False


def test_interpolated_depends_on_list_items(write: Write, load_project: Load) -> None:
    write(
        "services.yaml",
        """
        services:
          db: {command: db}
          other-db: {command: db}
          api: {command: api, depends_on: ["${DB_HOST:-db}"]}
        """,
    )
    assert list(load_project().spec.services["api"].depends_on) == ["db"]
    config = load_project(environ={"DB_HOST": "other-db"})
    assert list(config.spec.services["api"].depends_on) == ["other-db"]


def test_an_uninterpolated_dependency_is_one_error(write: Write, errors: Errors) -> None:
    write(
        "services.yaml",
        """
        orchestrator: {strict: true}
        services:
          db: {command: db}
          api: {command: api, depends_on: ["${DB_HOST:?set DB_HOST}"]}
          web: {command: web, depends_on: "${WEB_DEP}"}
        """,
    )
    assert errors() == [
        "services.yaml:4:36: services.api.depends_on[0]: required variable DB_HOST is unset or empty: set DB_HOST",
        "services.yaml:5:35: services.web.depends_on: variable WEB_DEP is not set (strict mode: set it in the "
        "environment or .env, or give a default with ${WEB_DEP:-default})",
    ]
    # also when another value is invalid (the document then fails validation as well)
    write("services.yaml", "orchestrator: {strict: true}\nservices:\n  api: {command: a, depends_on: ['${X}'], ports: [0]}\n")
    assert [e.split(": ", 2)[1] for e in errors()] == ["services.api.depends_on[0]", "services.api.ports[0]"]
