"""start reconciles the running stack with the files: plan, then apply (real supervisor, real processes)."""

from __future__ import annotations

import json
import socket
import sys
import textwrap

from .conftest import Project, wait_until

SLEEPER = json.dumps([sys.executable, "-c", "import time; time.sleep(600)"])


def pids(project: Project) -> dict[str, int | None]:
    return {n: r["pid"] for n, r in project.status()["services"].items()}


def write_stack(project: Project, ports: list[int], *, api_env: str = "1", web_port: int | None = None,
                extra: str = "", http: bool = False) -> None:
    db, api, web, _ = ports
    check = f"http: {{url: 'http://127.0.0.1:{api}/'}}" if http else f"tcp: {{port: {api}}}"
    web_port = web_port or web
    project.write(
        f"""
        name: demo
        services:
          db:
            command: {project.server(db)}
            ports: [{db}]
            healthcheck: {{tcp: {{port: {db}}}, interval: 100ms}}
          api:
            command: {project.server(api)}
            environment: {{API_DEBUG: "{api_env}"}}
            ports: [{api}]
            healthcheck: {{{check}, interval: 100ms}}
            depends_on: [db]
          web:
            command: {project.server(web_port)}
            ports: [{web_port}]
            depends_on:
              api: {{condition: service_healthy, restart: true}}
          worker:
            command: {SLEEPER}
            depends_on: [api]
        """ + textwrap.indent(textwrap.dedent(extra), "  ")
    )


def test_edit_between_starts_recreates_exactly_what_changed(project: Project, ports: list[int]) -> None:
    write_stack(project, ports)
    project.run("start", check=True)
    before = pids(project)
    write_stack(project, ports, api_env="2")
    status = project.status()["services"]
    assert status["api"]["drift"] == ["environment"]
    assert status["db"]["drift"] == [] and status["worker"]["drift"] == []
    table = project.run("status", check=True).stdout
    assert "changed: api: environment API_DEBUG" in table and "dev-orchestrator start" in table
    proc = project.run("start", check=True)
    assert "api            recreate  environment API_DEBUG" in proc.stderr
    assert "web            restart   depends on api with restart: true" in proc.stderr
    assert "db, worker: unchanged" in proc.stderr
    after = pids(project)
    assert after["db"] == before["db"]
    assert after["worker"] == before["worker"]  # no restart: true on api: it keeps running
    assert after["api"] != before["api"] and after["web"] != before["web"]
    assert all(r["drift"] == [] for r in project.status()["services"].values())
    again = project.run("start", check=True)
    assert "nothing to change" in again.stdout
    assert pids(project) == after


def test_port_and_healthcheck_changes_and_new_and_removed_services(project: Project, ports: list[int]) -> None:
    write_stack(project, ports)
    project.run("start", check=True)
    before = pids(project)
    new_port = ports[3]
    write_stack(project, ports, web_port=new_port, http=True)
    proc = project.run("start", check=True)
    assert f"ports {ports[2]} -> {new_port}" in proc.stderr
    assert "api            recreate  healthcheck" in proc.stderr
    after = pids(project)
    assert after["db"] == before["db"] and after["worker"] == before["worker"]
    assert after["api"] != before["api"] and after["web"] != before["web"]
    with socket.create_connection(("127.0.0.1", new_port), timeout=2):
        pass
    # a new service and a removed one (worker)
    db, api, web, _ = ports
    project.write(
        f"""
        name: demo
        services:
          db:
            command: {project.server(db)}
            ports: [{db}]
            healthcheck: {{tcp: {{port: {db}}}, interval: 100ms}}
          extra:
            command: {SLEEPER}
            depends_on: [db]
        """
    )
    # with names, the removed services are left alone and named in a warning
    named = project.run("start", "extra", check=True)
    assert "no longer in the files; left running" in named.stderr
    assert project.status()["services"]["worker"]["state"] == "running"
    proc = project.run("start", check=True)
    assert "worker         remove    no longer in the files" in proc.stderr
    assert "api            remove" in proc.stderr and "web            remove" in proc.stderr
    status = project.status()["services"]
    assert set(status) == {"db", "extra"}
    assert status["db"]["pid"] == before["db"]
    for gone in ("worker", "api", "web"):
        assert not wait_until(lambda pid=after[gone]: _alive(pid), timeout=0.5)


def _alive(pid: int | None) -> bool:
    import psutil

    return bool(pid) and psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE


def test_config_error_on_second_start_leaves_the_stack_untouched(project: Project, ports: list[int]) -> None:
    write_stack(project, ports)
    project.run("start", check=True)
    before = pids(project)
    state_before = project.state()["services"]
    text = (project.root / "services.yaml").read_text()
    (project.root / "services.yaml").write_text(text + "  broken:\n    command: 5\n")
    proc = project.run("start")
    assert proc.returncode == 2, proc.stderr
    assert "services.broken.command" in proc.stderr and "Traceback" not in proc.stderr
    assert pids(project) == before
    assert {n: r["pid"] for n, r in project.state()["services"].items()} == {
        n: r["pid"] for n, r in state_before.items()}


def test_dry_run_changes_nothing(project: Project, ports: list[int]) -> None:
    # without a supervisor: the plan of a first start, and no supervisor is spawned
    write_stack(project, ports)
    first = project.run("start", "--dry-run", check=True)
    assert "db             create    never started" in first.stdout
    assert not (project.root / ".orchestrator" / "supervisor.sock").exists()
    project.run("start", check=True)
    before = pids(project)
    state = (project.root / ".orchestrator" / "state.json").read_bytes()
    write_stack(project, ports, api_env="3")
    proc = project.run("start", "--dry-run", check=True)
    assert "api            recreate  environment API_DEBUG" in proc.stdout
    assert "--dry-run: nothing changes" in proc.stdout
    assert pids(project) == before
    assert (project.root / ".orchestrator" / "state.json").read_bytes() == state


def test_restart_of_a_service_that_gave_up_starts_it_and_keeps_dependents(project: Project, ports: list[int]) -> None:
    db, _api, _web, _ = ports
    flag = project.root / "crash"
    flag.write_text("1")
    crasher = json.dumps([sys.executable, "-c", textwrap.dedent(f"""
        import os, sys, time
        time.sleep(0.3)
        if os.path.exists({str(flag)!r}):
            sys.exit(3)
        time.sleep(600)
    """)])
    project.write(
        f"""
        name: demo
        services:
          db:
            command: {project.server(db)}
            ports: [{db}]
            healthcheck: {{tcp: {{port: {db}}}, interval: 100ms}}
          flaky:
            command: {crasher}
            restart: on-failure:2
          client:
            command: {SLEEPER}
            depends_on: [db]
        """
    )
    project.run("start", check=True)
    assert wait_until(lambda: "gave up" in (project.status()["services"]["flaky"]["detail"] or ""), timeout=15)
    table = project.run("status", check=True).stdout
    assert "gave up after 2 restarts (on-failure:2)" in table
    assert "gave up after 2 restarts (on-failure:2)" in (project.root / "logs" / "flaky.log").read_text()
    before = pids(project)
    flag.unlink()
    proc = project.run("restart", "flaky", check=True)
    assert proc.stderr.count("stopped") == 0, proc.stderr
    status = project.status()["services"]
    assert status["flaky"]["state"] == "running" and status["flaky"]["restarts"] == 0
    assert status["db"]["pid"] == before["db"] and status["client"]["pid"] == before["client"]
    # restart of a running service replaces it; its dependent without restart: true keeps running
    project.run("restart", "db", check=True)
    status = project.status()["services"]
    assert status["db"]["pid"] != before["db"]
    assert status["client"]["pid"] == before["client"]


def test_a_start_that_fails_before_anything_runs_leaves_no_supervisor(project: Project, ports: list[int]) -> None:
    busy = ports[0]
    squatter = socket.socket()
    squatter.bind(("127.0.0.1", busy))
    squatter.listen()
    try:
        project.write(
            f"""
            name: demo
            services:
              web:
                command: {project.server(busy)}
                ports: [{busy}]
            """
        )
        proc = project.run("start")
        assert proc.returncode == 1 and f"port {busy} is needed by web" in proc.stderr
        assert wait_until(lambda: project.run("status", "--json").returncode == 0
                          and not project.status()["supervisor"]["running"], timeout=5)
    finally:
        squatter.close()
    # the fixed file starts cleanly with a fresh supervisor
    proc = project.run("start", check=True)
    assert project.status()["services"]["web"]["state"] == "running"


def test_an_idle_supervisor_exits_by_itself(project: Project, ports: list[int]) -> None:
    project.write(
        f"""
        name: demo
        services:
          job:
            command: {json.dumps([sys.executable, "-c", "print('done')"])}
          after:
            command: {SLEEPER}
            depends_on: {{job: {{condition: service_completed_successfully}}}}
        """
    )
    project.run("start", check=True)
    again = project.run("start", check=True)
    assert "job completed" in again.stdout  # a completed one-shot is not "already running"
    project.run("stop", "after", check=True)
    assert wait_until(lambda: not project.status()["supervisor"]["running"], timeout=10)
    log = (project.root / ".orchestrator" / "supervisor.log").read_text()
    assert "nothing has been running for" in log


def test_switching_env_needs_yes(project: Project, ports: list[int]) -> None:
    write_stack(project, ports)
    (project.root / "config").mkdir()
    (project.root / "config" / "demo.staging.yaml").write_text(
        'services:\n  api:\n    environment: {API_DEBUG: "staging"}\n')
    (project.root / "config" / "demo.dev.yaml").write_text("{}\n")
    project.run("start", check=True)
    before = pids(project)
    proc = project.run("start", "--env", "staging")
    assert proc.returncode == 2
    assert "api            recreate  environment API_DEBUG" in proc.stderr
    assert "--yes" in proc.stderr
    assert pids(project) == before
    proc = project.run("start", "--env", "staging", "--yes", check=True)
    status = project.status()
    assert status["env"] == "staging"
    assert status["services"]["db"]["pid"] == before["db"]
    assert status["services"]["api"]["pid"] != before["api"]
    # a plain start keeps the supervisor's env
    again = project.run("start", check=True)
    assert "nothing to change" in again.stdout
