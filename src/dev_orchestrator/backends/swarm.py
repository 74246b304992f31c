"""A stack on Docker Swarm: images built for it, ``docker stack deploy``, convergence, removal.

Swarm reports a deploy as done when it has accepted the new specs, not when the tasks
run; convergence is read here through the Docker SDK instead. A service of the stack
(label ``com.docker.stack.namespace``) has converged when as many tasks run as it
wants, every task that should run does, and no update (or rollback) is under way; a
job when its completions are reached. Everything is polled with one deadline.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import BackendError, OrchestratorError, UsageError

if TYPE_CHECKING:
    from ..config.resolve import ResolvedStack
    from ..export.swarm import Network, SwarmExport

NAMESPACE = "com.docker.stack.namespace"
POLL = 0.5  # seconds between reads of the swarm's state
STABLE = 5.0  # a task without a healthcheck must run this long to count (docker service create waits as long)
Progress = Callable[[str], None]


class NotConverged(OrchestratorError):
    """The stack did not reach its desired state in time (exit 1)."""


def _client() -> Any:
    from ..errors import DockerUnavailableError
    from .docker import _root_cause, connect, docker_host

    try:
        return connect(timeout=30)
    except DockerUnavailableError as exc:
        reason = _root_cause(exc.__cause__) if exc.__cause__ is not None else str(exc)
        raise DockerUnavailableError(
            f"Docker is not reachable at {docker_host()} ({reason}); Swarm stacks are deployed through it",
            hint="start the Docker engine, or point DOCKER_HOST at a swarm manager",
        ) from exc


def require_swarm(client: Any) -> None:
    """Fail (exit 2) unless this daemon is a manager of an active swarm."""
    swarm = client.info().get("Swarm") or {}
    if swarm.get("LocalNodeState") != "active":
        raise UsageError(
            f"the Docker daemon is not in swarm mode (state: {swarm.get('LocalNodeState') or 'inactive'})",
            hint="make this machine a one-node swarm: docker swarm init --advertise-addr 127.0.0.1",
        )
    if not swarm.get("ControlAvailable"):
        raise UsageError("this Docker daemon is a swarm worker; stacks are deployed on a manager",
                         hint="run the command on a manager node (docker node ls shows them)")


# -- images ----------------------------------------------------------------------------


def image_facts(client: Any) -> Callable[[str], str]:
    """image -> the text of its history and environment, "" when it is not here."""
    import docker.errors

    def facts(image: str) -> str:
        try:
            found = client.images.get(image)
            history = found.history()
        except docker.errors.DockerException:
            return ""
        config = found.attrs.get("Config") or {}
        parts = [str(item.get("CreatedBy", "")) for item in history]
        parts += [*(config.get("Env") or []), *(config.get("Cmd") or []), *(config.get("Entrypoint") or [])]
        return " ".join(parts).lower()

    return facts


def missing_images(client: Any, images: Iterable[str]) -> list[str]:
    import docker.errors

    out = []
    for image in images:
        try:
            client.images.get(image)
        except docker.errors.ImageNotFound:
            out.append(image)
    return out


def build_images(client: Any, builds: Iterable[Any], progress: Progress, labels: Mapping[str, str]) -> None:
    """Build and tag each image (the stack file names it; Swarm never builds)."""
    import docker.errors

    for plan in builds:
        progress(f"  {plan.service:<14} building {plan.image} from {plan.context}")
        started = time.monotonic()
        try:
            client.images.build(path=str(plan.context), dockerfile=plan.dockerfile, tag=plan.image,
                                buildargs=dict(plan.args) or None, target=plan.target, rm=True, forcerm=True,
                                labels=dict(labels))
        except docker.errors.BuildError as exc:
            log = "".join(str(item.get("stream", item.get("error", ""))) for item in exc.build_log)
            raise BackendError(f"{plan.service}: building {plan.image} failed: {exc}\n{log[-1500:].rstrip()}") from exc
        except (docker.errors.DockerException, OSError) as exc:
            raise BackendError(f"{plan.service}: cannot build {plan.image}: {exc}") from exc
        progress(f"  {plan.service:<14} built {plan.image} in {time.monotonic() - started:.1f}s")


def prepare(stack: ResolvedStack, *, base: Path, network: Network, build: bool, progress: Progress,
            docker_client: Any | None = None, every_image: bool = False) -> SwarmExport:
    """The stack file of ``stack``; the images of services with ``build:`` present here.

    ``build`` builds and tags them first. ``every_image`` (a deploy here, which never
    pulls) requires every image of the file to be present, not only the built ones.
    Without Docker an export is still written when nothing needs building.
    """
    from ..errors import DockerUnavailableError
    from ..export.swarm import export_swarm

    if docker_client is None:
        try:
            docker_client = _client()
        except DockerUnavailableError:
            if build:
                raise
            docker_client = None
    facts = image_facts(docker_client) if docker_client is not None else None
    result = export_swarm(stack, base=base, network=network, facts=facts)
    if build and result.builds:
        build_images(docker_client, result.builds, progress, {"dev-orchestrator.project": stack.project})
        result = export_swarm(stack, base=base, network=network, facts=image_facts(docker_client))
    built = {plan.image: plan.service for plan in result.builds}
    wanted = result.images() if every_image else list(built)
    missing = missing_images(docker_client, wanted) if docker_client is not None else wanted
    if missing:
        listed = "\n".join(f"  {image}" + (f"  ({built[image]} has build:)" if image in built else "")
                           for image in missing)
        where = "here" if docker_client is not None else "(Docker does not answer, so none could be checked)"
        raise UsageError(
            f"Swarm runs images only, and these must exist {where}:\n{listed}",
            hint="pass --build to build and tag the services with build: first, "
                 "or build/load the images yourself (docker stack deploy runs with --resolve-image never)",
        )
    return result


# -- deploy ----------------------------------------------------------------------------


def stack_deploy(file: Path, name: str, env: Mapping[str, str]) -> None:
    """``docker stack deploy --resolve-image never --prune`` (images are local, never pulled)."""
    docker_cli = shutil.which("docker")
    if docker_cli is None:
        raise UsageError("the docker command is not installed (docker stack deploy reads the stack file)")
    args = [docker_cli, "stack", "deploy", "--resolve-image", "never", "--prune", "-c", str(file), name]
    help_text = subprocess.run([docker_cli, "stack", "deploy", "--help"], capture_output=True, text=True).stdout
    if "--detach" in help_text:
        args.insert(3, "--detach=true")  # convergence is awaited here, through the SDK
    done = subprocess.run(args, capture_output=True, text=True, env={**os.environ, **env}, timeout=300)
    if done.returncode != 0:
        raise BackendError(f"docker stack deploy failed ({done.returncode}):\n{(done.stderr or done.stdout).strip()}")


@dataclass
class ServiceState:
    """One service of the stack as the swarm reports it."""

    name: str
    desired: int
    running: int
    job: bool = False
    update: str | None = None
    update_message: str = ""
    error: str | None = None
    ports: list[str] = field(default_factory=list)
    surplus: int = 0

    @property
    def failed(self) -> bool:
        """The update of this deploy was rolled back or paused: Swarm will not go on by itself."""
        return self.update in ("rollback_completed", "paused", "rollback_paused")

    @property
    def converged(self) -> bool:
        if self.update in ("updating", "rollback_started", "paused", "rollback_paused"):
            return False
        if self.job:
            return self.running >= self.desired
        return self.running == self.desired and self.surplus == 0

    def summary(self) -> str:
        word = "completed" if self.job else "running"
        text = f"{self.running}/{self.desired} {word}"
        if self.surplus:
            text += f", {self.surplus} to stop"
        if self.update:
            text += f" (update {self.update.replace('_', ' ')})"
        return text


def _task_error(task: dict[str, Any]) -> str:
    status = task.get("Status") or {}
    return str(status.get("Err") or status.get("Message") or status.get("State") or "")


def service_state(
    service: Any, namespace: str, baseline: Mapping[str, str], seen: dict[str, float] | None = None,
    now: float = 0.0,
) -> ServiceState:
    """What a service wants and has; ``baseline`` holds each update's start before the deploy.

    A task of a service without a healthcheck counts once it has run for ``STABLE``
    seconds (``seen``: task id -> when it was first seen running), so that a task that
    crashes at once is not read as converged; with a healthcheck, running means healthy.
    """
    attrs = service.attrs
    spec = attrs["Spec"]
    short = spec["Name"].removeprefix(f"{namespace}_")
    mode = spec.get("Mode") or {}
    tasks = service.tasks()
    job = "ReplicatedJob" in mode
    surplus = 0
    if job:
        desired = int(mode["ReplicatedJob"].get("TotalCompletions") or 1)
        # Swarm runs a job again on every update: count the completions of this run only.
        iteration = ((attrs.get("JobStatus") or {}).get("JobIteration") or {}).get("Index")
        done = sum(1 for t in tasks if (t.get("Status") or {}).get("State") == "complete"
                   and (iteration is None or (t.get("JobIteration") or {}).get("Index") == iteration))
    else:
        # A task runs the current spec when its container spec is the service's: right after
        # a deploy the old tasks still run, before the update has even been marked started.
        current = (spec.get("TaskTemplate") or {}).get("ContainerSpec")
        wanted = [t for t in tasks if t.get("DesiredState") == "running"]
        desired = int(mode["Replicated"].get("Replicas", 1)) if "Replicated" in mode else len(wanted)
        checked = ((current or {}).get("Healthcheck") or {}).get("Test") not in (None, [], ["NONE"])
        running = [t for t in wanted if (t.get("Status") or {}).get("State") == "running"
                   and (t.get("Spec") or {}).get("ContainerSpec") == current]
        if seen is not None and not checked:
            running = [t for t in running if now - seen.setdefault(str(t.get("ID")), now) >= STABLE]
        done = len(running)
        surplus = max(0, len(wanted) - desired)  # tasks still to stop (scaled down, replaced)
    update = attrs.get("UpdateStatus") or {}
    state = update.get("State")
    if state and update.get("StartedAt") == baseline.get(spec["Name"]):
        state = None  # an earlier update's outcome, not this deploy's
    failed = sorted((t for t in tasks if (t.get("Status") or {}).get("State") in ("failed", "rejected")
                     or (t.get("Status") or {}).get("Err")), key=lambda t: str(t.get("UpdatedAt", "")))
    error = f"task {short}.{failed[-1].get('Slot', '')}: {_task_error(failed[-1])}" if failed else None
    if state in ("rollback_completed", "paused", "rollback_paused") and update.get("Message"):
        error = f"update {state.replace('_', ' ')}: {update['Message']}" + (f"; {error}" if error else "")
    ports = []
    for task in tasks:
        if task.get("DesiredState") != "running":
            continue
        for port in ((task.get("Status") or {}).get("PortStatus") or {}).get("Ports") or []:
            ports.append(f"{port.get('PublishedPort')}->{port.get('TargetPort')}/{port.get('Protocol', 'tcp')}")
    for port in (attrs.get("Endpoint") or {}).get("Ports") or []:
        if port.get("PublishMode") == "ingress":
            ports.append(f"{port.get('PublishedPort')}->{port.get('TargetPort')}/{port.get('Protocol', 'tcp')}")
    return ServiceState(short, desired, done, job, state, str(update.get("Message") or ""), error, sorted(set(ports)),
                        surplus)


def _services(client: Any, namespace: str) -> list[Any]:
    return list(client.services.list(filters={"label": f"{NAMESPACE}={namespace}"}))


def update_baseline(client: Any, namespace: str) -> dict[str, str]:
    """Each service's last update start, so that a rollback from before is not read as this one's."""
    return {s.attrs["Spec"]["Name"]: str((s.attrs.get("UpdateStatus") or {}).get("StartedAt") or "")
            for s in _services(client, namespace)}


def wait_converged(
    client: Any, namespace: str, expected: Iterable[str], timeout: float, progress: Progress,
    baseline: Mapping[str, str],
) -> list[ServiceState]:
    """Poll until every service of ``namespace`` has converged; NotConverged when time runs out."""
    import docker.errors

    expected = set(expected)
    deadline = time.monotonic() + timeout
    shown: dict[str, str] = {}
    seen: dict[str, float] = {}
    states: list[ServiceState] = []
    while True:
        try:
            now = time.monotonic()
            states = [service_state(s, namespace, baseline, seen, now) for s in _services(client, namespace)]
        except docker.errors.NotFound:
            states = []  # a service went away between list and read: read again
        for state in states:
            line = state.summary()
            if shown.get(state.name) != line:
                shown[state.name] = line
                progress(f"  {state.name:<14} {line}")
        broken = [s for s in states if s.failed]
        if broken:
            raise NotConverged(
                f"stack {namespace}: " + "; ".join(f"{s.name} {s.error or s.update}" for s in broken),
                hint=f"docker service ps {namespace}_{broken[0].name} --no-trunc shows every task and its error",
            )
        present = {s.name for s in states}
        if expected <= present and states and all(s.converged for s in states):
            return sorted(states, key=lambda s: s.name)
        if time.monotonic() >= deadline:
            pending = [s for s in states if not s.converged]
            missing = sorted(expected - present)
            parts = [f"{s.name} {s.summary()}" + (f": {s.error}" if s.error else "") for s in pending]
            parts += [f"{m} not created" for m in missing]
            raise NotConverged(
                f"stack {namespace} did not converge in {timeout:g}s:\n" + "\n".join(f"  {p}" for p in parts),
                hint=f"docker service ps {namespace}_{pending[0].name if pending else '<service>'} --no-trunc "
                     "shows every task and its error",
            )
        time.sleep(POLL)


# -- removal ---------------------------------------------------------------------------


def leftovers(client: Any, namespace: str) -> dict[str, list[str]]:
    """Everything still labelled with the stack's namespace."""
    label = {"label": f"{NAMESPACE}={namespace}"}
    found = {
        "services": [s.name for s in client.services.list(filters=label)],
        "containers": [c.name for c in client.containers.list(all=True, filters=label)],
        "networks": [n.name for n in client.networks.list(filters=label)],
        "secrets": [s.name for s in client.secrets.list(filters=label)],
        "configs": [c.name for c in client.configs.list(filters=label)],
    }
    return {kind: names for kind, names in found.items() if names}


def stack_remove(client: Any, namespace: str, timeout: float, progress: Progress) -> float:
    """Remove the stack and wait until nothing of its namespace is left; the seconds it took."""
    import docker.errors

    started = time.monotonic()
    deadline = started + timeout
    label = {"label": f"{NAMESPACE}={namespace}"}
    shown = ""
    while True:
        left = leftovers(client, namespace)
        if not left:
            return time.monotonic() - started
        # services first; networks, secrets and configs once no task uses them any more
        for service in client.services.list(filters=label):
            with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                service.remove()
        if "services" not in left:
            # Swarm reaps the containers of removed services, except a finished job's: those go here.
            for container in client.containers.list(all=True, filters={**label, "status": "exited"}):
                with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                    container.remove(force=True)
        if "services" not in left and "containers" not in left:
            for kind in ("networks", "secrets", "configs"):
                for item in getattr(client, kind).list(filters=label):
                    with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                        item.remove()
        text = ", ".join(f"{len(v)} {k}" for k, v in left.items())
        if text != shown:
            shown = text
            progress(f"  removing {namespace}: {text} left")
        if time.monotonic() >= deadline:
            listed = "; ".join(f"{k}: {', '.join(v)}" for k, v in left.items())
            raise NotConverged(f"stack {namespace} not removed in {timeout:g}s; left: {listed}",
                               hint=f"docker stack rm {namespace}, then check docker ps -a")
        time.sleep(POLL)


def client() -> Any:
    """A client of the local daemon (``$DOCKER_HOST``); DockerUnavailableError when it does not answer."""
    return _client()
