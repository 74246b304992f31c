"""A state write that fails (here: a folder where state.json belongs) is logged and retried, never fatal."""

from __future__ import annotations

import shutil

from .conftest import Project, wait_until


def test_a_failing_state_write_is_retried_and_never_kills_the_supervisor(project: Project) -> None:
    project.sleepers("web", "worker")
    project.run("start", check=True)
    supervisor = project.supervisor_pid()
    before = project.pids()
    # os.replace(tmp, state.json) now fails with IsADirectoryError, as a full disk would fail it
    project.state_path.unlink()
    project.state_path.mkdir()
    try:
        project.run("restart", "worker", check=True)  # events: the supervisor must write state
        assert wait_until(lambda: any("cannot write state.json" in p
                                      for p in project.status().get("problems", [])), timeout=10)
        table = project.run("status", check=True).stdout
        assert "warning: cannot write state.json" in table
        assert project.supervisor_pid() == supervisor
        assert project.status()["supervisor"]["running"] is True
        assert project.pids()["web"] == before["web"]
    finally:
        shutil.rmtree(project.state_path)
    # the retry succeeds once the way is clear; the problem is gone from status
    assert wait_until(lambda: project.state_path.is_file(), timeout=30)
    assert wait_until(lambda: not project.status().get("problems"), timeout=10)
    assert "will retry" in project.log_text()
