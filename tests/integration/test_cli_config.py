"""The real CLI on real files: `config`, `config validate`, `config schema`, `graph`.

Each test runs the installed console script in a temporary project folder and checks
what a user sees: exit codes, one precise message per error, masked secrets.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CLI = Path(sys.executable).with_name("dev-orchestrator")


def run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k not in ("ZYRON_ENV", "DEV_ORCHESTRATOR_DEBUG")}
    environ.update({"NO_COLOR": "1", **(env or {})})
    return subprocess.run(
        [str(CLI), *args], cwd=cwd, env=environ, capture_output=True, text=True, timeout=60
    )


def write(root: Path, name: str, text: str) -> None:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")


STACK = """
name: shop
settings:
  api: {port: 8000, db_password: hunter2, nested: {api_key: k-123}}
services:
  db:
    command: db --serve
    healthcheck: {tcp: {port: 5432}}
  api:
    command: api
    environment:
      API_TOKEN: t-456
      LOG_LEVEL: info
    depends_on: [db]
    docker:
      image: shop/api
      environment: [SECRET_KEY=s-789, MODE=prod]
  web:
    command: web
    depends_on: [api]
"""
SECRETS = ("hunter2", "k-123", "t-456", "s-789")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    write(tmp_path, "services.yaml", STACK)
    write(tmp_path, "config/shop.dev.yaml", "settings: {api: {debug: true}}\n")
    write(tmp_path, "config/shop.staging.yaml", "services:\n  api: {restart: always}\n")
    return tmp_path


def test_config_prints_the_merged_document_with_secrets_masked(project: Path) -> None:
    result = run("config", "--env", "staging", cwd=project)
    assert result.returncode == 0, result.stderr
    header, _, body = result.stdout.partition("\n")
    assert header == "# shop · env staging · services.yaml + config/shop.staging.yaml"
    document = yaml.safe_load(body)
    assert document["services"]["api"]["restart"] == "always"
    assert document["settings"]["api"]["db_password"] == "******"
    assert document["settings"]["api"]["nested"]["api_key"] == "******"
    assert document["services"]["api"]["environment"] == {"API_TOKEN": "******", "LOG_LEVEL": "info"}
    assert document["services"]["api"]["docker"]["environment"] == {"SECRET_KEY": "******", "MODE": "prod"}
    for secret in SECRETS:
        assert secret not in result.stdout
    assert result.stderr == ""


def test_config_json_and_show_secrets(project: Path) -> None:
    masked = run("config", "--json", cwd=project)
    assert masked.returncode == 0, masked.stderr
    document = json.loads(masked.stdout)
    assert document["settings"]["api"] == {
        "port": 8000,
        "db_password": "******",
        "nested": {"api_key": "******"},
        "debug": True,
    }
    shown = run("config", "--json", "--show-secrets", cwd=project)
    assert shown.returncode == 0
    for secret in SECRETS:
        assert secret in shown.stdout
    assert json.loads(shown.stdout)["services"]["api"]["docker"]["environment"]["SECRET_KEY"] == "s-789"


def test_environment_list_is_masked(tmp_path: Path) -> None:
    write(tmp_path, "services.yaml", "services:\n  a:\n    command: run\n    environment: [DB_PASSWORD=pw-1, A=b]\n")
    result = run("config", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "pw-1" not in result.stdout
    assert json.loads(result.stdout)["services"]["a"]["environment"] == {"DB_PASSWORD": "******", "A": "b"}


def test_validate_summary(project: Path) -> None:
    result = run("config", "validate", "--env", "staging", cwd=project)
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        "✓ services.yaml + config/shop.staging.yaml: valid · shop · env staging · 3 services\n"
    )


def test_services_yaml_is_found_by_walking_up(project: Path) -> None:
    deep = project / "src" / "deeper"
    deep.mkdir(parents=True)
    result = run("config", "validate", cwd=deep)
    assert result.returncode == 0, result.stderr
    assert "valid · shop · env dev · 3 services" in result.stdout


def test_file_option(project: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    assert run("config", "validate", "-f", str(project / "services.yaml"), cwd=elsewhere).returncode == 0
    assert run("graph", "-f", str(project), cwd=elsewhere).returncode == 0


def test_no_services_file(tmp_path: Path) -> None:
    result = run("config", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"error: no services.yaml found in {tmp_path} or any folder above it",
        "  hint: run the command inside a project, or pass -f path/to/services.yaml",
    ]


def test_unknown_env_lists_the_environments(project: Path) -> None:
    result = run("config", "--env", "prod", cwd=project)
    assert result.returncode == 2
    assert result.stderr.splitlines()[0] == (
        'error: no environment "prod": config/shop.prod.yaml does not exist (environments: dev, staging)'
    )


def test_the_shell_selects_the_environment(project: Path) -> None:
    result = run("config", "validate", cwd=project, env={"DEV_ORCHESTRATOR_ENV": "staging"})
    assert "env staging" in result.stdout


BROKEN = """
name: shop
services:
  db:
    command: db
    restart: sometimes
  api:
    command: api
    depends_on: [dbb]
    healthcheck:
      tcp: {port: 8000}
      interval: 5x
"""


def test_every_error_is_reported_once_with_its_place(tmp_path: Path) -> None:
    write(tmp_path, "services.yaml", BROKEN)
    write(tmp_path, "config/shop.staging.yaml", "services:\n  api:\n    ports: [0]\n")
    result = run("config", "validate", "--env", "staging", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "config/shop.staging.yaml:3:13: services.api.ports[0]: invalid port 0 (use a number from 1 to 65535)",
        'services.yaml:5:14: services.db.restart: invalid restart policy "sometimes" '
        "(use no, on-failure, on-failure:N, always, unless-stopped)",
        'services.yaml:8:18: services.api.depends_on: unknown service "dbb" (did you mean "db"?)',
        'services.yaml:11:17: services.api.healthcheck.interval: invalid duration "5x" (use 500ms, 2s, 1m)',
        "error: 4 errors in the configuration",
    ]


def test_graph_errors_alone(tmp_path: Path) -> None:
    write(tmp_path, "services.yaml", "services:\n  db: {command: db}\n  api: {command: api, depends_on: [dbb]}\n")
    result = run("graph", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        'services.yaml:3:36: services.api.depends_on: unknown service "dbb" (did you mean "db"?)',
        "error: 1 error in the configuration",
    ]


@pytest.mark.parametrize(
    ("text", "first_line"),
    [
        ("services:\n  a: [\n", "services.yaml:3:1: YAML syntax error: "),
        ("services:\n  a: {command: x}\n  a: {command: y}\n", 'services.yaml:3:3: services.a: duplicate key "a"'),
        ("services:\n  a: {command: x, depends_on: [a]}\n", "services.yaml:2:32: services.a.depends_on: cycle: a -> a"),
        ("settings: {x: '${NOPE:?set NOPE}'}\n", "services.yaml:1:15: settings.x: required variable NOPE"),
        ("settings: {x: 'a $ b'}\n", 'services.yaml:1:15: settings.x: invalid interpolation in "a $ b"'),
        ("services:\n  a: {command: 5}\n", "services.yaml:2:16: services.a.command: expected a list or a string (got 5)"),
        ("services:\n  A: {command: x}\n", 'services.yaml:2:3: services.A: invalid service name "A"'),
    ],
)
def test_broken_files_give_one_precise_message(tmp_path: Path, text: str, first_line: str) -> None:
    write(tmp_path, "services.yaml", text)
    result = run("config", "validate", cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 2, result.stderr
    assert lines[0].startswith(first_line)
    assert lines[1] == "error: 1 error in the configuration"
    assert "Traceback" not in result.stderr


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    write(tmp_path, "services.yaml", BROKEN)
    plain = run("config", "validate", cwd=tmp_path)
    assert "Traceback" not in plain.stderr
    debug = run("config", "validate", "--debug", cwd=tmp_path)
    assert debug.returncode != 0
    assert "Traceback (most recent call last)" in debug.stderr
    assert "ConfigError" in debug.stderr


def test_unset_variable_warns_on_stderr_and_strict_mode_fails(tmp_path: Path) -> None:
    write(tmp_path, "services.yaml", "name: app\nsettings: {url: '${DB_URL}'}\n")
    write(tmp_path, "config/app.prod.yaml", "orchestrator: {strict: true}\n")
    write(tmp_path, "config/app.dev.yaml", "{}\n")
    dev = run("config", "validate", cwd=tmp_path)
    assert dev.returncode == 0
    assert dev.stderr.splitlines() == [
        "warning: services.yaml:2:17: variable DB_URL is not set; using an empty string",
        # `config validate` also says which settings no service receives
        "warning: services.yaml:2:17: settings.url reaches no service (no service is named url); "
        "list it in the settings_from of the services that read it",
    ]
    prod = run("config", "validate", "--env", "prod", cwd=tmp_path)
    assert prod.returncode == 2
    assert prod.stderr.splitlines()[0].startswith(
        "services.yaml:2:17: settings.url: variable DB_URL is not set (strict mode:"
    )
    assert run("config", "validate", "--env", "prod", cwd=tmp_path, env={"DB_URL": "x"}).returncode == 0


def test_dotenv_feeds_the_config(tmp_path: Path) -> None:
    write(tmp_path, "services.yaml", "settings: {a: '${A}', b: '${B}'}\n")
    write(tmp_path, ".env", "A=from-file\nB=from-file\n")
    result = run("config", "--json", cwd=tmp_path, env={"B": "from-process"})
    assert json.loads(result.stdout)["settings"] == {"a": "from-file", "b": "from-process"}


def test_graph_json_shape(project: Path) -> None:
    result = run("graph", "--json", cwd=project)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "order": [["db"], ["api"], ["web"]],
        "edges": {"db": [], "api": ["db"], "web": ["api"]},
        # each edge's condition: the default follows the dependency's healthcheck
        "dependencies": {
            "db": [],
            "api": [{"service": "db", "condition": "service_healthy", "restart": False}],
            "web": [{"service": "api", "condition": "service_started", "restart": False}],
        },
    }
    only = json.loads(run("graph", "api", "--json", cwd=project).stdout)
    assert only["order"] == [["db"], ["api"]] and only["edges"] == {"db": [], "api": ["db"]}
    assert set(only["dependencies"]) == {"db", "api"}


def test_graph_text(project: Path) -> None:
    result = run("graph", cwd=project)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "shop · env dev · 3 services · services.yaml + config/shop.dev.yaml",
        "  step 1  db",
        "  step 2  api",
        "  step 3  web",
        "dependencies:",
        "  api  <- db (service_healthy)",
        "  web  <- api (service_started)",
    ]


def test_graph_unknown_service(project: Path) -> None:
    result = run("graph", "apii", cwd=project)
    assert result.returncode == 2
    assert result.stderr.splitlines() == ['error: unknown service "apii"', '  hint: did you mean "api"?']


def test_bad_usage_exits_2(project: Path) -> None:
    result = run("config", "--no-such-option", cwd=project)
    assert result.returncode == 2
    assert "No such option" in result.stderr
    assert "Traceback" not in result.stderr


def test_schema_is_valid_json_schema_that_validates_the_example() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    result = run("config", "schema", cwd=REPO)
    assert result.returncode == 0, result.stderr
    schema = json.loads(result.stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    example = REPO / "examples" / "basic"
    files = [example / "services.yaml", *sorted((example / "config").glob("*.yaml"))]
    if (REPO / "services.yaml").is_file():  # the Zyron stack, where present
        files += [REPO / "services.yaml", *sorted((REPO / "config").glob("*.yaml"))]
    for path in files:
        document = yaml.safe_load(path.read_text()) or {}
        errors = [e.message for e in validator.iter_errors(document)]
        assert errors == [], f"{path}: {errors}"
    # what a user writes, not what it becomes: durations, `restart: no`, signals, ${PORT}
    written = {
        "command": "x",
        "restart": False,
        "stop_signal": "TERM",
        "stop_grace_period": "1m30s",
        "ports": ["${PORT:-80}", 81],
        "healthcheck": {"tcp": {"port": 1}, "interval": 1.5, "timeout": "500ms"},
    }
    assert [e.message for e in validator.iter_errors({"services": {"a": written}})] == []
    short_forms = {
        "a": {
            "command": "x",
            "depends_on": "b",
            "environment": ["A=1", "PASSED"],
            "env_file": ".env",
            "docker": {"image": "i", "build": ".", "ports": [80], "environment": {"N": 1, "B": True}},
        },
        "b": {"command": "y", "depends_on": {"a": None}},
    }
    assert [e.message for e in validator.iter_errors({"services": short_forms})] == []
    for bad in (
        {"command": "x", "depnds_on": []},
        {"command": "x", "stop_grace_period": "5x"},
        {"command": "x", "restart": "sometimes"},
        {"command": "x", "ports": [0]},
        {"command": "x", "depends_on": 5},
    ):
        assert not validator.is_valid({"services": {"api": bad}}), bad
    assert not validator.is_valid({"services": {"Bad Name": {"command": "x"}}})


def test_example_project_in_staging() -> None:
    result = run("config", "-f", "examples/basic/services.yaml", "--env", "staging", cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert "devpassword" not in result.stdout
    assert "dev-token" not in result.stdout


def test_shim_runs_the_same_cli(project: Path) -> None:
    environ = {k: v for k, v in os.environ.items() if k != "ZYRON_ENV"}
    shim = subprocess.run(
        [sys.executable, str(REPO / "dev-orchestrator.py"), "--help"],
        capture_output=True, text=True, timeout=60, env=environ,
    )
    assert shim.returncode == 0, shim.stderr
    assert "Usage: dev-orchestrator" in shim.stdout
    assert "config" in shim.stdout and "graph" in shim.stdout
    validate = subprocess.run(
        [sys.executable, str(REPO / "dev-orchestrator.py"), "config", "validate"],
        cwd=project, capture_output=True, text=True, timeout=60, env=environ,
    )
    assert validate.returncode == 0, validate.stderr
    assert "valid · shop" in validate.stdout


def alias_bomb() -> str:
    lines = ["name: bomb", "services:", "  a: {command: x}", "x-0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, 10):
        lines.append(f"x-{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("text", "first_line"),
    [
        (alias_bomb(), "services.yaml:9:11: too many aliases (*a4 would make the document more than"),
        ("services: " + "[" * 500 + "]" * 500 + "\n", "services.yaml:1:74: nesting deeper than 64 levels"),
        ("services:\n  a: !!python/object/apply:os.system [id]\n",
         "services.yaml:2:6: services.a: unsupported YAML tag !!python/object/apply:os.system"),
    ],
    ids=["alias-bomb", "deep-nesting", "python-tag"],
)
def test_hostile_yaml_is_one_clear_error(tmp_path: Path, text: str, first_line: str) -> None:
    write(tmp_path, "services.yaml", text)
    environ = {k: v for k, v in os.environ.items() if k not in ("ZYRON_ENV", "DEV_ORCHESTRATOR_DEBUG")}
    # a short timeout: a loader that expands the aliases would run for minutes
    result = subprocess.run(
        [str(CLI), "config", "validate"], cwd=tmp_path, env={**environ, "NO_COLOR": "1"},
        capture_output=True, text=True, timeout=10,
    )
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert lines[0].startswith(first_line), result.stderr
    assert lines[1:] == ["error: 1 error in the configuration"]
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr


def test_merge_keys_with_overrides_validate(tmp_path: Path) -> None:
    write(tmp_path, "services.yaml", """
        x-common: &common
          command: run
          restart: always
        services:
          a: {<<: *common, restart: "no"}
        """)
    result = run("config", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["services"]["a"] == {"command": "run", "restart": "no"}


PROD_STACK = """
name: shop
settings:
  api:
    database: {url: "postgresql+psycopg://shop:${POSTGRES_PASSWORD}@db/shop"}
    port: 8000
services:
  api:
    command: api
    environment: ["DSN=pg://${POSTGRES_PASSWORD}@db", "MODE=web"]
"""


def test_config_masks_values_that_interpolate_a_secret(tmp_path: Path) -> None:
    write(tmp_path, "services.yaml", "name: shop\nservices:\n  api: {command: api}\n")
    write(tmp_path, "config/shop.prod.yaml", PROD_STACK)
    secret = {"POSTGRES_PASSWORD": "correct-horse-battery"}
    for args in (("config", "--env", "prod"), ("config", "--env", "prod", "--json")):
        result = run(*args, cwd=tmp_path, env=secret)
        assert result.returncode == 0, result.stderr
        assert "correct-horse-battery" not in result.stdout
    document = json.loads(result.stdout)
    assert document["settings"]["api"] == {"database": {"url": "******"}, "port": 8000}
    assert document["services"]["api"]["environment"] == {"DSN": "******", "MODE": "web"}
    shown = run("config", "--env", "prod", "--show-secrets", cwd=tmp_path, env=secret)
    assert "postgresql+psycopg://shop:correct-horse-battery@db/shop" in shown.stdout


def test_validate_runs_the_checks_start_runs_and_reports_every_missing_variable(tmp_path: Path) -> None:
    write(tmp_path, "services.yaml", """
        name: cv
        services:
          db:
            command: [sleep, "100"]
          api:
            command: [sleep, "100"]
            environment:
              URL: "${DB_PASSWORD:?}@${DB_HOST:?}"
              OTHER: "${THIRD:?set THIRD}"
            depends_on:
              db: {condition: service_healthy}
        """)
    env = {k: v for k, v in os.environ.items() if k not in ("DB_PASSWORD", "DB_HOST", "THIRD")}
    proc = run("config", "validate", cwd=tmp_path, env=env)
    assert proc.returncode == 2
    for name in ("DB_PASSWORD", "DB_HOST", "THIRD"):
        assert f"required variable {name} is unset" in proc.stderr, proc.stderr
    assert "3 errors in the configuration" in proc.stderr
    text = (tmp_path / "services.yaml").read_text()
    (tmp_path / "services.yaml").write_text("\n".join(
        line for line in text.splitlines() if "URL" not in line and "OTHER" not in line and "environment" not in line))
    proc = run("config", "validate", cwd=tmp_path, env=env)
    assert proc.returncode == 2
    assert '"db" has no healthcheck, so service_healthy can never hold' in proc.stderr
