"""The loopback proxy: forwarding, switching, holding, draining, and a clean close."""

from __future__ import annotations

import asyncio
import gc
import hashlib
import os
import socket
from collections.abc import Callable, Coroutine
from typing import Any

import psutil
import pytest

from dev_orchestrator.net import Listener, Proxy, free_loopback_port
from dev_orchestrator.net.relay import Half

pytestmark = pytest.mark.timeout(60)

Target = tuple[str, int]


class Upstream:
    """A line server: answers ``<tag>:<line>`` per line; ``slow`` waits for ``release``.

    It records each line it got (``seen``) and sets ``got_slow`` when a slow one arrived.
    """

    def __init__(self, tag: str, *, greeting: bytes = b"") -> None:
        self.tag = tag
        self.greeting = greeting
        self.seen: list[str] = []
        self.release = asyncio.Event()
        self.got_slow = asyncio.Event()
        self.server: asyncio.Server | None = None

    async def start(self, port: int = 0) -> Upstream:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", port)
        return self

    @property
    def target(self) -> Target:
        assert self.server is not None
        return ("127.0.0.1", self.server.sockets[0].getsockname()[1])

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if self.greeting:
                writer.write(self.greeting)
            while line := await reader.readline():
                text = line.decode().strip()
                self.seen.append(text)
                if text == "slow":
                    self.got_slow.set()
                    await self.release.wait()
                writer.write(f"{self.tag}:{text}\n".encode())
                await writer.drain()
        finally:
            writer.close()

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


async def request(port: int, line: str = "hi") -> str:
    """One line over a fresh connection; the answer without its newline."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(f"{line}\n".encode())
        await writer.drain()
        return (await asyncio.wait_for(reader.readline(), 20)).decode().strip()
    finally:
        writer.close()
        await writer.wait_closed()


def run(main: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    return asyncio.run(main())


def test_bytes_round_trip_with_half_close() -> None:
    """Client sends 4 MiB and shuts its write half; the echo comes back whole, then EOF."""
    payload = os.urandom(4 << 20)

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while chunk := await reader.read(1 << 16):  # until the client's FIN arrives
            writer.write(chunk)
            await writer.drain()
        writer.close()

    async def main() -> bytes:
        server = await asyncio.start_server(echo, "127.0.0.1", 0)
        async with Proxy() as proxy:
            proxy.set_targets([("127.0.0.1", server.sockets[0].getsockname()[1])])
            reader, writer = await asyncio.open_connection(*proxy.address)

            async def send() -> None:
                writer.write(payload)
                await writer.drain()
                writer.write_eof()

            async with asyncio.TaskGroup() as tg:
                tg.create_task(send())
                received = await asyncio.wait_for(reader.read(), 30)  # read() = until EOF
            writer.close()
        server.close()
        await server.wait_closed()
        return received

    assert hashlib.sha256(run(main)).digest() == hashlib.sha256(payload).digest()


def test_a_held_client_that_sends_much_is_paused_then_forwarded_whole() -> None:
    """64 MiB sent while no target exists: the proxy keeps 1 MiB, kernel buffers some MiB,
    the rest waits in the client."""
    payload = os.urandom(64 << 20)

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while chunk := await reader.read(1 << 20):
            writer.write(chunk)
            await writer.drain()
        writer.close()

    async def main() -> tuple[bool, bytes]:
        server = await asyncio.start_server(echo, "127.0.0.1", 0)
        async with Proxy(hold_timeout=20) as proxy:
            reader, writer = await asyncio.open_connection(*proxy.address, limit=1 << 22)

            async def send() -> None:
                writer.write(payload)
                await writer.drain()
                writer.write_eof()

            async with asyncio.TaskGroup() as tg:
                sending = tg.create_task(send())
                await asyncio.sleep(0.3)
                stalled = not sending.done()  # the proxy stopped reading the held client
                proxy.set_targets([("127.0.0.1", server.sockets[0].getsockname()[1])])
                received = await asyncio.wait_for(reader.read(), 30)
            writer.close()
        server.close()
        await server.wait_closed()
        return stalled, received

    stalled, received = run(main)
    assert stalled
    assert hashlib.sha256(received).digest() == hashlib.sha256(payload).digest()


def test_a_server_that_speaks_first_is_forwarded() -> None:
    async def main() -> tuple[bytes, str]:
        up = await Upstream("a", greeting=b"HELLO\n").start()
        async with Proxy() as proxy:
            proxy.set_targets([up.target])
            reader, writer = await asyncio.open_connection(*proxy.address)
            greeting = await asyncio.wait_for(reader.readline(), 10)
            writer.write(b"x\n")
            answer = (await asyncio.wait_for(reader.readline(), 10)).decode().strip()
            writer.close()
        await up.close()
        return greeting, answer

    assert run(main) == (b"HELLO\n", "a:x")


def test_fifty_concurrent_connections() -> None:
    async def main() -> list[str]:
        up = await Upstream("a").start()
        async with Proxy() as proxy:
            proxy.set_targets([up.target])
            answers = await asyncio.gather(*(request(proxy.port, f"n{i}") for i in range(50)))
        await up.close()
        return answers

    assert run(main) == [f"a:n{i}" for i in range(50)]


def test_switch_keeps_the_in_flight_request_on_the_old_upstream() -> None:
    async def main() -> None:
        old, new = await Upstream("old").start(), await Upstream("new").start()
        async with Proxy() as proxy:
            proxy.set_targets([old.target])
            async with asyncio.TaskGroup() as tg:
                slow = tg.create_task(request(proxy.port, "slow"))
                await asyncio.wait_for(old.got_slow.wait(), 10)
                proxy.set_targets([new.target])
                assert await request(proxy.port, "fast") == "new:fast"
                assert proxy.connections(old.target) == 1
                assert not await proxy.drain(old.target, 0.1)  # still busy
                old.release.set()
            assert slow.result() == "old:slow"
            assert await proxy.drain(old.target, 10)
            assert proxy.connections(old.target) == 0
            assert old.seen == ["slow"] and new.seen == ["fast"]
        await old.close()
        await new.close()

    run(main)


def test_without_a_target_the_connection_is_held_until_one_appears() -> None:
    async def main() -> str:
        up = await Upstream("late").start()
        async with Proxy(hold_timeout=20) as proxy:
            async with asyncio.TaskGroup() as tg:
                pending = tg.create_task(request(proxy.port, "wait"))
                while proxy.held == 0:  # bounded by the test's timeout
                    await asyncio.sleep(0.01)
                await asyncio.sleep(0.2)
                assert not pending.done()
                proxy.set_targets([up.target])
            answer = pending.result()
            assert proxy.held == 0
        await up.close()
        return answer

    assert run(main) == "late:wait"


def test_hold_timeout_closes_the_client() -> None:
    async def main() -> bytes:
        async with Proxy(hold_timeout=0.3) as proxy:
            reader, writer = await asyncio.open_connection(*proxy.address)
            writer.write(b"anyone?\n")
            data = await asyncio.wait_for(reader.read(), 10)  # EOF when the proxy gives up
            writer.close()
            assert proxy.held == 0
            return data

    assert run(main) == b""


def test_drain_reports_open_connections() -> None:
    async def main() -> None:
        up = await Upstream("a").start()
        async with Proxy() as proxy:
            proxy.set_targets([up.target])
            assert await proxy.drain(up.target, 0)  # nothing open
            reader, writer = await asyncio.open_connection(*proxy.address)
            writer.write(b"x\n")
            assert await reader.readline() == b"a:x\n"
            assert proxy.connections(up.target) == proxy.connections() == 1
            assert not await proxy.drain(up.target, 0.1)
            proxy.set_targets([])
            async with asyncio.TaskGroup() as tg:
                drained = tg.create_task(proxy.drain(up.target, 10))
                await asyncio.sleep(0.05)
                assert not drained.done()
                writer.close()  # client closes -> upstream sees EOF and closes -> drained
            assert drained.result() is True
            assert proxy.connections(up.target) == 0
        await up.close()

    run(main)


def test_round_robin_over_three_upstreams() -> None:
    async def main() -> list[str]:
        ups = [await Upstream(tag).start() for tag in "abc"]
        async with Proxy() as proxy:
            proxy.set_targets([u.target for u in ups])
            answers = [(await request(proxy.port, "x")).split(":")[0] for _ in range(9)]
        for up in ups:
            await up.close()
        return answers

    assert run(main) == list("abcabcabc")


def test_a_refused_target_is_skipped_for_the_next() -> None:
    async def main() -> list[str]:
        up = await Upstream("alive").start()
        dead = ("127.0.0.1", free_loopback_port())
        async with Proxy() as proxy:
            proxy.set_targets([dead, up.target])
            answers = [await request(proxy.port, str(i)) for i in range(4)]
            assert proxy.connections(dead) == 0
        await up.close()
        return answers

    assert run(main) == ["alive:0", "alive:1", "alive:2", "alive:3"]


def test_refused_everywhere_retries_until_the_upstream_listens() -> None:
    """Start-first with a slow instance: the target is set before it binds its port."""

    async def main() -> str:
        port = free_loopback_port()
        async with Proxy(hold_timeout=20) as proxy:
            proxy.set_targets([("127.0.0.1", port)])
            async with asyncio.TaskGroup() as tg:
                pending = tg.create_task(request(proxy.port, "x"))
                await asyncio.sleep(0.3)  # a few refused rounds
                assert not pending.done()
                up = await Upstream("bound-late").start(port)
            answer = pending.result()
        await up.close()
        return answer

    assert run(main) == "bound-late:x"


def test_backpressure_stops_reading_the_upstream() -> None:
    """A client that does not read: the proxy must not swallow the upstream's 64 MiB."""
    size = 64 << 20
    sent: list[asyncio.StreamWriter] = []

    async def flood(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sent.append(writer)
        writer.write(b"x" * size)
        await writer.drain()
        writer.close()

    async def main() -> tuple[int, int]:
        server = await asyncio.start_server(flood, "127.0.0.1", 0)
        async with Proxy() as proxy:
            proxy.set_targets([("127.0.0.1", server.sockets[0].getsockname()[1])])
            reader, writer = await asyncio.open_connection(*proxy.address, limit=1 << 20)
            await asyncio.sleep(0.5)  # not reading: kernel buffers fill, then the proxy's
            stuck = sent[0].transport.get_write_buffer_size()
            total = 0
            while chunk := await asyncio.wait_for(reader.read(1 << 20), 20):
                total += len(chunk)
            writer.close()
        server.close()
        await server.wait_closed()
        return stuck, total

    stuck, total = run(main)
    assert total == size
    # Loopback kernel buffers hold some MiB per socket; everything else stayed upstream.
    assert stuck > size // 2


def test_both_sides_use_tcp_nodelay() -> None:
    """The accepted side and the connected side of a proxied connection (asyncio sets it)."""

    async def main() -> list[int]:
        loop = asyncio.get_running_loop()
        with Listener() as listener:
            connected, accepted = Half(loop), Half(loop)
            client, _ = await loop.create_connection(lambda: connected, *listener.address)
            conn, _ = await loop.sock_accept(listener.socket)
            server, _ = await loop.connect_accepted_socket(lambda: accepted, conn)
            values = [
                t.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) for t in (client, server)
            ]
            connected.abort()
            accepted.abort()
            await asyncio.wait({connected.lost, accepted.lost}, timeout=5)
        return [int(v) for v in values]

    assert run(main) == [1, 1]


def test_close_leaves_no_task_and_no_socket() -> None:
    process = psutil.Process()

    async def main() -> None:
        gc.collect()  # sockets that earlier tests dropped would close during this one
        fds_before = process.num_fds()
        up = await Upstream("a").start()
        listener = Listener()
        proxy = Proxy(listener, hold_timeout=20)
        await proxy.start()
        proxy.set_targets([up.target])
        # one forwarded connection left open, one slow request in flight, one held
        reader, writer = await asyncio.open_connection(*proxy.address)
        writer.write(b"x\n")
        assert await reader.readline() == b"a:x\n"
        slow_reader, slow_writer = await asyncio.open_connection(*proxy.address)
        slow_writer.write(b"slow\n")
        await asyncio.wait_for(up.got_slow.wait(), 10)
        proxy.set_targets([])
        held_reader, held_writer = await asyncio.open_connection(*proxy.address)
        held_writer.write(b"x\n")
        while proxy.held == 0:  # bounded by the test's timeout
            await asyncio.sleep(0.01)
        assert proxy.connections() == 2

        await proxy.close()

        left = [repr(t.get_coro()) for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        assert not [name for name in left if "Proxy" in name], left  # only the upstream's handlers
        for r in (reader, slow_reader, held_reader):  # every client sees its connection end
            assert await asyncio.wait_for(r.read(), 5) == b""
        assert proxy.connections() == 0 and proxy.held == 0
        assert not listener.closed  # the supervisor's listener is not the proxy's to close
        listener.close()
        up.release.set()
        for w in (writer, slow_writer, held_writer):
            w.close()
            await w.wait_closed()
        await up.close()
        await asyncio.sleep(0)  # let the upstream's connection handlers finish
        assert asyncio.all_tasks() == {asyncio.current_task()}
        assert process.num_fds() == fds_before

    run(main)


def test_a_proxy_of_its_own_closes_its_listener() -> None:
    async def main() -> None:
        proxy = Proxy()
        port = proxy.port
        await proxy.start()
        await proxy.close()
        assert asyncio.all_tasks() == {asyncio.current_task()}
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0  # nothing listens any more

    run(main)


def test_serve_in_a_callers_task_group() -> None:
    async def main() -> str:
        up = await Upstream("a").start()
        proxy = Proxy()
        async with asyncio.TaskGroup() as tg:
            tg.create_task(proxy.serve())
            proxy.set_targets([up.target])
            answer = await request(proxy.port, "y")
            await proxy.close()
        await up.close()
        return answer

    assert run(main) == "a:y"
