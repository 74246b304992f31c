"""An exported deploy: section (replicas, update_config) is one docker-compose accepts and keeps."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml
from export_cli_support import cli, compose

pytestmark = pytest.mark.docker

STACK = """
name: deployed
services:
  web:
    command: [python, -m, http.server, "8700"]
    listen: [{port: 8700}]
    deploy:
      replicas: 2
      update_config: {monitor: 3s}
    docker: {image: "deployed/web:1", ports: ["8700"]}
"""


def test_docker_compose_config_keeps_replicas_and_update_order(tmp_path: Path) -> None:
    (tmp_path / "services.yaml").write_text(textwrap.dedent(STACK).lstrip())
    exported = cli("export", "compose", cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    checked = compose("-f", "-", "config", cwd=tmp_path, stdin=exported.stdout)
    assert checked.returncode == 0, checked.stderr
    deploy = yaml.safe_load(checked.stdout)["services"]["web"]["deploy"]
    assert deploy["replicas"] == 2
    assert deploy["update_config"]["order"] == "start-first"
    assert deploy["update_config"]["failure_action"] == "rollback"
    assert deploy["update_config"]["monitor"] in ("3s", 3000000000)
