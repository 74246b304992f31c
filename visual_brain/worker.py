"""The worker that runs inside the service: takes jobs off the Redis queue and runs them.

Each slot moves one id from the queue to this worker's processing list (BLMOVE), marks
the job running, runs the kind in a thread and stores the result. A heartbeat key
with a TTL says the worker is alive; every beat also recovers the processing lists of
workers whose heartbeat expired (a crashed instance), so no job is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import time
import uuid

from redis.exceptions import RedisError

from .jobs import JobStatus, JobStore
from .kinds import KINDS

log = logging.getLogger("visual_brain.worker")

BLOCK_S = 1.0  # BLMOVE timeout: bounds how long a slot waits before it re-checks


class Worker:
    def __init__(self, store: JobStore, concurrency: int = 1, heartbeat_s: float = 2.0) -> None:
        self.store = store
        self.concurrency = concurrency
        self.heartbeat_s = heartbeat_s
        self.id = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.processing_key = store.processing_key(self.id)
        self.in_flight = 0
        self.processed = 0
        self.last_beat = 0.0
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def running(self) -> bool:
        return bool(self._tasks) and all(not t.done() for t in self._tasks)

    @property
    def alive(self) -> bool:
        """Running, and the heartbeat reached Redis recently."""
        return self.running and time.monotonic() - self.last_beat < 3 * self.heartbeat_s

    async def start(self) -> None:
        """Start the heartbeat and the slots; they run until ``stop``."""
        try:
            await self._beat()  # a live heartbeat before the first job is taken
        except (RedisError, OSError) as exc:
            log.warning("Redis is not reachable yet (%s); the worker keeps trying", exc)
        self._tasks.append(asyncio.create_task(self._heartbeat(), name="vb-heartbeat"))
        for n in range(self.concurrency):
            self._tasks.append(asyncio.create_task(self._slot(), name=f"vb-slot-{n}"))

    async def stop(self) -> None:
        """Cancel the slots, put held jobs back on the queue, drop the heartbeat."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        with contextlib.suppress(RedisError, OSError):
            moved = await self.store.recover(self.processing_key)
            if moved:
                log.info("returned %d unfinished job(s) to the queue", moved)
            await self.store.redis.delete(self.store.heartbeat_key(self.id))

    async def _beat(self) -> None:
        ttl = max(1, int(self.heartbeat_s * 3 + 0.999))
        info = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "at": time.time()})
        await self.store.redis.set(self.store.heartbeat_key(self.id), info, ex=ttl)
        self.last_beat = time.monotonic()

    async def _heartbeat(self) -> None:
        while True:
            try:
                await self._beat()
                moved = await self.store.recover_orphans(live_worker=self.id)
                if moved:
                    log.warning("requeued %d job(s) left by a worker that stopped", moved)
            except (RedisError, OSError) as exc:
                log.warning("heartbeat failed: %s", exc)
            await asyncio.sleep(self.heartbeat_s)

    async def _slot(self) -> None:
        backoff = 0.2
        while True:
            try:
                raw = await self.store.redis.blmove(
                    self.store.queue_key, self.processing_key, BLOCK_S, "RIGHT", "LEFT"
                )
                backoff = 0.2
                if raw is None:
                    continue
                await self._process(raw.decode())
            except (RedisError, OSError) as exc:
                log.warning("queue unavailable (%s); retrying in %.1fs", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def _process(self, job_id: str) -> None:
        store = self.store
        # A recovered job may still say "running": it is in no other list, so take it over.
        changed, before = await store.transition(
            job_id,
            JobStatus.RUNNING,
            (JobStatus.QUEUED, JobStatus.RUNNING),
            {"started_at": repr(time.time()), "worker": self.id},
        )
        if not changed:
            log.info("skipping job %s (%s)", job_id, before.value if before else "gone")
            await store.redis.lrem(self.processing_key, 0, job_id)
            return
        self.in_flight += 1
        try:
            await self._run(job_id)
        finally:
            self.in_flight -= 1
            await store.redis.lrem(self.processing_key, 0, job_id)

    async def _run(self, job_id: str) -> None:
        store = self.store
        job = await store.get(job_id)
        data = await store.input_data(job_id)
        if job is None or data is None:
            await self._fail(job_id, "job input is missing (expired or deleted)")
            return
        kind = KINDS.get(job.kind)
        if kind is None:
            await self._fail(job_id, f'unknown job kind "{job.kind}"')
            return
        started = time.perf_counter()
        try:
            params = kind.params.model_validate(json.loads(job.fields.get("params") or "{}"))
            result = await asyncio.to_thread(kind.run, data, params)
        except Exception as exc:  # a job's failure is data, not a crash of the worker
            log.exception("job %s failed", job_id)
            await self._fail(job_id, f"{type(exc).__name__}: {exc}")
            return
        meta = {**result.meta, "elapsed_ms": round((time.perf_counter() - started) * 1000, 2)}
        changed, before = await store.transition(
            job_id,
            JobStatus.DONE,
            (JobStatus.RUNNING,),
            {
                "finished_at": repr(time.time()),
                "result_type": result.content_type,
                "result_size": str(len(result.data)),
                "result_meta": json.dumps(meta),
            },
            payload=result.data,
        )
        if changed:
            self.processed += 1
            log.info("job %s done in %.1f ms", job_id, meta["elapsed_ms"])
        else:
            log.info("job %s finished but was %s; result dropped", job_id, before)

    async def _fail(self, job_id: str, message: str) -> None:
        await self.store.transition(
            job_id,
            JobStatus.FAILED,
            (JobStatus.RUNNING,),
            {"finished_at": repr(time.time()), "error": message},
        )
