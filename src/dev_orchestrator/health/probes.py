"""One-shot probes: each returns a ProbeResult with latency; none raises for a failed check."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import httpx

    from ..backends.base import ExecResult
    from ..config.models import Probe

DEFAULT_TIMEOUT = 2.0


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    latency_ms: float
    detail: str


Exec = Callable[[list[str], float], Awaitable["ExecResult"]]

_client: httpx.AsyncClient | None = None


def _httpx() -> Any:
    """httpx, without its optional command line: importing that pulls in rich and
    pygments (about 5 MB) that probes never use, and the supervisor's memory matters."""
    import sys

    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
    import httpx

    return httpx


def _http_client() -> httpx.AsyncClient:
    # One pooled client per process: probes run often and in parallel.
    global _client
    if _client is None:
        _client = _httpx().AsyncClient(follow_redirects=False, trust_env=False)
    return _client


async def http_probe(
    url: str, accepts: Callable[[int], bool], timeout: float, method: str = "GET", *, precheck: bool = False
) -> ProbeResult:
    """GET ``url``; ``precheck`` first tries a bare TCP connect, six times cheaper to fail
    than an HTTP request, for the fast polling while a service starts."""
    httpx = _httpx()

    began = time.perf_counter()
    parts = urlsplit(url)
    path = parts.path or "/"
    if precheck and parts.hostname:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            _reader, writer = await asyncio.wait_for(asyncio.open_connection(parts.hostname, port), timeout)
        except (OSError, TimeoutError) as exc:
            reason = "no answer" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc)).lower()
            return ProbeResult(False, _ms(began), f"http {path}: {reason}")
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    try:
        response = await _http_client().request(method, url, timeout=timeout)
    except httpx.TimeoutException:
        return ProbeResult(False, _ms(began), f"http {path}: no answer within {timeout:g}s")
    except httpx.HTTPError as exc:
        reason = str(exc) or type(exc).__name__
        return ProbeResult(False, _ms(began), f"http {path}: {reason}")
    ok = accepts(response.status_code)
    return ProbeResult(ok, _ms(began), f"http {response.status_code} {path}")


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
        return ProbeResult(False, _ms(began), f"tcp {host}:{port}: {exc.strerror or exc}")
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
    return ProbeResult(False, 0.0, f"log /{probe.log}/: only checked while the service starts")


def _ms(began: float) -> float:
    return round((time.perf_counter() - began) * 1000, 2)
