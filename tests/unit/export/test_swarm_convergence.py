"""Reading a Swarm service's state (backends.swarm): what counts as converged, what as failed.

Pure logic over the attributes the Docker API returns, written out as data here; the
real swarm is driven in tests/integration/swarm.
"""

from __future__ import annotations

from typing import Any

import pytest

from dev_orchestrator.backends.swarm import STABLE, require_swarm, service_state
from dev_orchestrator.errors import UsageError

SPEC = {"Image": "shop/web:2", "Healthcheck": {"Test": ["CMD", "wget", "-q", "http://127.0.0.1/"]}}
OLD = {"Image": "shop/web:1", "Healthcheck": SPEC["Healthcheck"]}


class Service:
    def __init__(self, attrs: dict[str, Any], tasks: list[dict[str, Any]]) -> None:
        self.attrs = attrs
        self._tasks = tasks

    def tasks(self) -> list[dict[str, Any]]:
        return self._tasks


def task(state: str, spec: dict[str, Any] = SPEC, desired: str = "running", err: str = "", slot: int = 1,
         ident: str = "t1") -> dict[str, Any]:
    status: dict[str, Any] = {"State": state}
    if err:
        status["Err"] = err
    return {"ID": ident, "Slot": slot, "DesiredState": desired, "Status": status,
            "Spec": {"ContainerSpec": spec}, "UpdatedAt": f"2026-01-01T00:00:0{slot}Z"}


def service(tasks: list[dict[str, Any]], replicas: int = 2, update: dict[str, Any] | None = None,
            spec: dict[str, Any] = SPEC) -> Service:
    attrs: dict[str, Any] = {"Spec": {"Name": "shop_web", "Mode": {"Replicated": {"Replicas": replicas}},
                                      "TaskTemplate": {"ContainerSpec": spec}}}
    if update:
        attrs["UpdateStatus"] = update
    return Service(attrs, tasks)


def test_running_tasks_of_the_current_spec_converge() -> None:
    state = service_state(service([task("running", slot=1), task("running", slot=2)]), "shop", {})
    assert state.name == "web" and state.converged and state.summary() == "2/2 running"


def test_old_tasks_still_running_right_after_a_deploy_do_not_count() -> None:
    state = service_state(service([task("running", OLD, slot=1), task("running", OLD, slot=2)]), "shop", {})
    assert state.running == 0 and not state.converged


def test_an_update_under_way_is_not_converged() -> None:
    update = {"State": "updating", "StartedAt": "2026-01-01T00:01:00Z"}
    state = service_state(service([task("running", slot=1), task("running", slot=2)], update=update), "shop", {})
    assert not state.converged and "(update updating)" in state.summary()


def test_a_rollback_of_this_deploy_fails_and_says_why() -> None:
    update = {"State": "rollback_completed", "StartedAt": "2026-01-01T00:01:00Z", "Message": "update paused due to failure"}
    tasks = [task("running", slot=1), task("failed", err="task: non-zero exit (1)", desired="shutdown", slot=2)]
    state = service_state(service(tasks, update=update), "shop", {})
    assert state.failed
    assert state.error is not None and "update paused due to failure" in state.error and "non-zero exit (1)" in state.error
    # the same outcome from an earlier deploy (same start) is not this deploy's
    earlier = service_state(service(tasks, update=update), "shop", {"shop_web": "2026-01-01T00:01:00Z"})
    assert not earlier.failed


def test_tasks_without_a_healthcheck_must_stay_up() -> None:
    plain = {"Image": "shop/web:2"}
    seen: dict[str, float] = {}
    svc = service([task("running", plain)], replicas=1, spec=plain)
    assert service_state(svc, "shop", {}, seen, now=100.0).running == 0
    assert service_state(svc, "shop", {}, seen, now=100.0 + STABLE).converged


def test_surplus_tasks_must_stop() -> None:
    tasks = [task("running", slot=i, ident=f"t{i}") for i in (1, 2, 3)]
    state = service_state(service(tasks, replicas=2), "shop", {})
    assert not state.converged and "1 to stop" in state.summary()


def test_a_job_converges_on_its_completions() -> None:
    attrs = {"Spec": {"Name": "shop_migrate", "Mode": {"ReplicatedJob": {"TotalCompletions": 1}},
                      "TaskTemplate": {"ContainerSpec": {"Image": "shop/api:1"}}}}
    done = service_state(Service(attrs, [task("complete", desired="complete")]), "shop", {})
    assert done.job and done.converged and done.summary() == "1/1 completed"


class Client:
    def __init__(self, swarm: dict[str, Any]) -> None:
        self._swarm = swarm

    def info(self) -> dict[str, Any]:
        return {"Swarm": self._swarm}


def test_a_daemon_out_of_swarm_mode_is_a_usage_error_with_the_fix() -> None:
    with pytest.raises(UsageError) as caught:
        require_swarm(Client({"LocalNodeState": "inactive"}))
    assert caught.value.exit_code == 2
    assert caught.value.hint is not None and "docker swarm init --advertise-addr 127.0.0.1" in caught.value.hint
    with pytest.raises(UsageError, match="worker"):
        require_swarm(Client({"LocalNodeState": "active", "ControlAvailable": False}))
    require_swarm(Client({"LocalNodeState": "active", "ControlAvailable": True}))


def test_a_job_run_again_by_an_update_counts_this_run_only() -> None:
    attrs = {"Spec": {"Name": "shop_migrate", "Mode": {"ReplicatedJob": {"TotalCompletions": 1}},
                      "TaskTemplate": {"ContainerSpec": {"Image": "shop/api:1"}}},
             "JobStatus": {"JobIteration": {"Index": 42}}}
    earlier = {**task("complete", desired="complete"), "JobIteration": {"Index": 17}}
    assert not service_state(Service(attrs, [earlier]), "shop", {}).converged
    this_run = {**task("complete", desired="complete", ident="t2"), "JobIteration": {"Index": 42}}
    assert service_state(Service(attrs, [earlier, this_run]), "shop", {}).summary() == "1/1 completed"
