"""The http probe against real sockets: status ranges, garbage, silence, TLS."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
from pathlib import Path

from dev_orchestrator.health.probes import http_probe


async def serve(handler: object, tls: ssl.SSLContext | None = None) -> tuple[asyncio.Server, int]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0, ssl=tls)  # type: ignore[arg-type]
    return server, server.sockets[0].getsockname()[1]


def answer(status: bytes) -> object:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()

    return handle


def test_status_and_ranges() -> None:
    async def scenario() -> None:
        ok_server, ok_port = await serve(answer(b"204 No Content"))
        bad_server, bad_port = await serve(answer(b"503 Service Unavailable"))
        async with ok_server, bad_server:
            good = await http_probe(f"http://127.0.0.1:{ok_port}/ready?x=1", lambda s: 200 <= s < 300, 2)
            assert good.ok and good.detail == "http 204 /ready" and good.latency_ms > 0
            bad = await http_probe(f"http://127.0.0.1:{bad_port}/", lambda s: 200 <= s < 300, 2)
            assert not bad.ok and bad.detail == "http 503 /"

    asyncio.run(scenario())


def test_garbage_silence_and_refusal() -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"SSH-2.0-OpenSSH_9.2\r\n")
        await writer.drain()
        writer.close()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(5)
        writer.close()

    async def scenario() -> None:
        g_server, g_port = await serve(garbage)
        s_server, s_port = await serve(silent)
        async with g_server, s_server:
            result = await http_probe(f"http://127.0.0.1:{g_port}/", lambda s: True, 2)
            assert not result.ok and "not an HTTP answer" in result.detail
            result = await http_probe(f"http://127.0.0.1:{s_port}/", lambda s: True, 0.3)
            assert not result.ok and result.detail == "http /: no answer within 0.3s"
        result = await http_probe(f"http://127.0.0.1:{g_port}/", lambda s: True, 1)
        assert not result.ok and result.detail == "http /: connection refused"

    asyncio.run(scenario())


def test_https_is_verified(tmp_path: Path) -> None:
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                    "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)

    async def scenario() -> None:
        server, port = await serve(answer(b"200 OK"), tls)
        async with server:
            result = await http_probe(f"https://127.0.0.1:{port}/", lambda s: True, 2)
            assert not result.ok and result.detail.startswith("http /: TLS:")  # self-signed: refused

    asyncio.run(scenario())
