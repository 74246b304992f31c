"""Profiles through the real CLI and the background supervisor, with local processes."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from compose_cli_support import cli

STACK = """
services:
  app: {command: [sleep, "300"]}
  tools: {command: [sleep, "300"], profiles: [debug], depends_on: [helper]}
  helper: {command: [sleep, "300"], profiles: [helpers]}
"""


def _running(folder: Path) -> set[str]:
    status = cli("status", "--json", cwd=folder)
    assert status.returncode in (0, 1), status.stderr
    return {n for n, s in json.loads(status.stdout)["services"].items() if s["state"] == "running"}


def test_profiles_from_flags_names_and_environment(tmp_path: Path) -> None:
    (tmp_path / "services.yaml").write_text(textwrap.dedent(STACK))
    try:
        assert cli("start", cwd=tmp_path).returncode == 0
        assert _running(tmp_path) == {"app"}
        named = cli("start", "tools", cwd=tmp_path)  # named: active, and its dependency comes with it
        assert named.returncode == 0, named.stderr
        assert _running(tmp_path) == {"app", "tools", "helper"}
        again = cli("start", cwd=tmp_path)  # a plain start leaves them running, as compose's up does
        assert again.returncode == 0, again.stderr
        assert _running(tmp_path) == {"app", "tools", "helper"}
    finally:
        stopped = cli("stop", cwd=tmp_path)
    assert stopped.returncode == 0, stopped.stderr
    plan = cli("start", "--dry-run", "--profile", "helpers", cwd=tmp_path)
    assert plan.returncode == 0, plan.stderr
    assert "helper" in plan.stdout and "tools" not in plan.stdout
    via_env = cli("start", "--dry-run", cwd=tmp_path, env={"COMPOSE_PROFILES": "debug"})
    assert "tools" in via_env.stdout and "helper" in via_env.stdout


def test_an_inactive_service_is_named_as_such(tmp_path: Path) -> None:
    (tmp_path / "services.yaml").write_text(textwrap.dedent(STACK))
    shown = cli("config", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "# tools: inactive (profile debug)" in shown.stdout.splitlines()
    graph = cli("graph", "--json", cwd=tmp_path)
    assert json.loads(graph.stdout)["inactive"] == {"tools": ["debug"], "helper": ["helpers"]}
    assert json.loads(cli("graph", "--json", "--profile", "*", cwd=tmp_path).stdout).get("inactive") is None
