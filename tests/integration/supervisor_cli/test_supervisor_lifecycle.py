"""start / status / health / restart / stop through the background supervisor (real processes)."""

from __future__ import annotations

import json
import socket
import urllib.request

import psutil

from .conftest import Project, processes_in, wait_until


def http_ok(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        # as a server would: TIME_WAIT left by finished connections does not count
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def stack(project: Project, ports: list[int], *, delay: float = 0.3) -> None:
    a, b, c, _ = ports
    project.write(
        f"""
        name: demo
        services:
          db:
            command: {project.server(a, delay)}
            ports: [{a}]
            healthcheck: {{http: {{url: "http://127.0.0.1:{a}/"}}, interval: 1s}}
          api:
            command: {project.server(b, delay)}
            ports: [{b}]
            depends_on:
              db: {{condition: service_healthy, restart: true}}
            healthcheck: {{http: {{url: "http://127.0.0.1:{b}/"}}, interval: 1s}}
          web:
            command: {project.server(c)}
            ports: [{c}]
            depends_on: [db]
            healthcheck: {{tcp: {{port: {c}}}, interval: 1s}}
        """
    )


def test_start_returns_when_healthy_and_status_matches_contract(project: Project, ports: list[int]) -> None:
    stack(project, ports)
    proc = project.run("start", check=True)
    # start returned: every service answers right now, no waiting
    assert all(http_ok(p) for p in ports[:3])
    assert "3 services up" in proc.stdout
    status = project.status()
    assert status["project"] == "demo" and status["env"] == "dev"
    assert status["supervisor"]["running"] is True
    assert psutil.pid_exists(status["supervisor"]["pid"])
    assert set(status["services"]) == {"db", "api", "web"}
    for name, record in status["services"].items():
        assert record["state"] == "running", name
        assert record["health"] == "healthy", name
        assert record["runtime"] == "process"
        assert isinstance(record["pid"], int) and psutil.pid_exists(record["pid"])
        assert record["container"] is None
        assert record["started_at"].endswith("Z")
        assert record["restarts"] == 0 and record["exit_code"] is None
        assert isinstance(record["ports"], list)
    table = project.run("status", check=True).stdout
    assert "SERVICE" in table and "healthy" in table and "supervisor pid" in table
    # a second start is a no-op that says so
    again = project.run("start", check=True)
    assert "nothing to change: db, api, web running" in again.stdout


def test_status_without_supervisor(project: Project, ports: list[int]) -> None:
    stack(project, ports)
    status = project.status()
    assert status["supervisor"] == {"running": False, "pid": None}
    assert {r["state"] for r in status["services"].values()} == {"stopped"}


def test_health_exit_codes_and_json(project: Project, ports: list[int]) -> None:
    stack(project, ports, delay=0)
    project.run("start", check=True)
    proc = project.run("health", "--json", check=True)
    report = json.loads(proc.stdout)
    assert report["healthy"] is True and report["wall_ms"] > 0
    assert set(report["services"]) == {"db", "api", "web"}
    assert all(r["healthy"] and r["latency_ms"] >= 0 for r in report["services"].values())
    # kill web behind the supervisor's back (restart: no): health now fails
    web = project.status()["services"]["web"]["pid"]
    psutil.Process(web).kill()
    assert wait_until(lambda: not http_ok(ports[2]) and port_free(ports[2]))
    proc = project.run("health", "web")
    assert proc.returncode == 1, proc.stdout
    assert "UNHEALTHY" in proc.stdout


def test_health_without_supervisor_probes_what_is_reachable(project: Project, ports: list[int]) -> None:
    stack(project, ports)
    proc = project.run("health")
    assert proc.returncode == 1
    assert "3 of 3 unhealthy" in proc.stdout


def test_restart_keeps_dependents_consistent(project: Project, ports: list[int]) -> None:
    stack(project, ports, delay=0)
    project.run("start", check=True)
    before = project.status()["services"]
    proc = project.run("restart", "db", check=True)
    assert "restarted db, api" in proc.stdout
    after = project.status()["services"]
    assert after["db"]["pid"] != before["db"]["pid"]
    assert after["api"]["pid"] != before["api"]["pid"]  # restart: true on db
    assert after["web"]["pid"] == before["web"]["pid"]  # plain dependency: left alone
    assert all(r["state"] == "running" for r in after.values())
    assert all(http_ok(p) for p in ports[:3])


def test_stop_service_stops_dependents_first_then_stop_all(project: Project, ports: list[int]) -> None:
    stack(project, ports, delay=0)
    project.run("start", check=True)
    proc = project.run("stop", "db", check=True)
    out = proc.stderr
    assert out.index("api") < out.index("db") and out.index("web") < out.index("db")
    status = project.status()
    assert status["supervisor"]["running"] is True  # a partial stop keeps the supervisor
    assert {r["state"] for r in status["services"].values()} == {"stopped"}
    assert all(port_free(p) for p in ports[:3])
    project.run("start", "web", check=True)
    assert project.status()["services"]["api"]["state"] == "stopped"
    proc = project.run("stop", check=True)
    assert "supervisor exited" in proc.stdout
    assert not (project.root / ".orchestrator" / "supervisor.sock").exists()
    assert not processes_in(project.root)


def test_failed_start_rolls_back_and_exits_1(project: Project, ports: list[int]) -> None:
    a, b, _, _ = ports
    project.write(
        f"""
        services:
          db:
            command: {project.server(a)}
            healthcheck: {{tcp: {{port: {a}}}}}
          broken:
            command: ["{__import__('sys').executable}", "-c", "import sys; print('boom: no database'); sys.exit(3)"]
            depends_on: [db]
            healthcheck: {{tcp: {{port: {b}}}}}
        """
    )
    proc = project.run("start")
    assert proc.returncode == 1
    assert "broken failed: exited with code 3" in proc.stderr
    assert "boom: no database" in proc.stderr  # its last log lines
    assert "rolled back: stopped db" in proc.stderr
    assert wait_until(lambda: not processes_in(project.root))
    assert port_free(a)
    assert project.status()["supervisor"]["running"] is False
