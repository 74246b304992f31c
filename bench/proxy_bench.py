"""The loopback proxy's overhead against a direct connection, in one run.

Three processes: an upstream (a tiny asyncio HTTP/1.1 server, keep-alive, fixed
responses), the proxy (``dev_orchestrator.net.Proxy`` in front of it), and this client.
Every figure is taken direct (client -> upstream) and through the proxy (client ->
proxy -> upstream), alternating in blocks so that drift hits both, and reported as a
ratio proxy/direct:

- latency of small request/response round trips (about 40 B -> 120 B), sequential, over
  a fresh connection each (connect + request + response + close) and over one kept
  connection; p50 and p99, and what the proxy adds;
- throughput of a 10 MB response (median of several);
- requests/s with N concurrent clients on kept connections (asyncio client).

Goals: p99 added under 1 ms; at least 70 % of direct throughput. ``--relay`` compares
other ways to write the relay (the same proxy process, a bare forwarder without hold or
retry logic): ``streams`` (asyncio streams, read 256 KiB / write / drain) and ``sock``
(``loop.sock_recv_into`` into a 256 KiB buffer / ``loop.sock_sendall``).

    .venv/bin/python bench/proxy_bench.py [--requests 5000] [--big-mb 10] [--big-runs 10]
        [--clients 16] [--seconds 2] [--relay protocol,streams,sock]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REQUEST = b"GET /small HTTP/1.1\r\nHost: bench\r\n\r\n"
BIG_REQUEST = b"GET /big HTTP/1.1\r\nHost: bench\r\n\r\n"
SMALL_BODY = b"x" * 64
SMALL = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(SMALL_BODY), SMALL_BODY)
CHUNK = 256 * 1024


# -- the upstream and the proxies (child processes of this script) ----------------------


class _Http(asyncio.Protocol):
    big = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
            if head.startswith(b"GET /big"):
                self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(self.big))
                self.transport.write(self.big)
            else:
                self.transport.write(SMALL)


async def _serve_upstream(big_mb: int) -> None:
    _Http.big = b"y" * (big_mb * 1_000_000)
    server = await asyncio.get_running_loop().create_server(_Http, "127.0.0.1", 0, backlog=4096)
    print(server.sockets[0].getsockname()[1], flush=True)
    await _until_stdin_closes()


async def _serve_proxy(relay: str, upstream: int) -> None:
    sys.path.insert(0, str(ROOT / "src"))
    from dev_orchestrator.net import Listener, Proxy

    listener = Listener(backlog=4096)
    print(listener.port, flush=True)
    if relay == "protocol":
        async with Proxy(listener) as proxy:
            proxy.set_targets([("127.0.0.1", upstream)])
            await _until_stdin_closes()
        return
    handle = _streams_relay if relay == "streams" else _sock_relay
    async with asyncio.TaskGroup() as tg:
        accept = tg.create_task(_bare_accept(listener.socket, upstream, handle, tg))
        await _until_stdin_closes()
        accept.cancel()


async def _bare_accept(sock: socket.socket, upstream: int, handle: object, tg: asyncio.TaskGroup) -> None:
    loop = asyncio.get_running_loop()
    while True:  # ends by cancellation
        conn, _ = await loop.sock_accept(sock)
        tg.create_task(handle(conn, upstream))  # type: ignore[operator]


async def _streams_relay(conn: socket.socket, upstream: int) -> None:
    reader, writer = await asyncio.open_connection(sock=conn, limit=CHUNK)
    up_reader, up_writer = await asyncio.open_connection("127.0.0.1", upstream, limit=CHUNK)

    async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        while data := await src.read(CHUNK):
            dst.write(data)
            await dst.drain()
        if dst.can_write_eof():
            dst.write_eof()

    try:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(pump(reader, up_writer))
            tg.create_task(pump(up_reader, writer))
    except* OSError:
        pass
    finally:
        writer.close()
        up_writer.close()


async def _sock_relay(conn: socket.socket, upstream: int) -> None:
    loop = asyncio.get_running_loop()
    up = socket.socket()
    up.setblocking(False)
    for s in (conn, up):
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    conn.setblocking(False)
    await loop.sock_connect(up, ("127.0.0.1", upstream))

    async def pump(src: socket.socket, dst: socket.socket) -> None:
        buffer = bytearray(CHUNK)
        view = memoryview(buffer)
        while n := await loop.sock_recv_into(src, buffer):
            await loop.sock_sendall(dst, view[:n])
        dst.shutdown(socket.SHUT_WR)

    try:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(pump(conn, up))
            tg.create_task(pump(up, conn))
    except* OSError:
        pass
    finally:
        conn.close()
        up.close()


async def _until_stdin_closes() -> None:
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.buffer.read)


# -- the client (this process) ----------------------------------------------------------


def _read_response(sock: socket.socket, buffer: bytearray) -> int:
    """Read one response whole (headers, then Content-Length bytes); returns body size."""
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed mid-response")
        head += chunk
    header, _, rest = head.partition(b"\r\n\r\n")
    length = int(header.lower().split(b"content-length:")[1].split(b"\r\n")[0])
    got = len(rest)
    view = memoryview(buffer)
    while got < length:
        n = sock.recv_into(view, min(len(buffer), length - got))
        if not n:
            raise ConnectionError("closed mid-body")
        got += n
    return length


def _connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def fresh_latencies(port: int, n: int) -> list[float]:
    buffer, out = bytearray(65536), []
    for _ in range(n):
        began = time.perf_counter()
        with _connect(port) as sock:
            sock.sendall(REQUEST)
            _read_response(sock, buffer)
        out.append(time.perf_counter() - began)
    return out


def kept_latencies(port: int, n: int) -> list[float]:
    buffer, out = bytearray(65536), []
    with _connect(port) as sock:
        for _ in range(n):
            began = time.perf_counter()
            sock.sendall(REQUEST)
            _read_response(sock, buffer)
            out.append(time.perf_counter() - began)
    return out


def big_throughput(port: int, runs: int) -> float:
    """Median MB/s of downloading the big response over a kept connection."""
    buffer, rates = bytearray(1 << 20), []
    with _connect(port) as sock:
        for _ in range(runs):
            began = time.perf_counter()
            sock.sendall(BIG_REQUEST)
            size = _read_response(sock, buffer)
            rates.append(size / (time.perf_counter() - began) / 1e6)
    return statistics.median(rates)


async def _concurrent(port: int, clients: int, seconds: float) -> float:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    counts = [0] * clients

    async def client(index: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while loop.time() < deadline:  # bounded by the deadline
                writer.write(REQUEST)
                await reader.readexactly(len(SMALL))
                counts[index] += 1
        finally:
            writer.close()

    began = loop.time()
    async with asyncio.TaskGroup() as tg:
        for i in range(clients):
            tg.create_task(client(i))
    return sum(counts) / (loop.time() - began)


def bare_connect_cost(n: int = 1000) -> float:
    """Median seconds of one loopback connect + accept + close here: what a proxy adds at least."""
    out = []
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(64)
        for _ in range(n):
            began = time.perf_counter()
            client = socket.create_connection(server.getsockname())
            conn, _ = server.accept()
            client.close()
            conn.close()
            out.append(time.perf_counter() - began)
    return statistics.median(out)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def child(*argv: str) -> tuple[subprocess.Popen[bytes], int]:
    proc = subprocess.Popen([sys.executable, __file__, *argv], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    return proc, int(proc.stdout.readline())


def alternate(fn: object, direct: int, proxied: int, total: int, blocks: int = 5) -> tuple[list[float], list[float]]:
    """Run ``fn(port, n)`` in alternating blocks, direct then proxied; all samples of each."""
    a: list[float] = []
    b: list[float] = []
    for _ in range(blocks):
        a += fn(direct, total // blocks)  # type: ignore[operator]
        b += fn(proxied, total // blocks)  # type: ignore[operator]
    return a, b


def cpu_seconds(proc: subprocess.Popen[bytes]) -> float:
    """User + system CPU time of a child so far (from /proc; no psutil needed)."""
    fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def report_latency(label: str, direct: list[float], proxied: list[float]) -> None:
    d50, d99, p50, p99 = (pct(x, q) * 1e6 for x, q in ((direct, 0.5), (direct, 0.99), (proxied, 0.5), (proxied, 0.99)))
    print(f"  {label:28s} direct p50 {d50:7.1f} us p99 {d99:7.1f} us | proxy p50 {p50:7.1f} us p99 {p99:7.1f} us"
          f" | added p50 {p50 - d50:6.1f} us p99 {p99 - d99:6.1f} us | ratio p50 {p50 / d50:4.2f} p99 {p99 / d99:4.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--big-mb", type=int, default=10)
    parser.add_argument("--big-runs", type=int, default=10)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--relay", default="protocol", help="comma list of: protocol (net.Proxy), streams, sock")
    parser.add_argument("--serve-upstream", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--serve-proxy", metavar="RELAY:PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_upstream:
        asyncio.run(_serve_upstream(args.big_mb))
        return
    if args.serve_proxy:
        relay, port = args.serve_proxy.split(":")
        asyncio.run(_serve_proxy(relay, int(port)))
        return

    from engine_bench import machine

    print(f"machine: {machine()}; nproc {os.cpu_count()}")
    print(f"method: upstream, proxy and client are 3 processes on loopback; {args.requests} sequential requests "
          f"per latency figure (alternating blocks of {args.requests // 5}), {args.big_runs} downloads of "
          f"{args.big_mb} MB (median), {args.clients} concurrent asyncio clients for {args.seconds:g} s")
    print(f"calibration: one bare loopback connect + accept + close costs {bare_connect_cost() * 1e6:.0f} us "
          f"here (a proxied fresh connection needs two); load average {os.getloadavg()[0]:.2f}")
    upstream, up_port = child("--serve-upstream", "--big-mb", str(args.big_mb))
    try:
        for relay in args.relay.split(","):
            proxy, proxy_port = child("--serve-proxy", f"{relay}:{up_port}")
            try:
                name = "net.Proxy (protocols)" if relay == "protocol" else f"bare {relay} relay"
                print(f"\n{name}:")
                fresh_latencies(up_port, 200), fresh_latencies(proxy_port, 200)  # warm up
                before = cpu_seconds(proxy)
                report_latency("fresh connection per request", *alternate(fresh_latencies, up_port, proxy_port, args.requests))
                fresh_cpu = (cpu_seconds(proxy) - before) / args.requests
                before = cpu_seconds(proxy)
                report_latency("one kept connection", *alternate(kept_latencies, up_port, proxy_port, args.requests))
                kept_cpu = (cpu_seconds(proxy) - before) / args.requests
                direct_rate = big_throughput(up_port, args.big_runs)
                before = cpu_seconds(proxy)
                proxy_rate = big_throughput(proxy_port, args.big_runs)
                mb_cpu = (cpu_seconds(proxy) - before) / (args.big_runs * args.big_mb)
                print(f"  {args.big_mb} MB response               direct {direct_rate:7.0f} MB/s | proxy "
                      f"{proxy_rate:7.0f} MB/s | ratio {proxy_rate / direct_rate:4.2f}")
                direct_rps = asyncio.run(_concurrent(up_port, args.clients, args.seconds))
                proxy_rps = asyncio.run(_concurrent(proxy_port, args.clients, args.seconds))
                print(f"  {args.clients} concurrent clients          direct {direct_rps:7.0f} req/s | proxy "
                      f"{proxy_rps:7.0f} req/s | ratio {proxy_rps / direct_rps:4.2f}")
                print(f"  proxy CPU time (load-independent): {fresh_cpu * 1e6:.0f} us per fresh-connection "
                      f"request, {kept_cpu * 1e6:.0f} us per kept-connection request, {mb_cpu * 1e3:.2f} ms per MB")
            finally:
                assert proxy.stdin is not None
                proxy.stdin.close()
                proxy.wait(timeout=10)
    finally:
        assert upstream.stdin is not None
        upstream.stdin.close()
        upstream.wait(timeout=10)
    print("\ngoals: p99 added under 1 ms; throughput ratio at least 0.70")


if __name__ == "__main__":
    main()
