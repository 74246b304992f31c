"""Validation messages: every error names file:line:col, the dotted path and the fix."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from .conftest import Write

Errors = Callable[..., list[str]]


def one_service(write: Write, body: str) -> None:
    """services.yaml with service `api` whose body is ``body`` (indented by 4)."""
    lines = "\n".join("    " + line if line else line for line in body.strip("\n").splitlines())
    write("services.yaml", "services:\n  api:\n" + lines + "\n")


def test_unknown_key_with_did_you_mean(write: Write, errors: Errors) -> None:
    one_service(write, "command: run\ndepnds_on: [db]\n")
    assert errors() == [
        'services.yaml:4:5: services.api.depnds_on: unknown key "depnds_on" (did you mean "depends_on"?)'
    ]


def test_did_you_mean_uses_the_keys_of_that_place(write: Write, errors: Errors) -> None:
    # "intervl" is close to healthcheck's "interval", but a service has no such key
    one_service(write, "command: run\nintervl: 3\nhealthcheck: {tcp: {prot: 1}, retires: 3}\n")
    assert errors() == [
        'services.yaml:4:5: services.api.intervl: unknown key "intervl" (remove it)',
        'services.yaml:5:24: services.api.healthcheck.tcp: missing required key "port"',
        'services.yaml:5:25: services.api.healthcheck.tcp.prot: unknown key "prot" (did you mean "port"?)',
        'services.yaml:5:35: services.api.healthcheck.retires: unknown key "retires" (did you mean "retries"?)',
    ]


def test_unknown_top_level_key(write: Write, errors: Errors) -> None:
    write("services.yaml", "name: x\nservice:\n  a: {command: run}\n")
    assert errors() == ['services.yaml:2:1: service: unknown key "service" (did you mean "services"?)']


def test_extension_keys_are_allowed_at_the_top(write: Write, load_project: Callable[..., object]) -> None:
    write(
        "services.yaml",
        """
        x-common: &common
          restart: always
        services:
          a:
            <<: *common
            command: run
        """,
    )
    config = load_project()
    assert config.spec.services["a"].restart == "always"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("command: 5", "services.yaml:3:14: services.api.command: expected a list or a string (got 5)"),
        ("command: [run, 1]", "services.yaml:3:20: services.api.command[1]: expected a string (got 1)"),
        (
            "command: run\nhealthcheck: {http: 5}",
            "services.yaml:4:25: services.api.healthcheck.http: expected a mapping (got 5)",
        ),
        (
            "command: run\nhealthcheck: 7",
            'services.yaml:4:18: services.api.healthcheck: expected a mapping or "docker" (got 7)',
        ),
        ("command: run\ncritical: maybe", 'services.yaml:4:15: services.api.critical: expected true or false (got "maybe")'),
        ("command: run\nports: 8080", "services.yaml:4:12: services.api.ports: expected a list (got 8080)"),
        (
            "command: run\ndepends_on: 5",
            "services.yaml:4:17: services.api.depends_on: expected a list of service names or a mapping (got 5)",
        ),
        (
            "command: run\nenvironment: 5",
            'services.yaml:4:18: services.api.environment: expected a mapping or a list of "KEY=VALUE" strings (got 5)',
        ),
        (
            "command: run\nenvironment: [1]",
            'services.yaml:4:18: services.api.environment: environment entries must be "KEY=VALUE" strings, got 1',
        ),
        (
            "command: run\nhealthcheck: {tcp: {port: 1}, retries: 0}",
            "services.yaml:4:44: services.api.healthcheck.retries: must be at least 1 (got 0)",
        ),
        (
            "command: run\ndepends_on: {db: {condition: whatever}}",
            "services.yaml:4:34: services.api.depends_on.db.condition: expected "
            '"service_started", "service_healthy" or "service_completed_successfully" (got "whatever")',
        ),
    ],
)
def test_wrong_types_give_one_message(write: Write, errors: Errors, body: str, expected: str) -> None:
    one_service(write, body)
    assert errors() == [expected]


@pytest.mark.parametrize("value", ["5x", "1m30", "ms", "-1s", "2 s", "1.5.0s"])
def test_invalid_durations(write: Write, errors: Errors, value: str) -> None:
    one_service(write, f"command: run\nhealthcheck:\n  tcp: {{port: 1}}\n  interval: \"{value}\"\n")
    [message] = errors()
    assert message.startswith("services.yaml:6:17: services.api.healthcheck.interval: invalid duration ")
    assert message.endswith(f'"{value}" (use 500ms, 2s, 1m)')


def test_invalid_duration_message(write: Write, errors: Errors) -> None:
    one_service(write, "command: run\nstop_grace_period: 5x\n")
    assert errors() == [
        'services.yaml:4:24: services.api.stop_grace_period: invalid duration "5x" (use 500ms, 2s, 1m)'
    ]


@pytest.mark.parametrize("value", ["500ms", "2s", "1m30s", "1.5", "3", "1h", "0"])
def test_valid_durations(write: Write, load_project: Callable[..., object], value: str) -> None:
    one_service(write, f"command: run\nstop_grace_period: {value}\n")
    load_project()


def test_invalid_restart_policy(write: Write, errors: Errors) -> None:
    one_service(write, "command: run\nrestart: sometimes\n")
    assert errors() == [
        'services.yaml:4:14: services.api.restart: invalid restart policy "sometimes" '
        "(use no, on-failure, on-failure:N, always, unless-stopped)"
    ]


@pytest.mark.parametrize(
    ("ports", "expected"),
    [
        ("[0]", "services.yaml:4:13: services.api.ports[0]: invalid port 0 (use a number from 1 to 65535)"),
        ("[70000]", "services.yaml:4:13: services.api.ports[0]: invalid port 70000 (use a number from 1 to 65535)"),
        ("[80, http]", 'services.yaml:4:17: services.api.ports[1]: invalid port "http" (use a number from 1 to 65535)'),
        ("[true]", 'services.yaml:4:13: services.api.ports[0]: invalid port "True"'),
    ],
)
def test_bad_ports(write: Write, errors: Errors, ports: str, expected: str) -> None:
    one_service(write, f"command: run\nports: {ports}\n")
    assert errors() == [expected]


def test_bad_docker_port_mapping(write: Write, errors: Errors) -> None:
    one_service(write, "docker:\n  image: nginx\n  ports: ['80:x']\n")
    assert errors() == [
        'services.yaml:5:14: services.api.docker.ports: invalid port mapping "80:x" '
        '(use "8080", "8080:80" or "127.0.0.1:8080:80")'
    ]


def test_invalid_service_name_is_located_at_the_key(write: Write, errors: Errors) -> None:
    write("services.yaml", "services:\n  ok: {command: run, restart: bad}\n  Bad_Name: {command: run}\n")
    assert errors() == [
        'services.yaml:2:31: services.ok.restart: invalid restart policy "bad" '
        "(use no, on-failure, on-failure:N, always, unless-stopped)",
        'services.yaml:3:3: services.Bad_Name: invalid service name "Bad_Name" '
        '(use lowercase letters, digits, ".", "-" and "_", starting with a letter or digit)',
    ]


def test_service_needs_something_to_run(write: Write, errors: Errors) -> None:
    write("services.yaml", "services:\n  api:\n    description: nothing\n")
    assert errors() == [
        "services.yaml:3:5: services.api: a service needs a command, a docker: section, or both"
    ]


def test_probe_needs_exactly_one_kind(write: Write, errors: Errors) -> None:
    one_service(write, "command: run\nhealthcheck: {interval: 1s}\n")
    assert errors() == [
        "services.yaml:4:18: services.api.healthcheck: a probe needs exactly one of "
        "http, tcp, command, log, notify (found none)"
    ]


def test_missing_key_is_reported_next_to_an_unknown_key(write: Write, errors: Errors) -> None:
    one_service(write, "command: run\nhealthcheck: {tcp: {hots: x}}\n")
    assert errors() == [
        'services.yaml:4:24: services.api.healthcheck.tcp: missing required key "port"',
        'services.yaml:4:25: services.api.healthcheck.tcp.hots: unknown key "hots" (did you mean "host"?)',
    ]


def test_unknown_dependency_with_did_you_mean(write: Write, errors: Errors) -> None:
    write(
        "services.yaml",
        "services:\n  redis: {command: r}\n  api:\n    command: a\n    depends_on: [reddis]\n",
    )
    assert errors() == [
        'services.yaml:5:18: services.api.depends_on: unknown service "reddis" (did you mean "redis"?)'
    ]


def test_cycle_is_reported_as_a_path(write: Write, errors: Errors) -> None:
    write(
        "services.yaml",
        """
        services:
          a: {command: x, depends_on: [b]}
          b: {command: x, depends_on: [c]}
          c: {command: x, depends_on: [a]}
          d: {command: x, depends_on: [d]}
        """,
    )
    assert errors() == [
        "services.yaml:2:32: services.a.depends_on: cycle: a -> b -> c -> a",
        "services.yaml:5:32: services.d.depends_on: cycle: d -> d",
    ]


def test_yaml_syntax_error(write: Write, errors: Errors) -> None:
    write("services.yaml", "services:\n  api:\n    command: [run\n  db: {}\n")
    [message] = errors()
    assert message.startswith("services.yaml:4:")
    assert "YAML syntax error: " in message


def test_yaml_syntax_error_bad_indentation(write: Write, errors: Errors) -> None:
    write("services.yaml", "services:\n  api:\n    command: run\n   bad: 1\n")
    assert errors() == [
        "services.yaml:4:4: YAML syntax error: did not find expected key"
    ]


def test_duplicate_keys(write: Write, errors: Errors) -> None:
    write("services.yaml", "services:\n  api:\n    command: a\n    command: b\n")
    assert errors() == [
        'services.yaml:4:5: services.api.command: duplicate key "command" '
        "(the key already appears at line 3; keep one)"
    ]


def test_top_level_must_be_a_mapping(write: Write, errors: Errors) -> None:
    write("services.yaml", "- a\n- b\n")
    assert errors() == [
        "services.yaml:1:1: the top level must be a mapping (name:, services:, ...)"
    ]


def test_empty_file_is_an_empty_stack(write: Write, load_project: Callable[..., object]) -> None:
    write("services.yaml", "# nothing yet\n")
    config = load_project()
    assert config.spec.services == {}  # type: ignore[attr-defined]


def test_several_errors_are_reported_together_in_file_order(write: Write, errors: Errors) -> None:
    write(
        "services.yaml",
        """
        services:
          api:
            command: run
            restart: sometimes
            ports: [0]
          worker:
            command: 5
            depends_on: [apii]
        """,
    )
    assert errors() == [
        'services.yaml:4:14: services.api.restart: invalid restart policy "sometimes" '
        "(use no, on-failure, on-failure:N, always, unless-stopped)",
        "services.yaml:5:13: services.api.ports[0]: invalid port 0 (use a number from 1 to 65535)",
        "services.yaml:7:14: services.worker.command: expected a list or a string (got 5)",
        # the graph is checked in the same run, even though other values are invalid
        'services.yaml:8:18: services.worker.depends_on: unknown service "apii" (did you mean "api"?)',
    ]


def test_errors_in_several_files_are_reported_together(write: Write, errors: Errors) -> None:
    write("services.yaml", "name: app\nservices:\n  api: {command: run, restart: bad}\n")
    write("config/base.yaml", "services:\n  api:\n    stop_grace_period: 5x\n")
    write("config/app.dev.yaml", "services:\n  api:\n    ports: [0]\n")
    assert errors() == [
        "config/app.dev.yaml:3:13: services.api.ports[0]: invalid port 0 (use a number from 1 to 65535)",
        'config/base.yaml:3:24: services.api.stop_grace_period: invalid duration "5x" (use 500ms, 2s, 1m)',
        'services.yaml:3:32: services.api.restart: invalid restart policy "bad" '
        "(use no, on-failure, on-failure:N, always, unless-stopped)",
    ]


def test_error_is_located_in_the_overlay_that_introduced_it(write: Write, errors: Errors) -> None:
    write(
        "services.yaml",
        """
        name: zyron
        services:
          backend:
            command: run
            healthcheck:
              http: {url: "http://127.0.0.1:8000/health"}
              interval: 2s
        """,
    )
    write(
        "config/zyron.staging.yaml",
        "# staging\nservices:\n  backend:\n    healthcheck:\n      interval: 5x\n    restrt: always\n",
    )
    assert errors("staging") == [
        'config/zyron.staging.yaml:5:17: services.backend.healthcheck.interval: invalid duration "5x" '
        "(use 500ms, 2s, 1m)",
        'config/zyron.staging.yaml:6:5: services.backend.restrt: unknown key "restrt" (did you mean "restart"?)',
    ]


def test_overlay_that_fixes_a_value_fixes_the_error(write: Write, load_project: Callable[..., object]) -> None:
    write("services.yaml", "name: app\nservices:\n  api: {command: run, stop_grace_period: 5x}\n")
    write("config/app.dev.yaml", "services:\n  api: {stop_grace_period: 5s}\n")
    config = load_project()
    assert config.spec.services["api"].stop_grace_period == 5.0  # type: ignore[attr-defined]


def test_yaml_syntax_error_in_an_overlay_is_reported_with_other_errors(write: Write, errors: Errors) -> None:
    write("services.yaml", "name: app\nservices:\n  api: {command: run, restart: bad}\n")
    write("config/app.dev.yaml", "services: [\n")
    [first, second] = errors()
    assert first.startswith("config/app.dev.yaml:2:1: YAML syntax error: ")
    assert second.startswith('services.yaml:3:32: services.api.restart: invalid restart policy "bad"')


def test_interpolation_error_is_located_and_not_repeated(write: Write, errors: Errors) -> None:
    one_service(write, 'command: run\nstop_grace_period: "${GRACE:?set GRACE}"\n')
    assert errors() == [
        "services.yaml:4:24: services.api.stop_grace_period: required variable GRACE is unset or empty: set GRACE"
    ]


def test_bad_status_and_url(write: Write, errors: Errors) -> None:
    one_service(write, "command: run\nhealthcheck:\n  http: {url: 'ftp://x', status: 600}\n")
    assert errors() == [
        'services.yaml:5:19: services.api.healthcheck.http.url: invalid URL "ftp://x" (use http://host:port/path)',
        'services.yaml:5:38: services.api.healthcheck.http.status: invalid status "600" (use 200 or a range like 200-399)',
    ]


def test_bad_signal_and_regex(write: Write, errors: Errors) -> None:
    one_service(write, "command: run\nstop_signal: FOO\nhealthcheck: {log: '(unclosed'}\n")
    assert errors() == [
        'services.yaml:4:18: services.api.stop_signal: unknown signal "FOO" '
        "(use SIGTERM, SIGINT, SIGQUIT, SIGHUP, ...)",
        'services.yaml:5:24: services.api.healthcheck.log: invalid regular expression "(unclosed": '
        "missing ), unterminated subpattern at position 0",
    ]


def test_a_cycle_is_reported_with_type_errors_and_a_malformed_depends_on_only_once(write: Write, errors: Errors) -> None:
    write(
        "services.yaml",
        """
        services:
          a:
            command: 5
            depends_on: [b]
          b:
            command: run
            depends_on: [a]
          c:
            command: run
            depends_on: 7
        """,
    )
    assert errors() == [
        "services.yaml:3:14: services.a.command: expected a list or a string (got 5)",
        "services.yaml:4:18: services.a.depends_on: cycle: a -> b -> a",
        "services.yaml:10:17: services.c.depends_on: expected a list of service names or a mapping (got 7)",
    ]
