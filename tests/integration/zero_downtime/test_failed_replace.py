"""A new version that fails (exits at start, never healthy, flaps): the old instance keeps serving."""

from __future__ import annotations

import pytest

from .conftest import ZeroDowntimeProject, port_is_free
from .load import Background, wait_time
from .test_proxy_restart import pid_of

# (APP_FAIL, what the failure says)
CASES = [
    ("exit", "exited with code 3"),
    ("never", "not healthy within"),
    ("flap", "flapped during the"),
]


@pytest.mark.parametrize(("fail", "reason"), CASES, ids=[c[0] for c in CASES])
def test_failed_new_version_keeps_old_instance(project: ZeroDowntimeProject, port: int, fail: str,
                                               reason: str) -> None:
    project.service(port, monitor="1s")
    project.run("start", check=True)
    old = pid_of(project)
    # The new version fails; "never" gets a short start-up deadline.
    project.service(port, version="2", fail=fail, monitor="1s")
    with Background(port, rate=100, duration=5.0) as load:
        wait_time(0.3)
        proc = project.run("start", "--timeout", "2s", check=False)
        result = load.finish()
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "web not replaced" in proc.stderr and reason in proc.stderr, proc.stderr
    assert f"pid {old} keeps serving" in proc.stderr
    if fail == "exit":
        assert "cannot start: configuration error" in proc.stderr  # the new version's last log lines
    assert result.failed == 0, (result.outcomes, result.errors)
    assert {body.split()[0] for body in result.bodies} == {str(old)}
    status = project.status()["services"]["web"]
    assert status["pid"] == old and status["state"] == "running"
    project.run("stop", check=True)
    assert port_is_free(port)


def test_slow_request_during_switch_completes_on_old_instance(project: ZeroDowntimeProject, port: int) -> None:
    import asyncio
    import threading

    from .load import request

    project.service(port)
    project.run("start", check=True)
    old = pid_of(project)
    answer: list[tuple[str, str]] = []
    slow = threading.Thread(target=lambda: answer.append(asyncio.run(request(port, "/slow?s=1.5", timeout=5))))
    slow.start()
    wait_time(0.3)  # the slow request is in flight on the old instance
    proc = project.run("restart", "web", check=True)
    slow.join(10)
    assert answer and answer[0][0] == "ok", answer
    assert answer[0][1].split()[0] == str(old)
    assert "old drained in" in proc.stderr
    assert pid_of(project) != old
