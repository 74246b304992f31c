"""Every command's --help shows examples, and the shell completes service names."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

CLI = [sys.executable, "-m", "dev_orchestrator.cli"]
COMMANDS = ["config", "graph", "up", "start", "stop", "restart", "status", "health", "logs", "ports", "export",
            "import"]


@pytest.mark.parametrize("command", COMMANDS)
def test_help_shows_examples(command: str) -> None:
    out = subprocess.run([*CLI, command, "--help"], capture_output=True, text=True, check=True).stdout
    assert "Examples:" in out and f"dev-orchestrator {command}" in out


def test_top_level_help_lists_every_command() -> None:
    out = subprocess.run([*CLI, "--help"], capture_output=True, text=True, check=True).stdout
    assert "Examples:" in out
    for command in COMMANDS:
        assert f"  {command} " in out or f"  {command}\n" in out, command


def test_service_names_complete_from_every_file(tmp_path: Path) -> None:
    (tmp_path / "services.yaml").write_text("name: app\nservices:\n  api: {command: a}\n  auth: {command: b}\n")
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "app.staging.yaml").write_text("services:\n  audit: {command: c}\n")
    env = {**os.environ, "_DEV_ORCHESTRATOR_COMPLETE": "bash_complete", "COMP_WORDS": "dev-orchestrator logs a",
           "COMP_CWORD": "2"}
    out = subprocess.run([*CLI], cwd=tmp_path, env=env, capture_output=True, text=True).stdout
    assert out.split() == ["plain,api", "plain,audit", "plain,auth"]
