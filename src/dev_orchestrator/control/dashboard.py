"""The web dashboard: an h11 HTTP server on 127.0.0.1 inside the supervisor.

``POST /v1/dashboard`` on the control socket starts it (once) and answers its URL with a
fresh token; it stops with the supervisor. The page (ui/web/) reads ``GET /api/...`` and
one server-sent event stream (status on every change, new log lines, the start-up
waterfall) and acts through ``POST /api/<action>``, which call the same handlers as the
control socket. Every request passes the checks of control/dashboard_views.py: a
loopback Host, the token or its cookie, POST with JSON and a same-origin page for what
changes state; every reply carries ``Content-Security-Policy: default-src 'self'``.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import json
import logging
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import h11

from ..errors import OrchestratorError, UsageError
from . import dashboard_views as views
from .requests import DashboardActionBody, parse

log = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parent.parent / "ui" / "web"
STATIC = {"/": ("index.html", "text/html; charset=utf-8"), "/app.js": ("app.js", "text/javascript; charset=utf-8"),
          "/app.css": ("app.css", "text/css; charset=utf-8"), "/favicon.svg": ("favicon.svg", "image/svg+xml")}
ACTIONS = ("start", "stop", "restart", "apply")
MAX_BODY = 64 * 1024
READ_TIMEOUT = 10.0
BACKLOG_LINES = 300  # per service, sent to a page when it connects
CLIENT_QUEUE = 2000  # events waiting for one page; a page that falls this far behind is dropped
STATUS_EVERY = 1.0  # seconds between status refreshes while pages watch (uptime, CPU)
LOG_POLL = 0.2
KEEPALIVE = 15.0
SECURITY_HEADERS = [
    ("content-security-policy", "default-src 'self'"),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),  # the first URL carries the token
    ("cache-control", "no-store"),
]


class HttpError(Exception):
    def __init__(self, status: int, message: str, headers: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or []


@dataclass(frozen=True)
class WebRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


class WebDashboard:
    """The supervisor's web dashboard: the listener, the pages' event streams, the waterfall.

    Created with the supervisor (so the waterfall of the very first start is recorded);
    the listener opens on the first ``POST /v1/dashboard``.
    """

    def __init__(self, supervisor: Any) -> None:
        self.sup = supervisor
        self.token = secrets.token_urlsafe(32)
        self.port: int | None = None
        self.waterfall = views.Waterfall()
        self._server: asyncio.base_events.Server | None = None
        self._clients: set[asyncio.Queue[str | None]] = set()
        self._changed = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._followers: dict[str, Any] = {}
        self._graph_key: Any = None
        self._start_lock = asyncio.Lock()
        self._connections: set[asyncio.Task[Any]] = set()

    @property
    def cookie(self) -> str:
        # Cookies do not keep ports apart: one name per dashboard port keeps two stacks' apart.
        return f"dev_orchestrator_{self.port}"

    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/?token={self.token}"

    # -- the engine's listener (always on: the first start's waterfall is there later) -----

    def on_event(self, event: Any, status: Any) -> None:
        from ..runtime import events as ev

        key = event.service
        if isinstance(event, ev.ReplicaEvent):
            key, event = f"{event.service}#{event.replica}", event.event
        svc = self.sup.service(event.service)
        self.waterfall.event(key, type(event).__name__, time.time(), in_operation=self.sup.op_lock.locked(),
                             has_healthcheck=svc is not None and svc.healthcheck is not None,
                             one_shot=bool(svc is not None and svc.one_shot), code=getattr(event, "code", None))
        self._changed.set()

    # -- life -------------------------------------------------------------------------------

    async def h_dashboard(self, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /v1/dashboard``: open the listener (first call) and answer its URL."""
        async with self._start_lock:
            if self._server is None:
                await self._open()
        return {"type": "result", "ok": True, "url": self.url(), "port": self.port, "token": self.token}

    async def _open(self) -> None:
        wanted = self.sup.stack.config.spec.orchestrator.dashboard.port
        try:
            self._server = await asyncio.start_server(self._accept, host="127.0.0.1", port=wanted or 0,
                                                      backlog=128)
        except OSError as exc:
            raise UsageError(f"orchestrator.dashboard.port: cannot listen on 127.0.0.1:{wanted}: "
                             f"{exc.strerror or exc}",
                             hint="free that port, or change orchestrator.dashboard.port (leave it out: "
                                  "a free port)") from exc
        self.port = int(self._server.sockets[0].getsockname()[1])
        self._tasks = [self.sup.group.create_task(self._pump_status()),
                       self.sup.group.create_task(self._pump_logs())]
        log.info("web dashboard on http://127.0.0.1:%s/", self.port)

    async def close(self) -> None:
        """Stop with the supervisor: close the listener, end every page's stream."""
        for task in self._tasks:
            task.cancel()
        if self._clients:  # the pages see the stop itself before their stream ends
            try:
                self._broadcast("status", await self._status())
            except Exception:
                log.exception("dashboard snapshot failed")
        for queue in list(self._clients):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(None)
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        if self._connections:
            # Streams end on the None above; anything still open after a moment is cut.
            _done, pending = await asyncio.wait(list(self._connections), timeout=2.0)
            for task in pending:
                task.cancel()
        for follower in self._followers.values():
            follower.close()
        self._followers.clear()

    # -- HTTP -------------------------------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=16 * 1024)
        try:
            try:
                request = await asyncio.wait_for(self._read(conn, reader), READ_TIMEOUT)
                await self._dispatch(conn, writer, request)
            except TimeoutError:
                raise HttpError(408, "request not received in time") from None
        except HttpError as exc:
            await self._send_error(conn, writer, exc)
        except OrchestratorError as exc:
            await self._send_error(conn, writer, HttpError(400, exc.message))
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except Exception as exc:  # a bug in the dashboard must not take the supervisor down
            log.exception("dashboard request failed")
            await self._send_error(conn, writer, HttpError(500, f"internal error: {type(exc).__name__}"))
        finally:
            if task is not None:
                self._connections.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _read(self, conn: h11.Connection, reader: asyncio.StreamReader) -> WebRequest:
        head: h11.Request | None = None
        chunks: list[bytes] = []
        size = 0
        while True:
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError as exc:
                raise HttpError(400, f"malformed request: {exc}") from None
            if event is h11.NEED_DATA:
                data = await reader.read(65536)
                try:
                    conn.receive_data(data)
                except h11.RemoteProtocolError as exc:
                    raise HttpError(400, f"malformed request: {exc}") from None
            elif isinstance(event, h11.Request):
                head = event
            elif isinstance(event, h11.Data):
                size += len(event.data)
                if size > MAX_BODY:
                    raise HttpError(413, f"request body over {MAX_BODY} bytes")
                chunks.append(event.data)
            elif isinstance(event, h11.EndOfMessage):
                break
            elif isinstance(event, h11.ConnectionClosed):
                raise ConnectionError("client closed")
        assert head is not None
        headers: dict[str, str] = {}
        for name, value in head.headers:
            key = name.decode("latin-1").lower()
            text = value.decode("latin-1")
            headers[key] = f"{headers[key]}; {text}" if key == "cookie" and key in headers else text
        parts = urlsplit(head.target.decode("latin-1"))
        return WebRequest(head.method.decode(), parts.path or "/", parse_qs(parts.query), headers, b"".join(chunks))

    def _authorized(self, request: WebRequest) -> tuple[bool, bool]:
        """(allowed, by the URL's token: set the cookie)."""
        if views.token_matches(views.cookie_value(request.headers.get("cookie"), self.cookie), self.token):
            return True, False
        given = next(iter(request.query.get("token") or ()), None)
        if request.method == "GET" and request.path == "/" and views.token_matches(given, self.token):
            return True, True
        return False, False

    async def _dispatch(self, conn: h11.Connection, writer: asyncio.StreamWriter, request: WebRequest) -> None:
        host = request.headers.get("host", "")
        if not views.host_allowed(host, self.port or 0):
            raise HttpError(403, f"Host {host!r} is not this machine's loopback: open "
                                 f"http://127.0.0.1:{self.port}/ (DNS rebinding protection)")
        allowed, by_token = self._authorized(request)
        if not allowed:
            raise HttpError(401, "no valid token: open the URL that `dev-orchestrator dashboard` prints")
        path = request.path
        if path.startswith("/api/") and path[5:] in ACTIONS:
            if request.method != "POST":
                raise HttpError(405, f"{path} changes the stack: POST only", [("allow", "POST")])
            if not views.same_origin(request.headers, host):
                raise HttpError(403, "cross-origin request refused: actions come from the dashboard's own page")
            body = self._json_body(request)
            reply = await self._action(path[5:], body)
            await self._send(conn, writer, 200, _json(reply), "application/json")
            return
        if request.method != "GET":
            raise HttpError(405, f"{request.method} {path}: GET only", [("allow", "GET")])
        if path in STATIC:
            name, kind = STATIC[path]
            extra = []
            if by_token:
                extra.append(("set-cookie", f"{self.cookie}={self.token}; HttpOnly; SameSite=Strict; Path=/"))
            await self._send(conn, writer, 200, (WEB_DIR / name).read_bytes(), kind, extra)
        elif path == "/api/events":
            await self._send_events(conn, writer)
        elif path == "/api/status":
            await self._send(conn, writer, 200, _json(await self._status()), "application/json")
        elif path == "/api/graph":
            await self._send(conn, writer, 200, _json(self._graph()), "application/json")
        elif path == "/api/waterfall":
            await self._send(conn, writer, 200, _json(self._waterfall()), "application/json")
        else:
            raise HttpError(404, f"no page {path}")

    @staticmethod
    def _json_body(request: WebRequest) -> dict[str, Any]:
        kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if kind != "application/json":
            raise HttpError(415, "actions take a JSON body (Content-Type: application/json)")
        try:
            body = json.loads(request.body or b"{}")
        except (ValueError, RecursionError):
            raise HttpError(400, "request body is not JSON") from None
        if not isinstance(body, dict):
            raise HttpError(400, "request body must be a JSON object")
        return body

    # -- actions: the control socket's handlers ------------------------------------------------

    async def _action(self, action: str, body: dict[str, Any]) -> dict[str, Any]:
        request = parse(DashboardActionBody, body)
        names = list(request.services)
        if action == "stop" and not names:
            raise UsageError("name the services to stop (`dev-orchestrator stop` stops the whole stack)")
        if action == "apply" and request.dry_run:
            return dict(await self.sup.h_apply({"dry_run": True}))
        if action != "stop":
            self.waterfall.close()  # its launches make the next picture
        handler = {"start": self.sup.h_start, "stop": self.sup.h_stop, "restart": self.sup.h_restart,
                   "apply": self.sup.h_apply}[action]
        reply = await handler({"services": names})
        if isinstance(reply, dict):
            return reply
        return await _result_of(reply)

    # -- content ------------------------------------------------------------------------------

    async def _status(self) -> dict[str, Any]:
        data = dict(await self.sup.h_status({}))
        data.pop("run_token", None)  # what proves the supervisor's processes stays with it
        for record in data.get("services", {}).values():
            record.pop("marker", None)
        return data

    def _graph(self) -> dict[str, Any]:
        graph = self.sup.stack.graph
        extra = [n for n in self.sup.engine.status if n not in graph and self.sup.engine.is_active(n)]
        return views.graph_layout(graph.deps, graph.layers(), extra)

    def _waterfall(self) -> dict[str, Any]:
        return self.waterfall.to_json(self.sup.stack.graph.order())

    # -- the event stream ---------------------------------------------------------------------

    def _names(self) -> list[str]:
        order = list(self.sup.stack.graph.order())
        return order + [n for n in self.sup.engine.status if n not in order]

    def _follow_new(self) -> None:
        from ..logs.reader import followers

        new = [n for n in self._names() if n not in self._followers]
        for follower in followers(self.sup.paths.logs, new):
            self._followers[follower.service] = follower

    def _backlog(self) -> list[dict[str, str]]:
        from ..logs.reader import last_lines

        upto = {name: f.offset for name, f in self._followers.items()}
        tails = [last_lines(self.sup.paths.logs, [name], BACKLOG_LINES, upto) for name in self._followers]
        return [_line(ln) for ln in heapq.merge(*tails, key=lambda line: line.stamp)]

    def _broadcast(self, kind: str, data: Any) -> None:
        chunk = _sse(kind, data)
        for queue in list(self._clients):
            try:
                queue.put_nowait(chunk)
            except asyncio.QueueFull:  # a page that stopped reading: it reconnects and starts over
                self._clients.discard(queue)
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
                queue.put_nowait(None)

    async def _pump_status(self) -> None:
        last: dict[str, str] = {}
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), STATUS_EVERY)
            self._changed.clear()
            self.waterfall.tick(self.sup.op_lock.locked())
            if not self._clients:
                last.clear()
                continue
            try:
                payloads = {"status": await self._status(), "graph": self._graph(), "waterfall": self._waterfall()}
            except Exception:  # one bad snapshot must not end the stream
                log.exception("dashboard snapshot failed")
                continue
            for kind, data in payloads.items():
                text = json.dumps(data, sort_keys=True)
                if last.get(kind) != text:
                    last[kind] = text
                    self._broadcast(kind, data)

    async def _pump_logs(self) -> None:
        while True:
            await asyncio.sleep(LOG_POLL)
            self._follow_new()
            batch = [line for f in self._followers.values() for line in f.poll()]
            if batch and self._clients:
                batch.sort(key=lambda line: line.stamp)
                self._broadcast("logs", {"lines": [_line(ln) for ln in batch]})

    async def _send_events(self, conn: h11.Connection, writer: asyncio.StreamWriter) -> None:
        headers = [("content-type", "text/event-stream"), ("connection", "close"), *SECURITY_HEADERS]
        writer.write(conn.send(h11.Response(status_code=200, headers=headers, reason=b"OK")) or b"")
        queue: asyncio.Queue[str | None] = asyncio.Queue(CLIENT_QUEUE)
        # Followers, backlog and subscription in one step (no await between): every line is
        # either in the backlog or in a later batch, never in both, never in neither.
        self._follow_new()
        backlog = self._backlog()
        self._clients.add(queue)
        try:
            first = [_sse("graph", self._graph()), _sse("waterfall", self._waterfall()),
                     _sse("logs", {"reset": True, "lines": backlog}), _sse("status", await self._status())]
            writer.write(conn.send(h11.Data(data=b"retry: 1000\n\n" + "".join(first).encode())) or b"")
            await writer.drain()
            while True:
                try:
                    chunk = await asyncio.wait_for(queue.get(), KEEPALIVE)
                except TimeoutError:
                    chunk = ": keep-alive\n\n"
                if chunk is None:
                    break
                writer.write(conn.send(h11.Data(data=chunk.encode())) or b"")
                await writer.drain()
            writer.write(conn.send(h11.EndOfMessage()) or b"")
            await writer.drain()
        finally:
            self._clients.discard(queue)

    async def _send(self, conn: h11.Connection, writer: asyncio.StreamWriter, status: int, payload: bytes,
                    kind: str, extra: list[tuple[str, str]] | None = None) -> None:
        headers = [("content-type", kind), ("content-length", str(len(payload))), ("connection", "close"),
                   *SECURITY_HEADERS, *(extra or [])]
        writer.write(conn.send(h11.Response(status_code=status, headers=headers, reason=_reason(status))) or b"")
        writer.write(conn.send(h11.Data(data=payload)) or b"")
        writer.write(conn.send(h11.EndOfMessage()) or b"")
        await writer.drain()

    async def _send_error(self, conn: h11.Connection, writer: asyncio.StreamWriter, exc: HttpError) -> None:
        if conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            return
        with contextlib.suppress(Exception):
            if conn.their_state is h11.ERROR or conn.our_state is h11.ERROR:
                conn = h11.Connection(h11.SERVER)
                conn.receive_data(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                conn.next_event()
                conn.next_event()
            payload = _json({"type": "error", "status": exc.status, "message": exc.message})
            await self._send(conn, writer, exc.status, payload, "application/json", exc.headers)


async def _result_of(records: AsyncIterator[dict[str, Any]]) -> dict[str, Any]:
    """The final record of a streamed operation (its events reach the pages as status)."""
    result: dict[str, Any] = {"type": "result", "ok": False, "reason": "no result"}
    async for record in records:
        if record.get("type") in ("result", "error"):
            result = record
    if result.get("type") == "error":
        result = {**result, "ok": False}
    return result


def _reason(status: int) -> bytes:
    try:
        return HTTPStatus(status).phrase.encode()
    except ValueError:
        return b""


def _line(line: Any) -> dict[str, str]:
    return {"s": line.service, "t": line.stamp, "x": line.text}


def _json(data: Any) -> bytes:
    return json.dumps(data).encode()


def _sse(kind: str, data: Any) -> str:
    return f"event: {kind}\ndata: {json.dumps(data)}\n\n"
