"""A services.yaml from a Docker Compose file.

Strings are copied verbatim: both formats share compose's ``${VAR:-default}`` and ``$$``
rules, so interpolation happens when the new file is loaded, as it did under compose.
Keys outside the compose format are errors naming their path; compose keys that have no
counterpart here are listed as notes, never dropped silently.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ..config.models import SERVICE_NAME, Condition
from ..config.source import PathKey, Source, dotted, parse_file, parse_text
from ..errors import ConfigError, Diagnostic
from .compose_keys import CARRIED, NOT_CARRIED, TOP_LEVEL
from .compose_keys import kind_of as _kind
from .compose_keys import suggest as _suggest
from .imported import Imported

_PULL = {"always": "always", "never": "never", "missing": "missing", "if_not_present": "missing",
         "build": "missing", "daily": "missing", "weekly": "missing"}
_HEALTH_DEFAULTS = {"interval": "30s", "timeout": "30s", "retries": 3}


class _Reader:
    def __init__(self, source: Source) -> None:
        self.source = source
        self.errors: list[Diagnostic] = []
        self.result = Imported({}, Path(source.file).name)

    def error(self, path: PathKey, message: str) -> None:
        loc = self.source.keys.get(path) or self.source.values.get(path)
        self.errors.append(Diagnostic(message, dotted(path), loc))

    def note(self, path: PathKey, message: str) -> None:
        self.result.notes.add(f"{dotted(path)}: {message}")

    def expect(self, path: PathKey, value: Any, kinds: tuple[type, ...], what: str) -> bool:
        if isinstance(value, kinds) and (bool in kinds or not isinstance(value, bool)):
            return True
        self.error(path, f"expected {what}, got {_kind(value)}")
        return False

    # -- document ----------------------------------------------------------------------

    def read(self) -> Imported:
        data = self.source.data
        doc: dict[str, Any] = {}
        for key in data:
            if str(key).startswith("x-") or key == "version":
                continue
            if key not in TOP_LEVEL:
                self.error((key,), f'unknown top-level key "{key}"{_suggest(str(key), TOP_LEVEL)}')
            elif key not in ("name", "services", "volumes"):
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
        if self.errors:
            raise ConfigError(self.errors)
        self.result.document = doc
        return self.result

    def volumes(self, volumes: Any) -> None:
        if volumes is None:
            return
        if not isinstance(volumes, dict):
            self.error(("volumes",), f"expected a mapping of volumes, got {_kind(volumes)}")
            return
        for name, options in volumes.items():
            if options:
                self.note(("volumes", name), "volume options (driver, external, name, ...) not carried over")

    # -- one service -------------------------------------------------------------------

    def service(self, path: PathKey, spec: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        docker: dict[str, Any] = {}
        for key, value in spec.items():
            here = (*path, key)
            if str(key).startswith("x-"):
                continue
            if key in NOT_CARRIED:
                self.note(here, "not carried over")
            elif key not in CARRIED:
                self.error(here, f'unknown compose key "{key}"{_suggest(str(key), CARRIED | NOT_CARRIED)}')
            elif key in ("image", "user", "working_dir", "restart", "stop_signal", "stop_grace_period"):
                if key == "restart" and value is False:
                    value = "no"
                if self.expect(here, value, (str, int, float), "a string"):
                    target = docker if key in ("image", "user", "working_dir") else out
                    target[key] = value if key not in ("user",) else str(value)
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
                    docker["volumes"] = mounts
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
            elif key == "profiles" and self.expect(here, value, (list,), "a list of profile names") and value:
                out["enabled"] = False
                self.note(here, "a service in a profile becomes enabled: false (enable it in an overlay)")
        if "image" not in docker and "build" not in docker:
            self.error(path, "a service needs an image or a build")
        order = ["image", "build", "pull", "entrypoint", "command", "user", "working_dir", "env_file",
                 "environment", "ports", "volumes", "healthcheck"]
        out["docker"] = {k: docker[k] for k in order if k in docker}
        first = ["docker", "ports", "depends_on", "restart", "stop_signal", "stop_grace_period", "gpus", "enabled"]
        return {k: out[k] for k in first if k in out}

    def command(self, path: PathKey, value: Any) -> list[str] | str | None:
        if value is None:
            return None
        if isinstance(value, str):
            return value
        if isinstance(value, list) and all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in value):
            return [str(v) for v in value]
        self.error(path, f"expected a string or a list of strings, got {_kind(value)}")
        return None

    def build(self, path: PathKey, value: Any) -> dict[str, Any] | str | None:
        if isinstance(value, str):
            return value
        if not isinstance(value, dict):
            self.error(path, f"expected a path or a mapping, got {_kind(value)}")
            return None
        out: dict[str, Any] = {}
        for key, item in value.items():
            if key in ("context", "dockerfile", "target") and self.expect((*path, key), item, (str,), "a string"):
                out[key] = item
            elif key == "args":
                args = self.environment((*path, key), item)
                if args is not None:
                    out["args"] = {k: v for k, v in args.items() if v is not None}
            elif key not in ("context", "dockerfile", "target"):
                self.note((*path, key), "not carried over")
        return out

    def environment(self, path: PathKey, value: Any) -> dict[str, str | None] | None:
        out: dict[str, str | None] = {}
        if isinstance(value, list):
            for i, item in enumerate(value):
                if not isinstance(item, str):
                    self.error((*path, i), f'expected "KEY=VALUE", got {_kind(item)}')
                    continue
                key, sep, val = item.partition("=")
                out[key] = val if sep else None
            return out
        if isinstance(value, dict):
            for key, val in value.items():
                if isinstance(val, (dict, list)):
                    self.error((*path, key), f"expected a string or a number, got {_kind(val)}")
                elif isinstance(val, bool):
                    out[str(key)] = "true" if val else "false"
                else:
                    out[str(key)] = None if val is None else str(val)
            return out
        if value is not None:
            self.error(path, f'expected a mapping or a list of "KEY=VALUE", got {_kind(value)}')
        return None

    def env_file(self, path: PathKey, value: Any) -> list[str]:
        items = [value] if isinstance(value, (str, dict)) else value
        if not isinstance(items, list):
            self.error(path, f"expected a path or a list of paths, got {_kind(value)}")
            return []
        out = []
        for i, item in enumerate(items):
            if isinstance(item, dict) and isinstance(item.get("path"), str):
                if item.get("required") is False:
                    self.note((*path, i), "required: false not carried over (the file must exist)")
                out.append(item["path"])
            elif isinstance(item, str):
                out.append(item)
            else:
                self.error((*path, i), f"expected a path, got {_kind(item)}")
        return out

    def ports(self, path: PathKey, value: Any) -> tuple[list[str], list[str | int]]:
        if not isinstance(value, list):
            self.error(path, f"expected a list of ports, got {_kind(value)}")
            return [], []
        ports: list[str] = []
        published: list[str | int] = []
        for i, item in enumerate(value):
            here = (*path, i)
            if isinstance(item, dict):
                text = self.long_port(here, item)
                if text is None:
                    continue
            elif isinstance(item, (str, int)) and not isinstance(item, bool):
                text = str(item)
            else:
                self.error(here, f"expected a port mapping, got {_kind(item)}")
                continue
            if re.search(r"\d-\d", text) and "$" not in text:
                self.note(here, f"port range {text} not carried over (list each port)")
                continue
            ports.append(text)
            if "$" not in text:
                parts = text.split("/")[0].rsplit(":", 2)
                if len(parts) >= 2 and parts[-2].isdigit():
                    published.append(int(parts[-2]))
        return ports, published

    def long_port(self, path: PathKey, item: dict[str, Any]) -> str | None:
        target = item.get("target")
        if target is None:
            self.error(path, 'a long-syntax port needs "target"')
            return None
        text = str(target)
        if item.get("published") is not None:
            text = f"{item['published']}:{text}"
            if item.get("host_ip"):
                text = f"{item['host_ip']}:{text}"
        if item.get("protocol") in ("tcp", "udp"):
            text += f"/{item['protocol']}"
        for key in item:
            if key not in ("target", "published", "host_ip", "protocol", "mode"):
                self.note((*path, key), "not carried over")
        return text

    def mounts(self, path: PathKey, value: Any) -> list[str]:
        if not isinstance(value, list):
            self.error(path, f"expected a list of volumes, got {_kind(value)}")
            return []
        out = []
        for i, item in enumerate(value):
            here = (*path, i)
            if isinstance(item, str):
                out.append(item)
            elif isinstance(item, dict):
                kind = item.get("type", "volume")
                if kind not in ("volume", "bind") or not item.get("target"):
                    self.note(here, f"{kind} mount not carried over")
                    continue
                text = f"{item['source']}:{item['target']}" if item.get("source") else str(item["target"])
                out.append(text + (":ro" if item.get("read_only") else ""))
                for key in item:
                    if key not in ("type", "source", "target", "read_only"):
                        self.note((*here, key), "not carried over")
            else:
                self.error(here, f"expected a volume, got {_kind(item)}")
        return out

    def depends_on(self, path: PathKey, value: Any) -> dict[str, Any] | list[str]:
        started = {"condition": Condition.STARTED.value}
        if isinstance(value, list):
            out: dict[str, Any] = {}
            for i, item in enumerate(value):
                if isinstance(item, str):
                    out[item] = dict(started)
                else:
                    self.error((*path, i), f"expected a service name, got {_kind(item)}")
            if any("$" in name for name in out):
                # List items are values and are interpolated; mapping keys are not. Keep the
                # list so that "${DB_HOST:-db}" still names a service once loaded.
                self.note(path, "kept as a list (it names a service through ${...}): a dependency "
                          "with a healthcheck is waited for until healthy, not only started")
                return list(out)
            return out
        if not isinstance(value, dict):
            self.error(path, f"expected a list or a mapping of services, got {_kind(value)}")
            return {}
        out = {}
        conditions = {c.value for c in Condition}
        for name, rule in value.items():
            here = (*path, name)
            rule = rule or {}
            if not isinstance(rule, dict):
                self.error(here, f"expected a mapping (condition:), got {_kind(rule)}")
                continue
            dep: dict[str, Any] = dict(started)
            for key, item in rule.items():
                if key == "condition":
                    if item not in conditions:
                        self.error((*here, key), f'unknown condition "{item}"{_suggest(str(item), conditions)}')
                    dep["condition"] = item
                elif key in ("restart", "required") and isinstance(item, bool):
                    dep[key] = item
                else:
                    self.error((*here, key), f'unknown or invalid key "{key}" in depends_on')
            out[str(name)] = dep
        return out

    def healthcheck(self, path: PathKey, value: Any) -> dict[str, Any] | str | None:
        if not isinstance(value, dict):
            self.error(path, f"expected a mapping, got {_kind(value)}")
            return None
        if value.get("disable") is True:
            return None
        test = value.get("test")
        command: Any = None
        if isinstance(test, str):
            command = test
        elif isinstance(test, list) and test and all(isinstance(t, str) for t in test):
            head = test[0]
            if head == "NONE":
                return None
            if head == "CMD" and len(test) > 1:
                command = test[1:]
            elif head == "CMD-SHELL" and len(test) == 2:
                command = test[1]
            else:
                self.error((*path, "test"), 'expected ["CMD", ...], ["CMD-SHELL", "..."], ["NONE"] or a string')
                return None
        elif test is not None:
            self.error((*path, "test"), f"expected a string or a list, got {_kind(test)}")
            return None
        for key in value:
            if key not in ("test", "interval", "timeout", "retries", "start_period", "disable"):
                self.note((*path, key), "not carried over")
        if command is None:
            self.note(path, 'timings without a test not carried over (the image\'s own healthcheck is used)')
            return "docker"
        out: dict[str, Any] = {"command": command}
        for key in ("interval", "timeout", "retries", "start_period"):
            if key in value:
                out[key] = value[key]
            elif key in _HEALTH_DEFAULTS:
                out[key] = _HEALTH_DEFAULTS[key]
        return out

    def gpus(self, path: PathKey, value: Any) -> int | None:
        if value == "all":
            self.note(path, "gpus: all becomes gpus: 1 (set the count you need)")
            return 1
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, list):
            return sum(int(d.get("count", 1)) if isinstance(d, dict) and isinstance(d.get("count", 1), int) else 1
                       for d in value) or None
        self.error(path, f'expected "all", a number or a list of devices, got {_kind(value)}')
        return None

    def deploy(self, path: PathKey, value: Any) -> int | None:
        if not isinstance(value, dict):
            self.error(path, f"expected a mapping, got {_kind(value)}")
            return None
        devices = ((value.get("resources") or {}).get("reservations") or {}).get("devices") or []
        count = 0
        for device in devices if isinstance(devices, list) else []:
            if isinstance(device, dict) and "gpu" in (device.get("capabilities") or []):
                n = device.get("count", "all")
                if n == "all":
                    self.note((*path, "resources"), "GPU count all becomes gpus: 1 (set the count you need)")
                count += n if isinstance(n, int) else 1
        others = [k for k in value if k != "resources"]
        if others or len(value.get("resources") or {}) > (1 if count else 0):
            self.note(path, "deploy options other than GPU reservations not carried over")
        return count or None


def import_compose_text(text: str, file: str = "compose.yaml") -> Imported:
    """Build a services.yaml document from compose text; ConfigError lists every bad key."""
    return _Reader(parse_text(text, file)).read()


def import_compose(path: Path) -> Imported:
    return _Reader(parse_file(path, str(path))).read()
