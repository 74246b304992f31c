"""The queue lives in Redis: jobs survive a Visual Brain restart, crashed workers' jobs return."""

from __future__ import annotations

import json
import time

import httpx
import redis
from zyron_procs import Launcher, png, poll


def submit(url: str, width: int) -> str:
    response = httpx.post(
        f"{url}/v1/jobs",
        data={"kind": "thumbnail", "params": json.dumps({"max_width": width})},
        files={"file": ("in.png", png(200, 150), "image/png")},
        timeout=10,
    )
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def job(url: str, job_id: str) -> dict[str, object]:
    body: dict[str, object] = httpx.get(f"{url}/v1/jobs/{job_id}", timeout=5).json()
    return body


def test_queued_and_finished_jobs_survive_a_restart(launcher: Launcher) -> None:
    redis_proc = launcher.redis()
    # First instance processes one job, then stops.
    first = launcher.visual_brain(redis_proc.port)
    finished = submit(first.url, 50)
    poll(lambda: job(first.url, finished), lambda j: j["status"] == "done")
    assert first.stop() in (0, -15)

    # An instance that only accepts jobs (no worker): they stay queued.
    api_only = launcher.visual_brain(redis_proc.port, VISUAL_BRAIN_JOBS__CONCURRENCY="0")
    queued = [submit(api_only.url, w) for w in (40, 60, 80)]
    cancelled = submit(api_only.url, 90)
    assert (
        httpx.delete(f"{api_only.url}/v1/jobs/{cancelled}", timeout=5).json()["status"]
        == "cancelled"
    )
    time.sleep(0.3)
    assert all(job(api_only.url, j)["status"] == "queued" for j in queued)
    ready = httpx.get(f"{api_only.url}/health/ready", timeout=5).json()
    assert "disabled" in ready["checks"]["worker"]["detail"]
    api_only.stop()

    # A fresh instance with a worker finds everything where it was left.
    second = launcher.visual_brain(redis_proc.port)
    for job_id, width in zip(queued, (40, 60, 80), strict=True):
        done = poll(lambda j=job_id: job(second.url, j), lambda j: j["status"] == "done")
        assert done["result"]["width"] == width  # type: ignore[index]
    assert job(second.url, finished)["status"] == "done"
    assert httpx.get(f"{second.url}/v1/jobs/{finished}/result", timeout=5).status_code == 200
    assert job(second.url, cancelled)["status"] == "cancelled"
    listed = {j["id"] for j in httpx.get(f"{second.url}/v1/jobs", timeout=5).json()["jobs"]}
    assert {finished, cancelled, *queued} <= listed


def test_jobs_of_a_crashed_worker_are_requeued(launcher: Launcher) -> None:
    redis_proc = launcher.redis()
    api_only = launcher.visual_brain(redis_proc.port, VISUAL_BRAIN_JOBS__CONCURRENCY="0")
    job_id = submit(api_only.url, 30)
    # What a worker killed mid-job leaves behind: the id in its processing list, the job
    # marked running, and a heartbeat that is no longer renewed (here: never written).
    client = redis.Redis(port=redis_proc.port)
    try:
        assert client.rpop("vb:queue") == job_id.encode()
        client.lpush("vb:processing:dead-host-1-abc", job_id)
        client.hset(f"vb:job:{job_id}", mapping={"status": "running", "worker": "dead-host-1-abc"})
    finally:
        client.close()
    assert job(api_only.url, job_id)["status"] == "running"

    worker = launcher.visual_brain(redis_proc.port)
    done = poll(lambda: job(worker.url, job_id), lambda j: j["status"] == "done")
    assert done["result"]["width"] == 30  # type: ignore[index]


def test_readiness_reports_redis_down_and_recovers(launcher: Launcher) -> None:
    redis_proc = launcher.redis()
    vb = launcher.visual_brain(redis_proc.port)
    redis_proc.stop()
    response = httpx.get(f"{vb.url}/health/ready", timeout=10)
    assert response.status_code == 503
    assert response.json()["checks"]["redis"]["ok"] is False
    assert httpx.get(f"{vb.url}/health", timeout=5).status_code == 200  # still alive
    refused = httpx.post(
        f"{vb.url}/v1/jobs",
        data={"kind": "thumbnail"},
        files={"file": ("a.png", png(20, 20))},
        timeout=10,
    )
    assert refused.status_code == 503
    assert "job queue unavailable" in refused.json()["detail"]

    redis_proc.start()  # same port
    redis_proc.wait_tcp()
    vb.wait_http("/health/ready", timeout=20)
    job_id = submit(vb.url, 10)
    poll(lambda: job(vb.url, job_id), lambda j: j["status"] == "done")
