"""A small HTTP/1.1 server on a Unix socket (h11 does the protocol), one request per connection.

A malformed, oversized or slow request gets an error reply and closes its connection;
it never takes the supervisor down. Streaming replies use chunked NDJSON.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import h11

from ..errors import OrchestratorError
from ..state import socket_address
from .protocol import MAX_BODY, error_reply

log = logging.getLogger(__name__)

Reply = dict[str, Any] | AsyncIterator[dict[str, Any]]
Handler = Callable[[dict[str, Any]], Awaitable[Reply]]
READ_TIMEOUT = 10.0
BACKLOG = 1024  # many clients at once wait in the queue instead of being refused


class BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class ControlServer:
    def __init__(self, path: Path, routes: dict[tuple[str, str], Handler]) -> None:
        self.path = path
        self.routes = routes
        self._server: asyncio.base_events.Server | None = None

    async def start(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # a stale socket of a dead supervisor (we hold the lock)
        old = os.umask(0o177)  # the socket is born 0600: no window for other users
        try:
            with socket_address(self.path) as address:
                self._server = await asyncio.start_unix_server(self._handle, path=address, backlog=BACKLOG)
        finally:
            os.umask(old)
        os.chmod(self.path, 0o600)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=16 * 1024)
        try:
            try:
                method, target, body = await asyncio.wait_for(self._read_request(conn, reader), READ_TIMEOUT)
            except TimeoutError:
                raise BadRequest(408, "request not received in time") from None
            handler = self.routes.get((method, target))
            if handler is None:
                known = {p for _m, p in self.routes}
                raise BadRequest(405 if target in known else 404, f"no route {method} {target}")
            reply = await handler(body)
            if isinstance(reply, dict):
                await self._send_json(conn, writer, 200 if reply.get("type") != "error" else 400, reply)
            else:
                await self._send_stream(conn, writer, reply)
        except BadRequest as exc:
            await self._send_error(conn, writer, exc.status, exc.message)
        except OrchestratorError as exc:  # a request the handler refused (bad body, unknown name)
            await self._send_error(conn, writer, 400, exc.message, hint=exc.hint, exit_code=exc.exit_code,
                                   code=type(exc).__name__)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away; the operation itself goes on elsewhere
        except Exception as exc:  # a bug in a handler must not kill the supervisor
            log.exception("control request failed")
            await self._send_error(conn, writer, 500, f"internal error: {type(exc).__name__}: {exc}")
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _read_request(self, conn: h11.Connection, reader: asyncio.StreamReader) -> tuple[str, str, dict[str, Any]]:
        method = target = ""
        chunks: list[bytes] = []
        size = 0
        while True:
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError as exc:
                raise BadRequest(400, f"malformed request: {exc}") from None
            if event is h11.NEED_DATA:
                data = await reader.read(65536)
                try:
                    conn.receive_data(data)  # b"" marks the end; h11 judges what came before
                except h11.RemoteProtocolError as exc:
                    raise BadRequest(400, f"malformed request: {exc}") from None
                continue
            if isinstance(event, h11.Request):
                method = event.method.decode()
                target = event.target.decode().split("?", 1)[0]
                length = dict(event.headers).get(b"content-length")
                if length is not None and int(length) > MAX_BODY:
                    raise BadRequest(413, f"request body over {MAX_BODY} bytes")
            elif isinstance(event, h11.Data):
                size += len(event.data)
                if size > MAX_BODY:
                    raise BadRequest(413, f"request body over {MAX_BODY} bytes")
                chunks.append(event.data)
            elif isinstance(event, h11.EndOfMessage):
                break
            elif isinstance(event, h11.ConnectionClosed):
                raise ConnectionError("client closed")
        raw = b"".join(chunks)
        if not raw.strip():
            return method, target, {}
        try:
            body = json.loads(raw)
        except ValueError as exc:
            raise BadRequest(400, f"request body is not JSON: {exc}") from None
        except RecursionError:
            raise BadRequest(400, "request body is nested too deeply") from None
        if not isinstance(body, dict):
            raise BadRequest(400, "request body must be a JSON object")
        return method, target, body

    async def _send_json(self, conn: h11.Connection, writer: asyncio.StreamWriter, status: int, data: dict[str, Any]) -> None:
        payload = json.dumps(data).encode()
        headers = [("content-type", "application/json"), ("content-length", str(len(payload))), ("connection", "close")]
        writer.write(conn.send(h11.Response(status_code=status, headers=headers)) or b"")
        writer.write(conn.send(h11.Data(data=payload)) or b"")
        writer.write(conn.send(h11.EndOfMessage()) or b"")
        await writer.drain()

    async def _send_stream(self, conn: h11.Connection, writer: asyncio.StreamWriter, records: AsyncIterator[dict[str, Any]]) -> None:
        headers = [("content-type", "application/x-ndjson"), ("transfer-encoding", "chunked"), ("connection", "close")]
        writer.write(conn.send(h11.Response(status_code=200, headers=headers)) or b"")
        async for record in records:
            writer.write(conn.send(h11.Data(data=json.dumps(record).encode() + b"\n")) or b"")
            await writer.drain()
        writer.write(conn.send(h11.EndOfMessage()) or b"")
        await writer.drain()

    async def _send_error(self, conn: h11.Connection, writer: asyncio.StreamWriter, status: int, message: str,
                          *, hint: str | None = None, exit_code: int = 1, code: str | None = None) -> None:
        if conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            return  # a reply is already on its way; nothing sensible to add
        with contextlib.suppress(Exception):
            if conn.their_state is h11.ERROR or conn.our_state is h11.ERROR:
                conn = h11.Connection(h11.SERVER)
                conn.receive_data(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                conn.next_event()
                conn.next_event()
            await self._send_json(conn, writer, status, error_reply(message, code=code or f"http_{status}",
                                                                    hint=hint, exit_code=exit_code))
