"""`restart` of a service with `listen` (proxy mode) under load: start-first, no request lost."""

from __future__ import annotations

from .conftest import ZeroDowntimeProject, port_is_free
from .load import Background, request, wait_time


def pid_of(project: ZeroDowntimeProject) -> int:
    return int(project.status()["services"]["web"]["pid"])


def test_restart_replaces_start_first_and_reports_pids(project: ZeroDowntimeProject, port: int) -> None:
    project.service(port)
    project.run("start", check=True)
    old = pid_of(project)
    proc = project.run("restart", "web", check=True)
    new = pid_of(project)
    assert new != old
    assert f"replaced pid {old} -> {new}" in proc.stderr + proc.stdout
    import asyncio

    outcome, body = asyncio.run(request(port))
    assert outcome == "ok" and body.startswith(str(new))
    project.run("stop", check=True)
    assert port_is_free(port)


def test_restarts_under_load_lose_no_request(project: ZeroDowntimeProject, port: int) -> None:
    project.service(port)
    project.run("start", check=True)
    pids = {pid_of(project)}
    with Background(port, rate=150, duration=8.0) as load:
        wait_time(0.5)
        for _ in range(4):
            project.run("restart", "web", check=True)
            pids.add(pid_of(project))
            wait_time(0.3)
        result = load.finish()
    assert len(pids) == 5
    assert result.failed == 0, (result.outcomes, result.errors)
    assert result.ok > 500
    served = {body.split()[0] for body in result.bodies}
    assert len(served) >= 3  # the requests really went to successive instances


def test_control_run_without_listen_shows_refused_requests(project: ZeroDowntimeProject, port: int) -> None:
    """Proof that the harness sees failures: the same restarts of a service that binds its own port."""
    project.write(
        f"""
        name: zd
        services:
          web:
            command: {project.app()}
            environment: {{PORT: "{port}"}}
            ports: [{port}]
            healthcheck: {{http: {{url: 'http://127.0.0.1:{port}/health'}}, interval: 200ms}}
            stop_grace_period: 5s
        """
    )
    project.run("start", check=True)
    with Background(port, rate=150, duration=6.0) as load:
        wait_time(0.5)
        for _ in range(4):
            project.run("restart", "web", check=True)
            wait_time(0.3)
        result = load.finish()
    assert result.outcomes["refused"] + result.outcomes["reset"] > 0, result.outcomes


def test_stop_first_keeps_the_port_so_clients_wait(project: ZeroDowntimeProject, port: int) -> None:
    """`order: stop-first` with listen: the old instance stops first, but connections are held, not refused.

    Held connections wait until the new instance listens, so the client waits longer here
    (10 s) than elsewhere: a wait is the promised behaviour, a refusal or reset is not.
    """
    project.service(port, order="stop-first")
    project.run("start", check=True)
    with Background(port, rate=100, duration=5.0, timeout=10.0) as load:
        wait_time(0.5)
        for _ in range(2):
            proc = project.run("restart", "web", check=True)
            assert "replaced pid" not in proc.stderr
            wait_time(0.3)
        result = load.finish()
    assert result.failed == 0, (result.outcomes, result.errors)
