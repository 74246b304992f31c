"""Compose values (commands, environment, ports, volumes, healthchecks, ...) as services.yaml values.

The document-level reader (``reader.py``) calls these per key; each one reports a bad
value as an error at its path and anything it cannot carry as a note.
"""

from __future__ import annotations

import re
from typing import Any

from ...errors import Diagnostic
from ..models import Condition
from ..source import PathKey, Source, dotted
from .keys import kind_of as _kind
from .keys import suggest as _suggest

_HEALTH_DEFAULTS = {"interval": "30s", "timeout": "30s", "retries": 3}


class FieldReader:
    """Reads one compose value at a time; collects errors and notes for the whole file."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.errors: list[Diagnostic] = []
        self.notes: list[str] = []

    def error(self, path: PathKey, message: str) -> None:
        loc = self.source.keys.get(path) or self.source.values.get(path)
        self.errors.append(Diagnostic(message, dotted(path), loc))

    def note(self, path: PathKey, message: str) -> None:
        text = f"{dotted(path)}: {message}"
        if text not in self.notes:
            self.notes.append(text)

    def expect(self, path: PathKey, value: Any, kinds: tuple[type, ...], what: str) -> bool:
        if isinstance(value, kinds) and (bool in kinds or not isinstance(value, bool)):
            return True
        self.error(path, f"expected {what}, got {_kind(value)}")
        return False

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
                out.append(item)  # verbatim: every flag (ro, z, Z, rshared, nocopy) stays
            elif isinstance(item, dict):
                text = self.long_mount(here, item)
                if text is not None:
                    out.append(text)
            else:
                self.error(here, f"expected a volume, got {_kind(item)}")
        return out

    def long_mount(self, path: PathKey, item: dict[str, Any]) -> str | None:
        """A long-syntax volume as the short form, with every flag it has a short spelling for."""
        kind = item.get("type", "volume")
        if kind not in ("volume", "bind") or not item.get("target"):
            self.note(path, f"{kind} mount not carried over")
            return None
        text = f"{item['source']}:{item['target']}" if item.get("source") else str(item["target"])
        flags = ["ro"] if item.get("read_only") else []
        for key, option in item.items():
            if key in ("type", "source", "target", "read_only", "consistency"):
                continue
            if key == "bind" and isinstance(option, dict):
                for name, setting in option.items():
                    if name == "propagation" and isinstance(setting, str):
                        flags.append(setting)
                    elif name == "selinux" and setting in ("z", "Z"):
                        flags.append(str(setting))
                    elif name != "create_host_path":
                        self.note((*path, key, name), "not carried over")
            elif key == "volume" and isinstance(option, dict):
                for name, setting in option.items():
                    if name == "nocopy" and setting is True:
                        flags.append("nocopy")
                    else:
                        self.note((*path, key, name), "not carried over")
            else:
                self.note((*path, key), "not carried over")
        return text + (":" + ",".join(flags) if flags else "")

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
