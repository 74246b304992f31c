"""Helpers for chaos tests that drive the real CLI against real supervisors in temp projects.

Every process a test starts is signalled only by pid; every supervisor is stopped in the
fixture's teardown, and the teardown fails the test if anything of the project is left.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

CLI = [sys.executable, "-m", "dev_orchestrator.cli"]
MARKER_ENV = "DEV_ORCHESTRATOR_MARKER"

# A service that sleeps; with "--child" it also keeps a child process that sleeps.
SLEEPER = textwrap.dedent(
    """
    import subprocess, sys, time
    if "--child" in sys.argv:
        kid = subprocess.Popen([sys.executable, __file__, "--kid"])
    print("sleeping", flush=True)
    time.sleep(300)
    """
)

# A service whose process double-forks a grandchild that leaves the session (setsid)
# and sleeps; the grandchild writes its pid to argv[1]. argv[2]: "stay" keeps the service
# running, "crash" makes it exit 1 by itself once the file argv[3] exists. argv[4] == "ignore":
# the grandchild ignores SIGTERM (only SIGKILL ends it). The grandchild keeps the
# service's output pipes open, as a careless daemon does.
ESCAPER = textwrap.dedent(
    """
    import os, signal, sys, time
    pidfile, mode = sys.argv[1], sys.argv[2]
    trigger = sys.argv[3]
    ignore = len(sys.argv) > 4 and sys.argv[4] == "ignore"
    child = os.fork()
    if child == 0:
        os.setsid()
        if os.fork() == 0:
            if ignore:
                signal.signal(signal.SIGTERM, signal.SIG_IGN)
            with open(pidfile + ".tmp", "w") as fh:
                fh.write(str(os.getpid()))
            os.rename(pidfile + ".tmp", pidfile)
            time.sleep(300)
            os._exit(0)
        os._exit(0)
    os.waitpid(child, 0)
    deadline = time.monotonic() + 10
    while not os.path.exists(pidfile) and time.monotonic() < deadline:
        time.sleep(0.01)
    print("escaped child written", flush=True)
    if mode == "crash":
        deadline = time.monotonic() + 120
        while not os.path.exists(trigger) and time.monotonic() < deadline:
            time.sleep(0.01)
        print("crashing now", flush=True)
        sys.exit(1)
    time.sleep(300)
    """
)


def wait_until(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


def gone(pid: int) -> bool:
    """True when ``pid`` no longer runs (a zombie counts as gone: it runs nothing)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def alive(proc: subprocess.Popen[Any] | int) -> bool:
    pid = proc if isinstance(proc, int) else proc.pid
    if not isinstance(proc, int) and proc.poll() is not None:
        return False
    return not gone(pid)


def output(proc: subprocess.CompletedProcess[str]) -> str:
    """Everything a command printed (result lines go to stdout, progress to stderr)."""
    return proc.stdout + proc.stderr


def marker_of(proc: psutil.Process) -> str | None:
    try:
        return proc.environ().get(MARKER_ENV)
    except (psutil.Error, OSError):
        return None


def marked(prefix: str) -> list[psutil.Process]:
    """Live (non-zombie) processes whose marker starts with ``prefix``."""
    out = []
    for proc in psutil.process_iter():
        if proc.pid == os.getpid():
            continue
        value = marker_of(proc)
        if value is not None and value.startswith(prefix):
            with contextlib.suppress(psutil.Error):
                if proc.status() != psutil.STATUS_ZOMBIE:
                    out.append(proc)
    return out


def processes_in(root: Path) -> list[psutil.Process]:
    """Every live process whose command line or working folder is inside ``root``."""
    found = []
    me = os.getpid()
    text = str(root)
    for proc in psutil.process_iter(["pid", "cmdline", "status"]):
        with contextlib.suppress(psutil.Error):
            if proc.pid == me or proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            if any(text in part for part in proc.info["cmdline"] or []):
                found.append(proc)
                continue
            with contextlib.suppress(psutil.Error):
                if proc.cwd().startswith(text):
                    found.append(proc)
    return found


def supervisor_processes(root: Path) -> list[psutil.Process]:
    """The supervisor daemons of the project at ``root`` (by command line and folder)."""
    out = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        with contextlib.suppress(psutil.Error):
            if proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            if "dev_orchestrator.control.daemon" in " ".join(proc.info["cmdline"] or []) and proc.cwd() == str(root):
                out.append(proc)
    return out


class Project:
    """A temp project with a services.yaml; runs the CLI in it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        (root / "sleeper.py").write_text(SLEEPER)
        (root / "escaper.py").write_text(ESCAPER)
        self.extra: list[subprocess.Popen[Any]] = []  # bystanders started by the test

    # -- files ---------------------------------------------------------------------------

    @property
    def runtime(self) -> Path:
        return self.root / ".orchestrator"

    @property
    def state_path(self) -> Path:
        return self.runtime / "state.json"

    @property
    def socket_path(self) -> Path:
        return self.runtime / "supervisor.sock"

    @property
    def log_path(self) -> Path:
        return self.runtime / "supervisor.log"

    @property
    def project_id(self) -> str:
        """The id every marker of this project starts with (checked against state.json)."""
        return hashlib.sha256(str(self.root.resolve()).encode()).hexdigest()[:16]

    def write(self, text: str) -> None:
        (self.root / "services.yaml").write_text(textwrap.dedent(text))

    def sleeper(self, *extra: str) -> str:
        return json.dumps([sys.executable, str(self.root / "sleeper.py"), *extra])

    def escaper(self, mode: str = "stay", ignore_term: bool = False) -> str:
        """See ESCAPER; in "crash" mode the service exits once ``crash.now`` exists."""
        argv = [sys.executable, str(self.root / "escaper.py"), str(self.root / "escaped.pid"), mode,
                str(self.root / "crash.now"), "ignore" if ignore_term else "-"]
        return json.dumps(argv)

    def sleepers(self, *names: str) -> None:
        """A stack of plain sleeping services (quick to stop)."""
        body = "".join(
            f"  {name}:\n    command: {self.sleeper()}\n    stop_grace_period: 2s\n" for name in names
        )
        self.write("name: chaos\nservices:\n" + body)

    def state(self) -> dict[str, Any]:
        return dict(json.loads(self.state_path.read_text()))

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    # -- commands ------------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        env = {**os.environ, "NO_COLOR": "1", "PYTHONUNBUFFERED": "1"}
        for key in ("ZYRON_ENV", "DEV_ORCHESTRATOR_DEBUG", MARKER_ENV):
            env.pop(key, None)
        return env

    def run(self, *args: str, timeout: float = 60, check: bool | None = None,
            cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([*CLI, *args], cwd=cwd or self.root, capture_output=True, text=True,
                              timeout=timeout, env=self.env())
        if check is not None:
            assert (proc.returncode == 0) == check, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        return proc

    def status(self, timeout: float = 60) -> dict[str, Any]:
        proc = self.run("status", "--json", check=True, timeout=timeout)
        return dict(json.loads(proc.stdout))

    def pids(self) -> dict[str, int | None]:
        return {n: r["pid"] for n, r in self.status()["services"].items()}

    def supervisor_pid(self) -> int:
        status = self.status()
        assert status["supervisor"]["running"] is True, status
        return int(status["supervisor"]["pid"])

    def popen(self, argv: list[str], **kwargs: Any) -> subprocess.Popen[Any]:
        """Start a bystander process of the test's own (killed in teardown)."""
        proc = subprocess.Popen(argv, **kwargs)
        self.extra.append(proc)
        return proc

    def bystander(self) -> subprocess.Popen[Any]:
        return self.popen([sys.executable, "-c", "import time; time.sleep(120)"])

    # -- teardown ------------------------------------------------------------------------

    def cleanup(self) -> list[str]:
        """Stop the supervisor and whatever of the project is left; describe leftovers."""
        for proc in supervisor_processes(self.root):
            with contextlib.suppress(psutil.Error):
                proc.send_signal(signal.SIGCONT)  # in case a test left it stopped
        with contextlib.suppress(Exception):
            self.run("stop", "--grace", "1s", timeout=60)
        for proc in self.extra:
            if proc.poll() is None:
                proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)

        def leftovers() -> list[psutil.Process]:
            return processes_in(self.root) + marked(f"{self.project_id}:")

        wait_until(lambda: not leftovers(), timeout=5)
        left = leftovers()
        described = []
        for proc in left:
            with contextlib.suppress(psutil.Error):
                described.append(f"{proc.pid} {proc.cmdline()}")
                proc.send_signal(signal.SIGKILL)
        return described


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Project]:
    proj = Project(tmp_path / "proj")
    yield proj
    left = proj.cleanup()
    assert not left, f"processes left behind: {left}"


@contextlib.contextmanager
def module_project(tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[Project]:
    """A project for a module-scoped fixture (one supervisor shared by a module's tests)."""
    proj = Project(tmp_path_factory.mktemp(name) / "proj")
    try:
        yield proj
    except BaseException:
        proj.cleanup()
        raise
    left = proj.cleanup()
    assert not left, f"processes left behind: {left}"
