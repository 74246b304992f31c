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
