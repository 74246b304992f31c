"""The cyclic garbage collector paused while a stack is read.

Reading a file builds hundreds of thousands of small objects (the node tree, the data,
a place for every value, the models) and frees them by reference counting; cycles are
rare. With the collector on, its passes over the growing young and old generations took
more than half of loading a 10,000-service file (bench/plan_bench.py: load 2.0 s with it,
0.78 s without). The pause lasts one load or resolve, and the collector's own schedule
resumes after it.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Collector off for the block (and back on after it, if it was on); also a decorator."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
