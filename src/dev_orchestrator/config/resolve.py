"""Derived, runtime-ready view of a loaded stack: argv, environment, conditions, runtime.

Pure: takes the validated spec and the environment, returns frozen values. Runtime
code reads these, never the raw spec dicts.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ..errors import ConfigError, Diagnostic, UsageError
from ..graph import Graph
from .deploy import Listen
from .gc_pause import gc_paused
from .listen_checks import listen_diagnostics
from .loader import LoadedConfig
from .models import Condition, DockerSpec, HealthCheck, Service
from .secrets import is_secret_key
from .service_env import env_name_entry, secret_env, stack_env
from .service_env import flatten_settings as flatten_settings  # kept importable from here
from .stack_secrets import SecretFile, container_mount, resolve_secrets
from .types import RestartPolicy, restart_policy

Runtime = Literal["process", "docker"]


@dataclass(frozen=True)
class ResolvedDependency:
    name: str
    condition: Condition
    restart: bool = False


@dataclass(frozen=True)
class ResolvedService:
    """Everything the engine needs to run one service.

    ``env`` is the process's whole environment; ``stack_env`` the part the stack itself
    sets (the environment's name, the service's settings), which a container starts
    from. ``secret_env`` names the variables whose values are secret: named like a
    secret, or interpolating a secret variable.
    """

    name: str
    spec: Service
    runtime: Runtime
    argv: tuple[str, ...]
    cwd: Path
    env: Mapping[str, str]
    depends_on: tuple[ResolvedDependency, ...]
    healthcheck: HealthCheck | Literal["docker"] | None
    restart: RestartPolicy
    one_shot: bool
    ports: tuple[int, ...]
    critical: bool
    stop_signal: str
    stop_grace_period: float
    docker: DockerSpec | None = None
    stack_env: Mapping[str, str] = field(default_factory=dict)
    secret_env: frozenset[str] = frozenset()
    listen: tuple[Listen, ...] = ()
    replicas: int = 1
    update_order: Literal["start-first", "stop-first"] = "stop-first"
    monitor: float = 1.0
    secrets: tuple[SecretFile, ...] = ()  # files written when it starts (runtime/secret_files.py)

    @property
    def start_first(self) -> bool:
        """A restart starts the new instance beside the old one (needs a port we own)."""
        return bool(self.listen) and self.update_order == "start-first"


@dataclass(frozen=True)
class ResolvedStack:
    config: LoadedConfig
    services: Mapping[str, ResolvedService]
    graph: Graph
    docker: bool
    base_env: Mapping[str, str] = field(default_factory=dict)

    @property
    def project(self) -> str:
        return self.config.project

    @property
    def root(self) -> Path:
        return self.config.root


def read_env_files(root: Path, files: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name in files:
        path = (root / name) if not os.path.isabs(name) else Path(name)
        if not path.is_file():
            raise ConfigError(Diagnostic(f"env_file {name} does not exist ({path})"))
        from dotenv import dotenv_values

        out.update({k: v for k, v in dotenv_values(path).items() if v is not None})
    return out


def _cwd(root: Path, working_dir: str | None, known: dict[str | None, Path]) -> Path:
    if working_dir not in known:
        known[working_dir] = (root / (working_dir or ".")).resolve()
    return known[working_dir]


@gc_paused()
def resolve(
    config: LoadedConfig,
    *,
    docker: bool | None = None,
    environ: Mapping[str, str] | None = None,
) -> ResolvedStack:
    """Derive the runtime view; ``docker`` overrides ``orchestrator.docker``."""
    environ = os.environ if environ is None else environ
    spec = config.spec
    use_docker = spec.orchestrator.docker if docker is None else docker
    graph = Graph.from_spec(spec)
    cwds: dict[str | None, Path] = {}  # most services share a folder: resolve each once
    shared = {**config.dotenv, **environ, **env_name_entry(spec, config.env)}
    shared_secret = {k for k in shared if is_secret_key(k)}  # judged once, not for every service
    completed = {
        dep
        for svc in spec.services.values()
        for dep, rule in svc.depends_on.items()
        if rule.condition is Condition.COMPLETED
    }
    services: dict[str, ResolvedService] = {}
    problems_before: list[Diagnostic] = []
    for name in graph.order():
        svc = spec.services[name]
        containers = spec.orchestrator.containers
        in_docker = use_docker and svc.docker is not None and (containers is None or name in containers)
        if use_docker and svc.docker is not None and not svc.argv():
            in_docker = True  # nothing else to run: a docker-only service is always a container
        runtime: Runtime = "docker" if in_docker else "process"
        healthcheck = svc.healthcheck
        if runtime == "docker" and svc.docker and svc.docker.healthcheck is not None:
            healthcheck = svc.docker.healthcheck
        if runtime == "process" and healthcheck == "docker":
            healthcheck = None
        own = stack_env(config, name)
        env = {**shared, **own}
        env.update(read_env_files(config.root, svc.env_file))
        for key, value in svc.environment.items():
            if value is None:
                if key in environ:
                    env[key] = environ[key]
            else:
                env[key] = value
        deploy = svc.deploy
        order = deploy.update_config.order if deploy is not None else None
        secrets, secret_problems = resolve_secrets(config, name, svc.secrets, shared, container=runtime == "docker")
        problems_before.extend(secret_problems)
        docker_spec = svc.docker
        if secrets and runtime == "docker" and docker_spec is not None:
            docker_spec = docker_spec.model_copy(
                update={"volumes": [*docker_spec.volumes, *(container_mount(f) for f in secrets)]})
        elif secrets:
            env.update({f.variable: str(f.path) for f in secrets})
        services[name] = ResolvedService(
            name=name,
            spec=svc,
            runtime=runtime,
            argv=tuple(svc.argv()),
            cwd=_cwd(config.root, svc.working_dir, cwds),
            env=env,
            depends_on=tuple(_dependencies(spec.services[name], services)),
            healthcheck=healthcheck,
            restart=restart_policy(svc.restart),
            one_shot=name in completed,
            ports=tuple(dict.fromkeys([*svc.ports, *(entry.port for entry in svc.listen)])),
            critical=svc.critical,
            stop_signal=svc.stop_signal,
            stop_grace_period=svc.stop_grace_period,
            docker=docker_spec,
            stack_env=own,
            secret_env=frozenset(
                {*secret_env(config, name, docker=False), *secret_env(config, name, docker=True)}
                | shared_secret | {k for k in env.keys() - shared.keys() if is_secret_key(k)}
            ),
            listen=tuple(svc.listen),
            replicas=deploy.replicas if deploy is not None else 1,
            update_order=order or ("start-first" if svc.listen else "stop-first"),
            monitor=deploy.update_config.monitor if deploy is not None else 1.0,
            secrets=tuple(secrets),
        )
    problems = problems_before + listen_diagnostics(config, services) + [
        Diagnostic(
            f'"{dep.name}" has no healthcheck{" when it runs in Docker" if services[dep.name].runtime == "docker" else ""}, '
            f"so service_healthy can never hold; give {dep.name} a healthcheck or use service_started",
            f"services.{name}.depends_on.{dep.name}.condition",
            config.location("services", name, "depends_on", dep.name),
        )
        for name, resolved in services.items()
        for dep in resolved.depends_on
        if dep.condition is Condition.HEALTHY and services[dep.name].healthcheck is None
    ]
    if problems:
        raise ConfigError(problems)
    return ResolvedStack(config, services, graph, use_docker, shared)


def require_runnable(stack: ResolvedStack, names: set[str]) -> None:
    """Fail with a clear message when a selected service can only run in Docker."""
    docker_only = sorted(
        n for n in names if stack.services[n].runtime == "process" and not stack.services[n].argv
    )
    if docker_only:
        listed = ", ".join(docker_only)
        raise UsageError(
            f"{listed} run only in Docker (no command for a local process), and Docker is off",
            hint="start with --docker, or set orchestrator.docker: true in an overlay",
        )
    replicated = sorted(n for n in names if stack.services[n].runtime == "docker" and stack.services[n].replicas > 1
                        and not stack.services[n].listen)
    if replicated:
        raise UsageError(
            f"{', '.join(replicated)}: deploy.replicas above 1 runs containers here only behind a listen port "
            "(elsewhere they get replicas on Swarm or Kubernetes: see docs/SWARM.md, docs/KUBERNETES.md)",
            hint="add `listen: [{port: N}]` for a port in docker.ports, or set deploy.replicas: 1 in this "
            "environment's overlay",
        )


MAX_SCALE = 64  # as deploy.replicas


def parse_scale(items: tuple[str, ...] | list[str]) -> dict[str, int]:
    """``--scale SVC=N`` (repeatable) as {service: replicas}; UsageError for a malformed one."""
    out: dict[str, int] = {}
    for item in items:
        name, sep, number = item.partition("=")
        if not sep or not name or not number.isdigit():
            raise UsageError(f'--scale "{item}": expected SERVICE=NUMBER', hint="e.g. --scale web=3")
        out[name] = int(number)
    return out


def scaled(stack: ResolvedStack, scale: Mapping[str, int], *, strict: bool = True) -> ResolvedStack:
    """The stack with ``deploy.replicas`` overridden for this run (compose's ``--scale``).

    ``strict``: a name the stack does not have is an error (the command line); otherwise
    it is dropped (an override kept by the supervisor for a service since removed).
    """
    if not scale:
        return stack
    services = dict(stack.services)
    for name, count in scale.items():
        svc = services.get(name)
        if svc is None:
            if strict:
                raise UsageError(f'--scale {name}={count}: the stack has no service "{name}"',
                                 hint=f"services: {', '.join(sorted(services))}")
            continue
        if not 1 <= count <= MAX_SCALE:
            raise UsageError(f"--scale {name}={count}: use 1 to {MAX_SCALE} replicas",
                             hint=f"to run none, stop it: dev-orchestrator stop {name}")
        if count > 1 and not svc.listen and (svc.spec.ports or svc.runtime == "docker"):
            raise UsageError(f"--scale {name}={count}: replicas of {name} would all bind its port; "
                             "they share a listen port only", hint=f"add `listen: [{{port: N}}]` to {name}")
        services[name] = dataclasses.replace(svc, replicas=count)
    return dataclasses.replace(stack, services=services)


def _dependencies(
    service: Service, resolved: Mapping[str, ResolvedService]
) -> list[ResolvedDependency]:
    """Concrete dependency rules; ``resolved`` holds every dependency already (start order).

    The default condition follows the healthcheck the dependency will really run with:
    the one of its docker: section when it runs in Docker, none for ``healthcheck: docker``
    when it runs as a process.
    """
    out = []
    for dep, rule in service.depends_on.items():
        if dep not in resolved:
            continue  # an optional dependency on a disabled service
        condition = rule.condition
        if condition is None:
            has_check = resolved[dep].healthcheck is not None
            condition = Condition.HEALTHY if has_check else Condition.STARTED
        out.append(ResolvedDependency(dep, condition, rule.restart))
    return out
