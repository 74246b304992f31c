"""A Docker Compose file equivalent to the Docker view of a stack.

Every service with a ``docker:`` section becomes a compose service: image or build,
``depends_on`` with conditions, a healthcheck ``test``, ports, volumes and environment.
Values are written after interpolation, so every ``$`` is escaped as ``$$``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..config.models import HealthCheck, Probe
from ..config.resolve import ResolvedService, ResolvedStack, flatten_settings
from ..config.types import format_duration
from .render import dump
from .view import Mount, Notes, exported_services, in_container_port, own_environment, relative_path

_PULL = {"always": "always", "never": "never"}


class ComposeExport:
    """The compose document, plus what could not be carried over."""

    def __init__(self, document: dict[str, Any], notes: Notes, skipped: list[str], header: str) -> None:
        self.document = document
        self.notes = notes
        self.skipped = skipped
        self.header = header

    def text(self) -> str:
        return self.header + dump(self.document)


def _escape(data: Any) -> Any:
    """Escape ``$`` everywhere: the values are final, compose must not interpolate them."""
    if isinstance(data, str):
        return data.replace("$", "$$")
    if isinstance(data, dict):
        return {k: _escape(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_escape(v) for v in data]
    return data


def healthcheck_test(svc: ResolvedService, probe: Probe, notes: Notes) -> list[str] | None:
    """A probe as a compose ``test`` that runs inside the container."""
    if probe.command is not None:
        if isinstance(probe.command, str):
            return ["CMD-SHELL", probe.command]
        return ["CMD", *probe.command]
    if probe.http is not None:
        from urllib.parse import urlsplit

        url = urlsplit(probe.http.url)
        port = in_container_port(svc, url.port or (443 if url.scheme == "https" else 80))
        path = (url.path or "/") + (f"?{url.query}" if url.query else "")
        target = f"{url.scheme}://127.0.0.1:{port}{path}"
        notes.add(f"{svc.name}: http probe runs as wget (or curl) inside the container")
        return ["CMD-SHELL", f"wget -q -O /dev/null '{target}' || curl -fsS -o /dev/null '{target}'"]
    if probe.tcp is not None:
        port = in_container_port(svc, probe.tcp.port)
        notes.add(f"{svc.name}: tcp probe runs as nc inside the container")
        return ["CMD-SHELL", f"nc -z 127.0.0.1 {port} || echo | nc -w 1 127.0.0.1 {port}"]
    notes.add(f"{svc.name}: log probe /{probe.log}/ has no compose equivalent; no healthcheck")
    return None


def _healthcheck(svc: ResolvedService, notes: Notes) -> dict[str, Any] | None:
    check = svc.docker.healthcheck if svc.docker and svc.docker.healthcheck is not None else svc.spec.healthcheck
    if check is None or check == "docker":
        return None  # "docker": the image's own HEALTHCHECK applies
    assert isinstance(check, HealthCheck)
    test = healthcheck_test(svc, check, notes)
    if test is None:
        return None
    if check.deep is not None:
        notes.add(f"{svc.name}: the deep probe ({check.deep.describe()}) is not mapped")
    out: dict[str, Any] = {"test": test, "interval": format_duration(check.interval)}
    if check.timeout is not None:
        out["timeout"] = format_duration(check.timeout)
    out["retries"] = check.retries
    if check.start_period:
        out["start_period"] = format_duration(check.start_period)
    return out


def _service(
    stack: ResolvedStack, svc: ResolvedService, base: Path, exported: set[str], notes: Notes,
    settings: dict[str, str], volumes: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    docker = svc.docker
    assert docker is not None
    out: dict[str, Any] = {}
    if docker.image:
        out["image"] = docker.image
    if docker.build is not None:
        build: dict[str, Any] = {"context": relative_path(docker.build.context, stack.root, base)}
        if docker.build.dockerfile:
            build["dockerfile"] = docker.build.dockerfile
        if docker.build.args:
            build["args"] = dict(docker.build.args)
        if docker.build.target:
            build["target"] = docker.build.target
        out["build"] = build
    if docker.pull in _PULL:
        out["pull_policy"] = _PULL[docker.pull]
    if docker.entrypoint is not None:
        out["entrypoint"] = docker.entrypoint
    if docker.command is not None:
        out["command"] = docker.command
    if docker.user:
        out["user"] = docker.user
    if docker.working_dir:
        out["working_dir"] = docker.working_dir
    env_files = [*svc.spec.env_file, *docker.env_file]
    if env_files:
        out["env_file"] = [relative_path(f, stack.root, base) for f in env_files]
    out["environment"] = {"ZYRON_ENV": stack.config.env, **settings, **own_environment(svc)}
    if docker.ports:
        out["ports"] = list(docker.ports)
    elif svc.ports:
        out["expose"] = [str(p) for p in svc.ports]
    mounts = []
    for text in docker.volumes:
        mount = Mount.parse(text)
        if mount.kind == "bind":
            source = relative_path(mount.source, stack.root, base)
            mounts.append(f"{source}:{mount.target}" + (":ro" if mount.read_only else ""))
        else:
            if mount.kind == "named":
                volumes.setdefault(mount.source, {})
            mounts.append(text)
    if mounts:
        out["volumes"] = mounts
    depends: dict[str, Any] = {}
    for dep in svc.depends_on:
        if dep.name not in exported:
            notes.add(f"{svc.name}: dependency on {dep.name} left out ({dep.name} is not exported)")
            continue
        rule: dict[str, Any] = {"condition": dep.condition.value}
        if dep.restart:
            rule["restart"] = True
        depends[dep.name] = rule
    if depends:
        out["depends_on"] = depends
    health = _healthcheck(svc, notes)
    if health is not None:
        out["healthcheck"] = health
    if svc.spec.restart != "no":
        out["restart"] = svc.spec.restart
    if svc.stop_signal != "SIGTERM":
        out["stop_signal"] = svc.stop_signal
    if svc.stop_grace_period != 10.0:
        out["stop_grace_period"] = format_duration(svc.stop_grace_period)
    if svc.spec.gpus:
        out["deploy"] = {"resources": {"reservations": {"devices": [
            {"driver": "nvidia", "count": svc.spec.gpus, "capabilities": ["gpu"]}]}}}
    return out


def export_compose(stack: ResolvedStack, *, base: Path | None = None) -> ComposeExport:
    """The compose file of ``stack``; relative paths are written relative to ``base``.

    ``base`` is the folder the compose file will live in (compose resolves paths against
    it); it defaults to the stack's root.
    """
    from ..errors import UsageError

    base = base or stack.root
    names, skipped = exported_services(stack)
    if not names:
        raise UsageError(
            f"nothing to export: no service has a docker: section (process-only: {', '.join(skipped) or 'none'})",
            hint="give each service a docker: section with an image",
        )
    notes = Notes()
    settings = flatten_settings(stack.config.spec.settings)
    volumes: dict[str, dict[str, Any]] = {}
    services = {
        name: _service(stack, stack.services[name], base, set(names), notes, settings, volumes)
        for name in names
    }
    document: dict[str, Any] = {"services": _escape(services)}
    if volumes:
        document["volumes"] = volumes
    header = (
        f"# Docker Compose file of {stack.project} (env {stack.config.env}), written by\n"
        f"# dev-orchestrator export compose. Regenerate rather than edit.\n"
    )
    return ComposeExport(document, notes, skipped, header)
