"""Kubernetes start order: init containers that wait with the dependency's own check, bounded.

The wait scripts run here for real, under busybox's ``sh``, ``nc`` and ``wget`` (the
tools of the wait image), against sockets on 127.0.0.1.
"""

from __future__ import annotations

import http.server
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from export_unit_support import KUBE_VERSIONS, MakeStack

from dev_orchestrator.export.kube_waits import Check, wait_script
from dev_orchestrator.export.kubernetes import KubeOptions, export_kubernetes
from dev_orchestrator.export.kubevalidate import validate

STACK = """
name: shop
services:
  cache:
    docker: {image: redis:7, ports: ["6380:6379"]}
    healthcheck: {tcp: {port: 6380}, start_period: 400s, interval: 1s}
  api:
    docker: {image: shop/api:1, ports: ["8081:8080"]}
    healthcheck: {http: {url: "http://127.0.0.1:8081/ready?deep=0"}}
    depends_on: {cache: {condition: service_healthy}}
  seed:
    docker: {image: shop/api:1, command: seed}
    depends_on: [api]
  web:
    docker: {image: shop/web:1, ports: ["3000"]}
    depends_on:
      api: {condition: service_healthy}
      seed: {condition: service_completed_successfully}
      cache: {condition: service_started}
"""


def pod(result: Any, kind: str, name: str) -> dict[str, Any]:
    for obj in result.objects:
        if obj["kind"] == kind and obj["metadata"]["name"] == name:
            spec: dict[str, Any] = obj["spec"]["template"]["spec"]
            return spec
    raise AssertionError(f"no {kind}/{name}")


def init_of(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in spec.get("initContainers", [])}


def test_each_dependency_is_waited_on_with_its_own_check(make_stack: MakeStack) -> None:
    result = export_kubernetes(make_stack(STACK), environ={})
    web = init_of(pod(result, "Deployment", "web"))
    assert list(web) == ["wait-for-api", "wait-for-seed", "wait-for-cache"]
    api_wait = web["wait-for-api"]["command"][-1]
    # the http check, asked of the Service on the port inside the container
    assert "timeout 5 wget -q -O /dev/null 'http://api:8080/ready?deep=0'" in api_wait
    assert "nc -w 2 cache 6379 -e true" in web["wait-for-cache"]["command"][-1]  # started: a TCP connect
    assert web["wait-for-seed"]["args"] == ["wait", "--for=condition=complete", "job/seed", "--timeout=300s"]
    api = init_of(pod(result, "Deployment", "api"))
    assert "nc -z -w 2 cache 6379" in api["wait-for-cache"]["command"][-1]  # the tcp check's port, mapped
    # the bound: the option's 300s, or the dependency's own start-up allowance when longer
    assert "+ 415 ))" in api["wait-for-cache"]["command"][-1]  # 400s + 15 start-up tries x 1s
    assert "+ 300 ))" in api_wait


def test_the_job_wait_is_reported_and_gets_its_account(make_stack: MakeStack) -> None:
    result = export_kubernetes(make_stack(STACK), KubeOptions(namespace="shop"), environ={})
    kinds = {(o["kind"], o["metadata"]["name"]) for o in result.objects}
    assert {("ServiceAccount", "shop-job-waiter"), ("Role", "shop-job-waiter")} <= kinds
    assert pod(result, "Deployment", "web")["serviceAccountName"] == "shop-job-waiter"
    assert "serviceAccountName" not in pod(result, "Deployment", "api")
    assert any("web: waits for Job seed to complete with kubectl wait" in n for n in result.notes)
    assert any("seed: api" not in n for n in result.notes)
    assert validate(result.objects, list(KUBE_VERSIONS)) == []


def test_waits_that_cannot_be_made_are_reported(make_stack: MakeStack) -> None:
    result = export_kubernetes(make_stack("""
        services:
          worker: {docker: {image: w}}
          job: {docker: {image: j}, restart: "no"}
          api:
            docker: {image: a}
            depends_on:
              worker: {condition: service_started}
              job: {condition: service_completed_successfully}
          other:
            docker: {image: o}
            depends_on: [job]
    """), environ={})
    assert any("api: worker has no port to wait on" in n for n in result.notes)
    assert any("other: job is a Job; waiting for it to start is not mapped" in n for n in result.notes)


def test_wait_timeout_option(make_stack: MakeStack) -> None:
    result = export_kubernetes(make_stack(STACK), KubeOptions(wait_timeout=30), environ={})
    web = init_of(pod(result, "Deployment", "web"))
    assert "+ 30 ))" in web["wait-for-api"]["command"][-1]
    assert web["wait-for-seed"]["args"][-1] == "--timeout=30s"


# -- the scripts, run for real under busybox ---------------------------------------------


@pytest.fixture
def busybox_path(tmp_path: Path) -> str:
    busybox = shutil.which("busybox")
    assert busybox, "these tests run the wait scripts under busybox (apt-get install busybox-static)"
    folder = tmp_path / "bin"
    folder.mkdir()
    for tool in ("sh", "nc", "wget", "date", "sleep", "echo", "true", "[", "timeout"):
        (folder / tool).symlink_to(busybox)
    return str(folder)


def run_script(path: str, script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [f"{path}/sh", "-c", script], env={"PATH": path}, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.fixture
def http_port() -> Iterator[int]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
            self.send_response(200 if self.path == "/ready?deep=0" else 503)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_http_wait_succeeds_against_a_ready_server(busybox_path: str, http_port: int) -> None:
    done = run_script(busybox_path, wait_script("web", "api", Check("127.0.0.1", http_port, "/ready?deep=0"), 20))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"web: api is ready (http://127.0.0.1:{http_port}/ready?deep=0)" in done.stdout


def test_http_wait_gives_up_on_a_failing_check(busybox_path: str, http_port: int) -> None:
    done = run_script(busybox_path, wait_script("web", "api", Check("127.0.0.1", http_port, "/other"), 3))
    assert done.returncode == 1
    assert f"web: waiting for api (http://127.0.0.1:{http_port}/other)" in done.stdout
    assert "did not answer" in done.stdout and "in 3s; giving up" in done.stdout


def test_tcp_wait_ends_against_a_server_that_keeps_the_connection(busybox_path: str) -> None:
    # like Redis: accepts and waits for a command; a wait that writes and reads would hang here
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        port = server.getsockname()[1]
        done = run_script(busybox_path, wait_script("api", "cache", Check("127.0.0.1", port), 20))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"api: cache is ready (tcp 127.0.0.1:{port})" in done.stdout


def test_tcp_wait_gives_up_on_a_closed_port(busybox_path: str) -> None:
    port = free_port()
    done = run_script(busybox_path, wait_script("api", "cache", Check("127.0.0.1", port), 2))
    assert done.returncode == 1
    assert f"api: cache did not answer (tcp 127.0.0.1:{port}) in 2s" in done.stdout
