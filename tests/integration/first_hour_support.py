"""Helpers for the first-hour tests: fresh copies of the repository, a clean environment,
a .venv for a copy that does not need a minute of pip, the README's tour as a script, and
small executable stubs."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shlex
import shutil
import site
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[2]
CLEAN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# The interpreter the project's .venv was made from: a Python without the project's packages.
BASE_PYTHON = Path(getattr(sys, "_base_executable", sys.executable))


def copy_repo(dest: Path) -> Path:
    """Copy what a fresh clone of the working tree would hold: the tracked files and the
    untracked ones git does not ignore (uncommitted changes included; no .venv, no logs)."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO,
                            capture_output=True, check=True).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = REPO / name
        if not source.exists() and not source.is_symlink():
            continue  # deleted in the working tree, not yet in git
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            target.symlink_to(os.readlink(source))
        else:
            shutil.copy2(source, target)
    return dest


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """What `env -i PATH=... HOME=...` leaves: nothing of this test run's environment."""
    return {"PATH": CLEAN_PATH, "HOME": str(home), **extra}


def stamp_for(repo: Path, extras: str) -> str:
    """The record `./dev` keeps of what it installed into .venv (see ensure_venv there)."""
    digest = hashlib.sha256((repo / "pyproject.toml").read_bytes()).hexdigest()[:16]
    return f"{digest}-{extras}"


def seed_venv(repo: Path, extras: str = "zyron,gpu") -> Path:
    """Give a copy of the repository a working .venv without installing anything.

    A real first install takes about a minute (and needs the package index); the tests of
    that step use stubs instead. This .venv is a new, empty venv whose site-packages point
    first at the copy's own src/, then at the packages of the environment running the
    tests, and `./dev`'s stamp says it is current, so `./dev` forwards at once. Nothing is
    written into the project's own .venv.
    """
    venv = repo / ".venv"
    subprocess.run([str(BASE_PYTHON), "-m", "venv", "--without-pip", str(venv)], check=True,
                   capture_output=True)
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    purelib = venv / "lib" / version / "site-packages"
    lines = [str(repo / "src")]
    lines += [f"import site; site.addsitedir({path!r})" for path in site.getsitepackages()]
    (purelib / "_first_hour_packages.pth").write_text("\n".join(lines) + "\n")
    for name, target in (("dev-orchestrator", "dev_orchestrator.cli"), ("check-gpu", "dev_orchestrator.gpu")):
        script = venv / "bin" / name
        script.write_text(f"#!{venv / 'bin' / 'python'}\nimport sys\nfrom {target} import main\n"
                          "sys.exit(main())\n")
        script.chmod(0o755)
    (venv / ".dev-stamp").write_text(stamp_for(repo, extras) + "\n")
    return venv


TOUR_MARK = "<!-- tour -->"
_FENCE = re.compile(r"^```(\w*)\s*$")


def tour_commands(readme: str) -> list[str]:
    """The commands of the README's tour: every line of each ```bash (or sh) block that
    follows a `<!-- tour -->` line, in order; blank lines and comments skipped, lines ending
    in a backslash joined."""
    commands: list[str] = []
    lines = readme.splitlines()
    index = 0
    while index < len(lines):
        if lines[index].strip() != TOUR_MARK:
            index += 1
            continue
        fence = _FENCE.match(lines[index + 1]) if index + 1 < len(lines) else None
        if fence is None or fence.group(1) not in ("bash", "sh", "shell"):
            raise ValueError(f"README.md:{index + 2}: a {TOUR_MARK} line must come right before a ```bash block")
        index += 2
        pending = ""
        while not lines[index].startswith("```"):
            line = lines[index]
            index += 1
            if line.endswith("\\"):
                pending += line[:-1] + " "
                continue
            line = pending + line
            pending = ""
            if line.strip() and not line.lstrip().startswith("#"):
                commands.append(line.strip())
    return commands


def tour_script(commands: list[str]) -> str:
    """One bash script that runs the commands in one shell (so `cd` and `. activate` carry
    over), echoes each, and stops at the first that exits non-zero, naming it."""
    parts = ["set -u"]
    for command in commands:
        quoted = shlex.quote(command)
        parts.append(textwrap.dedent(f"""\
            printf '\\n$ %s\\n' {quoted}
            {command}
            rc=$?
            if [ "$rc" -ne 0 ]; then printf 'tour: exit %s from: %s\\n' "$rc" {quoted} >&2; exit 97; fi"""))
    return "\n".join(parts) + "\n"


def write_stub(path: Path, body: str) -> Path:
    """An executable shell script (a stand-in for a system command)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n" + textwrap.dedent(body))
    path.chmod(0o755)
    return path


def port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def leftovers(root: Path) -> list[psutil.Process]:
    """Processes still running from under `root` (by working folder or command line)."""
    found = []
    for proc in psutil.process_iter(["cmdline", "cwd", "status"]):
        with contextlib.suppress(psutil.Error):
            if proc.pid == os.getpid() or proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            if str(root) in " ".join(proc.info["cmdline"] or []) or str(proc.info["cwd"] or "").startswith(str(root)):
                found.append(proc)
    return found


def kill_leftovers(root: Path) -> None:
    for proc in leftovers(root):
        with contextlib.suppress(psutil.Error):
            proc.kill()
