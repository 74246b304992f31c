"""Process identity: a state.json record is trusted only with pid, create time and marker.

A stranger's pid written into state.json (by hand, by a recycled pid, by a copied
project folder) must never get a signal from `stop`, `status` or `start`, and every
process the supervisor spawns carries ``<project id>:<run token>:<service>``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from typing import Any

import psutil
import pytest

from .conftest import CLI, MARKER_ENV, Project, alive, marker_of, module_project, output, wait_until


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The state file a real supervisor leaves after start + stop (the shape to forge)."""
    with module_project(tmp_path_factory, "template") as proj:
        proj.sleepers("web", "api")
        proj.run("start", check=True)
        proj.run("stop", check=True)
        state = proj.state()
        assert state["version"] == 1 and set(state["services"]) == {"web", "api"}
        assert state["project_id"] == proj.project_id and state["run_token"]
        assert state["services"]["web"]["marker"] == f"{state['project_id']}:{state['run_token']}:web"
        yield state


def _forge(project: Project, template: dict[str, Any], records: dict[str, dict[str, Any]]) -> None:
    """Write state.json as a supervisor of ``project`` that died would have left it."""
    forged = json.loads(json.dumps(template))
    forged.pop("stopped", None)  # a supervisor that died never wrote "stopped"
    forged.update(file=str(project.root / "services.yaml"), project_id=project.project_id)
    base = forged["services"]["web"]
    forged["services"] = {}
    for name, changes in records.items():
        record = dict(base)
        record.update(state="running", health="none", started_at="2024-01-01T00:00:00.000Z",
                      stop_signal="SIGKILL", stop_grace_period=0.1)
        for key, value in changes.items():
            if value is _DROP:
                record.pop(key, None)
            else:
                record[key] = value
        forged["services"][name] = record
    forged["order"] = list(records)
    project.runtime.mkdir(mode=0o700, exist_ok=True)
    project.state_path.write_text(json.dumps(forged, indent=1))


_DROP = object()


def _ct(pid: int) -> float:
    return psutil.Process(pid).create_time()


# service -> (the record's create_time and marker for a sentinel pid, why it is not ours)
CASES: dict[str, tuple[Callable[[int, str], dict[str, Any]], str]] = {
    "ct-null": (lambda pid, m: {"create_time": None, "marker": m}, "has no recorded start time"),
    "ct-missing": (lambda pid, m: {"create_time": _DROP, "marker": m}, "has no recorded start time"),
    "ct-string": (lambda pid, m: {"create_time": str(_ct(pid)), "marker": m}, "has no recorded start time"),
    "ct-bool": (lambda pid, m: {"create_time": True, "marker": m}, "has no recorded start time"),
    "ct-far-off": (lambda pid, m: {"create_time": _ct(pid) - 1000, "marker": m}, "recycled"),
    "ct-half-second-off": (lambda pid, m: {"create_time": _ct(pid) + 0.5, "marker": m}, "recycled"),
    "mk-missing": (lambda pid, m: {"create_time": _ct(pid), "marker": _DROP}, "marker"),
    "mk-null": (lambda pid, m: {"create_time": _ct(pid), "marker": None}, "marker"),
    "mk-empty": (lambda pid, m: {"create_time": _ct(pid), "marker": ""}, "marker"),
    "mk-not-carried": (lambda pid, m: {"create_time": _ct(pid), "marker": m}, "marker"),
}


@pytest.mark.timeout(90)
def test_unproven_records_are_never_signalled(project: Project, template: dict[str, Any]) -> None:
    """Each service's record names a live sleeper of the test's own, with one proof
    missing or wrong (see CASES); status, stop and start leave every sleeper alone."""
    project.sleepers(*CASES)
    prefix = f"{project.project_id}:{template['run_token']}"
    sentinels = {name: project.bystander() for name in CASES}
    records = {name: {"pid": sentinels[name].pid, **make(sentinels[name].pid, f"{prefix}:{name}")}
               for name, (make, _why) in CASES.items()}

    def all_alive(after: str) -> None:
        dead = [f"{n} (pid {p.pid})" for n, p in sentinels.items() if not alive(p)]
        assert not dead, f"{after} signalled processes on the word of unproven records: {dead}"

    _forge(project, template, records)
    table = project.run("status", check=True)
    all_alive("status")
    assert "Traceback" not in table.stderr
    notes = {li.split(":", 2)[1].strip(): li for li in table.stdout.splitlines() if li.startswith("note: ")}
    for name, (_make, why) in CASES.items():
        line = notes.get(name, "")
        assert line.startswith(f"note: {name}: not ours any more: pid {sentinels[name].pid}"), (name, table.stdout)
        assert why in line and "left alone" in line, line

    data = project.status()
    all_alive("status --json")
    for name, (_make, why) in CASES.items():
        record = data["services"][name]
        assert (record["detail"] or "").startswith("not ours any more"), (name, record)
        assert why in record["detail"], (name, record)
        assert record["pid"] is None and record["state"] == "stopped", (name, record)

    proc = project.run("stop")
    assert proc.returncode == 0, output(proc)
    assert "nothing is running" in output(proc), output(proc)
    all_alive("stop")

    # start cleans up after a dead supervisor before it spawns a new one: the same rule
    _forge(project, template, records)
    project.run("start", check=True)
    all_alive("start")
    project.run("stop", check=True)
    all_alive("stop")


@pytest.mark.timeout(60)
def test_protected_pids_are_never_signalled(project: Project, template: dict[str, Any]) -> None:
    """pid 1, the caller and the caller's parent, each with a create time that matches."""
    project.sleepers("web", "api", "parent", "witness")
    prefix = f"{project.project_id}:{template['run_token']}"
    sentinel = project.bystander()
    me, parent = os.getpid(), os.getppid()
    init_created = _ct(1)
    records = {
        "web": {"pid": 1, "create_time": init_created, "marker": f"{prefix}:web"},
        "api": {"pid": me, "create_time": _ct(me), "marker": f"{prefix}:api"},
        "parent": {"pid": parent, "create_time": _ct(parent), "marker": f"{prefix}:parent"},
        "witness": {"pid": sentinel.pid, "create_time": None, "marker": f"{prefix}:witness"},
    }
    _forge(project, template, records)
    table = project.run("status", check=True).stdout
    for name, record in records.items():
        assert f"note: {name}: not ours any more: pid {record['pid']}" in table, table
    for name, pid in (("web", 1), ("api", me), ("parent", parent)):
        line = next(li for li in table.splitlines() if li.startswith(f"note: {name}:"))
        assert f"pid {pid} is protected" in line, line
    data = project.status()
    assert "protected" in data["services"]["web"]["detail"]
    assert "protected" in data["services"]["api"]["detail"]

    proc = project.run("stop")
    assert proc.returncode == 0, output(proc)
    assert "nothing is running" in output(proc), output(proc)
    assert "Traceback" not in output(proc)
    assert psutil.Process(1).create_time() == init_created
    assert psutil.Process(parent).is_running()
    assert alive(sentinel)


CALLER = textwrap.dedent(
    """
    import json, subprocess, sys
    cli = json.loads(sys.argv[1])
    out = []
    for args in (["status", "--json"], ["stop"]):
        p = subprocess.run(cli + args, capture_output=True, text=True, timeout=60)
        out.append([p.returncode, p.stdout, p.stderr])
    print(json.dumps(out), flush=True)
    """
)


@pytest.mark.timeout(60)
def test_caller_carrying_the_projects_marker_is_not_signalled(project: Project, template: dict[str, Any]) -> None:
    """A command run from a process that carries this project's marker (a service calling
    the CLI) is fully proven by its record, and still not signalled: it is the caller."""
    project.sleepers("web", "api")
    value = f"{project.project_id}:{template['run_token']}:web"
    script = project.root / "caller.py"
    script.write_text(CALLER)
    env = {**project.env(), MARKER_ENV: value}
    caller = project.popen([sys.executable, str(script), json.dumps(CLI)], cwd=project.root, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert wait_until(lambda: marker_of(psutil.Process(caller.pid)) == value, timeout=5)
    _forge(project, template, {"web": {"pid": caller.pid, "create_time": _ct(caller.pid), "marker": value}})
    out, err = caller.communicate(timeout=60)
    assert caller.returncode == 0, f"the caller was signalled (exit {caller.returncode})\n{err}"
    (status_rc, status_out, _), (stop_rc, stop_out, stop_err) = json.loads(out)
    assert status_rc == 0
    web = json.loads(status_out)["services"]["web"]
    assert "protected" in (web["detail"] or ""), web
    assert stop_rc == 0 and "nothing is running" in stop_out + stop_err, stop_out + stop_err


@pytest.mark.timeout(60)
def test_record_naming_another_projects_process_is_left_alone(project: Project, template: dict[str, Any]) -> None:
    """A stranger that carries a marker, but another project's: the record names it with
    its true create time and its own marker. It is not this project's process."""
    project.sleepers("web", "api")
    other = f"{'0' * 16}:{'1' * 16}:web"
    assert not other.startswith(project.project_id)
    sentinel = project.popen([sys.executable, "-c", "import time; time.sleep(120)"],
                             env={**project.env(), MARKER_ENV: other})
    assert wait_until(lambda: marker_of(psutil.Process(sentinel.pid)) == other, timeout=5)
    _forge(project, template, {"web": {"pid": sentinel.pid, "create_time": _ct(sentinel.pid), "marker": other}})
    data = project.status()
    assert alive(sentinel)
    project.run("stop", check=True)
    assert alive(sentinel), f"stop killed pid {sentinel.pid}, which carries another project's marker"
    assert (data["services"]["web"]["detail"] or "").startswith("not ours any more"), data["services"]["web"]


@pytest.mark.timeout(90)
def test_copied_project_folder_does_not_stop_the_original(project: Project, tmp_path: Any) -> None:
    """`cp -r` of a running project (state.json included) then `stop` in the copy: the
    copy has no supervisor, and the original's services are not the copy's to stop."""
    project.sleepers("web", "api")
    project.run("start", check=True)
    before = project.pids()
    copy = Project(tmp_path / "copy")
    try:
        shutil.copy(project.root / "services.yaml", copy.root / "services.yaml")
        copy.runtime.mkdir(mode=0o700)
        shutil.copy(project.state_path, copy.state_path)
        data = copy.status()
        assert data["supervisor"]["running"] is False
        copy.run("stop", check=True)
        for name, pid in before.items():
            assert pid is not None and alive(pid), f"stop in the copy killed the original's {name} (pid {pid})"
        assert project.pids() == before
        for name in ("web", "api"):
            assert data["services"][name]["state"] != "running", (
                f"the copy claims the original's {name} (pid {before[name]}) as its own: {data['services'][name]}")
    finally:
        copy.cleanup()


@pytest.mark.timeout(60)
def test_every_spawned_process_carries_the_marker(project: Project) -> None:
    project.write(
        f"""
        name: chaos
        services:
          web:
            command: {project.sleeper()}
            stop_grace_period: 2s
          worker:
            command: {project.sleeper("--child")}
            stop_grace_period: 2s
        """
    )
    project.run("start", check=True)
    state = project.state()
    token, pid_ = state["run_token"], state["project_id"]
    assert pid_ == project.project_id and token
    pids = project.pids()
    for name, pid in pids.items():
        assert pid is not None
        assert psutil.Process(pid).environ().get(MARKER_ENV) == f"{pid_}:{token}:{name}", name
    assert state["services"]["web"]["marker"] == f"{pid_}:{token}:web"
    # the worker's own child inherits it
    assert wait_until(lambda: psutil.Process(pids["worker"]).children(), timeout=5)
    for kid in psutil.Process(pids["worker"]).children(recursive=True):
        assert kid.environ().get(MARKER_ENV) == f"{pid_}:{token}:worker"
    # a restarted process carries it too, with the same run token
    project.run("restart", "web", check=True)
    new = project.pids()["web"]
    assert new is not None and new != pids["web"]
    assert psutil.Process(new).environ().get(MARKER_ENV) == f"{pid_}:{token}:web"
    # a new supervisor gets a new run token; the project id stays
    project.run("stop", check=True)
    project.run("start", check=True)
    again = project.state()
    assert again["project_id"] == pid_ and again["run_token"] != token
    web = project.pids()["web"]
    assert web is not None
    assert psutil.Process(web).environ().get(MARKER_ENV) == f"{pid_}:{again['run_token']}:web"
