"""On a terminal, `start` shows one live line per service; the scrollback keeps plain lines."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import time

from .conftest import CLI, Project


def run_on_terminal(project: Project, *args: str, timeout: float = 60) -> tuple[int, str]:
    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    env.update(TERM="xterm-256color", COLUMNS="120", LINES="40")
    proc = subprocess.Popen([*CLI, *args], cwd=project.root, env=env, stdin=slave, stdout=slave, stderr=slave)
    os.close(slave)
    chunks = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:  # the terminal closed: the command is done
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    os.close(master)
    code = proc.wait(timeout=10)
    return code, b"".join(chunks).decode(errors="replace")


def test_start_on_a_terminal_shows_live_lines(project: Project, ports: list[int]) -> None:
    a, b, _, _ = ports
    project.write(
        f"""
        services:
          db:
            command: {project.server(a, 1.0)}
            healthcheck: {{http: {{url: "http://127.0.0.1:{a}/"}}}}
          api:
            command: {project.server(b)}
            depends_on: [db]
            healthcheck: {{tcp: {{port: {b}}}}}
        """
    )
    code, out = run_on_terminal(project, "start")
    assert code == 0, out
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out)
    assert "waiting for db" in plain  # the live line of api while db starts
    assert "probing" in plain  # db's live line while its probe still fails
    assert re.search(r"db\s+started\s+pid \d+\s+healthy in", plain)  # the scrollback's plain lines
    assert "2 services up" in plain
    assert "\x1b[" in out  # drawn with colours and cursor moves
