"""The develop.watch section: compose's keys, typed x- options, and errors that name the key and the fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from dev_orchestrator.errors import ConfigError
from dev_orchestrator.watch.rules import (
    DEFAULT_DEBOUNCE,
    DEFAULT_DEBOUNCE_CAP,
    Action,
    Build,
    Develop,
    OnBusy,
    from_dict,
    rules_for,
)

EXAMPLE = """
command: uvicorn app:app
develop:
  watch:
    - path: ./zyron/backend
      action: restart
      ignore: ["**/__pycache__/**", "*.tmp"]
      include: ["*.py"]
    - path: ./static
      target: /app/static
      action: sync
    - path: ./config/app.toml
      target: /app/config/app.toml
      action: sync+exec
      exec: {command: [kill, -HUP, "1"]}
      initial_sync: true
"""


def service(develop: Any, **more: Any) -> dict[str, Any]:
    return {"command": "run", "develop": develop, **more}


def errors(raw: dict[str, Any], root: Path, **kwargs: Any) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        from_dict("api", raw, root, **kwargs)
    assert caught.value.exit_code == 2
    return [str(d) for d in caught.value.diagnostics]


def test_the_compose_example_gives_three_rules(tmp_path: Path) -> None:
    rules = from_dict("api", yaml.safe_load(EXAMPLE), tmp_path)
    restart, sync, sync_exec = rules
    assert restart.path == tmp_path / "zyron" / "backend"
    assert restart.action is Action.RESTART
    assert restart.ignore == ("**/__pycache__/**", "*.tmp") and restart.include == ("*.py",)
    assert (sync.action, sync.target, sync.initial_sync) == (Action.SYNC, "/app/static", False)
    assert sync_exec.exec is not None and sync_exec.exec.argv() == ["kill", "-HUP", "1"]
    assert sync_exec.initial_sync
    assert [r.place for r in rules] == [f"services.api.develop.watch[{i}]" for i in range(3)]
    assert all(
        (r.debounce, r.debounce_cap, r.cascade, r.on_busy, r.container)
        == (DEFAULT_DEBOUNCE, DEFAULT_DEBOUNCE_CAP, False, OnBusy.QUEUE, False)
        for r in rules
    )


def test_no_develop_section_means_no_rules(tmp_path: Path) -> None:
    assert from_dict("api", {"command": "run"}, tmp_path) == ()
    assert rules_for("api", None, root=tmp_path, container=False) == ()


def test_x_options_are_typed_and_an_entry_overrides_its_section(tmp_path: Path) -> None:
    raw = service(
        {
            "x-debounce": "500ms",
            "x-cascade": True,
            "x-on-busy": "restart",
            "watch": [
                {"path": "./a", "action": "restart"},
                {"path": "./b", "action": "restart", "x-debounce": "5s", "x-cascade": False, "x-on-busy": "ignore"},
            ],
        }
    )
    first, second = from_dict("api", raw, tmp_path)
    assert (first.debounce, first.debounce_cap, first.cascade, first.on_busy) == (0.5, 2.0, True, OnBusy.RESTART)
    # a quiet time longer than the cap raises the cap with it
    assert (second.debounce, second.debounce_cap, second.cascade, second.on_busy) == (5.0, 5.0, False, OnBusy.IGNORE)


def test_other_x_keys_are_accepted_as_in_compose(tmp_path: Path) -> None:
    raw = service({"x-team": "web", "watch": [{"path": ".", "action": "restart", "x-note": {"any": 1}}]})
    assert len(from_dict("api", raw, tmp_path)) == 1


def test_a_near_miss_of_a_known_x_key_is_an_error(tmp_path: Path) -> None:
    raw = service({"watch": [{"path": ".", "action": "restart", "x-debounse": "1s"}]})
    assert errors(raw, tmp_path) == [
        'services.api.develop.watch[0]: unknown key "x-debounse" (did you mean "x-debounce"?)'
    ]


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (
            {"path": "./static", "action": "sync"},
            "services.api.develop.watch[0].target: sync needs a target: the path in the container "
            "(e.g. /app/src) or, for a local process, the folder to copy into",
        ),
        (
            {"path": "./src", "action": "restart", "target": "/app"},
            "services.api.develop.watch[0].target: target is used by sync actions only; "
            "remove it, or use action: sync+restart",
        ),
        (
            {"path": "./c", "action": "sync+exec", "target": "/c"},
            "services.api.develop.watch[0].exec: sync+exec needs exec: {command: [...]} "
            "(the command to run after syncing)",
        ),
        (
            {"path": "./c", "action": "sync", "target": "/c", "exec": {"command": "true"}},
            "services.api.develop.watch[0].exec: exec is used by sync+exec only; remove it, or use action: sync+exec",
        ),
        (
            {"path": "./c", "action": "restart", "initial_sync": True},
            "services.api.develop.watch[0].initial_sync: initial_sync is used by sync actions only; remove it",
        ),
        (
            {"path": "./c", "action": "reload"},
            'services.api.develop.watch[0].action: unknown action "reload" '
            "(use restart, sync, sync+restart, sync+exec, rebuild)",
        ),
        (
            {"path": "./c", "action": "restart", "tagret": "/x"},
            'services.api.develop.watch[0].tagret: unknown key "tagret" (did you mean "target"?)',
        ),
        ({"action": "restart"}, 'services.api.develop.watch[0].path: missing required key "path"'),
        (
            {"path": "./c", "action": "restart", "x-debounce": "soon"},
            'services.api.develop.watch[0].x-debounce: invalid duration "soon" (use 500ms, 2s, 1m)',
        ),
        (
            {"path": "./c", "action": "sync+exec", "target": "/c", "exec": {"command": []}},
            "services.api.develop.watch[0].exec.command: command is empty",
        ),
    ],
)
def test_an_error_names_the_key_and_the_fix(tmp_path: Path, entry: dict[str, Any], expected: str) -> None:
    assert errors(service({"watch": [entry]}), tmp_path) == [expected]


def test_a_bad_section_option_lists_the_choices(tmp_path: Path) -> None:
    assert errors(service({"x-on-busy": "wait", "watch": []}), tmp_path) == [
        'services.api.develop.x-on-busy: unknown x-on-busy "wait" (use queue, restart, ignore)'
    ]


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    raw = service({"watch": [{"path": "./a", "action": "sync"}, {"path": "./b", "action": "nope"}]})
    found = errors(raw, tmp_path)
    assert [f.split(":")[0] for f in found] == [
        "services.api.develop.watch[0].target",
        "services.api.develop.watch[1].action",
    ]


def test_rebuild_of_a_local_process_says_to_use_restart(tmp_path: Path) -> None:
    raw = service({"watch": [{"path": "./src", "action": "rebuild"}]})
    assert errors(raw, tmp_path) == [
        "services.api.develop.watch[0].action: rebuild needs a docker: section with build:; "
        "use restart for a local process"
    ]


def test_rebuild_of_an_image_without_build_is_an_error(tmp_path: Path) -> None:
    raw = {"docker": {"image": "redis:7"}, "develop": {"watch": [{"path": "./src", "action": "rebuild"}]}}
    assert errors(raw, tmp_path) == [
        "services.api.develop.watch[0].action: rebuild needs build: in the docker: section "
        "(an image alone cannot be rebuilt); use restart"
    ]


def test_rebuild_of_a_built_container_knows_its_context(tmp_path: Path) -> None:
    raw = {
        "docker": {"build": {"context": "./backend", "dockerfile": "Dockerfile.dev"}},
        "develop": {"watch": [{"path": "./backend", "action": "rebuild"}]},
    }
    (rule,) = from_dict("api", raw, tmp_path)
    assert rule.container
    assert rule.build_context == tmp_path / "backend"
    assert rule.dockerfile == tmp_path / "backend" / "Dockerfile.dev"


def test_a_container_target_must_be_absolute(tmp_path: Path) -> None:
    raw = {"docker": {"build": "."}, "develop": {"watch": [{"path": "./s", "action": "sync", "target": "app/s"}]}}
    assert errors(raw, tmp_path) == [
        'services.api.develop.watch[0].target: target "app/s" must be an absolute path in the container (e.g. /app/src)'
    ]
    # the same service run as a local process copies into a folder next to services.yaml
    (rule,) = from_dict("api", raw, tmp_path, container=False)
    assert rule.local_target(tmp_path) == tmp_path / "app" / "s"


def test_develop_is_a_frozen_model_the_config_can_embed(tmp_path: Path) -> None:
    develop = Develop.model_validate(yaml.safe_load(EXAMPLE)["develop"])
    with pytest.raises(Exception, match="frozen"):
        develop.x_debounce = 1.0  # type: ignore[misc]
    schema = Develop.model_json_schema()
    assert "x-debounce" in schema["properties"] and "patternProperties" in schema
    assert develop.model_dump(by_alias=True)["x-debounce"] == "300ms"
    rules = rules_for("api", develop, root=tmp_path, container=True, build=Build(tmp_path))
    assert [r.action for r in rules] == [Action.RESTART, Action.SYNC, Action.SYNC_EXEC]


def test_rules_can_be_compared_and_hashed(tmp_path: Path) -> None:
    first = from_dict("api", yaml.safe_load(EXAMPLE), tmp_path)
    assert first == from_dict("api", yaml.safe_load(EXAMPLE), tmp_path)
    assert len(set(first)) == 3
