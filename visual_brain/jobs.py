"""The job queue on Redis: submission, status, listing, cancel, results.

Keys (``P`` is ``redis.key_prefix``):
  ``P:job:<id>`` hash (the record), ``P:job:<id>:input`` / ``:result`` (bytes),
  ``P:queue`` list of queued ids (LPUSH in, BLMOVE out), ``P:processing:<worker>``
  list of ids a worker holds, ``P:worker:<worker>`` heartbeat with a TTL,
  ``P:index`` sorted set of ids by creation time, ``P:stats`` counters per state.

Everything lives in Redis, so queued and finished jobs survive a restart of the
service; a job held by a worker that died is put back on the queue by ``recover``.
Status changes go through one Lua script, so a cancel and a worker never both win.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from redis.asyncio import Redis


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in (JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELLED)


# KEYS: job hash, stats hash, input key, result key.
# ARGV: new status, allowed current statuses (comma separated), ttl seconds for a
# terminal state (0: keep), result payload ("" and no result when absent), then
# field/value pairs for the hash. Returns {1, old} on success, {0, current} when the
# current status does not allow the change, {-1, ""} for an unknown job.
_TRANSITION = """
local cur = redis.call('HGET', KEYS[1], 'status')
if not cur then return {-1, ''} end
if not string.find(',' .. ARGV[2] .. ',', ',' .. cur .. ',', 1, true) then return {0, cur} end
redis.call('HSET', KEYS[1], 'status', ARGV[1])
for i = 5, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
if ARGV[4] ~= '' then redis.call('SET', KEYS[4], ARGV[4]) end
redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
local ttl = tonumber(ARGV[3])
if ttl > 0 then
  for i = 1, 4 do if i ~= 2 then redis.call('EXPIRE', KEYS[i], ttl) end end
end
return {1, cur}
"""

# KEYS: a processing list, the queue. ARGV: job key prefix ("P:job:").
# Moves every id back to the queue and marks running jobs queued again, atomically,
# so a live worker can never pick an id up half-recovered.
_RECOVER = """
local n = 0
while true do
  local id = redis.call('LMOVE', KEYS[1], KEYS[2], 'RIGHT', 'RIGHT')
  if not id then break end
  local key = ARGV[1] .. id
  if redis.call('HGET', key, 'status') == 'running' then
    redis.call('HSET', key, 'status', 'queued', 'worker', '', 'requeued_at', ARGV[2])
  end
  n = n + 1
end
return n
"""


def _iso(value: str | None) -> str | None:
    if not value:
        return None
    return datetime.fromtimestamp(float(value), tz=UTC).isoformat()


def _json(value: str | None) -> Any:
    return json.loads(value) if value else None


@dataclass(frozen=True)
class Job:
    """A job record as stored in Redis, decoded."""

    id: str
    kind: str
    status: JobStatus
    fields: dict[str, str]

    @classmethod
    def from_hash(cls, raw: dict[bytes, bytes]) -> Job:
        fields = {k.decode(): v.decode() for k, v in raw.items()}
        return cls(fields["id"], fields["kind"], JobStatus(fields["status"]), fields)

    def to_dict(self) -> dict[str, Any]:
        f = self.fields
        result = None
        if self.status is JobStatus.DONE:
            result = {
                "content_type": f.get("result_type"),
                "size_bytes": int(f.get("result_size") or 0),
                **(_json(f.get("result_meta")) or {}),
                "url": f"/v1/jobs/{self.id}/result",
            }
        return {
            "id": self.id,
            "kind": self.kind,
            "status": self.status.value,
            "params": _json(f.get("params")) or {},
            "input": {
                "filename": f.get("filename") or None,
                "content_type": f.get("content_type") or None,
                "size_bytes": int(f.get("size") or 0),
                **(_json(f.get("input_meta")) or {}),
            },
            "created_at": _iso(f.get("created_at")),
            "started_at": _iso(f.get("started_at")),
            "finished_at": _iso(f.get("finished_at")),
            "error": f.get("error") or None,
            "result": result,
        }


class JobStore:
    """Job records and the queue, over an asyncio Redis client."""

    def __init__(self, redis: Redis, prefix: str = "vb", result_ttl_s: int = 0) -> None:
        self.redis = redis
        self.prefix = prefix
        self.result_ttl_s = result_ttl_s
        self._transition = redis.register_script(_TRANSITION)
        self._recover = redis.register_script(_RECOVER)

    # key names
    def job_key(self, job_id: str) -> str:
        return f"{self.prefix}:job:{job_id}"

    @property
    def queue_key(self) -> str:
        return f"{self.prefix}:queue"

    @property
    def index_key(self) -> str:
        return f"{self.prefix}:index"

    @property
    def stats_key(self) -> str:
        return f"{self.prefix}:stats"

    def processing_key(self, worker_id: str) -> str:
        return f"{self.prefix}:processing:{worker_id}"

    def heartbeat_key(self, worker_id: str) -> str:
        return f"{self.prefix}:worker:{worker_id}"

    async def submit(
        self,
        kind: str,
        data: bytes,
        params: dict[str, Any],
        *,
        filename: str | None,
        content_type: str | None,
        input_meta: dict[str, Any],
    ) -> Job:
        job_id = uuid.uuid4().hex
        now = time.time()
        fields = {
            "id": job_id,
            "kind": kind,
            "status": JobStatus.QUEUED.value,
            "params": json.dumps(params),
            "filename": filename or "",
            "content_type": content_type or "",
            "size": str(len(data)),
            "input_meta": json.dumps(input_meta),
            "created_at": repr(now),
        }
        key = self.job_key(job_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping=fields)
            pipe.set(f"{key}:input", data)
            pipe.zadd(self.index_key, {job_id: now})
            pipe.lpush(self.queue_key, job_id)
            pipe.hincrby(self.stats_key, JobStatus.QUEUED.value, 1)
            await pipe.execute()
        return Job(job_id, kind, JobStatus.QUEUED, fields)

    async def get(self, job_id: str) -> Job | None:
        raw = await self.redis.hgetall(self.job_key(job_id))
        return Job.from_hash(raw) if raw else None

    async def list(self, limit: int = 50, status: JobStatus | None = None) -> list[Job]:
        """Newest first; ids whose records expired are dropped from the index."""
        jobs: list[Job] = []
        start = 0
        batch = max(limit, 50)
        while len(jobs) < limit:
            ids = await self.redis.zrevrange(self.index_key, start, start + batch - 1)
            if not ids:
                break
            async with self.redis.pipeline(transaction=False) as pipe:
                for raw_id in ids:
                    pipe.hgetall(self.job_key(raw_id.decode()))
                records = await pipe.execute()
            gone = [raw_id for raw_id, rec in zip(ids, records, strict=True) if not rec]
            if gone:
                await self.redis.zrem(self.index_key, *gone)
            for rec in records:
                if rec:
                    job = Job.from_hash(rec)
                    if status is None or job.status is status:
                        jobs.append(job)
            start += batch - len(gone)
        return jobs[:limit]

    async def input_data(self, job_id: str) -> bytes | None:
        data: bytes | None = await self.redis.get(f"{self.job_key(job_id)}:input")
        return data

    async def result(self, job_id: str) -> bytes | None:
        data: bytes | None = await self.redis.get(f"{self.job_key(job_id)}:result")
        return data

    async def transition(
        self,
        job_id: str,
        new: JobStatus,
        allowed: tuple[JobStatus, ...],
        fields: dict[str, str] | None = None,
        payload: bytes = b"",
    ) -> tuple[bool, JobStatus | None]:
        """Change a job's status if its current one is in ``allowed``.

        Returns (changed, status before the call); status is None for an unknown job.
        """
        key = self.job_key(job_id)
        ttl = self.result_ttl_s if new.terminal else 0
        args: list[Any] = [new.value, ",".join(s.value for s in allowed), ttl, payload]
        for name, value in (fields or {}).items():
            args += [name, value]
        code, current = await self._transition(
            keys=[key, self.stats_key, f"{key}:input", f"{key}:result"], args=args
        )
        if int(code) == -1:
            return False, None
        return int(code) == 1, JobStatus(current.decode())

    async def cancel(self, job_id: str) -> tuple[bool, JobStatus | None]:
        changed, before = await self.transition(
            job_id,
            JobStatus.CANCELLED,
            (JobStatus.QUEUED, JobStatus.RUNNING),
            {"finished_at": repr(time.time())},
        )
        if changed and before is JobStatus.QUEUED:
            await self.redis.lrem(self.queue_key, 0, job_id)
        return changed, before

    async def recover(self, processing_key: str) -> int:
        """Put every id of ``processing_key`` back on the queue; returns how many."""
        count = await self._recover(
            keys=[processing_key, self.queue_key], args=[f"{self.prefix}:job:", repr(time.time())]
        )
        return int(count)

    async def recover_orphans(self, live_worker: str | None = None) -> int:
        """Recover the processing lists of workers whose heartbeat has expired."""
        moved = 0
        pattern = f"{self.prefix}:processing:*"
        async for raw in self.redis.scan_iter(match=pattern, count=100):
            key = raw.decode()
            worker = key.rsplit(":", 1)[1]
            if worker == live_worker:
                continue
            if not await self.redis.exists(self.heartbeat_key(worker)):
                moved += await self.recover(key)
        return moved

    async def queue_depth(self) -> int:
        return int(await self.redis.llen(self.queue_key))

    async def stats(self) -> dict[str, int]:
        raw = await self.redis.hgetall(self.stats_key)
        counts = {s.value: 0 for s in JobStatus}
        counts.update({k.decode(): int(v) for k, v in raw.items()})
        return counts

    async def round_trip(self) -> float:
        """Write, read back and delete a probe item; returns milliseconds."""
        start = time.perf_counter()
        key = f"{self.prefix}:probe:{uuid.uuid4().hex}"
        token = uuid.uuid4().hex
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.rpush(key, token)
            pipe.expire(key, 30)
            pipe.lpop(key)
            pipe.delete(key)
            results = await pipe.execute()
        if results[2] is None or results[2].decode() != token:
            raise RuntimeError("queue round trip returned the wrong item")
        return (time.perf_counter() - start) * 1000
