"""fd mode: the socket itself is passed to each instance as fd 3; readiness by sd_notify."""

from __future__ import annotations

from .conftest import ZeroDowntimeProject, port_is_free
from .load import Background, wait_time
from .test_proxy_restart import pid_of


def test_fd_mode_restarts_under_load_lose_no_request(project: ZeroDowntimeProject, port: int) -> None:
    project.service(port, mode="fd", probe="notify")
    project.run("start", check=True)
    status = project.status()["services"]["web"]
    assert status["health"] == "healthy"
    pids = {pid_of(project)}
    with Background(port, rate=150, duration=8.0) as load:
        wait_time(0.5)
        for _ in range(4):
            proc = project.run("restart", "web", check=True)
            assert "replaced pid" in proc.stderr
            pids.add(pid_of(project))
            wait_time(0.3)
        result = load.finish()
    assert len(pids) == 5
    assert result.failed == 0, (result.outcomes, result.errors)
    assert len({body.split()[0] for body in result.bodies}) >= 3
    project.run("stop", check=True)
    assert port_is_free(port)


def test_fd_mode_new_version_without_ready_keeps_old(project: ZeroDowntimeProject, port: int) -> None:
    project.service(port, mode="fd", probe="notify")
    project.run("start", check=True)
    old = pid_of(project)
    project.service(port, mode="fd", probe="notify", fail="never")
    proc = project.run("start", "--timeout", "1s", check=False)
    assert proc.returncode == 1
    assert "no READY=1" in proc.stderr, proc.stderr
    assert pid_of(project) == old


def test_notify_status_is_shown(project: ZeroDowntimeProject, port: int) -> None:
    project.service(port, probe="notify", version="7")
    project.run("start", check=True)
    table = project.run("status", check=True).stdout
    assert "version 7" in table, table
