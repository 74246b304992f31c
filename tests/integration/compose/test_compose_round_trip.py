"""`import compose` then `export compose` gives back the stack `docker-compose config` reads."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from compose_cli_support import cli, compose

from dev_orchestrator.config.types import parse_duration

FILES = Path(__file__).resolve().parent / "files"
HEALTH_DEFAULTS = {"interval": 30.0, "timeout": 30.0, "retries": 3, "start_period": 0.0}


def _port(item: Any) -> str:
    if isinstance(item, dict):
        text = str(item["target"])
        if item.get("published"):
            text = f"{item['published']}:{text}"
            if item.get("host_ip"):
                text = f"{item['host_ip']}:{text}"
        return f"{text}/{item.get('protocol', 'tcp')}"
    return str(item) if "/" in str(item) else f"{item}/tcp"


def _health(check: dict[str, Any] | None) -> dict[str, Any] | None:
    if not check or check.get("disable"):
        return None
    test = check["test"]
    out: dict[str, Any] = {"test": ["CMD-SHELL", test] if isinstance(test, str) else list(test)}
    for key, default in HEALTH_DEFAULTS.items():
        value = check.get(key, default)
        out[key] = value if key == "retries" else parse_duration(value)
    return out


def normalized(config_text: str) -> dict[str, Any]:
    """Everything a round trip must keep, from `docker-compose config` output, in one shape.

    A secret becomes what compose runs without swarm: its file mounted read-only at
    /run/secrets/<name>, which is how the import carries it.
    """
    document = yaml.safe_load(config_text)
    secrets = {name: spec["file"] for name, spec in (document.get("secrets") or {}).items()}
    out = {}
    for name, svc in document["services"].items():
        env = dict(svc.get("environment") or {})
        env.pop("ZYRON_ENV", None)
        depends = svc.get("depends_on") or {}
        if isinstance(depends, list):
            depends = {d: {"condition": "service_started"} for d in depends}
        volumes = [str(v) for v in svc.get("volumes") or []]
        for item in svc.get("secrets") or []:
            source = item["source"] if isinstance(item, dict) else item
            target = item.get("target", source) if isinstance(item, dict) else source
            volumes.append(f"{secrets[source]}:/run/secrets/{target}:ro")
        out[name] = {
            "image": svc.get("image"),
            "build": svc.get("build"),
            "command": svc.get("command"),
            "entrypoint": svc.get("entrypoint"),
            "user": svc.get("user"),
            "working_dir": svc.get("working_dir"),
            "depends_on": {d: (r.get("condition", "service_started"), bool(r.get("restart"))) for d, r in depends.items()},
            "healthcheck": _health(svc.get("healthcheck")),
            "ports": sorted(_port(p) for p in svc.get("ports") or []),
            "volumes": sorted(volumes),
            "environment": env,
            "restart": svc.get("restart", "no"),
            "profiles": sorted(svc.get("profiles") or []),
            "stop_signal": svc.get("stop_signal", "SIGTERM"),
            "stop_grace_period": parse_duration(svc.get("stop_grace_period", "10s")),
            "networks": _networks(svc.get("networks")),
            "extra_hosts": sorted(_hosts(svc.get("extra_hosts"))),
            **{key: svc.get(key) for key in CONTAINER_KEYS},
        }
    return out


CONTAINER_KEYS = ("hostname", "labels", "tmpfs", "read_only", "cap_add", "cap_drop", "ulimits", "shm_size", "init")


def _networks(value: Any) -> dict[str, list[str]]:
    if isinstance(value, list):
        return {name: [] for name in value}
    return {name: sorted((opts or {}).get("aliases") or []) for name, opts in (value or {}).items()}


def _hosts(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [f"{host}:{ip}" for host, ip in value.items()]
    return [str(v) for v in value or []]


def _project(folder: Path) -> None:
    """The example files plus what compose checks exists: the build context, the secret's file."""
    for path in FILES.iterdir():
        shutil.copy(path, folder / path.name)
    for sub in ("app", "initdb", "secrets"):
        (folder / sub).mkdir()
    (folder / "secrets" / "db_password.txt").write_text("s3cret\n")


@pytest.mark.parametrize("name", ["webapp", "workers"])
def test_round_trip_matches_docker_compose_config(tmp_path: Path, name: str) -> None:
    _project(tmp_path)
    original = compose("-f", f"{name}.yaml", "config", cwd=tmp_path)
    assert original.returncode == 0, original.stderr
    imported = cli("import", "compose", f"{name}.yaml", cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr
    assert "enabled" not in (tmp_path / "services.yaml").read_text()
    exported = cli("export", "compose", cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    again = compose("-f", "-", "config", cwd=tmp_path, stdin=exported.stdout)
    assert again.returncode == 0, again.stderr
    assert normalized(again.stdout) == normalized(original.stdout)
    assert "s3cret" not in exported.stdout + (tmp_path / "services.yaml").read_text()


def test_a_compose_file_is_shown_translated_with_a_hint(tmp_path: Path) -> None:
    for path in FILES.iterdir():
        shutil.copy(path, tmp_path / path.name)
    shutil.copy(tmp_path / "webapp.yaml", tmp_path / "compose.yaml")
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "db_password.txt").write_text("s3cret\n")
    shown = cli("config", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert "# adminer: inactive (profile debug)" in lines
    assert "# mailhog: inactive (profiles debug, mail)" in lines
    assert any("dev-orchestrator import compose compose.yaml" in line for line in lines)
    assert "s3cret" not in shown.stdout + shown.stderr
    graph = cli("graph", "--profile", "mail", cwd=tmp_path)
    assert graph.returncode == 0, graph.stderr
    assert "mailhog" in graph.stdout and "adminer: inactive (profile debug)" in graph.stdout
    named = cli("graph", "adminer", cwd=tmp_path)
    assert named.returncode == 0, named.stderr
    assert named.stdout.splitlines()[1:3] == ["  step 1  db", "  step 2  adminer"]
    via_env = cli("graph", "--json", cwd=tmp_path, env={"COMPOSE_PROFILES": "debug,mail"})
    assert '"inactive"' not in via_env.stdout
