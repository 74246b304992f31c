"""The quick path (cli/quick.py): `status`, `health` and `logs -n` served without click
print what the full CLI prints, and every other form goes to the full CLI."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from .conftest import Project

WORKER = "import sys, time\nfor i in range(5): print('line', i, flush=True)\ntime.sleep(600)\n"


def _run(project: Project, *args: str, quick: bool = True, python: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1", "PYTHONUNBUFFERED": "1"}
    env.pop("DEV_ORCHESTRATOR_DEBUG", None)
    env["DEV_ORCHESTRATOR_QUICK"] = "1" if quick else "0"
    argv = [sys.executable, *python, "-m", "dev_orchestrator.cli", *args]
    return subprocess.run(argv, cwd=project.root, capture_output=True, text=True, timeout=60, env=env)


def _both(project: Project, *args: str) -> tuple[subprocess.CompletedProcess[str], subprocess.CompletedProcess[str]]:
    return _run(project, *args), _run(project, *args, quick=False)


def _stack(project: Project, ports: list[int]) -> None:
    (project.root / "worker.py").write_text(WORKER)
    project.write(
        f"""
        name: quick
        services:
          web:
            command: {project.server(ports[0])}
            ports: [{ports[0]}]
            healthcheck:
              http: {{url: "http://127.0.0.1:{ports[0]}/"}}
          worker:
            command: [{json.dumps(sys.executable)}, worker.py]
            depends_on: [web]
        """
    )


def _usage_free(data: dict[str, Any]) -> dict[str, Any]:
    """status --json without what changes from one call to the next (CPU, memory)."""
    for record in data["services"].values():
        record.pop("cpu_percent", None)
        record.pop("rss_bytes", None)
    return data


def test_quick_and_full_print_the_same(project: Project, ports: list[int]) -> None:
    _stack(project, ports)
    project.run("start", check=True)

    quick, full = _both(project, "status", "--json")
    assert quick.returncode == full.returncode == 0, quick.stderr + full.stderr
    assert _usage_free(json.loads(quick.stdout)) == _usage_free(json.loads(full.stdout))

    quick, full = _both(project, "ps", "worker", "--json")
    assert list(json.loads(quick.stdout)["services"]) == ["worker"]
    assert _usage_free(json.loads(quick.stdout)) == _usage_free(json.loads(full.stdout))

    # the table: the same lines, but for the columns that move (uptime, CPU, memory)
    def table(proc: subprocess.CompletedProcess[str]) -> list[str]:
        assert proc.returncode == 0, proc.stderr
        lines = [" ".join(line.split()) for line in proc.stdout.splitlines()]
        lines = [re.sub(r" \d+(s|m|h\d+m) (\d+) (\S+) \S+% \d+ MB$", r" \2 \3", line) for line in lines]
        return [re.sub(r"up \S+$", "up", line) for line in lines]

    quick, full = _both(project, "status")
    assert table(quick) == table(full)
    assert "web" in quick.stdout and "worker" in quick.stdout and "SERVICE" in quick.stdout

    for args in (("logs", "-n", "3", "worker"), ("logs", "-n2", "worker"), ("logs", "--lines=4", "worker")):
        quick, full = _both(project, *args)
        assert quick.returncode == full.returncode == 0
        assert quick.stdout == full.stdout and quick.stdout.count("worker |") == int(re.sub(r"\D", "", "".join(args)))

    quick, full = _both(project, "health", "--json")
    assert quick.returncode == full.returncode == 0
    shapes = []
    for proc in (quick, full):
        report = json.loads(proc.stdout)
        shapes.append({n: (r["healthy"], r["detail"]) for n, r in report["services"].items()})
    assert shapes[0] == shapes[1] and shapes[0]["web"][0] is True

    quick, full = _both(project, "health", "web")
    assert quick.returncode == full.returncode == 0
    assert quick.stdout.splitlines()[0].split()[:2] == ["web", "healthy"] and "1 healthy in" in quick.stdout

    # an unknown service: the full CLI's own error, once, exit 2
    quick, full = _both(project, "status", "nope")
    assert quick.returncode == full.returncode == 2
    assert quick.stderr == full.stderr and quick.stderr.count('unknown service "nope"') == 1
    quick, full = _both(project, "logs", "-n", "3", "nope")
    assert quick.returncode == full.returncode == 2 and quick.stderr == full.stderr


def _imports(project: Project, *args: str) -> set[str]:
    proc = _run(project, *args, python=("-X", "importtime"))
    return {line.split("|")[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}


def test_plain_forms_skip_click_and_other_forms_take_the_full_cli(project: Project, ports: list[int]) -> None:
    _stack(project, ports)
    project.run("start", check=True)
    for args in (("status",), ("status", "--json", "web"), ("health", "--json"), ("logs", "-n", "5")):
        loaded = _imports(project, *args)
        assert "click" not in loaded and "dataclasses" not in loaded, (args, sorted(loaded))
        assert "dev_orchestrator.cli.quick" in loaded
    for args in (("status", "--env", "dev"), ("logs", "-n", "x"), ("status", "--help"), ("health", "-h")):
        assert "click" in _imports(project, *args), args
    helped = _run(project, "status", "--help")
    assert helped.returncode == 0 and "Usage:" in helped.stdout
    bad = _run(project, "logs", "-n", "-3")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_without_a_supervisor_the_full_cli_answers_from_the_files(project: Project, ports: list[int]) -> None:
    _stack(project, ports)
    proc = _run(project, "status")
    assert proc.returncode == 0 and "supervisor not running" in proc.stdout, proc.stdout + proc.stderr
    assert "click" in _imports(project, "status")


def test_a_failed_request_is_not_asked_again_by_the_full_cli(project: Project, ports: list[int]) -> None:
    """A socket that answers garbage (not a supervisor of ours): the quick path's request
    fails, the full CLI takes that failure instead of connecting a second time."""
    _stack(project, ports)
    runtime = project.root / ".orchestrator"
    runtime.mkdir(mode=0o700)
    path = runtime / "supervisor.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(8)
    server.settimeout(0.2)
    accepted: list[int] = []
    done = threading.Event()

    def serve() -> None:
        while not done.is_set() and len(accepted) < 10:
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            accepted.append(1)
            with conn:
                conn.recv(4096)
                conn.sendall(b"not http at all\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        proc = _run(project, "status")
    finally:
        done.set()
        thread.join(5)
        server.close()
        Path(path).unlink(missing_ok=True)
    assert len(accepted) == 1, f"{len(accepted)} connections\n{proc.stdout}{proc.stderr}"
    assert proc.returncode == 0 and "supervisor not running" in proc.stdout, proc.stdout + proc.stderr


def test_the_quick_commands_are_the_ones_the_entry_point_offers_it() -> None:
    from dev_orchestrator.cli import QUICK_COMMANDS
    from dev_orchestrator.cli.quick import _HANDLERS

    assert set(QUICK_COMMANDS) == set(_HANDLERS)


def test_a_reader_that_leaves_a_bad_count_and_a_vanished_folder_end_as_in_the_full_cli(
        project: Project, ports: list[int]) -> None:
    """`logs | head -1` ends quietly with exit 1; `-n ²` is click's usage error; a working
    folder removed under the command is the full CLI's "internal error", not a traceback."""
    _stack(project, ports)
    (project.root / "logs").mkdir(mode=0o700)
    (project.root / "logs" / "web.log").write_text(
        "".join(f"2026-12-04T10:00:00.{i % 1000:03d} line {i} {'x' * 60}\n" for i in range(20000)))
    codes = []
    for quick in (True, False):
        env = {**os.environ, "NO_COLOR": "1", "DEV_ORCHESTRATOR_QUICK": "1" if quick else "0"}
        proc = subprocess.Popen([sys.executable, "-m", "dev_orchestrator.cli", "logs", "-n", "20000"],
                                cwd=project.root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proc.stdout is not None and proc.stderr is not None
        assert proc.stdout.readline().endswith(b"line 0 " + b"x" * 60 + b"\n")
        proc.stdout.close()  # as `head -1` does
        err = proc.stderr.read().decode()
        codes.append(proc.wait(timeout=30))
        assert "Traceback" not in err and "BrokenPipe" not in err, (quick, err)
    # 1 where the write fails with EPIPE (click's code); where the kernel's SIGPIPE ends the
    # process first, as on some machines, both end the same way all the same
    assert codes[0] == codes[1] and codes[0] in (0, 1), codes

    quick, full = _both(project, "logs", "-n", "²")
    assert quick.returncode == full.returncode == 2 and quick.stderr == full.stderr and "Traceback" not in quick.stderr

    gone = project.root / "gone"
    outputs = []
    for flag in ("1", "0"):
        script = f'mkdir "{gone}" && cd "{gone}" && rmdir "{gone}" && exec "$0" -m dev_orchestrator.cli status'
        env = {**os.environ, "NO_COLOR": "1", "DEV_ORCHESTRATOR_QUICK": flag}
        outputs.append(subprocess.run(["sh", "-c", script, sys.executable], env=env, capture_output=True, text=True,
                                      timeout=60))
    assert outputs[0].returncode == outputs[1].returncode != 0
    assert outputs[0].stderr == outputs[1].stderr and "Traceback" not in outputs[0].stderr, outputs[0].stderr
