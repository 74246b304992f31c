"""Escaped descendants: a service double-forks a grandchild that calls setsid() and sleeps.

The supervisor is a child subreaper, so the grandchild comes back to it; it must go with
its service on `stop`, and when the service's own process crashes, and no zombie may be
left as a child of the supervisor.
"""

from __future__ import annotations

import contextlib
import os

import psutil
import pytest

from .conftest import MARKER_ENV, Project, alive, gone, marked, wait_until


def _stack(project: Project, *, mode: str = "stay", ignore_term: bool = False) -> None:
    project.write(
        f"""
        name: chaos
        services:
          escaper:
            command: {project.escaper(mode, ignore_term=ignore_term)}
            restart: "no"
            stop_grace_period: 1s
          keeper:
            command: {project.sleeper()}
            stop_grace_period: 1s
        """
    )


def _grandchild(project: Project) -> int:
    pidfile = project.root / "escaped.pid"
    assert wait_until(lambda: pidfile.exists(), timeout=15), "the escaped grandchild never wrote its pid"
    return int(pidfile.read_text())


def _zombie_children(pid: int) -> list[int]:
    try:
        kids = psutil.Process(pid).children()
    except psutil.Error:
        return []
    out = []
    for kid in kids:
        with contextlib.suppress(psutil.Error):
            if kid.status() == psutil.STATUS_ZOMBIE:
                out.append(kid.pid)
    return out


def _escaped(project: Project, service_pid: int, grandchild: int, supervisor: int) -> None:
    """The grandchild really escaped: another session, not a descendant of the service,
    re-parented to the supervisor (child subreaper), still carrying the service's marker."""
    proc = psutil.Process(grandchild)
    assert os.getsid(grandchild) != os.getsid(service_pid)
    assert grandchild not in {p.pid for p in psutil.Process(service_pid).children(recursive=True)}
    assert wait_until(lambda: proc.ppid() == supervisor, timeout=5), (
        f"the escaped grandchild's parent is {proc.ppid()}, not the supervisor {supervisor}")
    assert proc.environ().get(MARKER_ENV, "").endswith(":escaper")


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("ignore_term", "how"), [(True, "stop"), (True, "stop escaper")])
def test_escaped_grandchild_goes_with_its_service(project: Project, ignore_term: bool, how: str) -> None:
    _stack(project, ignore_term=ignore_term)
    project.run("start", check=True)
    pids = project.pids()
    sup = project.supervisor_pid()
    grandchild = _grandchild(project)
    assert alive(grandchild)
    _escaped(project, pids["escaper"], grandchild, sup)  # type: ignore[arg-type]

    proc = project.run(*how.split(), "--grace", "1s")
    assert proc.returncode == 0, proc.stderr
    assert gone(grandchild), f"`{how}` left the escaped grandchild {grandchild} running"
    assert gone(pids["escaper"])  # type: ignore[arg-type]
    if how == "stop escaper":
        # the supervisor stays for keeper, and reaps the grandchild it inherited
        assert project.pids()["keeper"] == pids["keeper"]
        assert wait_until(lambda: not _zombie_children(sup), timeout=5), _zombie_children(sup)
        assert not psutil.pid_exists(grandchild) or psutil.Process(grandchild).ppid() != sup
    assert not [p for p in marked(f"{project.project_id}:") if p.environ().get(MARKER_ENV, "").endswith(":escaper")]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("ignore_term", [False, True], ids=["term", "ignores-term"])
def test_crashed_service_takes_its_escaped_grandchild_with_it(project: Project, ignore_term: bool) -> None:
    """The service's process exits 1 by itself (restart: no) while its escaped grandchild
    sleeps: the grandchild is gone within a few seconds, and reaped."""
    _stack(project, mode="crash", ignore_term=ignore_term)
    project.run("start", check=True)
    pids = project.pids()
    sup = project.supervisor_pid()
    grandchild = _grandchild(project)
    service = psutil.Process(pids["escaper"])  # type: ignore[arg-type]
    assert alive(grandchild)
    (project.root / "crash.now").write_text("")
    assert wait_until(lambda: gone(service.pid), timeout=15), "the service never crashed"

    assert wait_until(lambda: gone(grandchild), timeout=5), (
        f"the escaped grandchild {grandchild} outlived its crashed service by 5 s")
    assert wait_until(lambda: not _zombie_children(sup), timeout=5), (
        f"zombie children of the supervisor: {_zombie_children(sup)}")
    data = project.status()
    assert data["supervisor"]["running"] is True and data["supervisor"]["pid"] == sup
    escaper = data["services"]["escaper"]
    assert escaper["state"] in ("exited", "failed"), escaper
    assert escaper["exit_code"] == 1, escaper
    assert data["services"]["keeper"]["pid"] == pids["keeper"]
    assert alive(pids["keeper"])  # type: ignore[arg-type]
