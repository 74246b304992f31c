"""A second look at files that changed while polling, for the edits polling cannot see.

notify's poll watcher (what ``WATCHFILES_FORCE_POLLING`` selects) compares modification
times in whole seconds, so a write in the same second as the one it last saw goes
unnoticed for good: a formatter's rewrite right after a save, the second of two quick
saves, an edit of a file written just before the watch began. The rechecker stats a
file again a little over a second after each change it was told of (and after the
start, for the files written in the second before it), and reports it once more when
its full-precision signature moved on.
Clock- and stat-injected, so it is tested without sleeping.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from .debounce import Clock

RESOLUTION = 1.0  # seconds: the poll watcher's mtime precision
DELAY = RESOLUTION + 0.1

Signature = tuple[int, int, int] | None  # (mtime ns, size, inode); None: gone


def polling_enabled(force_polling: bool | None) -> bool:
    """Whether watchfiles will poll: the argument, else ``WATCHFILES_FORCE_POLLING``, else WSL.

    The same rule as watchfiles' own, which it keeps private.
    """
    if force_polling is not None:
        return force_polling
    value = os.environ.get("WATCHFILES_FORCE_POLLING")
    if value:
        return value.lower() not in {"false", "disable", "disabled"}
    uname = platform.uname()
    return "microsoft-standard" in uname.release.lower() and uname.system.lower() == "linux"


def signature(path: Path) -> Signature:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_mtime_ns, info.st_size, info.st_ino)


class Rechecker:
    """Files to look at again once the poll watcher's resolution has passed."""

    def __init__(
        self, clock: Clock, *, delay: float = DELAY, stat: Callable[[Path], Signature] = signature
    ) -> None:
        self.clock = clock
        self.delay = delay
        self.stat = stat
        self._pending: dict[Path, tuple[Signature, float]] = {}

    def seen(self, path: Path, at: float | None = None) -> None:
        """A change of ``path`` was reported (by the poller, or by this rechecker)."""
        at = self.clock() if at is None else at
        self._pending[path] = (self.stat(path), at + self.delay)

    def recent(self, paths: Iterable[Path], wall: Callable[[], float] = time.time) -> None:
        """Look again at those of ``paths`` written in the last second, as the watch starts.

        The poller's first snapshot cannot tell a file written in that second from the
        same file rewritten (same size) before the second is over: a services.yaml saved
        just before ``watch`` started and edited again at once.
        """
        since = int(wall()) - RESOLUTION
        for path in paths:
            found = self.stat(path)
            if found is not None and found[0] / 1e9 >= since:
                self._pending[path] = (found, self.clock() + self.delay)

    def next_due(self) -> float | None:
        return min((due for _, due in self._pending.values()), default=None)

    def due(self) -> list[Path]:
        """The files whose look is due and that changed since they were reported."""
        now = self.clock()
        changed = []
        for path, (before, due) in list(self._pending.items()):
            if due > now:
                continue
            del self._pending[path]
            after = self.stat(path)
            if after is not None and after != before:
                changed.append(path)
        return sorted(changed)
