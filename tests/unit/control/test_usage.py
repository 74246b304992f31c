"""A service's process tree for `status`: walked down through the kernel's children lists."""

from __future__ import annotations

import subprocess
import sys
import time

import psutil

from dev_orchestrator.control.usage import Usage, children_map, family, kernel_children

TREE = ("import subprocess, sys, time\n"
        "kids = [subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)']) for _ in range(2)]\n"
        "print('ready', flush=True)\n"
        "time.sleep(30)\n")


def test_the_kernel_walk_finds_the_same_tree_as_the_process_table() -> None:
    parent = subprocess.Popen([sys.executable, "-c", TREE], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None and parent.stdout.readline().strip() == "ready"
        walked = family(parent.pid, kernel_children)
        assert sorted(walked) == sorted(family(parent.pid, children_map().get))
        assert walked[0] == parent.pid and len(walked) == 3
        assert sorted(walked[1:]) == sorted(c.pid for c in psutil.Process(parent.pid).children())
        records = {"svc": {"pid": parent.pid, "create_time": psutil.Process(parent.pid).create_time()}}
        Usage().fill(records)
        assert records["svc"]["rss_bytes"] > 3 * 1_000_000  # three Python interpreters
        assert family(None, kernel_children) == []
    finally:
        for proc in psutil.Process(parent.pid).children():
            proc.kill()
        parent.kill()
        parent.wait(timeout=10)
    deadline = time.monotonic() + 5
    while kernel_children(parent.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert kernel_children(parent.pid) == []  # gone: no children, no error


def test_cpu_percent_is_measured_between_two_calls() -> None:
    """A process that spins shows about one core between two calls; a sleeper about none;
    the first call has nothing to measure against (0.0, as psutil's first call)."""
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    idle = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        usage = Usage()
        records = {name: {"pid": proc.pid, "create_time": psutil.Process(proc.pid).create_time()}
                   for name, proc in (("busy", busy), ("idle", idle))}
        usage.fill(records)
        assert records["busy"]["cpu_percent"] == 0.0
        time.sleep(1.0)
        usage.fill(records)
        assert 30.0 < records["busy"]["cpu_percent"] <= 110.0, records  # a shared machine may lend less
        assert records["idle"]["cpu_percent"] < 5.0, records
        # a recorded create time that is not the process's: another key, measured afresh
        other = {"busy": {"pid": busy.pid, "create_time": 1.0}}
        usage.fill(other)
        assert other["busy"]["cpu_percent"] == 0.0 and other["busy"]["rss_bytes"] > 1_000_000
    finally:
        for proc in (busy, idle):
            proc.kill()
            proc.wait(timeout=10)
