"""The Visual Brain HTTP API (FastAPI): health, system, GPU, config, models, jobs, metrics."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, FastAPI, File, Form, Header, HTTPException, Query, Request, UploadFile
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from . import __version__, health, metrics
from .config import Settings, get_settings
from .jobs import JobStatus, JobStore
from .kinds import KINDS, InputError, get_kind, parse_params
from .system import system_info
from .worker import Worker

log = logging.getLogger("visual_brain")

# multipart framing around the file; a request larger than the limit plus this is refused
# before its body is read.
MULTIPART_OVERHEAD = 64 * 1024


class State:
    """What the running app holds; created in the lifespan."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.redis = Redis.from_url(
            settings.redis.url,
            socket_connect_timeout=settings.redis.connect_timeout_s,
            socket_timeout=max(5.0, settings.redis.connect_timeout_s),
            health_check_interval=30,
            # A restarted Redis closes pooled connections: retry once on a fresh one.
            retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 2),
            retry_on_error=[RedisConnectionError, RedisTimeoutError],
        )
        self.store = JobStore(self.redis, settings.redis.key_prefix, settings.jobs.result_ttl_s)
        self.worker = (
            Worker(self.store, settings.jobs.concurrency, settings.jobs.heartbeat_s)
            if settings.jobs.concurrency > 0
            else None
        )
        self.gpu = health.GpuProbe(cache_s=settings.gpu.cache_s)
        self.requests = metrics.RequestMetrics()


def _state(request: Request) -> State:
    state: State = request.app.state.vb
    return state


StateDep = Annotated[State, Depends(_state)]


def _require_key(request: Request, x_api_key: Annotated[str | None, Header()] = None) -> None:
    secret = _state(request).settings.api_key
    if secret is not None and x_api_key != secret.get_secret_value():
        raise HTTPException(401, "missing or wrong X-API-Key header")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = State(settings)
        app.state.vb = state
        if state.worker is not None:
            await state.worker.start()
        # Warm the GPU probe so /v1/gpu answers fast; owned here and cancelled on exit.
        warm = asyncio.create_task(state.gpu.report(), name="vb-gpu-warmup")
        log.info(
            "Visual Brain %s ready (env %s, redis %s)",
            __version__,
            settings.env,
            _safe_url(settings),
        )
        try:
            yield
        finally:
            warm.cancel()
            await asyncio.gather(warm, return_exceptions=True)
            if state.worker is not None:
                await state.worker.stop()
            await state.redis.aclose()

    app = FastAPI(
        title="Visual Brain",
        version=__version__,
        description="Image jobs on a Redis queue, GPU detection and the model registry of Zyron AI.",
        lifespan=lifespan,
        debug=settings.debug,
    )

    @app.middleware("http")
    async def count_requests(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        start = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            route = request.scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            request.app.state.vb.requests.observe(
                request.method, template, status, time.perf_counter() - start
            )

    @app.exception_handler(RedisError)
    async def redis_down(request: Request, exc: RedisError) -> JSONResponse:
        return JSONResponse({"detail": f"job queue unavailable (Redis): {exc}"}, status_code=503)

    @app.exception_handler(InputError)
    async def bad_input(request: Request, exc: InputError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=exc.status)

    # --- health ---------------------------------------------------------------------------

    @app.get("/health", tags=["health"])
    async def liveness() -> dict[str, Any]:
        return {"status": "ok", "service": "visual-brain", "version": __version__}

    @app.get("/health/ready", tags=["health"])
    async def ready(state: StateDep) -> JSONResponse:
        body = await health.readiness(state.store, state.worker)
        return JSONResponse(body, status_code=200 if body["status"] == "ok" else 503)

    @app.get("/health/deep", tags=["health"])
    async def deep(state: StateDep) -> JSONResponse:
        body = await health.deep(state.store, state.worker, state.gpu, settings.gpu.required)
        return JSONResponse(body, status_code=200 if body["status"] == "ok" else 503)

    # --- information ------------------------------------------------------------------------

    @app.get("/v1/system", tags=["info"])
    async def system() -> dict[str, Any]:
        return await asyncio.to_thread(system_info, settings.models_dir)

    @app.get("/v1/gpu", tags=["info"])
    async def gpu(state: StateDep, refresh: bool = False) -> dict[str, Any]:
        report = await state.gpu.report(refresh=refresh)
        return report.to_dict()

    @app.get("/v1/config", tags=["info"])
    async def config() -> dict[str, Any]:
        return settings.masked()

    @app.get("/v1/models", tags=["info"])
    async def models() -> dict[str, Any]:
        out = []
        for entry in settings.models:
            path = settings.models_dir / entry.weights
            present = path.is_file()
            out.append(
                {
                    "name": entry.name,
                    "kind": entry.kind,
                    "description": entry.description,
                    "weights": str(path),
                    "present": present,
                    "size_bytes": path.stat().st_size if present else None,
                }
            )
        return {"models_dir": str(settings.models_dir), "models": out}

    @app.get("/v1/kinds", tags=["jobs"])
    async def kinds() -> dict[str, Any]:
        return {
            name: {"description": k.description, "params": k.params.model_json_schema()}
            for name, k in KINDS.items()
        }

    # --- jobs -----------------------------------------------------------------------------

    @app.post("/v1/jobs", status_code=202, tags=["jobs"], dependencies=[Depends(_require_key)])
    async def submit(
        request: Request,
        state: StateDep,
        kind: Annotated[str, Form(description="job kind, e.g. thumbnail")],
        file: Annotated[UploadFile, File(description="the image (PNG, JPEG or WebP)")],
        params: Annotated[str | None, Form(description="JSON object of the kind's params")] = None,
    ) -> JSONResponse:
        limit = settings.jobs.max_upload_bytes
        job_kind = get_kind(kind)
        parsed = parse_params(job_kind, params)
        data = await file.read(limit + 1)
        if len(data) > limit:
            raise InputError(f"file is larger than the limit of {limit} bytes", status=413)
        input_meta = await asyncio.to_thread(job_kind.check_input, data, settings.jobs.max_pixels)
        job = await state.store.submit(
            job_kind.name,
            data,
            parsed.model_dump(mode="json"),
            filename=file.filename,
            content_type=file.content_type,
            input_meta=input_meta,
        )
        return JSONResponse(
            {"id": job.id, "status": job.status.value},
            status_code=202,
            headers={"Location": f"/v1/jobs/{job.id}"},
        )

    @app.get("/v1/jobs", tags=["jobs"], dependencies=[Depends(_require_key)])
    async def list_jobs(
        state: StateDep,
        status: JobStatus | None = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
    ) -> dict[str, Any]:
        jobs = await state.store.list(limit=limit, status=status)
        return {
            "jobs": [j.to_dict() for j in jobs],
            "queue_depth": await state.store.queue_depth(),
        }

    async def _job_or_404(state: State, job_id: str) -> Any:
        job = await state.store.get(job_id)
        if job is None:
            raise HTTPException(
                404, f"no job {job_id} (unknown, or expired after {settings.jobs.result_ttl_s}s)"
            )
        return job

    @app.get("/v1/jobs/{job_id}", tags=["jobs"], dependencies=[Depends(_require_key)])
    async def get_job(job_id: str, state: StateDep) -> dict[str, Any]:
        job = await _job_or_404(state, job_id)
        body: dict[str, Any] = job.to_dict()
        return body

    @app.delete("/v1/jobs/{job_id}", tags=["jobs"], dependencies=[Depends(_require_key)])
    async def cancel_job(job_id: str, state: StateDep) -> dict[str, Any]:
        changed, before = await state.store.cancel(job_id)
        if before is None:
            raise HTTPException(404, f"no job {job_id}")
        if not changed:
            raise HTTPException(409, f"job {job_id} is already {before.value}; nothing to cancel")
        job = await _job_or_404(state, job_id)
        body: dict[str, Any] = job.to_dict()
        return body

    @app.get("/v1/jobs/{job_id}/result", tags=["jobs"], dependencies=[Depends(_require_key)])
    async def job_result(job_id: str, state: StateDep) -> Response:
        job = await _job_or_404(state, job_id)
        if job.status is not JobStatus.DONE:
            detail = f"job {job_id} is {job.status.value}; a result exists only when it is done"
            if job.status is JobStatus.FAILED:
                detail += f" (error: {job.fields.get('error')})"
            raise HTTPException(409, detail)
        data = await state.store.result(job_id)
        if data is None:
            raise HTTPException(410, f"the result of job {job_id} has expired")
        return Response(
            data,
            media_type=job.fields.get("result_type") or "application/octet-stream",
            headers={"Content-Disposition": f'inline; filename="{job_id}-{job.kind}"'},
        )

    # --- metrics --------------------------------------------------------------------------

    @app.get("/metrics", tags=["metrics"], response_class=PlainTextResponse)
    async def prometheus(state: StateDep) -> PlainTextResponse:
        families = state.requests.families()
        up = metrics.Family("visual_brain_queue_up", "gauge", "1 when Redis answered this scrape.")
        try:
            depth = await state.store.queue_depth()
            stats = await state.store.stats()
            up.add(1)
            families.append(
                metrics.Family(
                    "visual_brain_queue_depth", "gauge", "Jobs waiting in the queue."
                ).add(depth)
            )
            jobs = metrics.Family(
                "visual_brain_jobs_total", "counter", "Jobs that entered each state."
            )
            for name, value in sorted(stats.items()):
                jobs.add(value, state=name)
            families.append(jobs)
        except RedisError:
            up.add(0)
        families.append(up)
        in_flight = state.worker.in_flight if state.worker else 0
        families.append(
            metrics.Family(
                "visual_brain_jobs_in_flight", "gauge", "Jobs this instance is running."
            ).add(in_flight)
        )
        return PlainTextResponse(metrics.render(families), media_type=metrics.CONTENT_TYPE)

    return app


def _safe_url(settings: Settings) -> str:
    masked: str = settings.masked()["redis"]["url"]
    return masked
