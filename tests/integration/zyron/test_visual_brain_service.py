"""Visual Brain as a real process on a real Redis: jobs, bad input, health, metrics."""

from __future__ import annotations

import io
import json
from typing import Any

import httpx
import pytest
from PIL import Image
from zyron_procs import Launcher, Proc, png, poll


@pytest.fixture(scope="module")
def vb(module_launcher: Launcher) -> Proc:
    redis = module_launcher.redis()
    models = module_launcher.tmp / "models"
    (models / "tiny").mkdir(parents=True)
    (models / "tiny" / "weights.bin").write_bytes(b"\0" * 128)
    registry = [
        {"name": "tiny", "kind": "embedding", "weights": "tiny/weights.bin"},
        {"name": "absent", "kind": "caption", "weights": "absent/weights.bin"},
    ]
    return module_launcher.visual_brain(
        redis.port,
        VISUAL_BRAIN_MODELS=json.dumps(registry),
        VISUAL_BRAIN_JOBS__MAX_UPLOAD_BYTES=str(1_000_000),
        VISUAL_BRAIN_API_KEY="",
    )


def submit(
    url: str, data: bytes, kind: str = "thumbnail", params: Any = None, name: str = "in.png"
) -> httpx.Response:
    form = {"kind": kind}
    if params is not None:
        form["params"] = params if isinstance(params, str) else json.dumps(params)
    return httpx.post(
        f"{url}/v1/jobs", data=form, files={"file": (name, data, "image/png")}, timeout=10
    )


def wait_done(url: str, job_id: str) -> dict[str, Any]:
    return poll(
        lambda: httpx.get(f"{url}/v1/jobs/{job_id}", timeout=5).json(),
        lambda job: job["status"] in ("done", "failed", "cancelled"),
    )


def test_thumbnail_job_round_trip(vb: Proc) -> None:
    source = png(640, 480)
    response = submit(vb.url, source, params={"max_width": 160, "max_height": 160})
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "queued" and set(body) == {"id", "status"}
    assert response.headers["location"] == f"/v1/jobs/{body['id']}"

    job = wait_done(vb.url, body["id"])
    assert job["status"] == "done", job
    assert job["input"]["width"] == 640 and job["input"]["format"] == "PNG"
    assert job["result"]["width"] == 160 and job["result"]["height"] == 120

    result = httpx.get(f"{vb.url}{job['result']['url']}", timeout=5)
    assert result.status_code == 200
    assert result.headers["content-type"] == "image/png"
    thumb = Image.open(io.BytesIO(result.content))
    assert thumb.size == (160, 120)
    assert len(result.content) < len(source)

    listed = httpx.get(f"{vb.url}/v1/jobs", timeout=5).json()
    assert body["id"] in [j["id"] for j in listed["jobs"]]
    done_only = httpx.get(f"{vb.url}/v1/jobs", params={"status": "done"}, timeout=5).json()
    assert all(j["status"] == "done" for j in done_only["jobs"])


def test_jpeg_output_format(vb: Proc) -> None:
    job_id = submit(vb.url, png(300, 300), params={"format": "jpeg", "max_width": 64}).json()["id"]
    job = wait_done(vb.url, job_id)
    result = httpx.get(f"{vb.url}/v1/jobs/{job_id}/result", timeout=5)
    assert job["result"]["content_type"] == "image/jpeg"
    assert Image.open(io.BytesIO(result.content)).format == "JPEG"


@pytest.mark.parametrize(
    ("kind", "data", "params", "status", "message"),
    [
        ("thumbnail", b"this is plain text, not an image", None, 415, "not an image"),
        ("thumbnail", b"", None, 400, "file is empty"),
        ("blur", None, None, 400, 'unknown job kind "blur" (known: thumbnail)'),
        ("thumbnail", None, "{not json", 422, "params is not valid JSON"),
        ("thumbnail", None, "[1, 2]", 422, "params must be a JSON object"),
        ("thumbnail", None, {"max_width": 0}, 422, "max_width"),
        ("thumbnail", None, {"colour": "red"}, 422, "colour: Extra inputs are not permitted"),
        ("thumbnail", None, {"format": "gif"}, 422, "format"),
        ("thumbnail", b"\x89PNG\r\n\x1a\n" + b"\0" * 64, None, 415, "not an image"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(
    vb: Proc, kind: str, data: bytes | None, params: Any, status: int, message: str
) -> None:
    response = submit(vb.url, png(32, 32) if data is None else data, kind=kind, params=params)
    assert response.status_code == status, response.text
    assert message in response.json()["detail"]


def test_too_large_upload(vb: Proc) -> None:
    noisy = Image.merge("RGB", [Image.effect_noise((700, 700), 90)] * 3)
    buf = io.BytesIO()
    noisy.save(buf, format="PNG")
    assert buf.tell() > 1_000_000
    response = submit(vb.url, buf.getvalue())
    assert response.status_code == 413
    assert "larger than the limit of 1000000 bytes" in response.json()["detail"]


def test_missing_fields(vb: Proc) -> None:
    response = httpx.post(f"{vb.url}/v1/jobs", data={"kind": "thumbnail"}, timeout=5)
    assert response.status_code == 422
    assert "file" in response.text


def test_unknown_job_and_result_before_done(vb: Proc) -> None:
    assert httpx.get(f"{vb.url}/v1/jobs/nope", timeout=5).status_code == 404
    assert httpx.get(f"{vb.url}/v1/jobs/nope/result", timeout=5).status_code == 404
    assert httpx.delete(f"{vb.url}/v1/jobs/nope", timeout=5).status_code == 404


def test_cancel_of_finished_job_conflicts(vb: Proc) -> None:
    job_id = submit(vb.url, png(50, 50)).json()["id"]
    wait_done(vb.url, job_id)
    response = httpx.delete(f"{vb.url}/v1/jobs/{job_id}", timeout=5)
    assert response.status_code == 409
    assert "already done" in response.json()["detail"]


def test_health_endpoints(vb: Proc) -> None:
    assert httpx.get(f"{vb.url}/health", timeout=5).json()["status"] == "ok"
    ready = httpx.get(f"{vb.url}/health/ready", timeout=5).json()
    assert ready["status"] == "ok"
    assert set(ready["checks"]) == {"redis", "worker"}
    deep = httpx.get(f"{vb.url}/health/deep", timeout=30)
    assert deep.status_code == 200, deep.text
    checks = deep.json()["checks"]
    assert set(checks) == {"redis", "worker", "queue", "gpu"}
    assert checks["gpu"]["detail"]["device"] in ("cpu", "cuda")


def test_info_endpoints(vb: Proc) -> None:
    system = httpx.get(f"{vb.url}/v1/system", timeout=10).json()
    assert system["cpu"]["logical"] >= 1
    assert system["memory"]["total_bytes"] > 0
    assert system["libraries"]["fastapi"]
    gpu = httpx.get(f"{vb.url}/v1/gpu", timeout=30).json()
    assert gpu["device"] in ("cpu", "cuda")
    assert gpu["usable"] == bool(gpu["gpus"])
    if not gpu["usable"]:
        assert gpu["reason"] or gpu["error"]
    models = {m["name"]: m for m in httpx.get(f"{vb.url}/v1/models", timeout=5).json()["models"]}
    assert models["tiny"]["present"] is True and models["tiny"]["size_bytes"] == 128
    assert models["absent"]["present"] is False
    openapi = httpx.get(f"{vb.url}/openapi.json", timeout=5).json()
    assert "/v1/jobs/{job_id}/result" in openapi["paths"]


def test_config_masks_secrets(launcher: Launcher) -> None:
    redis = launcher.redis()
    vb = launcher.visual_brain(
        redis.port,
        VISUAL_BRAIN_API_KEY="top-secret-key",
        VISUAL_BRAIN_JOBS__CONCURRENCY="0",
    )
    config = httpx.get(f"{vb.url}/v1/config", timeout=5).json()
    assert config["api_key"] == "********"
    assert config["port"] == vb.port and config["env"] == "test"
    assert "top-secret-key" not in json.dumps(config)
    # with an API key set, the job endpoints need it
    assert httpx.get(f"{vb.url}/v1/jobs", timeout=5).status_code == 401
    ok = httpx.get(f"{vb.url}/v1/jobs", headers={"X-API-Key": "top-secret-key"}, timeout=5)
    assert ok.status_code == 200


def test_metrics_are_prometheus_text(vb: Proc) -> None:
    submit(vb.url, b"not an image")
    text = httpx.get(f"{vb.url}/metrics", timeout=5).text
    assert "# TYPE visual_brain_http_requests_total counter" in text
    assert 'visual_brain_http_requests_total{method="POST",route="/v1/jobs",status="415"}' in text
    assert "# TYPE visual_brain_queue_depth gauge" in text
    assert 'visual_brain_jobs_total{state="done"}' in text
    assert "visual_brain_queue_up 1" in text
