"""Backend -> Visual Brain -> Redis end to end, with real processes and a SQLite file."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass

import httpx
import pytest
from PIL import Image
from zyron_procs import Launcher, Proc, free_port, png, poll


@dataclass
class Stack:
    redis: Proc
    vb: Proc
    backend: Proc
    frontend: Proc


@pytest.fixture(scope="module")
def stack(module_launcher: Launcher) -> Stack:
    redis = module_launcher.redis()
    vb = module_launcher.visual_brain(redis.port)
    first = module_launcher.migrate(vb.url)
    assert first.returncode == 0, first.stderr
    assert "applied 2 migration(s)" in first.stdout
    again = module_launcher.migrate(vb.url)
    assert again.returncode == 0 and "up to date" in again.stdout
    frontend_port = free_port()
    backend = module_launcher.backend(
        vb.url,
        BACKEND_FRONTEND_URL=f"http://127.0.0.1:{frontend_port}",
        BACKEND_CORS_ORIGINS=json.dumps([f"http://127.0.0.1:{frontend_port}"]),
    )
    frontend = module_launcher.frontend(backend.url, port=frontend_port)
    return Stack(redis, vb, backend, frontend)


def test_status_reports_every_service(stack: Stack) -> None:
    status = httpx.get(f"{stack.backend.url}/api/status", timeout=10).json()
    assert status["project"] == "zyron" and status["env"] == "test"
    assert list(status["services"]) == ["frontend", "backend", "database", "visual-brain", "redis"]
    assert status["healthy"] is True, status
    assert "schema version 2" in status["services"]["database"]["detail"]
    assert status["services"]["redis"]["detail"] == "via Visual Brain: PONG"


def test_deep_health(stack: Stack) -> None:
    deep = httpx.get(f"{stack.backend.url}/health/deep", timeout=10)
    assert deep.status_code == 200, deep.text
    assert set(deep.json()["checks"]) == {"database", "visual-brain"}


def test_job_forwarded_processed_and_fetched(stack: Stack) -> None:
    source = png(800, 600)
    response = httpx.post(
        f"{stack.backend.url}/api/jobs",
        data={"kind": "thumbnail", "params": json.dumps({"max_width": 200, "max_height": 200})},
        files={"file": ("photo.png", source, "image/png")},
        timeout=10,
    )
    assert response.status_code == 202, response.text
    record = response.json()
    assert record["status"] == "queued" and record["filename"] == "photo.png"
    assert record["params"] == {"max_width": 200, "max_height": 200}

    done = poll(
        lambda: httpx.get(f"{stack.backend.url}/api/jobs/{record['id']}", timeout=5).json(),
        lambda j: j["status"] in ("done", "failed"),
    )
    assert done["status"] == "done", done
    assert done["result"] == {
        "content_type": "image/png",
        "width": 200,
        "height": 150,
        "url": f"/api/jobs/{record['id']}/result",
    }
    result = httpx.get(f"{stack.backend.url}{done['result']['url']}", timeout=5)
    assert result.status_code == 200 and result.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(result.content)).size == (200, 150)
    assert len(result.content) < len(source)

    # The same job as Visual Brain knows it.
    assert httpx.get(f"{stack.vb.url}/v1/jobs/{record['id']}", timeout=5).json()["status"] == "done"
    listed = httpx.get(f"{stack.backend.url}/api/jobs", timeout=5).json()["jobs"]
    assert listed[0]["id"] == record["id"] and listed[0]["status"] == "done"


def test_bad_input_is_passed_through(stack: Stack) -> None:
    not_image = httpx.post(
        f"{stack.backend.url}/api/jobs",
        files={"file": ("notes.txt", b"hello", "text/plain")},
        timeout=10,
    )
    assert not_image.status_code == 415
    assert "not an image" in not_image.json()["detail"]
    unknown = httpx.post(
        f"{stack.backend.url}/api/jobs",
        data={"kind": "segment"},
        files={"file": ("a.png", png(20, 20), "image/png")},
        timeout=10,
    )
    assert unknown.status_code == 400
    assert 'unknown job kind "segment"' in unknown.json()["detail"]
    assert httpx.get(f"{stack.backend.url}/api/jobs/missing", timeout=5).status_code == 404


def test_cors_allows_the_frontend_only(stack: Stack) -> None:
    preflight = {"Access-Control-Request-Method": "POST"}
    allowed = httpx.options(
        f"{stack.backend.url}/api/jobs",
        headers={"Origin": stack.frontend.url, **preflight},
        timeout=5,
    )
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == stack.frontend.url
    denied = httpx.options(
        f"{stack.backend.url}/api/jobs",
        headers={"Origin": "http://evil.example", **preflight},
        timeout=5,
    )
    assert "access-control-allow-origin" not in denied.headers


def test_visual_brain_down_and_database_not_migrated(launcher: Launcher) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    backend = launcher.backend(dead)  # its database was never migrated
    response = httpx.post(
        f"{backend.url}/api/jobs", files={"file": ("a.png", png(20, 20), "image/png")}, timeout=10
    )
    assert response.status_code == 503
    assert f"Visual Brain is unreachable at {dead}" in response.json()["detail"]
    status = httpx.get(f"{backend.url}/api/status", timeout=10).json()
    assert status["healthy"] is False
    assert status["services"]["visual-brain"]["ok"] is False
    assert "run python -m zyron.backend.migrate" in status["services"]["database"]["detail"]
    deep = httpx.get(f"{backend.url}/health/deep", timeout=10)
    assert deep.status_code == 503
    assert httpx.get(f"{backend.url}/health", timeout=5).status_code == 200
