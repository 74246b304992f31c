"""A Docker Compose file equivalent to the Docker view of a stack.

Every service with a ``docker:`` section becomes a compose service: image or build,
``depends_on`` with conditions, a healthcheck ``test``, ports, volumes and environment.
Values are written after interpolation, so every ``$`` is escaped as ``$$``; except a
value that interpolates a secret, which is written as it was (``${DB_PASSWORD}`` and all)
for compose to interpolate from its own ``.env``, so that no secret lands in the file.
The variables those values read are listed for an ``.env.example``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..config.compose.keys import CONTAINER
from ..config.interpolate import referenced_names
from ..config.models import HealthCheck, Probe
from ..config.resolve import ResolvedService, ResolvedStack
from ..config.service_env import secret_env
from ..config.source import dotted
from ..config.stack_secrets import container_mount
from ..config.types import format_duration
from .render import dump
from .view import (
    Mount,
    Notes,
    exported_services,
    in_container_port,
    own_environment,
    relative_path,
    update_intent,
)

_PULL = {"always": "always", "never": "never"}
ENV_EXAMPLE_MARK = "(written by dev-orchestrator export compose)"


class ComposeExport:
    """The compose document, plus what could not be carried over."""

    def __init__(
        self, document: dict[str, Any], notes: Notes, skipped: list[str], header: str,
        variables: list[str] | None = None,
    ) -> None:
        self.document = document
        self.notes = notes
        self.skipped = skipped
        self.header = header
        self.variables = variables or []  # what the secret values read, for .env

    def text(self) -> str:
        return self.header + dump(self.document)

    def env_example(self, output: str = "the compose file") -> str:
        """An ``.env.example``: every variable the secret values read, without values."""
        lines = [
            f"# Variables that {output} reads {ENV_EXAMPLE_MARK}.",
            "# Copy to .env next to it and fill in; values that are secret are not exported.",
        ]
        return "\n".join([*lines, *(f"{name}=" for name in self.variables)]) + "\n"


def _escape(data: Any) -> Any:
    """Escape ``$`` everywhere: the values are final, compose must not interpolate them."""
    if isinstance(data, str):
        return data.replace("$", "$$")
    if isinstance(data, dict):
        return {k: _escape(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_escape(v) for v in data]
    return data


def _escape_rest(service: dict[str, Any]) -> dict[str, Any]:
    """Escape every value not written by ``_Secrets`` (environment, build args, command)."""
    done = {"environment", "command", "entrypoint"}
    out = {k: (v if k in done else _escape(v)) for k, v in service.items()}
    if "build" in service:
        out["build"] = {k: (v if k == "args" else _escape(v)) for k, v in service["build"].items()}
    return out


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


class _Secrets:
    """Secret values of one service written as compose references; the variables they read."""

    def __init__(self, stack: ResolvedStack, svc: ResolvedService, notes: Notes, variables: list[str]) -> None:
        self.stack = stack
        self.svc = svc
        self.notes = notes
        self.variables = variables
        self.handled: set[tuple[str | int, ...]] = set()

    def reference(self, name: str, written: str | None) -> str:
        """``written`` as compose interpolates it; ``${NAME}`` when no single text made the value."""
        text = written if written is not None else f"${{{name}}}"
        for var in referenced_names(text):
            if var not in self.variables:
                self.variables.append(var)
        return text

    def environment(self, env: dict[str, str | None]) -> dict[str, str | None]:
        out = _escape(env)
        for name, written in secret_env(self.stack.config, self.svc.name, docker=True).items():
            if name in out:
                out[name] = self.reference(name, written)
        own, docker = ("services", self.svc.name, "environment"), ("services", self.svc.name, "docker", "environment")
        self.handled.update(p for p in self.stack.config.secrets if p[:3] == own or p[:4] == docker)
        return out

    def values(self, path: tuple[str | int, ...], value: Any) -> Any:
        """``value`` (a string or a list of strings, from ``path``) escaped, secret parts as written."""
        secrets = self.stack.config.secrets
        full = ("services", self.svc.name, *path)
        if isinstance(value, list):
            return [self.values((*path, i), v) for i, v in enumerate(value)]
        if full in secrets:
            self.handled.add(full)
            return self.reference(str(path[-1]), secrets[full])
        return _escape(value)

    def report(self) -> None:
        """A note for each secret value that this export still writes in clear."""
        exported = (("services", self.svc.name, "docker"), ("services", self.svc.name, "healthcheck"))
        for path in self.stack.config.secrets:
            if path[:3] in exported and path not in self.handled:
                self.notes.add(f"{dotted(path)}: interpolates a secret and is written as its value")


def _service(
    stack: ResolvedStack, svc: ResolvedService, base: Path, exported: set[str], notes: Notes,
    secrets: _Secrets, volumes: dict[str, dict[str, Any]],
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
            build["args"] = {k: secrets.values(("docker", "build", "args", k), v) for k, v in docker.build.args.items()}
        if docker.build.target:
            build["target"] = docker.build.target
        out["build"] = build
    if docker.pull in _PULL:
        out["pull_policy"] = _PULL[docker.pull]
    if docker.entrypoint is not None:
        out["entrypoint"] = secrets.values(("docker", "entrypoint"), docker.entrypoint)
    if docker.command is not None:
        out["command"] = secrets.values(("docker", "command"), docker.command)
    if docker.user:
        out["user"] = docker.user
    if docker.working_dir:
        out["working_dir"] = docker.working_dir
    env_files = [*svc.spec.env_file, *docker.env_file]
    if env_files:
        out["env_file"] = [relative_path(f, stack.root, base) for f in env_files]
    out["environment"] = secrets.environment({**svc.stack_env, **own_environment(svc)})
    if docker.ports:
        out["ports"] = list(docker.ports)
    elif svc.ports:
        out["expose"] = [str(p) for p in svc.ports]
    out.update(container_options(docker))
    if docker.expose:
        out["expose"] = list(dict.fromkeys([*out.get("expose", []), *docker.expose]))
    if svc.spec.secrets:
        out["secrets"] = [use.source if use.target is None else {"source": use.source, "target": use.target}
                          for use in svc.spec.secrets]
    mounts = []
    secret_mounts = {container_mount(f) for f in svc.secrets}  # written as secrets: below
    for text in docker.volumes:
        if text in secret_mounts:
            continue
        mount = Mount.parse(text)
        if mount.kind == "bind":
            mounts.append(":".join(p for p in (bind_source(mount.source, stack.root, base), mount.target, mount.mode) if p))
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
    if svc.spec.profiles:
        out["profiles"] = list(svc.spec.profiles)
    deploy = deploy_section(svc)
    if svc.spec.gpus:
        deploy["resources"] = {"reservations": {"devices": [
            {"driver": "nvidia", "count": svc.spec.gpus, "capabilities": ["gpu"]}]}}
    if deploy:
        out["deploy"] = deploy
    return out


CONTAINER_KEYS = sorted(CONTAINER - {"expose"})  # expose joins the ports-derived list


def container_options(docker: Any) -> dict[str, Any]:
    """The container options a docker: section sets, in compose's shapes (config/container.py)."""
    out: dict[str, Any] = {}
    data = docker.model_dump(mode="json", include=set(CONTAINER_KEYS), exclude_defaults=True)
    for key in CONTAINER_KEYS:
        if key not in data:
            continue
        value = data[key]
        if key == "networks":
            attached = {n: ({"aliases": a["aliases"]} if a.get("aliases") else None) for n, a in value.items()}
            value = attached if any(attached.values()) else list(attached)
        elif key == "ulimits":
            value = {n: u["soft"] if u["soft"] == u["hard"] else u for n, u in value.items()}
        out[key] = value
    return out


def deploy_section(svc: ResolvedService) -> dict[str, Any]:
    """``deploy.replicas`` and ``deploy.update_config`` of a service that states them.

    Compose applies ``replicas`` with ``up`` (and ``--scale`` overrides it); the update
    order is read by Swarm, which replaces tasks one at a time (``parallelism: 1``).
    """
    intent = update_intent(svc)
    if not intent.given:
        return {}
    return {
        "replicas": intent.replicas,
        "update_config": {
            "parallelism": 1,
            "order": intent.order,
            "monitor": format_duration(intent.monitor),
            "failure_action": intent.failure_action,
        },
    }


def develop_section(develop: Any, root: Path, base: Path) -> dict[str, Any]:
    """``develop.watch`` for compose: paths relative to the compose file, our x- keys kept."""
    out: dict[str, Any] = develop.model_dump(mode="json", by_alias=True, exclude_none=True, exclude_defaults=True)
    for entry in out.get("watch", []):
        entry["path"] = relative_path(entry["path"], root, base)
    return out


def bind_source(source: str, root: Path, base: Path) -> str:
    """A bind mount's source as the compose file at ``base`` must name it.

    Absolute and ``~`` paths are kept verbatim (``/var/run/docker.sock`` names the host
    that runs compose, not this one, so no symlink is resolved here); a relative one is
    rewritten relative to ``base``, again without resolving symlinks.
    """
    if os.path.isabs(source) or source.startswith("~"):
        return source
    rel = Path(os.path.relpath(os.path.normpath(os.path.join(root, source)), os.path.normpath(base))).as_posix()
    return rel if rel.startswith(".") else f"./{rel}"


def export_compose(stack: ResolvedStack, *, base: Path | None = None, develop: bool = False) -> ComposeExport:
    """The compose file of ``stack``; relative paths are written relative to ``base``.

    ``base`` is the folder the compose file will live in (compose resolves paths against
    it); it defaults to the stack's root. ``develop`` keeps each service's
    ``develop.watch`` (compose 2.22 and later read it; older ones, 1.29 among them,
    reject the key, so it is asked for).
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
    variables: list[str] = []
    volumes: dict[str, dict[str, Any]] = {}
    services: dict[str, Any] = {}
    for name in names:
        secrets = _Secrets(stack, stack.services[name], notes, variables)
        services[name] = _escape_rest(_service(stack, stack.services[name], base, set(names), notes, secrets, volumes))
        secrets.report()
        spec_develop = stack.services[name].spec.develop
        if spec_develop is not None:
            if develop:
                services[name]["develop"] = develop_section(spec_develop, stack.root, base)
            else:
                notes.add(f"{name}: develop.watch is left out (compose before 2.22 rejects it): "
                          "export compose --develop keeps it")
    document: dict[str, Any] = {"services": services}
    if volumes:
        document["volumes"] = volumes
    networks = sorted({n for svc in services.values() for n in (svc.get("networks") or ()) if n != "default"})
    if networks:
        document["networks"] = {n: {} for n in networks}
    used = sorted({use.source for name in names for use in stack.services[name].spec.secrets})
    if used:
        document["secrets"] = {}
        for name in used:
            source = stack.config.spec.secrets[name]
            document["secrets"][name] = ({"file": relative_path(source.file, stack.root, base)}
                                         if source.file is not None else {"environment": source.environment})
    header = (
        f"# Docker Compose file of {stack.project} (env {stack.config.env}), written by\n"
        f"# dev-orchestrator export compose. Regenerate rather than edit.\n"
    )
    return ComposeExport(document, notes, skipped, header, sorted(variables))
