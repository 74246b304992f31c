"""The reconcile planner as golden text: a first version of the files ran, the files changed.

Each test writes a real services.yaml, loads and resolves it, records what "ran"
(fingerprints of the first version, as the supervisor stores them), edits the file and
compares the rendered plan with the exact text a user would read.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Mapping
from pathlib import Path

import pytest

from dev_orchestrator.config import load
from dev_orchestrator.config.resolve import ResolvedStack, resolve
from dev_orchestrator.errors import UsageError
from dev_orchestrator.plan import Action, Observed, Plan, Step, changed_fields, fingerprint, plan

ENV = {"PATH": "/usr/bin:/bin", "HOME": "/home/dev", "LANG": "C.UTF-8"}

SHOP = """
name: shop
services:
  db:
    command: db --port 5432
    ports: [5432]
    healthcheck: {tcp: {port: 5432}}
  migrate:
    command: migrate --up
    depends_on: [db]
  backend:
    command: backend --port 8700
    ports: [8700]
    environment:
      BACKEND_DEBUG: "false"
      LOG_LEVEL: info
      API_TOKEN: s3cret-token
    healthcheck: {http: {url: "http://127.0.0.1:8700/health"}}
    depends_on:
      db: {}
      migrate: {condition: service_completed_successfully}
  frontend:
    command: frontend
    depends_on: [backend]
  worker:
    command: worker
    depends_on:
      backend: {restart: true}
"""


class Project:
    """A services.yaml in a tmp folder that tests load, resolve and edit."""

    def __init__(self, root: Path, text: str) -> None:
        self.root = root
        self.text = ""
        self.write(text)

    def write(self, text: str) -> None:
        self.text = textwrap.dedent(text).lstrip("\n")
        (self.root / "services.yaml").write_text(self.text, encoding="utf-8")

    def edit(self, old: str, new: str) -> None:
        assert old in self.text, f"{old!r} is not in the file"
        self.write(self.text.replace(old, new))

    def stack(self, *, docker: bool | None = None, environ: Mapping[str, str] = ENV) -> ResolvedStack:
        config = load(self.root / "services.yaml", None, cwd=self.root, environ=environ)
        return resolve(config, docker=docker, environ=environ)


def ran(
    stack: ResolvedStack,
    states: Mapping[str, str] | None = None,
    *,
    environ: Mapping[str, str] = ENV,
    gave_up: frozenset[str] = frozenset(),
) -> dict[str, Observed]:
    """What the supervisor recorded after starting ``stack``: running, one-shots completed."""
    out = {}
    for name in stack.graph.order():
        svc = stack.services[name]
        default = "exited" if svc.one_shot else "running"
        state = (states or {}).get(name, default)
        out[name] = Observed(
            state,
            fingerprint(svc, environ),
            completed=svc.one_shot and state == "exited",
            gave_up=name in gave_up,
        )
    return out


def text(result: Plan) -> str:
    return "\n".join(result.render())


@pytest.fixture
def shop(tmp_path: Path) -> Project:
    return Project(tmp_path, SHOP)


def test_first_start_creates_every_service_in_dependency_order(shop: Project) -> None:
    result = plan(shop.stack(), {}, environ=ENV)
    assert text(result) == (
        "  db             create    never started\n"
        "  migrate        create    never started\n"
        "  backend        create    never started\n"
        "  frontend       create    never started\n"
        "  worker         create    never started"
    )
    # a record the supervisor made without ever running the service counts as never started
    never = {"db": Observed("stopped", None)}
    assert plan(shop.stack(), never, environ=ENV).step("db") == Step("db", Action.CREATE, ("never started",))


def test_an_unchanged_running_stack_is_kept(shop: Project) -> None:
    stack = shop.stack()
    result = plan(stack, ran(stack), environ=ENV)
    assert result.changes() == ()
    assert text(result) == (
        "  db, backend, frontend, worker: unchanged\n"
        "  migrate: completed"
    )


def test_command_change_recreates_and_restarts_dependents_with_restart_true(shop: Project) -> None:
    observed = ran(shop.stack())
    shop.edit("backend --port 8700", "backend --port 8700 --reload")
    assert text(plan(shop.stack(), observed, environ=ENV)) == (
        "  backend        recreate  command\n"
        "  worker         restart   depends on backend with restart: true\n"
        "  db, frontend: unchanged\n"
        "  migrate: completed"
    )


def test_environment_changes_name_added_removed_and_changed_keys_never_values(shop: Project) -> None:
    observed = ran(shop.stack())
    shop.edit('BACKEND_DEBUG: "false"', 'BACKEND_DEBUG: "true"\n      FEATURE_X: "on"')
    shop.edit("      LOG_LEVEL: info\n", "")
    shop.edit("s3cret-token", "n3w-s3cret")
    result = plan(shop.stack(), observed, environ=ENV)
    assert text(result) == (
        "  backend        recreate  environment API_TOKEN BACKEND_DEBUG +FEATURE_X -LOG_LEVEL\n"
        "  worker         restart   depends on backend with restart: true\n"
        "  db, frontend: unchanged\n"
        "  migrate: completed"
    )
    shown = json.dumps(result.to_json()) + text(result)
    assert "s3cret" not in shown and "info" not in shown


def test_port_change_shows_old_and_new_ports(shop: Project) -> None:
    observed = ran(shop.stack())
    shop.edit("ports: [8700]", "ports: [8701, 8702]")
    assert text(plan(shop.stack(), observed, environ=ENV)) == (
        "  backend        recreate  ports 8700 -> 8701,8702\n"
        "  worker         restart   depends on backend with restart: true\n"
        "  db, frontend: unchanged\n"
        "  migrate: completed"
    )


def test_healthcheck_change_recreates_but_plain_dependents_are_kept(shop: Project) -> None:
    observed = ran(shop.stack())
    shop.edit("healthcheck: {tcp: {port: 5432}}", "healthcheck: {tcp: {port: 5432}, interval: 5s}")
    assert text(plan(shop.stack(), observed, environ=ENV)) == (
        "  db             recreate  healthcheck\n"
        "  backend, frontend, worker: unchanged\n"
        "  migrate: completed"
    )


def test_several_fields_are_named_in_field_order(shop: Project) -> None:
    observed = ran(shop.stack())
    shop.edit("ports: [5432]", "ports: [5433]\n    working_dir: data\n    stop_signal: INT")
    shop.edit("db --port 5432", "db --port 5433")
    (shop.root / "data").mkdir()
    assert plan(shop.stack(), observed, environ=ENV).step("db") == Step(
        "db", Action.RECREATE, ("command", "working_dir", "ports 5432 -> 5433", "stop_signal")
    )


def test_a_new_service_is_created(shop: Project) -> None:
    observed = ran(shop.stack())
    shop.edit("  worker:\n", "  cache:\n    command: cache\n  worker:\n")
    assert text(plan(shop.stack(), observed, environ=ENV)) == (
        "  cache          create    new in the files\n"
        "  db, backend, frontend, worker: unchanged\n"
        "  migrate: completed"
    )


SEARCH = """
  search:
    command: search
  indexer:
    command: indexer
    depends_on: [search, db]
"""


def test_removed_services_go_first_dependents_before_their_dependencies(shop: Project) -> None:
    shop.write(SHOP + SEARCH)
    old = shop.stack()
    observed = ran(old)
    assert list(observed).index("search") < list(observed).index("indexer")
    shop.write(SHOP)
    assert text(plan(shop.stack(), observed, environ=ENV)) == (
        "  indexer        remove    no longer in the files\n"
        "  search         remove    no longer in the files\n"
        "  db, backend, frontend, worker: unchanged\n"
        "  migrate: completed"
    )
    # an explicit start order wins over the mapping's order
    result = plan(shop.stack(), observed, environ=ENV, observed_order=["indexer", "search"])
    assert [s.service for s in result.changes()] == ["search", "indexer"]


def test_with_names_a_removed_service_is_left_running_with_a_warning(shop: Project) -> None:
    shop.write(SHOP + "  old-job:\n    command: old-job\n  old-done:\n    command: done\n")
    observed = ran(shop.stack(), {"old-done": "exited"})
    shop.write(SHOP)
    result = plan(shop.stack(), observed, environ=ENV, names=["frontend"])
    assert text(result) == (
        "  db, backend, frontend: unchanged\n"
        "  migrate: completed"
    )
    assert result.warnings == (
        "old-job is no longer in the files; left running "
        "(run `dev-orchestrator start` without names to remove it)",
    )
    # without names both go: the exited one still has an instance to clean up
    assert text(plan(shop.stack(), observed, environ=ENV)).splitlines()[:2] == [
        "  old-job        remove    no longer in the files",
        "  old-done       remove    no longer in the files",
    ]


def test_a_disabled_service_is_removed(shop: Project) -> None:
    observed = ran(shop.stack())
    shop.edit("    command: frontend\n", "    command: frontend\n    enabled: false\n")
    assert text(plan(shop.stack(), observed, environ=ENV)) == (
        "  frontend       remove    disabled (enabled: false)\n"
        "  db, backend, worker: unchanged\n"
        "  migrate: completed"
    )
    limited = plan(shop.stack(), observed, environ=ENV, names=["backend"])
    assert limited.warnings == (
        "frontend is disabled (enabled: false); left running "
        "(run `dev-orchestrator start` without names to remove it)",
    )


def test_a_stopped_service_that_left_the_files_needs_no_step(shop: Project) -> None:
    shop.write(SHOP + "  old-job:\n    command: old-job\n")
    observed = ran(shop.stack(), {"old-job": "stopped"})
    shop.write(SHOP)
    result = plan(shop.stack(), observed, environ=ENV)
    assert result.step("old-job") is None
    assert result.changes() == ()
    assert result.warnings == ()


def test_failed_exited_and_stopped_services_start_naming_what_changed(shop: Project) -> None:
    observed = ran(
        shop.stack(),
        {"backend": "failed", "frontend": "exited", "worker": "stopped"},
        gave_up=frozenset({"backend"}),
    )
    shop.edit("command: frontend", "command: frontend --dev")
    assert text(plan(shop.stack(), observed, environ=ENV)) == (
        "  backend        start     failed, gave up restarting\n"
        "  frontend       start     exited, command\n"
        "  worker         start     stopped\n"
        "  db: unchanged\n"
        "  migrate: completed"
    )


def test_starting_counts_as_running_and_stopping_starts_again(shop: Project) -> None:
    observed = ran(shop.stack(), {"backend": "starting", "frontend": "stopping"})
    shop.edit("LOG_LEVEL: info", "LOG_LEVEL: debug")
    assert text(plan(shop.stack(), observed, environ=ENV)) == (
        "  backend        recreate  environment LOG_LEVEL\n"
        "  frontend       start     stopping\n"
        "  worker         restart   depends on backend with restart: true\n"
        "  db: unchanged\n"
        "  migrate: completed"
    )


def test_a_completed_one_shot_is_kept_until_its_definition_changes(shop: Project) -> None:
    observed = ran(shop.stack())
    assert plan(shop.stack(), observed, environ=ENV).step("migrate") == Step(
        "migrate", Action.KEEP, ("completed",)
    )
    shop.edit("migrate --up", "migrate --up --seed")
    assert text(plan(shop.stack(), observed, environ=ENV)) == (
        "  migrate        recreate  command\n"
        "  db, backend, frontend, worker: unchanged"
    )


def test_a_one_shot_that_failed_starts_again(shop: Project) -> None:
    observed = ran(shop.stack(), {"migrate": "failed"})
    assert text(plan(shop.stack(), observed, environ=ENV)) == (
        "  migrate        start     failed\n"
        "  db, backend, frontend, worker: unchanged"
    )


CHAIN = """
services:
  a: {command: a}
  b:
    command: b
    depends_on: {a: {restart: true}}
  c:
    command: c
    depends_on: {b: {restart: true}}
  d:
    command: d
    depends_on: [b]
  e:
    command: e
    depends_on: {c: {restart: true}}
"""


def test_restart_true_cascades_down_the_chain_only_through_running_services(tmp_path: Path) -> None:
    project = Project(tmp_path, CHAIN)
    observed = ran(project.stack(), {"e": "failed"})
    project.edit("a: {command: a}", "a: {command: a2}")
    assert text(plan(project.stack(), observed, environ=ENV)) == (
        "  a              recreate  command\n"
        "  b              restart   depends on a with restart: true\n"
        "  c              restart   depends on b with restart: true\n"
        "  e              start     failed\n"
        "  d: unchanged"
    )


def test_restart_true_dependents_outside_the_names_are_restarted(shop: Project) -> None:
    observed = ran(shop.stack())
    shop.edit("backend --port 8700", "backend --port 8700 -v")
    assert text(plan(shop.stack(), observed, environ=ENV, names=["backend"])) == (
        "  backend        recreate  command\n"
        "  worker         restart   depends on backend with restart: true\n"
        "  db: unchanged\n"
        "  migrate: completed"
    )


def test_names_limit_the_plan_to_them_and_their_dependencies(shop: Project) -> None:
    observed = ran(shop.stack(), {"db": "failed", "frontend": "failed", "worker": "stopped"})
    result = plan(shop.stack(), observed, environ=ENV, names=["backend"])
    assert [s.service for s in result.steps] == ["db", "migrate", "backend"]
    assert text(result) == (
        "  db             start     failed\n"
        "  backend: unchanged\n"
        "  migrate: completed"
    )


def test_restart_requests(shop: Project) -> None:
    observed = ran(shop.stack(), {"frontend": "failed"})
    both = ["backend", "frontend"]
    result = plan(shop.stack(), observed, environ=ENV, names=both, restart=both)
    assert text(result) == (
        "  backend        restart   restart requested\n"
        "  frontend       start     failed, restart requested\n"
        "  worker         restart   depends on backend with restart: true\n"
        "  db: unchanged\n"
        "  migrate: completed"
    )
    shop.edit("backend --port 8700", "backend --port 9000")
    changed = plan(shop.stack(), observed, environ=ENV, names=["backend"], restart=["backend"])
    assert changed.step("backend") == Step("backend", Action.RECREATE, ("command",))
    # a completed job that is asked to restart runs again
    again = plan(shop.stack(), observed, environ=ENV, names=["migrate"], restart=["migrate"])
    assert again.step("migrate") == Step("migrate", Action.START, ("completed", "restart requested"))


DOCKER = """
name: shop
services:
  cache:
    command: redis-server
    ports: [6379]
    docker:
      image: "redis:7"
      ports: ["6379"]
      volumes: ["cache-data:/data"]
  api:
    command: api
    depends_on:
      cache: {restart: true}
"""


def test_switching_to_docker_is_a_runtime_change(tmp_path: Path) -> None:
    project = Project(tmp_path, DOCKER)
    observed = ran(project.stack(docker=False))
    assert text(plan(project.stack(docker=True), observed, environ=ENV)) == (
        "  cache          recreate  runtime process -> docker\n"
        "  api            restart   depends on cache with restart: true"
    )
    back = ran(project.stack(docker=True))
    assert plan(project.stack(docker=False), back, environ=ENV).step("cache") == Step(
        "cache", Action.RECREATE, ("runtime docker -> process",)
    )


def test_docker_fields_are_compared_only_when_it_runs_in_docker(tmp_path: Path) -> None:
    project = Project(tmp_path, DOCKER)
    observed = ran(project.stack(docker=True))
    as_process = ran(project.stack(docker=False))
    project.edit('image: "redis:7"', 'image: "redis:7.2"\n      environment: {MAXMEM: 1gb}')
    project.edit('"cache-data:/data"', '"cache-data:/data", "./conf:/etc/redis:ro"')
    project.edit('ports: ["6379"]', 'ports: ["127.0.0.1:6379:6379"]')
    assert text(plan(project.stack(docker=True), observed, environ=ENV)) == (
        "  cache          recreate  image redis:7 -> redis:7.2, volumes, docker.ports, "
        "docker.environment +MAXMEM\n"
        "  api            restart   depends on cache with restart: true"
    )
    assert plan(project.stack(docker=False), as_process, environ=ENV).changes() == ()


def test_another_shell_is_not_a_change_but_what_it_interpolates_is(shop: Project) -> None:
    shop.edit(
        "    command: frontend\n",
        "    command: frontend\n"
        "    environment:\n"
        "      BACKEND_URL: http://${BACKEND_HOST:-localhost}:8700\n"
        "      PASSTHROUGH:\n",
    )
    first = {**ENV, "PASSTHROUGH": "one"}
    observed = ran(shop.stack(environ=first), environ=first)
    other = {"PATH": "/opt/bin:/usr/bin", "HOME": "/home/other", "TERM": "xterm", "PASSTHROUGH": "two"}
    assert plan(shop.stack(environ=other), observed, environ=other).changes() == ()
    moved = {**other, "BACKEND_HOST": "10.0.0.2"}
    assert text(plan(shop.stack(environ=moved), observed, environ=moved)) == (
        "  frontend       recreate  environment BACKEND_URL\n"
        "  db, backend, worker: unchanged\n"
        "  migrate: completed"
    )


def test_fingerprints_survive_the_state_file(tmp_path: Path) -> None:
    project = Project(tmp_path, DOCKER)
    for docker in (False, True):
        stack = project.stack(docker=docker)
        stored = {
            name: Observed(o.state, json.loads(json.dumps(o.fingerprint)))
            for name, o in ran(stack).items()
        }
        assert plan(stack, stored, environ=ENV).changes() == ()
    cache = fingerprint(project.stack(docker=True).services["cache"], ENV)
    assert list(cache)[:7] == [
        "runtime", "command", "working_dir", "environment", "ports", "healthcheck", "stop_signal",
    ]
    assert (cache["image"], cache["volumes"], cache["build"]) == ("redis:7", ["cache-data:/data"], None)
    assert "docker.healthcheck" not in cache
    assert "image" not in fingerprint(project.stack(docker=False).services["cache"], ENV)


def test_a_record_without_fingerprint_and_old_fingerprint_fields(shop: Project) -> None:
    stack = shop.stack()
    observed = dict(ran(stack))
    observed["db"] = Observed("running", None)  # started before fingerprints were recorded
    older = dict(fingerprint(stack.services["backend"], ENV))
    del older["stop_signal"]
    older["retired_field"] = 1
    observed["backend"] = Observed("running", older)
    assert plan(stack, observed, environ=ENV).changes() == ()
    assert changed_fields({"runtime": "process"}, {"runtime": "docker"}) == ("runtime process -> docker",)
    assert changed_fields({}, {"runtime": "docker"}) == ("runtime unknown -> docker",)


def test_unknown_names_are_a_usage_error(shop: Project) -> None:
    with pytest.raises(UsageError, match='unknown service "nope"'):
        plan(shop.stack(), {}, environ=ENV, names=["nope"])
    with pytest.raises(UsageError, match='unknown service "gone"'):
        plan(shop.stack(), {}, environ=ENV, restart=["gone"])


def test_long_names_widen_the_columns(tmp_path: Path) -> None:
    project = Project(tmp_path, "services:\n  a-very-long-service-name: {command: x}\n  b: {command: y}\n")
    assert text(plan(project.stack(), {}, environ=ENV)) == (
        "  a-very-long-service-name create    never started\n"
        "  b                        create    never started"
    )
    assert plan(project.stack(), {}, environ=ENV, names=[]).render() == []


def test_to_json_shape(shop: Project) -> None:
    shop.write(SHOP + "  old-job:\n    command: old-job\n")
    observed = ran(shop.stack())
    shop.write(SHOP)
    shop.edit("ports: [8700]", "ports: [8701]")
    result = plan(shop.stack(), observed, environ=ENV)
    assert result.to_json() == {
        "steps": [
            {"service": "old-job", "action": "remove", "reasons": ["no longer in the files"]},
            {"service": "db", "action": "keep", "reasons": ["unchanged"]},
            {"service": "migrate", "action": "keep", "reasons": ["completed"]},
            {"service": "backend", "action": "recreate", "reasons": ["ports 8700 -> 8701"]},
            {"service": "frontend", "action": "keep", "reasons": ["unchanged"]},
            {"service": "worker", "action": "restart", "reasons": ["depends on backend with restart: true"]},
        ],
        "warnings": [],
    }
    assert json.loads(json.dumps(result.to_json())) == result.to_json()
    assert [s.service for s in result.changes()] == ["old-job", "backend", "worker"]
    assert result.step("nope") is None


REPLICATED = """
name: shop
services:
  web:
    command: web
    listen: [{port: 8700}]
    deploy: {replicas: 2}
  worker:
    command: worker
    depends_on:
      web: {restart: true}
"""


def test_a_change_of_the_count_alone_scales_and_replaces_nothing(tmp_path: Path) -> None:
    from dev_orchestrator.config.resolve import parse_scale, scaled

    project = Project(tmp_path, REPLICATED)
    stack = project.stack()
    observed = ran(stack)
    project.edit("replicas: 2", "replicas: 4")
    result = plan(project.stack(), observed, environ=ENV)
    assert result.step("web").action is Action.SCALE
    assert text(result) == (
        "  web            scale     replicas 2 -> 4\n"
        "  worker: unchanged"
    )
    assert result.step("worker").action is Action.KEEP  # a scale is no recreate: restart: true does not fire
    # --scale gives the same step against the unchanged file, and back to the file's count keeps it
    assert plan(scaled(stack, parse_scale(["web=3"])), observed, environ=ENV).step("web").action is Action.SCALE
    assert plan(scaled(stack, parse_scale(["web=2"])), observed, environ=ENV).step("web").action is Action.KEEP
    # a count that changes with the command is a recreate: the new replicas run the new command
    project.edit("command: web", "command: web --v2")
    both = plan(project.stack(), observed, environ=ENV)
    assert both.step("web").action is Action.RECREATE


def test_scale_flags_are_checked_where_they_are_written(tmp_path: Path) -> None:
    from dev_orchestrator.config.resolve import parse_scale, scaled

    stack = Project(tmp_path, REPLICATED).stack()
    for bad in ["web", "web=", "=3", "web=three", "web=-1"]:
        with pytest.raises(UsageError, match="expected SERVICE=NUMBER"):
            parse_scale([bad])
    with pytest.raises(UsageError, match='the stack has no service "api"'):
        scaled(stack, {"api": 2})
    with pytest.raises(UsageError, match="use 1 to"):
        scaled(stack, {"web": 0})
    assert scaled(stack, {"web": 5}).services["web"].replicas == 5
    assert scaled(stack, {"gone": 5}, strict=False).services["web"].replicas == 2
    bound = Project(tmp_path, "name: s\nservices:\n  api: {command: api, ports: [8080]}\n").stack()
    with pytest.raises(UsageError, match="would all bind its port"):
        scaled(bound, {"api": 2})
