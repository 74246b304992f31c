"""Procfile import: one shell service per process, honcho's PORT numbering, release first."""

from __future__ import annotations

from pathlib import Path

import pytest
from export_unit_support import FIXTURES

from dev_orchestrator.errors import ConfigError, UsageError
from dev_orchestrator.export.procfile import import_procfile

PROCFILE = FIXTURES / "procfile" / "Procfile"


def test_processes_become_shell_services() -> None:
    result = import_procfile(PROCFILE, out_dir=PROCFILE.parent)
    services = result.document["services"]
    assert list(services) == ["web", "worker", "clock", "release"]
    assert services["web"]["command"] == "gunicorn app:app --bind 0.0.0.0:$$PORT --workers 2"
    assert services["web"]["shell"] is True
    assert "environment" not in services["web"]
    result.validate({})


def test_ports_follow_honcho() -> None:
    services = import_procfile(PROCFILE, ports=True, out_dir=PROCFILE.parent).document["services"]
    assert [s.get("environment", {}).get("PORT") for s in services.values()] == ["5000", "5100", "5200", None]
    assert services["worker"]["ports"] == [5100]


def test_base_port() -> None:
    services = import_procfile(PROCFILE, ports=True, base_port=8000, out_dir=PROCFILE.parent).document["services"]
    assert services["web"]["environment"]["PORT"] == "8000"


def test_release_runs_first() -> None:
    result = import_procfile(PROCFILE, out_dir=PROCFILE.parent)
    assert result.document["services"]["web"]["depends_on"] == {
        "release": {"condition": "service_completed_successfully"}
    }
    assert any("release" in n for n in result.notes)


def test_env_file_is_referenced_relative_to_the_output(tmp_path: Path) -> None:
    env = FIXTURES / "procfile" / "app.env"
    services = import_procfile(PROCFILE, env_file=env, out_dir=FIXTURES).document["services"]
    assert services["web"]["env_file"] == ["./procfile/app.env"]
    with pytest.raises(UsageError, match="no such file"):
        import_procfile(PROCFILE, env_file=tmp_path / "missing.env", out_dir=tmp_path)


def test_bad_lines_are_reported_with_line_numbers() -> None:
    with pytest.raises(ConfigError) as info:
        import_procfile(FIXTURES / "procfile" / "Procfile.bad", out_dir=FIXTURES)
    text = str(info.value)
    assert 'Procfile.bad:2:1: expected "name: command"' in text
    assert 'process "web" is defined twice (first on line 1)' in text
    assert 'process "empty" has no command' in text


def test_uppercase_names_are_renamed(tmp_path: Path) -> None:
    procfile = tmp_path / "Procfile"
    procfile.write_text("Web_Server: python -m http.server\n")
    result = import_procfile(procfile, out_dir=tmp_path)
    assert list(result.document["services"]) == ["web-server"]
    assert any('renamed to "web-server"' in n for n in result.notes)
