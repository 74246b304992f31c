"""Hazards in the runtime folders: symlinks and wrong file types where the supervisor keeps
its files. `start` refuses with exit 2 and a message naming the path, starts nothing, and
never touches what a symlink points at."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import Project, processes_in, supervisor_processes


def _tree(path: Path) -> dict[str, tuple[int, bytes | None]]:
    """Every entry under ``path`` (itself included): mode and, for files, content."""
    out: dict[str, tuple[int, bytes | None]] = {}
    st = os.lstat(path)
    out["."] = (st.st_mode, None)
    if stat.S_ISDIR(st.st_mode):
        for entry in sorted(path.rglob("*")):
            est = os.lstat(entry)
            body = entry.read_bytes() if stat.S_ISREG(est.st_mode) else None
            out[str(entry.relative_to(path))] = (est.st_mode, body)
    else:
        out["."] = (st.st_mode, path.read_bytes())
    return out


def _outside(project: Project, kind: str) -> Path:
    """A folder (mode 0755, one file in it) or a file (mode 0644) outside the project."""
    base = project.root.parent / "elsewhere"
    base.mkdir(exist_ok=True)
    if kind == "dir":
        target = base / "folder"
        target.mkdir()
        (target / "keep.txt").write_text("keep me\n")
        os.chmod(target, 0o755)
    else:
        target = base / "file.json"
        target.write_text('{"keep": true}\n')
        os.chmod(target, 0o644)
    return target


def _runtime(project: Project) -> Path:
    project.runtime.mkdir(mode=0o700)
    return project.runtime


# id -> (make the hazard, returning (the path named in the message, what it points at or None), words)
HAZARDS: dict[str, tuple[Callable[[Project], tuple[Path, Path | None]], str]] = {
    ".orchestrator a symlink to a folder": (
        lambda p: (_link(p.runtime, _outside(p, "dir")), p.root.parent / "elsewhere" / "folder"), "symlink"),
    ".orchestrator a dangling symlink": (
        lambda p: (_link(p.runtime, p.root.parent / "nowhere"), None), "symlink"),
    ".orchestrator a file": (lambda p: (_file(p.runtime), None), "not a folder"),
    "logs a symlink to a folder": (
        lambda p: (_link(p.root / "logs", _outside(p, "dir")), p.root.parent / "elsewhere" / "folder"), "symlink"),
    "supervisor.sock a folder": (lambda p: (_dir(_runtime(p) / "supervisor.sock"), None), "is a folder"),
    "state.json a symlink to a file": (
        lambda p: (_link(_runtime(p) / "state.json", _outside(p, "file")), p.root.parent / "elsewhere" / "file.json"),
        "symlink"),
    "supervisor.lock a symlink to a file": (
        lambda p: (_link(_runtime(p) / "supervisor.lock", _outside(p, "file")),
                   p.root.parent / "elsewhere" / "file.json"), "symlink"),
    "supervisor.log a folder": (lambda p: (_dir(_runtime(p) / "supervisor.log"), None), "is a folder"),
}


def _link(path: Path, target: Path) -> Path:
    path.symlink_to(target)
    return path


def _file(path: Path) -> Path:
    path.write_text("not a folder\n")
    return path


def _dir(path: Path) -> Path:
    path.mkdir()
    return path


@pytest.mark.timeout(60)
@pytest.mark.parametrize("hazard", list(HAZARDS))
def test_start_refuses_a_hazard_in_the_runtime_folders(project: Project, hazard: str) -> None:
    project.sleepers("web")
    make, words = HAZARDS[hazard]
    path, target = make(project)
    before = _tree(target) if target is not None else None
    lbefore = os.lstat(path)

    proc = project.run("start")
    assert proc.returncode == 2, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert str(path) in proc.stderr, proc.stderr
    assert words in proc.stderr, proc.stderr
    assert "hint:" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "internal error" not in proc.stderr
    assert not supervisor_processes(project.root) and not processes_in(project.root)
    if target is not None:
        assert _tree(target) == before, f"start changed {target}, which {path} points at"
    lafter = os.lstat(path)
    assert (lafter.st_mode, lafter.st_ino) == (lbefore.st_mode, lbefore.st_ino), "the hazard itself was changed"
    assert not (project.root / "logs").is_dir() or (project.root / "logs").is_symlink() or not any(
        (project.root / "logs").iterdir()), "a service wrote its log although start refused"

    if target is not None:
        # nor do status and stop follow the link into a change
        for args in (["status"], ["stop"]):
            other = project.run(*args)
            assert "Traceback" not in other.stdout + other.stderr, (args, other.stderr)
        assert _tree(target) == before, f"status/stop changed {target}, which {path} points at"
