"""One-shot probes: each returns a ProbeResult with latency; none raises for a failed check."""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import h11

if TYPE_CHECKING:
    from ..backends.base import ExecResult
    from ..config.models import Probe

DEFAULT_TIMEOUT = 2.0


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    latency_ms: float
    detail: str


Exec = Callable[[list[str], float], Awaitable["ExecResult"]]

_ssl_context: ssl.SSLContext | None = None


def _tls() -> ssl.SSLContext:
    # Made on the first https probe only: a verifying context costs a few MB of memory.
    global _ssl_context
    if _ssl_context is None:
        _ssl_context = ssl.create_default_context()
    return _ssl_context


async def http_probe(
    url: str, accepts: Callable[[int], bool], timeout: float, method: str = "GET", *, precheck: bool = False
) -> ProbeResult:
    """One HTTP/1.1 request (h11 speaks the protocol), a fresh connection each time, as
    container engines and Kubernetes probe; passes when ``accepts(status)``.

    ``precheck`` is accepted for callers polling during start-up; a refused connection
    already fails at the connect, before anything is sent.
    """
    began = time.perf_counter()
    parts = urlsplit(url)
    path = parts.path or "/"
    target = path + (f"?{parts.query}" if parts.query else "")
    secure = parts.scheme == "https"
    host = parts.hostname or "127.0.0.1"
    port = parts.port or (443 if secure else 80)
    try:
        async with asyncio.timeout(timeout):
            status = await _request(host, port, parts.netloc, method, target, _tls() if secure else None)
    except TimeoutError:
        return ProbeResult(False, _ms(began), f"http {path}: no answer within {timeout:g}s")
    except ssl.SSLError as exc:
        return ProbeResult(False, _ms(began), f"http {path}: TLS: {exc.reason or exc}")
    except OSError as exc:
        return ProbeResult(False, _ms(began), f"http {path}: {_reason(exc)}")
    except h11.ProtocolError as exc:
        return ProbeResult(False, _ms(began), f"http {path}: not an HTTP answer ({exc})")
    return ProbeResult(accepts(status), _ms(began), f"http {status} {path}")


async def _request(
    host: str, port: int, netloc: str, method: str, target: str, tls: ssl.SSLContext | None
) -> int:
    reader, writer = await asyncio.open_connection(host, port, ssl=tls, server_hostname=host if tls else None)
    try:
        conn = h11.Connection(h11.CLIENT)
        headers = [("Host", netloc), ("User-Agent", "dev-orchestrator"), ("Connection", "close")]
        writer.write(conn.send(h11.Request(method=method, target=target, headers=headers)) or b"")
        writer.write(conn.send(h11.EndOfMessage()) or b"")
        await writer.drain()
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await reader.read(65536))
            elif isinstance(event, h11.Response):
                return int(event.status_code)
            elif isinstance(event, h11.ConnectionClosed):
                raise ConnectionResetError("connection closed before an answer")
    finally:
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await writer.wait_closed()


async def tcp_probe(host: str, port: int, timeout: float, *, proxied: bool = False) -> ProbeResult:
    """Connect to ``host:port``.

    ``proxied``: the port is published by Docker, whose proxy accepts every connection
    and closes it at once when nothing listens in the container; a connection that stays
    open (or says something) for PROXY_SETTLE seconds is a real listener.
    """
    began = time.perf_counter()
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except TimeoutError:
        return ProbeResult(False, _ms(began), f"tcp {host}:{port}: no answer within {timeout:g}s")
    except OSError as exc:
        return ProbeResult(False, _ms(began), f"tcp {host}:{port}: {_reason(exc)}")
    try:
        if proxied:
            try:
                first = await asyncio.wait_for(reader.read(1), PROXY_SETTLE)
            except TimeoutError:
                first = None  # held open: somebody listens
            except OSError:
                first = b""
            if first == b"":
                return ProbeResult(False, _ms(began), f"tcp {host}:{port}: nothing listens behind the published port")
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    return ProbeResult(True, _ms(began), f"tcp {host}:{port}")


PROXY_SETTLE = 0.05


async def command_probe(argv: list[str], timeout: float, run: Exec) -> ProbeResult:
    began = time.perf_counter()
    result = await run(argv, timeout)
    shown = " ".join(argv)
    if len(shown) > 40:
        shown = shown[:37] + "..."
    if result.code == 0:
        return ProbeResult(True, _ms(began), f"command {shown}")
    tail = result.output.splitlines()[-1] if result.output else ""
    return ProbeResult(False, _ms(began), f"command {shown}: exit {result.code}" + (f": {tail}" if tail else ""))


async def run_probe(
    probe: Probe,
    *,
    host: str = "127.0.0.1",
    run: Exec | None = None,
    starting: bool = False,
    proxied: bool = False,
) -> ProbeResult:
    """Run an http, tcp or command probe once (log probes are event-driven, see prober).

    ``starting``: the service is still starting, polled fast; cheap checks come first.
    ``proxied``: ports are published by Docker's proxy (see tcp_probe).
    """
    timeout = probe.timeout or DEFAULT_TIMEOUT
    if probe.http is not None:
        check = probe.http
        url = check.url
        if host != "127.0.0.1":
            parts = urlsplit(url)
            if parts.hostname in ("127.0.0.1", "localhost"):
                url = parts._replace(netloc=parts.netloc.replace(parts.hostname, host, 1)).geturl()
        return await http_probe(url, check.accepts, timeout, check.method, precheck=starting)
    if probe.tcp is not None:
        target = probe.tcp.host if host == "127.0.0.1" else host
        return await tcp_probe(target, probe.tcp.port, timeout, proxied=proxied)
    if probe.command is not None:
        if run is None:
            from ..backends.process import run_command

            async def run_local(argv: list[str], timeout: float) -> ExecResult:
                return await run_command(argv, timeout)

            run = run_local
        return await command_probe(probe.argv(), timeout, run)
    if probe.notify:
        return ProbeResult(False, 0.0, "notify: only the instance's READY=1 tells, while it starts")
    return ProbeResult(False, 0.0, f"log /{probe.log}/: only checked while the service starts")


def _reason(exc: OSError) -> str:
    """``connection refused`` rather than asyncio's ``Connect call failed ('127.0.0.1', 1)``."""
    if exc.errno:
        return os.strerror(exc.errno).lower()
    return str(exc) or type(exc).__name__


def _ms(began: float) -> float:
    return round((time.perf_counter() - began) * 1000, 2)
