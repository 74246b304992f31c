"""The dashboard's content and actions over plain HTTP: status, graph, waterfall, the event
stream, the buttons' actions, the `dashboard` command, and that it stops with the stack."""

from __future__ import annotations

import http.client
import json
import socket
from typing import Any

from supervisor_cli.conftest import wait_until

from .conftest import Dashboard, Project, open_dashboard, write_stack


def events(web: Dashboard, wanted: int, *, until: Any = None, limit: int = 400) -> list[tuple[str, Any]]:
    """The first server-sent events of a fresh stream (at least ``wanted`` of them, then until
    ``until(events)`` holds), read line by line with a bound on both."""
    conn = http.client.HTTPConnection("127.0.0.1", web.port, timeout=30)
    conn.request("GET", "/api/events", headers={"Host": f"127.0.0.1:{web.port}",
                                                "Cookie": f"dev_orchestrator_{web.port}={web.token}"})
    reply = conn.getresponse()
    assert reply.status == 200
    assert reply.getheader("content-type") == "text/event-stream"
    got: list[tuple[str, Any]] = []
    kind = ""
    try:
        for _ in range(limit * 4):
            line = reply.readline().decode().rstrip("\n")
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                got.append((kind, json.loads(line[6:])))
                if len(got) >= wanted and (until is None or until(got)):
                    break
            if len(got) >= limit:
                break
    finally:
        conn.close()
    return got


def test_the_stream_opens_with_graph_waterfall_logs_and_status(shared: tuple[Project, Dashboard]) -> None:
    _proj, web = shared
    first = dict(events(web, 4))
    assert set(first) == {"graph", "waterfall", "logs", "status"}
    graph = first["graph"]
    assert {n["name"] for n in graph["nodes"]} == {"db", "web", "worker"}
    assert sorted((e["from"], e["to"]) for e in graph["edges"]) == [("db", "web"), ("db", "worker")]
    x = {n["name"]: n["x"] for n in graph["nodes"]}
    assert x["db"] < x["web"] == x["worker"]  # a dependent sits right of what it needs
    assert first["logs"]["reset"] is True
    texts = [(line["s"], line["x"]) for line in first["logs"]["lines"]]
    assert ("worker", "worker ready") in texts and ("worker", "ERROR job 5 failed: upstream timeout") in texts
    assert {name: r["state"] for name, r in first["status"]["services"].items()} == {
        "db": "running", "web": "running", "worker": "running"}
    assert "run_token" not in first["status"]


def test_the_waterfall_has_a_bar_per_service_from_launch_to_ready(dashboard: Dashboard) -> None:
    status, _, body = dashboard.request("GET", "/api/waterfall")
    assert status == 200
    data = json.loads(body)
    bars = {b["service"]: b for b in data["bars"]}
    assert list(bars)[0] == "db" and set(bars) == {"db", "web", "worker"}
    assert bars["db"]["launched"] == 0.0
    assert bars["db"]["outcome"] == "healthy" and bars["web"]["outcome"] == "healthy"
    assert bars["worker"]["outcome"] == "running"  # no healthcheck: ready once spawned
    # web and worker wait for db's health: they launch after db is ready
    assert bars["web"]["launched"] >= bars["db"]["ended"]
    assert bars["worker"]["launched"] >= bars["db"]["ended"]
    for bar in bars.values():
        assert bar["launched"] <= bar["spawned"] <= bar["ended"]
    assert data["total"] == max(b["ended"] for b in bars.values())


def test_restart_through_the_dashboard_is_streamed_and_redraws_the_waterfall(shared: tuple[Project, Dashboard]) -> None:
    proj, web = shared
    before = proj.status()["services"]["web"]["pid"]
    status, _, body = web.request("POST", "/api/restart", body={"services": ["web"]}, headers=web.same_origin())
    assert status == 200
    result = json.loads(body)
    assert result["ok"] is True and result["restarted"] == ["web"]
    after = proj.status()["services"]["web"]["pid"]
    assert after != before
    data = json.loads(web.request("GET", "/api/waterfall")[2])
    assert [(b["service"], b["outcome"]) for b in data["bars"]] == [("web", "healthy")]
    # a stream opened now shows the new pid
    first = dict(events(web, 4))
    assert first["status"]["services"]["web"]["pid"] == after


def test_the_stream_brings_state_changes_and_new_lines(shared: tuple[Project, Dashboard]) -> None:
    proj, web = shared
    conn = http.client.HTTPConnection("127.0.0.1", web.port, timeout=30)
    conn.request("GET", "/api/events", headers={"Host": f"127.0.0.1:{web.port}",
                                                "Cookie": f"dev_orchestrator_{web.port}={web.token}"})
    reply = conn.getresponse()
    try:
        kind = ""
        seen: list[tuple[str, Any]] = []
        for _ in range(40):  # the opening events
            line = reply.readline().decode().rstrip("\n")
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                seen.append((kind, json.loads(line[6:])))
                if len(seen) == 4:
                    break
        old = next(d for k, d in seen if k == "status")["services"]["worker"]["pid"]
        assert web.request("POST", "/api/restart", body={"services": ["worker"]}, headers=web.same_origin())[0] == 200
        states: list[str] = []
        new_lines: list[str] = []
        for _ in range(2000):
            line = reply.readline().decode().rstrip("\n")
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                data = json.loads(line[6:])
                if kind == "status":
                    worker = data["services"]["worker"]
                    states.append(worker["state"])
                    if worker["state"] == "running" and worker["pid"] not in (None, old) and new_lines:
                        break
                elif kind == "logs":
                    new_lines += [ln["x"] for ln in data["lines"] if ln["s"] == "worker"]
        assert states[-1] == "running"
        assert "worker ready" in new_lines  # the restarted worker's first line, live
    finally:
        conn.close()
    assert proj.status()["services"]["worker"]["pid"] != old


def test_apply_shows_the_plan_first(shared: tuple[Project, Dashboard]) -> None:
    _proj, web = shared
    status, _, body = web.request("POST", "/api/apply", body={"dry_run": True}, headers=web.same_origin())
    assert status == 200
    reply = json.loads(body)
    assert reply["dry_run"] is True
    assert {s["service"]: s["action"] for s in reply["plan"]["steps"]} == {"db": "keep", "web": "keep",
                                                                            "worker": "keep"}


def test_stop_names_its_services(shared: tuple[Project, Dashboard]) -> None:
    proj, web = shared
    status, _, body = web.request("POST", "/api/stop", body={}, headers=web.same_origin())
    assert status == 400 and "name the services" in json.loads(body)["message"]
    status, _, body = web.request("POST", "/api/stop", body={"services": ["nope"]}, headers=web.same_origin())
    assert status == 400 and "nope" in json.loads(body)["message"]
    assert proj.status()["services"]["db"]["state"] == "running"


def test_stop_and_start_one_service(shared: tuple[Project, Dashboard]) -> None:
    proj, web = shared
    status, _, body = web.request("POST", "/api/stop", body={"services": ["worker"]}, headers=web.same_origin())
    assert status == 200 and json.loads(body)["ok"] is True
    assert proj.status()["services"]["worker"]["state"] == "stopped"
    status, _, body = web.request("POST", "/api/start", body={"services": ["worker"]}, headers=web.same_origin())
    assert status == 200 and json.loads(body)["ok"] is True
    assert proj.status()["services"]["worker"]["state"] == "running"


def test_dashboard_again_prints_the_same_url(shared: tuple[Project, Dashboard]) -> None:
    proj, web = shared
    again = open_dashboard(proj)
    assert again.url == web.url
    assert "stops with the stack" in again.output


def test_the_port_comes_from_the_config_and_the_dashboard_stops_with_the_stack(project: Project,
                                                                               ports: list[int]) -> None:
    write_stack(project, ports[0], ports[1])
    text = (project.root / "services.yaml").read_text()
    (project.root / "services.yaml").write_text(text + f"orchestrator:\n  dashboard:\n    port: {ports[2]}\n")
    web = open_dashboard(project)
    assert web.port == ports[2]
    assert web.request("GET", "/api/status")[0] == 200
    # A page watching the stream sees it end when the stack stops.
    stream = socket.create_connection(("127.0.0.1", web.port), timeout=30)
    stream.sendall(f"GET /api/events HTTP/1.1\r\nHost: 127.0.0.1:{web.port}\r\n"
                   f"Cookie: dev_orchestrator_{web.port}={web.token}\r\n\r\n".encode())
    assert stream.recv(65536).startswith(b"HTTP/1.1 200 OK")
    project.run("stop", "--grace", "1s", check=True, timeout=60)
    received = b""
    for _ in range(10_000):
        chunk = stream.recv(65536)
        if not chunk:
            break
        received += chunk
    stream.close()
    assert received.endswith(b"0\r\n\r\n")  # the chunked stream's proper end, not a cut
    assert b'"state": "stopped"' in received  # the stop itself came through first

    def refused() -> bool:
        try:
            socket.create_connection(("127.0.0.1", ports[2]), timeout=1).close()
        except OSError:
            return True
        return False

    assert wait_until(refused, timeout=10)


def test_a_taken_port_is_a_clear_error(project: Project, ports: list[int]) -> None:
    write_stack(project, ports[0], ports[1])
    text = (project.root / "services.yaml").read_text()
    (project.root / "services.yaml").write_text(text + f"orchestrator:\n  dashboard:\n    port: {ports[2]}\n")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", ports[2]))
        taken.listen()
        proc = project.run("dashboard", timeout=90)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"orchestrator.dashboard.port: cannot listen on 127.0.0.1:{ports[2]}" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert project.status()["services"]["web"]["state"] == "running"  # the stack itself is fine


def test_no_start_without_a_supervisor_says_so(project: Project, ports: list[int]) -> None:
    write_stack(project, ports[0], ports[1])
    proc = project.run("dashboard", "--no-start", timeout=30)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "no supervisor is running" in proc.stderr
    assert not (project.root / ".orchestrator" / "supervisor.sock").exists()


def test_help_shows_examples() -> None:
    import subprocess

    from supervisor_cli.conftest import CLI

    out = subprocess.run([*CLI, "dashboard", "--help"], capture_output=True, text=True, check=True,
                         timeout=30).stdout
    assert "Examples:" in out and "dev-orchestrator dashboard --open" in out
    assert "orchestrator.dashboard.port" in out
