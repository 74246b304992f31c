"""exec, run, init, the compose aliases, suggestions and the stdout/stderr split (real CLI)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from .conftest import Project, processes_in

SLEEPER = json.dumps([sys.executable, "-c", "import time; time.sleep(600)"])


def test_exec_runs_in_the_service_context_and_passes_the_exit_code(project: Project) -> None:
    project.write(
        f"""
        name: demo
        services:
          app:
            command: {SLEEPER}
            working_dir: sub
            environment: {{GREETING: hello}}
        """
    )
    (project.root / "sub").mkdir()
    not_running = project.run("exec", "app", "--", "true")
    assert not_running.returncode == 1 and "app is not running" in not_running.stderr
    project.run("start", check=True)
    proc = project.run("exec", "app", "--", sys.executable, "-c",
                       "import os, sys; print(os.getcwd(), os.environ['GREETING']); sys.exit(7)")
    assert proc.returncode == 7
    assert proc.stdout.split() == [str(project.root / "sub"), "hello"]
    unknown = project.run("exec", "nope", "--", "true")
    assert unknown.returncode == 2 and 'unknown service "nope"' in unknown.stderr


def test_run_starts_dependencies_then_the_one_off(project: Project, ports: list[int]) -> None:
    db = ports[0]
    project.write(
        f"""
        name: demo
        services:
          db:
            command: {project.server(db)}
            ports: [{db}]
            healthcheck: {{tcp: {{port: {db}}}, interval: 100ms}}
          job:
            command: {json.dumps([sys.executable, "-c", "print('job ran')"])}
            environment: {{MODE: once}}
            depends_on: [db]
        """
    )
    proc = project.run("run", "job", "--", sys.executable, "-c",
                       "import os, sys; print('mode', os.environ['MODE']); sys.exit(3)")
    assert proc.returncode == 3, proc.stderr
    assert "mode once" in proc.stdout
    status = project.status()["services"]
    assert status["db"]["state"] == "running"
    assert status["job"]["state"] == "stopped"  # a one-off is not the service itself
    own = project.run("run", "job")
    assert own.returncode == 0 and "job ran" in own.stdout


def test_init_writes_a_template_or_imports_and_never_overwrites(project: Project) -> None:
    proc = project.run("init", check=True)
    assert "from a template" in proc.stdout
    assert project.run("config", "validate").returncode == 0
    again = project.run("init")
    assert again.returncode == 2 and "already exists" in again.stderr
    (project.root / "services.yaml").unlink()
    (project.root / "Procfile").write_text("web: python3 -m http.server 8123\nworker: sleep 100\n")
    proc = project.run("init", check=True)
    assert "from Procfile (2 services)" in proc.stdout
    text = (project.root / "services.yaml").read_text()
    assert text.startswith("# services.yaml: made by `dev-orchestrator init` from Procfile")
    assert "web:" in text and "worker:" in text
    assert project.run("config", "validate").returncode == 0


def test_aliases_suggestions_and_output_streams(project: Project, ports: list[int]) -> None:
    db = ports[0]
    project.write(
        f"""
        name: demo
        services:
          db:
            command: {project.server(db)}
            ports: [{db}]
            healthcheck: {{tcp: {{port: {db}}}, interval: 100ms}}
        """
    )
    helptext = project.run("--help", check=True).stdout
    assert re.search(r"\n  down +Same as stop\.", helptext) and re.search(r"\n  ps +Same as status\.", helptext)
    typo = project.run("stat")
    assert typo.returncode == 2 and "No such command 'stat'. Did you mean 'status'?" in typo.stderr
    started = project.run("start", check=True)
    assert "1 services up" in started.stdout and "1 services up" not in started.stderr
    assert "db" in started.stderr and "healthy" in started.stderr  # progress on stderr
    ps = project.run("ps", "--json", check=True)
    assert json.loads(ps.stdout)["services"]["db"]["state"] == "running"
    only = project.run("status", "db", check=True)
    assert "db" in only.stdout
    bad = project.run("status", "dbx")
    assert bad.returncode == 2 and 'did you mean "db"' in bad.stderr
    down = project.run("down", check=True)
    assert "stopped 1 services" in down.stdout and "supervisor exited" in down.stdout


def test_a_project_below_a_deep_folder_gets_its_socket(tmp_path: Path) -> None:
    """sun_path holds 107 bytes: a deeper .orchestrator/supervisor.sock still works."""
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    project = Project(deep)
    project.write(
        f"""
        name: deep
        services:
          app:
            command: {SLEEPER}
        """
    )
    assert len(str(deep / ".orchestrator" / "supervisor.sock")) > 107
    try:
        project.run("start", check=True)
        assert project.status()["supervisor"]["running"] is True
    finally:
        project.run("stop", check=True)


def test_up_dry_run_prints_the_plan_and_ports_json_names_the_owner(project: Project, ports: list[int]) -> None:
    web = ports[0]
    project.write(
        f"""
        services:
          web:
            command: {project.server(web)}
            ports: [{web}]
            healthcheck: {{tcp: {{port: {web}}}, interval: 100ms}}
        """
    )
    dry = project.run("up", "--dry-run", check=True)
    assert "(up --dry-run: nothing changes)" in dry.stdout and "web            create    never started" in dry.stdout
    assert project.supervisor_pid() is None and not processes_in(project.root)  # nothing ran
    started = project.run("start", check=True)
    assert "stop: " in started.stdout and " stop" in started.stdout.splitlines()[-1]  # the footer says how to stop
    owner = json.loads(project.run("ports", "--json", check=True).stdout)["ports"][0]
    pid = project.status()["services"]["web"]["pid"]
    assert (owner["port"], owner["service"], owner["free"], owner["pid"]) == (web, "web", False, pid)
    assert "server.py" in owner["command"]
