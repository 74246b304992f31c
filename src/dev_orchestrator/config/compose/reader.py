"""A services.yaml document from a parsed Docker Compose file.

Strings are copied verbatim: both formats share compose's ``${VAR:-default}`` and ``$$``
rules, so interpolation happens when the document is loaded, as it did under compose.
Keys outside the compose format are errors naming their path; compose keys that have no
counterpart here are notes, never dropped silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ...errors import ConfigError
from ..models import SERVICE_NAME
from ..source import PathKey, Source
from .fields import FieldReader
from .keys import CARRIED, CONTAINER, NOT_CARRIED, TOP_LEVEL
from .keys import kind_of as _kind
from .keys import suggest as _suggest
from .secrets import Sources

_PULL = {"always": "always", "never": "never", "missing": "missing", "if_not_present": "missing",
         "build": "missing", "daily": "missing", "weekly": "missing"}
_DOCKER_ORDER = ["image", "build", "pull", "entrypoint", "command", "user", "working_dir", "env_file",
                 "environment", "ports", "volumes", "healthcheck", *sorted(CONTAINER)]
_SERVICE_ORDER = ["docker", "ports", "depends_on", "restart", "stop_signal", "stop_grace_period", "gpus",
                  "profiles", "secrets", "enabled"]


@dataclass
class Translation:
    """The services.yaml document built from a compose file, and what it could not carry."""

    document: dict[str, Any]
    notes: list[str] = field(default_factory=list)


class ComposeReader(FieldReader):
    """The whole file: top-level keys, then one service at a time."""

    def read(self) -> Translation:
        data = self.source.data
        doc: dict[str, Any] = {}
        for key in data:
            if str(key).startswith("x-") or key == "version":
                continue
            if key not in TOP_LEVEL:
                self.error((key,), f'unknown top-level key "{key}"{_suggest(str(key), TOP_LEVEL)}')
            elif key == "networks":
                self.networks(data[key])
            elif key not in ("name", "services", "volumes", "secrets", "configs"):
                self.note((key,), f"top-level {key} not carried over")
        name = data.get("name")
        if isinstance(name, str) and SERVICE_NAME.match(name):
            doc["name"] = name
        elif name is not None:
            self.note(("name",), f"project name {name!r} not carried over (not a valid name)")
        doc["orchestrator"] = {"docker": True}
        services = data.get("services")
        if services is None:
            self.error(("services",), 'missing "services" (a compose file needs at least one service)')
            services = {}
        elif not isinstance(services, dict):
            self.error(("services",), f"expected a mapping of services, got {_kind(services)}")
            services = {}
        self.volumes(data.get("volumes"))
        self.sources = {kind: Sources(self, kind, data.get(kind)) for kind in ("secrets", "configs")}
        doc["services"] = {}
        for raw_name, spec in services.items():
            path = ("services", raw_name)
            name = str(raw_name).lower()
            if not SERVICE_NAME.match(name):
                self.error(path, f'service name "{raw_name}" cannot be used (letters, digits, ".", "-", "_")')
                continue
            if name != raw_name:
                self.note(path, f'renamed to "{name}" (service names are lowercase)')
            if not isinstance(spec, dict):
                self.error(path, f"expected a mapping, got {_kind(spec)}")
                continue
            doc["services"][name] = self.service(path, spec)
        declared = self.sources["secrets"].declared()
        if declared:
            doc["secrets"] = declared
        if self.errors:
            raise ConfigError(self.errors)
        return Translation(doc, self.notes)

    def networks(self, networks: Any) -> None:
        """Top-level networks: each named one is made per project; its options are noted."""
        if networks is None:
            return
        if not isinstance(networks, dict):
            self.error(("networks",), f"expected a mapping of networks, got {_kind(networks)}")
            return
        for name, options in networks.items():
            if options:
                self.note(("networks", name), "network options (driver, external, name, ipam, ...) not carried "
                          f"over: a bridge network <project>_{name} is made")

    def volumes(self, volumes: Any) -> None:
        if volumes is None:
            return
        if not isinstance(volumes, dict):
            self.error(("volumes",), f"expected a mapping of volumes, got {_kind(volumes)}")
            return
        for name, options in volumes.items():
            if options:
                self.note(("volumes", name), "volume options (driver, external, name, ...) not carried over")

    def service(self, path: PathKey, spec: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        docker: dict[str, Any] = {}
        for key, value in spec.items():
            here = (*path, key)
            if str(key).startswith("x-"):
                continue
            if key == "logging":
                self.note(here, "not carried over: every service's output goes to logs/<service>.log")
            elif key in NOT_CARRIED:
                self.note(here, "not carried over")
            elif key == "secrets":
                uses = self.sources[key].uses(here, value)
                if uses:
                    out["secrets"] = uses
            elif key == "configs":
                mounts = self.sources[key].mounts(here, value)
                if mounts:
                    docker["volumes"] = [*docker.get("volumes", []), *mounts]
            elif key not in CARRIED:
                self.error(here, f'unknown compose key "{key}"{_suggest(str(key), CARRIED | NOT_CARRIED)}')
            else:
                self.carried(here, key, value, out, docker)
        if "image" not in docker and "build" not in docker:
            self.error(path, "a service needs an image or a build")
        out["docker"] = {k: docker[k] for k in _DOCKER_ORDER if k in docker}
        return {k: out[k] for k in _SERVICE_ORDER if k in out}

    def carried(self, here: PathKey, key: str, value: Any, out: dict[str, Any], docker: dict[str, Any]) -> None:
        """One carried key into the service (``out``) or its docker: section."""
        if key in ("image", "user", "working_dir", "restart", "stop_signal", "stop_grace_period"):
            if key == "restart" and value is False:
                value = "no"
            if self.expect(here, value, (str, int, float), "a string"):
                target = docker if key in ("image", "user", "working_dir") else out
                target[key] = str(value) if key == "user" else value
        elif key in ("command", "entrypoint"):
            command = self.command(here, value)
            if command is not None:
                docker[key] = command
        elif key == "build":
            build = self.build(here, value)
            if build is not None:
                docker["build"] = build
        elif key == "pull_policy":
            if self.expect(here, value, (str,), "a string") and value in _PULL:
                docker["pull"] = _PULL[value]
            elif isinstance(value, str):
                self.error(here, f'unknown pull_policy "{value}"{_suggest(value, set(_PULL))}')
        elif key == "environment":
            env = self.environment(here, value)
            if env is not None:
                docker["environment"] = env
        elif key == "env_file":
            files = self.env_file(here, value)
            if files:
                docker["env_file"] = files
        elif key == "ports":
            ports, published = self.ports(here, value)
            if ports:
                docker["ports"] = ports
            if published:
                out["ports"] = published
        elif key == "volumes":
            mounts = self.mounts(here, value)
            if mounts:
                docker["volumes"] = [*mounts, *docker.get("volumes", [])]
        elif key == "depends_on":
            deps = self.depends_on(here, value)
            if deps:
                out["depends_on"] = deps
        elif key == "healthcheck":
            check = self.healthcheck(here, value)
            if check is not None:
                docker["healthcheck"] = check
        elif key in ("deploy", "gpus"):
            gpus = self.gpus(here, value) if key == "gpus" else self.deploy(here, value)
            if gpus:
                out["gpus"] = gpus
        elif key == "profiles":
            profiles = self.profiles(here, value)
            if profiles:
                out["profiles"] = profiles
        elif key in CONTAINER:
            if key == "networks" and isinstance(value, dict):
                value = {net: self.attachment((*here, net), opts) for net, opts in value.items()}
            docker[key] = value  # the docker: model reads compose's shapes (config/container.py)

    def attachment(self, path: PathKey, opts: Any) -> Any:
        """A service's options on one network: aliases carry, the rest is noted."""
        if not isinstance(opts, dict):
            return opts
        for key in opts:
            if key != "aliases":
                self.note((*path, key), "not carried over (aliases are)")
        return {k: v for k, v in opts.items() if k == "aliases"}

    def profiles(self, path: PathKey, value: Any) -> list[str]:
        if not isinstance(value, list):
            self.error(path, f"expected a list of profile names, got {_kind(value)}")
            return []
        out = []
        for i, item in enumerate(value):
            if isinstance(item, str) and item:
                out.append(item)
            else:
                self.error((*path, i), f"expected a profile name, got {_kind(item)}")
        return out


def translate(source: Source) -> Translation:
    """The services.yaml document of a parsed compose file; ConfigError lists every bad key."""
    return ComposeReader(source).read()


_DOCKER_KEYS = {"image": "image", "build": "build", "pull_policy": "pull", "entrypoint": "entrypoint",
                "command": "command", "user": "user", "working_dir": "working_dir", "env_file": "env_file",
                "environment": "environment", "volumes": "volumes", "healthcheck": "healthcheck",
                **{key: key for key in CONTAINER}}


def translated_positions(positions: dict[PathKey, Any]) -> dict[PathKey, Any]:
    """Positions of the compose file keyed by the translated document's paths.

    ``services.web.image`` in compose is ``services.web.docker.image`` once translated, so
    that an error in the translated stack still names the compose file's line.
    """
    out = dict(positions)
    for path, where in positions.items():
        if len(path) >= 3 and path[0] == "services":
            key = path[2]
            if key in _DOCKER_KEYS:
                out[(path[0], path[1], "docker", _DOCKER_KEYS[str(key)], *path[3:])] = where
            elif key == "ports":
                out[(path[0], path[1], "docker", "ports", *path[3:])] = where
    return out
