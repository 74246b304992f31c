"""The Zyron backend API (FastAPI).

Keeps a record of every Visual Brain job it forwarded, answers job queries from that
record (refreshing unfinished jobs from Visual Brain), and reports the stack's status.
Database calls are synchronous SQLAlchemy and run in worker threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any

import httpx
from fastapi import Depends, FastAPI, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from .. import __version__
from . import migrate
from .config import BackendSettings, get_settings
from .db import TERMINAL, JobRecord, make_engine, make_sessions, utcnow
from .visual_brain import VisualBrainClient, VisualBrainError

log = logging.getLogger("zyron.backend")

PROBE_TIMEOUT_S = 3.0
REFRESH_CONCURRENCY = 8


class State:
    def __init__(self, settings: BackendSettings) -> None:
        self.settings = settings
        self.engine: Engine = make_engine(
            settings.database.url,
            echo=settings.database.echo,
            connect_timeout_s=settings.database.connect_timeout_s,
        )
        self.sessions: sessionmaker[Session] = make_sessions(self.engine)
        key = settings.visual_brain.api_key
        self.vb = VisualBrainClient(
            settings.visual_brain.url,
            settings.visual_brain.timeout_s,
            key.get_secret_value() if key else None,
        )
        self.http = httpx.AsyncClient(timeout=PROBE_TIMEOUT_S)


def _state(request: Request) -> State:
    state: State = request.app.state.backend
    return state


StateDep = Annotated[State, Depends(_state)]


def _parse_time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


def _apply(record: JobRecord, remote: dict[str, Any]) -> None:
    """Copy Visual Brain's view of a job onto its record."""
    record.status = str(remote.get("status", record.status))
    record.error = remote.get("error")
    record.finished_at = _parse_time(remote.get("finished_at")) or record.finished_at
    result = remote.get("result") or {}
    record.result_content_type = result.get("content_type")
    record.result_width = result.get("width")
    record.result_height = result.get("height")
    record.updated_at = utcnow()


def create_app(settings: BackendSettings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = State(settings)
        app.state.backend = state
        where = state.engine.url.render_as_string(hide_password=True)
        log.info("Zyron backend %s (env %s, database %s)", __version__, settings.env, where)
        try:
            yield
        finally:
            await state.vb.aclose()
            await state.http.aclose()
            state.engine.dispose()

    app = FastAPI(
        title="Zyron backend",
        version=__version__,
        description="Job records, forwarding to Visual Brain, and the status of the Zyron stack.",
        lifespan=lifespan,
        debug=settings.debug,
    )
    app.add_middleware(
        CORSMiddleware,
        allow_origins=list(settings.cors_origins),
        allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
        allow_headers=["*"],
    )

    @app.exception_handler(VisualBrainError)
    async def vb_error(request: Request, exc: VisualBrainError) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status)

    @app.exception_handler(SQLAlchemyError)
    async def db_error(request: Request, exc: SQLAlchemyError) -> JSONResponse:
        log.error("database error: %s", exc)
        return JSONResponse(
            {
                "detail": f"database unavailable: {type(exc).__name__} (run python -m zyron.backend.migrate?)"
            },
            status_code=503,
        )

    # --- database helpers (run in threads) --------------------------------------------------

    def _load(state: State, limit: int | None, job_id: str | None = None) -> list[JobRecord]:
        with state.sessions() as session:
            query = select(JobRecord).order_by(JobRecord.created_at.desc())
            if job_id is not None:
                query = query.where(JobRecord.id == job_id)
            if limit is not None:
                query = query.limit(limit)
            return list(session.scalars(query))

    def _save(state: State, records: list[JobRecord]) -> None:
        with state.sessions() as session, session.begin():
            for record in records:
                session.merge(record)

    async def _refresh(state: State, records: list[JobRecord]) -> list[JobRecord]:
        """Ask Visual Brain about unfinished jobs; keep the last known state on errors."""
        pending = [r for r in records if r.status not in TERMINAL]
        if not pending:
            return records
        limit = asyncio.Semaphore(REFRESH_CONCURRENCY)

        async def one(record: JobRecord) -> JobRecord | None:
            async with limit:
                try:
                    remote = await state.vb.job(record.id)
                except VisualBrainError as exc:
                    if exc.status == 404:  # Visual Brain no longer knows it (expired)
                        record.status, record.error = "failed", exc.detail
                        record.updated_at = utcnow()
                        return record
                    return None
            _apply(record, remote)
            return record

        changed = [r for r in await asyncio.gather(*(one(r) for r in pending)) if r is not None]
        if changed:
            await asyncio.to_thread(_save, state, changed)
        return records

    # --- health and status ------------------------------------------------------------------

    def _db_check(state: State) -> str:
        with state.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        version = migrate.current_version(state.engine)
        if version != migrate.HEAD:
            raise RuntimeError(
                f"schema at version {version}, expected {migrate.HEAD}: run python -m zyron.backend.migrate"
            )
        return f"{state.engine.dialect.name}, schema version {version}"

    async def _check(coro: Awaitable[Any]) -> dict[str, Any]:
        start = time.perf_counter()
        try:
            detail = await asyncio.wait_for(coro, PROBE_TIMEOUT_S)
            ok = True
        except TimeoutError:
            ok, detail = False, f"no answer within {PROBE_TIMEOUT_S:g}s"
        except Exception as exc:
            ok, detail = False, str(exc) or type(exc).__name__
        return {
            "ok": ok,
            "detail": detail,
            "latency_ms": round((time.perf_counter() - start) * 1000, 2),
        }

    async def _vb_ready(state: State) -> dict[str, Any]:
        body = await state.vb.ready()
        if body.get("http_status") != 200:
            failing = [n for n, c in (body.get("checks") or {}).items() if not c.get("ok")]
            raise RuntimeError(f"Visual Brain is not ready ({', '.join(failing) or 'unknown'})")
        return body

    async def _http_ok(state: State, url: str) -> str:
        response = await state.http.get(url)
        if response.status_code >= 400:
            raise RuntimeError(f"{url} answered {response.status_code}")
        return f"{url} answered {response.status_code}"

    @app.get("/health", tags=["health"])
    async def liveness() -> dict[str, Any]:
        return {"status": "ok", "service": "backend", "version": __version__}

    @app.get("/health/deep", tags=["health"])
    async def deep(state: StateDep) -> JSONResponse:
        db, vb = await asyncio.gather(
            _check(asyncio.to_thread(_db_check, state)), _check(_vb_ready(state))
        )
        if vb["ok"]:
            vb["detail"] = f"ready at {settings.visual_brain.url}"
        checks = {"database": db, "visual-brain": vb}
        ok = all(c["ok"] for c in checks.values())
        return JSONResponse(
            {"status": "ok" if ok else "unhealthy", "checks": checks},
            status_code=200 if ok else 503,
        )

    @app.get("/api/status", tags=["status"])
    async def status(state: StateDep) -> dict[str, Any]:
        """Every service of the stack as the backend sees it."""
        probes: dict[str, Awaitable[Any]] = {
            "database": asyncio.to_thread(_db_check, state),
            "visual-brain": _vb_ready(state),
        }
        if settings.frontend_url:
            probes["frontend"] = _http_ok(state, settings.frontend_url.rstrip("/") + "/health")
        results = dict(
            zip(probes, await asyncio.gather(*(_check(p) for p in probes.values())), strict=True)
        )
        services: dict[str, Any] = {
            "backend": {"ok": True, "detail": f"serving on port {settings.port}", "latency_ms": 0.0}
        }
        vb = results["visual-brain"]
        if vb["ok"]:
            checks = vb["detail"].get("checks", {})
            redis_check = checks.get("redis", {})
            services["redis"] = {
                "ok": bool(redis_check.get("ok")),
                "detail": f"via Visual Brain: {redis_check.get('detail')}",
                "latency_ms": redis_check.get("latency_ms", 0.0),
            }
            vb = {**vb, "detail": f"ready; {checks.get('worker', {}).get('detail', 'worker running')}"}
        else:
            services["redis"] = {
                "ok": False,
                "detail": "unknown: Visual Brain is not ready",
                "latency_ms": 0.0,
            }
        results["visual-brain"] = vb
        services.update(results)
        order = ["frontend", "backend", "database", "visual-brain", "redis"]
        ordered = {name: services[name] for name in order if name in services}
        return {
            "project": "zyron",
            "env": settings.env,
            "version": __version__,
            "healthy": all(s["ok"] for s in ordered.values()),
            "services": ordered,
        }

    # --- jobs -------------------------------------------------------------------------------

    @app.post("/api/jobs", status_code=202, tags=["jobs"])
    async def submit(
        state: StateDep,
        file: Annotated[UploadFile, File(description="the image (PNG, JPEG or WebP)")],
        kind: Annotated[str, Form()] = "thumbnail",
        params: Annotated[
            str | None, Form(description='JSON object, e.g. {"max_width": 128}')
        ] = None,
    ) -> JSONResponse:
        limit = settings.max_upload_bytes
        data = await file.read(limit + 1)
        if len(data) > limit:
            raise HTTPException(413, f"file is larger than the limit of {limit} bytes")
        filename = file.filename or "upload"
        content_type = file.content_type or "application/octet-stream"
        accepted = await state.vb.submit(kind, filename, data, content_type, params or None)
        now = utcnow()
        record = JobRecord(
            id=str(accepted["id"]),
            kind=kind,
            status=str(accepted.get("status", "queued")),
            filename=filename,
            content_type=content_type,
            size_bytes=len(data),
            params=params if params and params.strip() else "{}",
            created_at=now,
            updated_at=now,
        )
        await asyncio.to_thread(_save, state, [record])
        return JSONResponse(
            record.to_dict(), status_code=202, headers={"Location": f"/api/jobs/{record.id}"}
        )

    @app.get("/api/jobs", tags=["jobs"])
    async def list_jobs(
        state: StateDep, limit: Annotated[int, Query(ge=1, le=500)] = 50
    ) -> dict[str, Any]:
        records = await asyncio.to_thread(_load, state, limit)
        records = await _refresh(state, records)
        return {"jobs": [r.to_dict() for r in records]}

    async def _record(state: State, job_id: str) -> JobRecord:
        found = await asyncio.to_thread(_load, state, 1, job_id)
        if not found:
            raise HTTPException(404, f"no job {job_id} was submitted through this backend")
        return (await _refresh(state, found))[0]

    @app.get("/api/jobs/{job_id}", tags=["jobs"])
    async def get_job(job_id: str, state: StateDep) -> dict[str, Any]:
        return (await _record(state, job_id)).to_dict()

    @app.delete("/api/jobs/{job_id}", tags=["jobs"])
    async def cancel_job(job_id: str, state: StateDep) -> dict[str, Any]:
        record = await _record(state, job_id)
        remote = await state.vb.cancel(job_id)
        _apply(record, remote)
        await asyncio.to_thread(_save, state, [record])
        return record.to_dict()

    @app.get("/api/jobs/{job_id}/result", tags=["jobs"])
    async def job_result(job_id: str, state: StateDep) -> Response:
        await _record(state, job_id)
        upstream = await state.vb.result(job_id)
        return Response(
            upstream.content,
            media_type=upstream.headers.get("content-type", "application/octet-stream"),
        )

    @app.middleware("http")
    async def no_store(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        if request.url.path.startswith("/api/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    return app
