"""A loopback TCP forwarder in front of a service's instances, for zero-downtime restarts.

Why: clients connect to one port the supervisor owns; the proxy forwards each connection
to one of the current upstream instances (round robin), so a restart can start the new
instance on a private port, switch new connections to it at once (``set_targets``), and
let the old instance finish its connections (``drain``) before it is stopped. Between
instances (a stop-first restart) an accepted connection is held, not refused, until a
target appears or ``hold_timeout`` passes.

Structure: ``serve()`` owns one task group. It holds the accept loop and one task per
connection, which waits for a target, connects, joins the two halves (``relay.Half``;
bytes then move in transport callbacks, not in the task) and waits for both sockets to
close. ``close()`` cancels them all; each connection task aborts its sockets and waits
until they are closed, so nothing is left when ``close()`` returns.

All methods are for the event loop's thread.
"""

from __future__ import annotations

import asyncio
import errno
import socket
from collections import Counter
from collections.abc import Iterable

from .listener import Listener
from .relay import Half, join

Target = tuple[str, int]

HOLD_TIMEOUT = 30.0  # seconds a connection waits for a reachable target before it is closed
CONNECT_TIMEOUT = 5.0  # seconds for one connect attempt
RETRY_FIRST, RETRY_MAX = 0.02, 0.5  # back-off between rounds of refused connects
LINGER = 30.0  # seconds one side may take to flush and close after the other closed
ACCEPT_BATCH = 64  # connections accepted per wake-up before yielding to the loop
RESOURCE_ERRORS = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)


class Proxy:
    """Forwards connections accepted on a ``Listener`` to the current upstream targets.

    Why it takes a ``Listener``: the supervisor owns the public port, across proxies
    too; a proxy never closes a listener it was given, only the one it made itself.
    """

    def __init__(
        self,
        listener: Listener | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        hold_timeout: float = HOLD_TIMEOUT,
        connect_timeout: float = CONNECT_TIMEOUT,
    ) -> None:
        self._own_listener = listener is None
        self._listener = listener if listener is not None else Listener(port, host)
        self.hold_timeout = hold_timeout
        self.connect_timeout = connect_timeout
        self._targets: tuple[Target, ...] = ()
        self._turn = 0  # round robin position
        self._open: Counter[Target] = Counter()  # connections per target, connecting included
        self._held = 0  # connections waiting for a target
        self._drains: dict[Target, set[asyncio.Future[None]]] = {}
        self._target_waiters: set[asyncio.Future[None]] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._tg: asyncio.TaskGroup | None = None
        self._stop = asyncio.Event()
        self._started: asyncio.Future[None] | None = None
        self._runner: asyncio.Task[None] | None = None
        self._serving = False
        self._done = asyncio.Event()

    # -- what the engine reads -------------------------------------------------------------

    @property
    def address(self) -> tuple[str, int]:
        return self._listener.address

    @property
    def port(self) -> int:
        return self._listener.port

    @property
    def targets(self) -> tuple[Target, ...]:
        return self._targets

    @property
    def held(self) -> int:
        """Connections accepted and not yet joined to an upstream (waiting or connecting)."""
        return self._held

    def connections(self, target: Target | None = None) -> int:
        """Open connections to ``target`` (those being connected included); all if None."""
        if target is None:
            return sum(self._open.values())
        return self._open.get(_key(target), 0)

    # -- lifecycle -------------------------------------------------------------------------

    async def serve(self) -> None:
        """Accept and forward until ``close()`` or cancellation: the form for a task group.

        Why both this and ``start``: an engine that runs the proxy in its own task group
        calls ``tg.create_task(proxy.serve())``; ``start`` runs it in a task of its own.
        """
        if self._serving:
            raise RuntimeError("this proxy is already serving")
        self._serving = True
        try:
            async with asyncio.TaskGroup() as tg:
                self._tg = tg
                accept = tg.create_task(self._accept_loop(), name=f"proxy:{self.port}:accept")
                if self._started is not None and not self._started.done():
                    self._started.set_result(None)
                try:
                    await self._stop.wait()
                finally:
                    self._tg = None  # no new connection tasks from here on
                    accept.cancel()
                    for task in list(self._tasks):
                        task.cancel()
        finally:
            if self._own_listener:
                self._listener.close()
            self._done.set()

    async def start(self) -> None:
        """Start serving in a task owned by this proxy; return once it accepts."""
        if self._runner is not None:
            raise RuntimeError("this proxy was already started")
        loop = asyncio.get_running_loop()
        self._started = loop.create_future()
        self._runner = loop.create_task(self.serve(), name=f"proxy:{self.port}")
        await asyncio.wait({self._started, self._runner}, return_when=asyncio.FIRST_COMPLETED)
        if self._runner.done():
            self._runner.result()  # serve() failed before it accepted: raise why

    async def close(self) -> None:
        """Stop accepting, drop every connection (held ones too) and release the sockets.

        Why abrupt: a graceful stop is ``set_targets`` to the next instance and ``drain``
        of the old one first; ``close`` is for the end of the stack.
        """
        self._stop.set()
        runner = self._runner
        if runner is not None:
            await asyncio.wait({runner})
            if not runner.cancelled():
                runner.result()  # re-raise a failure of serve()
        elif self._serving:
            await self._done.wait()  # serve() runs in the caller's task group
        elif self._own_listener:
            self._listener.close()

    async def __aenter__(self) -> Proxy:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- switching and draining ------------------------------------------------------------

    def set_targets(self, targets: Iterable[Target]) -> None:
        """Send new connections to ``targets`` from now on; open ones stay where they are.

        Why atomic: the next connection picked after this call already uses the new set,
        held connections included; an empty set makes new connections wait.
        """
        self._targets = tuple(_key(t) for t in targets)
        if self._targets:
            waiters, self._target_waiters = self._target_waiters, set()
            for waiter in waiters:
                _resolve(waiter)

    async def drain(self, target: Target, timeout: float) -> bool:
        """Wait until no connection to ``target`` is open; False if ``timeout`` passed first.

        Why no polling: the last connection's close resolves the waiting future. Call it
        after ``set_targets`` without ``target``, or new connections keep it busy.
        """
        key = _key(target)
        if not self._open.get(key):
            return True
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._drains.setdefault(key, set()).add(waiter)
        try:
            done, _ = await asyncio.wait({waiter}, timeout=max(0.0, timeout))
            return bool(done)
        finally:
            waiters = self._drains.get(key)
            if waiters is not None:
                waiters.discard(waiter)
                if not waiters:
                    del self._drains[key]

    # -- inside ----------------------------------------------------------------------------

    async def _accept_loop(self) -> None:
        """Accept until cancelled: a reader callback on the listener, one task per connection.

        Why a callback and not ``loop.sock_accept`` in a loop: the listener stays
        registered with the selector instead of being added and removed for every
        connection, and a wake-up accepts all that are queued (up to ``ACCEPT_BATCH``).
        The task only owns the registration and carries a listener failure to serve().
        """
        loop = asyncio.get_running_loop()
        fd = self._listener.fileno()
        failed: asyncio.Future[None] = loop.create_future()
        resume: asyncio.TimerHandle | None = None

        def acceptable() -> None:
            nonlocal resume
            sock = self._listener.socket
            for _ in range(ACCEPT_BATCH):
                try:
                    conn, _ = sock.accept()
                except (BlockingIOError, InterruptedError):
                    return
                except ConnectionAbortedError:
                    continue
                except OSError as exc:
                    if exc.errno in RESOURCE_ERRORS:  # out of fds or memory: pause, retry
                        loop.remove_reader(fd)
                        resume = loop.call_later(0.1, loop.add_reader, fd, acceptable)
                    elif not failed.done():
                        failed.set_exception(exc)
                    return
                self._spawn(conn)

        loop.add_reader(fd, acceptable)
        try:
            await failed  # ends by cancellation (close), or when the listener fails
        finally:
            if resume is not None:
                resume.cancel()
            loop.remove_reader(fd)

    def _spawn(self, conn: socket.socket) -> None:
        tg = self._tg
        try:
            if tg is None:  # stopping
                raise RuntimeError("the proxy is stopping")
            task = tg.create_task(self._connection(conn))
        except RuntimeError:  # stopping, or the task group is shutting down
            conn.close()
            return
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _connection(self, conn: socket.socket) -> None:
        """One client connection from accept to close: hold, connect, forward, clean up."""
        loop = asyncio.get_running_loop()
        client = Half(loop)
        upstream: Half | None = None
        target: Target | None = None
        try:
            try:
                await loop.connect_accepted_socket(lambda: client, conn)
            except OSError:
                conn.close()
                return
            self._held += 1
            try:
                picked = await self._connect(client)
            finally:
                self._held -= 1
            if picked is None:
                return
            upstream, target = picked
            join(client, upstream)
            await asyncio.wait({client.lost, upstream.lost}, return_when=asyncio.FIRST_COMPLETED)
            # One side closed; the other was told to flush and close: give it LINGER.
            await asyncio.wait({client.lost, upstream.lost}, timeout=LINGER)
        finally:
            try:
                await _shut(client, upstream)
            finally:
                if target is not None:
                    self._release(target)

    async def _connect(self, client: Half) -> tuple[Half, Target] | None:
        """Connect to a target: next one on refusal, wait while none, up to the hold timeout.

        Why the set is read again before each attempt: after ``set_targets`` a connection
        that is retrying must not pick a target that was just taken out (and is draining).
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.hold_timeout
        delay = RETRY_FIRST
        attempts = 0  # in this round; a round is one attempt per target
        while not client.gone.done() and loop.time() < deadline:  # bounded by the deadline
            targets = self._targets
            if not targets:
                await self._wait_targets(client, deadline)
                attempts = 0
                continue
            if attempts >= len(targets):  # every target refused: wait, less if they change
                await self._wait_targets(client, min(deadline, loop.time() + delay))
                delay = min(delay * 2, RETRY_MAX)
                attempts = 0
                continue
            target = targets[self._turn % len(targets)]
            self._turn += 1
            attempts += 1
            upstream = await self._try(target, deadline)
            if upstream is not None:
                return upstream, target
        return None

    async def _try(self, target: Target, deadline: float) -> Half | None:
        """One connect attempt; counts toward ``connections(target)`` while it runs."""
        loop = asyncio.get_running_loop()
        upstream = Half(loop)
        self._open[target] += 1
        try:
            timeout = max(0.001, min(self.connect_timeout, deadline - loop.time()))
            async with asyncio.timeout(timeout):
                await loop.create_connection(lambda: upstream, target[0], target[1])
        except (OSError, TimeoutError):
            self._release(target)
            return None
        except BaseException:
            self._release(target)
            upstream.abort()
            raise
        return upstream

    async def _wait_targets(self, client: Half, until: float) -> None:
        """Return when the targets change, the client is gone, or ``until`` (loop time)."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self._target_waiters.add(waiter)
        try:
            await asyncio.wait({waiter, client.gone}, timeout=max(0.0, until - loop.time()),
                               return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._target_waiters.discard(waiter)

    def _release(self, target: Target) -> None:
        left = self._open[target] - 1
        if left > 0:
            self._open[target] = left
            return
        del self._open[target]
        for waiter in self._drains.pop(target, set()):
            _resolve(waiter)


async def _shut(*halves: Half | None) -> None:
    """Abort what is still open and wait until its sockets are closed (bounded)."""
    waiting = []
    for half in halves:
        if half is not None and half.transport is not None and not half.lost.done():
            half.abort()
            waiting.append(half.lost)
    if waiting:
        # abort() closes the socket on the next loop turn; a second cancellation of this
        # task (a caller giving up on close) may cut this wait short, never the abort.
        await asyncio.wait(waiting, timeout=1.0)


def _key(target: Target) -> Target:
    host, port = target
    return (str(host), int(port))


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
