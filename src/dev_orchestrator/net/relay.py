"""The two halves of one forwarded TCP connection, as asyncio protocols.

Why protocols (and not streams or ``loop.sock_recv_into``): the bytes move inside the
transport's read callback, one loop wake-up per chunk with no task switch, one ``recv``
and one ``send``. ``bench/proxy_bench.py --relay protocol,streams,sock`` measured, on
one run: per kept-connection request about 120 us of proxy CPU against 140 (streams)
and 230 (``sock_recv_into``/``sock_sendall``, two tasks per connection), and a 10 MB
response at 0.6 of direct against 0.2 for streams. The transport reads up to 256 KiB a
time (asyncio's ``max_size``). A ``BufferedProtocol`` reading into one reused buffer
saves an allocation per read but is unsafe: since Python 3.12 a transport keeps a view
of unsent bytes instead of copying them, so the next read would overwrite them.

A ``Half`` is one socket. Before ``join`` pairs it with the other socket it keeps what it
reads (up to ``PENDING_LIMIT``, then stops reading, so the sender feels backpressure);
``join`` hands that over. After ``join``:

- bytes read on one side are written to the other; when a side's write buffer passes
  its high-water mark, the other side stops reading until it drains (backpressure);
- EOF on one side shuts the other side's write half down (``write_eof``) once its buffer
  is flushed, so half-closed protocols work; when both sides reached EOF, both close;
- an error on one side aborts the other; a clean close closes it after a flush.

Everything here runs in the loop's thread from transport callbacks; nothing awaits.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import cast

PENDING_LIMIT = 1 << 20  # bytes kept per side before it is joined; past that, stop reading
WRITE_HIGH = 1 << 20  # write buffer above this: pause the peer's reading
WRITE_LOW = 1 << 18  # ... and resume below this


class Half(asyncio.Protocol):
    """One socket of a forwarded connection; forwards what it reads to its peer.

    Why ``gone``: a connection held while no upstream exists ends early when its client
    goes away (error, or EOF with nothing sent), which ``lost`` alone would not show.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.transport: asyncio.Transport | None = None
        self.peer: Half | None = None
        self.eof = False  # this side sent FIN: nothing more will be read from it
        self.lost: asyncio.Future[None] = loop.create_future()  # the socket is closed
        self.gone: asyncio.Future[None] = loop.create_future()  # lost, or EOF with nothing to pass
        self._pending: list[bytes] = []
        self._pending_size = 0

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        # asyncio sets TCP_NODELAY only on sockets whose proto is IPPROTO_TCP, which an
        # accepted socket of a listener made with proto 0 is not: set it here for both.
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.transport.set_write_buffer_limits(high=WRITE_HIGH, low=WRITE_LOW)

    def data_received(self, data: bytes) -> None:
        peer = self.peer
        if peer is None:
            self._pending.append(data)
            self._pending_size += len(data)
            if self._pending_size >= PENDING_LIMIT and self.transport is not None:
                self.transport.pause_reading()
            return
        out = peer.transport
        if out is not None and not out.is_closing():
            # On Python 3.12+ the transport may keep a view of ``data`` until sent: safe,
            # since each read is a fresh bytes object (a reused buffer would not be).
            out.write(data)

    def eof_received(self) -> bool:
        self.eof = True
        peer = self.peer
        if peer is None:
            if not self._pending:
                _resolve(self.gone)
        elif peer.eof:  # both directions are done: close (its FIN) makes a shutdown needless
            self.close()
            peer.close()
        else:
            peer.end_write()
        return True  # keep the transport: the other direction may still carry bytes

    def pause_writing(self) -> None:
        # Our buffer toward this socket is full: stop reading the side that fills it.
        peer = self.peer
        if peer is not None and peer.transport is not None and not peer.transport.is_closing():
            peer.transport.pause_reading()

    def resume_writing(self) -> None:
        peer = self.peer
        if peer is not None and peer.transport is not None and not peer.transport.is_closing():
            peer.transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        _resolve(self.lost)
        _resolve(self.gone)
        peer = self.peer
        if peer is not None and peer.transport is not None and not peer.transport.is_closing():
            if exc is None:
                peer.transport.close()  # flush what is buffered toward it, then close
            else:
                peer.transport.abort()

    # -- for the proxy ---------------------------------------------------------------------

    def end_write(self) -> None:
        """Shut down our write half once the buffer is flushed (the peer sent FIN)."""
        out = self.transport
        if out is not None and not out.is_closing() and out.can_write_eof():
            out.write_eof()

    def close(self) -> None:
        """Close after flushing; ``lost`` resolves when the socket is closed."""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def abort(self) -> None:
        """Close now, dropping buffered bytes; ``lost`` resolves on the next loop turn."""
        if self.transport is not None and not self.lost.done():
            self.transport.abort()


def join(a: Half, b: Half) -> None:
    """Pair two connected halves and hand over what each read before it was paired."""
    a.peer, b.peer = b, a
    if a.lost.done() or b.lost.done():  # one side is already closed: close the other
        a.close()
        b.close()
        return
    both_done = a.eof and b.eof
    for src, dst in ((a, b), (b, a)):
        out = dst.transport
        assert out is not None  # joined only after connection_made
        for chunk in src._pending:
            out.write(chunk)
        src._pending.clear()
        src._pending_size = 0
        if src.eof and not both_done:
            dst.end_write()
        elif src.transport is not None:
            src.transport.resume_reading()
    if both_done:
        a.close()
        b.close()


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
