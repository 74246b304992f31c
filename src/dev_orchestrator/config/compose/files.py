"""Which files are compose files, and one compose document from a file with its override,
``include`` and ``extends`` applied as compose applies them.

Compose merges these before anything else reads them; doing the same here lets the
translation see one plain document, whichever way the user split it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ...errors import ConfigError, Diagnostic
from ..locate import is_compose_path
from ..source import Source, parse_file

OVERRIDE_FILES = {
    "compose.yaml": ("compose.override.yaml", "compose.override.yml"),
    "compose.yml": ("compose.override.yml", "compose.override.yaml"),
    "docker-compose.yaml": ("docker-compose.override.yaml", "docker-compose.override.yml"),
    "docker-compose.yml": ("docker-compose.override.yml", "docker-compose.override.yaml"),
}
# Lists compose appends on merge; volumes and devices merge by their target path.
_APPENDED = {"ports", "expose", "external_links", "dns", "dns_search", "tmpfs", "cap_add", "cap_drop",
             "security_opt", "extra_hosts", "secrets", "configs", "env_file"}
_BY_TARGET = {"volumes", "devices"}
_BY_KEY = {"environment", "labels", "build.args", "extra_hosts"}
_NOT_EXTENDED = {"depends_on", "links", "volumes_from"}  # never shared through extends (compose 1.29)


is_compose_file = is_compose_path
def _as_mapping(value: Any) -> Any:
    """``KEY=VALUE`` lists as mappings, so that two of them merge key by key."""
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        out: dict[str, Any] = {}
        for item in value:
            key, sep, val = item.partition("=")
            out[key] = val if sep else None
        return out
    return value


def _target(item: Any) -> Any:
    if isinstance(item, dict):
        return item.get("target", item.get("source"))
    parts = str(item).split(":")
    return parts[1] if len(parts) > 1 else parts[0]


def merge_service(base: dict[str, Any], over: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``over`` onto ``base`` with compose's rules for services (which lists append, which replace)."""
    out = dict(base)
    for key, value in over.items():
        name = f"{prefix}{key}"
        old = out.get(key)
        if old is None:
            out[key] = value
        elif name in _BY_KEY:
            old_map, new_map = _as_mapping(old), _as_mapping(value)
            out[key] = {**old_map, **new_map} if isinstance(old_map, dict) and isinstance(new_map, dict) else value
        elif key in _APPENDED and not prefix and isinstance(old, list) and isinstance(value, list):
            out[key] = [*old, *(v for v in value if v not in old)]
        elif key in _BY_TARGET and not prefix and isinstance(old, list) and isinstance(value, list):
            targets = {_target(v) for v in value}
            out[key] = [*(v for v in old if _target(v) not in targets), *value]
        elif isinstance(old, dict) and isinstance(value, dict):
            out[key] = merge_service(old, value, f"{name}.")
        else:
            out[key] = value
    return out


def merge_documents(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Two whole compose documents merged (the override file onto the main one)."""
    out = dict(base)
    for key, value in over.items():
        old = out.get(key)
        if key == "services" and isinstance(old, dict) and isinstance(value, dict):
            out[key] = {**old, **{n: merge_service(old[n], s) if isinstance(old.get(n), dict) and isinstance(s, dict)
                                  else s for n, s in value.items()}}
        elif isinstance(old, dict) and isinstance(value, dict):
            out[key] = {**old, **value}
        else:
            out[key] = value
    return out


def _rebased(path: Any, prefix: str) -> Any:
    if isinstance(path, str) and not path.startswith(("/", "~", "$")) and "://" not in path:
        joined = os.path.normpath(os.path.join(prefix, path))
        return joined if joined.startswith(".") else f"./{joined}"  # "./": a bind mount, not a volume name
    return path


def rebase(data: dict[str, Any], source: Path, target: Path) -> dict[str, Any]:
    """Relative paths of an included file (build contexts, env files, bind mounts, secret files)
    rewritten relative to the including file's folder, as compose resolves them against their own file."""
    prefix = os.path.relpath(source, target)
    if prefix == ".":
        return data
    out = dict(data)
    services = {}
    for name, svc in (data.get("services") or {}).items():
        svc = dict(svc) if isinstance(svc, dict) else svc
        if isinstance(svc, dict):
            build = svc.get("build")
            if isinstance(build, str):
                svc["build"] = _rebased(build, prefix)
            elif isinstance(build, dict) and "context" in build:
                svc["build"] = {**build, "context": _rebased(build["context"], prefix)}
            files = svc.get("env_file")
            if files is not None:
                svc["env_file"] = [_rebased(f, prefix) for f in (files if isinstance(files, list) else [files])]
            if isinstance(svc.get("volumes"), list):
                svc["volumes"] = [
                    ":".join([_rebased(v.split(":", 1)[0], prefix), v.split(":", 1)[1]])
                    if isinstance(v, str) and v.startswith(".") and ":" in v else v
                    for v in svc["volumes"]
                ]
        services[name] = svc
    out["services"] = services
    for kind in ("secrets", "configs"):
        if isinstance(data.get(kind), dict):
            out[kind] = {n: {**spec, "file": _rebased(spec["file"], prefix)}
                         if isinstance(spec, dict) and isinstance(spec.get("file"), str) else spec
                         for n, spec in data[kind].items()}
    return out


class _Files:
    """Reads the main file and every file it names; collects problems at their place."""

    def __init__(self) -> None:
        self.errors: list[Diagnostic] = []
        self.cache: dict[Path, Source] = {}

    def parse(self, path: Path) -> Source:
        path = path.resolve()
        if path not in self.cache:
            self.cache[path] = parse_file(path, path.name)
        return self.cache[path]

    def include(self, source: Source, folder: Path) -> dict[str, Any]:
        """``include:`` entries' documents merged under ``source`` (compose: conflicts are errors)."""
        data = dict(source.data)
        entries = data.pop("include", None)
        if entries is None:
            return data
        if not isinstance(entries, list):
            entries = [entries]
        merged: dict[str, Any] = {}
        for i, entry in enumerate(entries):
            paths = entry.get("path") if isinstance(entry, dict) else entry
            for item in paths if isinstance(paths, list) else [paths]:
                if not isinstance(item, str):
                    self.errors.append(Diagnostic("expected a path to a compose file", f"include[{i}]",
                                                  source.values.get(("include", i))))
                    continue
                target = folder / item
                if not target.is_file():
                    self.errors.append(Diagnostic(f"included file {item} does not exist ({target})",
                                                  f"include[{i}]", source.values.get(("include", i))))
                    continue
                included = self.include(self.parse(target), target.parent)
                included = rebase(self.extends(included, target.parent), target.parent, folder)
                merged = merge_documents(merged, included)
        for name in (data.get("services") or {}) if isinstance(data.get("services"), dict) else {}:
            if name in (merged.get("services") or {}):
                self.errors.append(Diagnostic(f'service "{name}" is defined both here and in an included file',
                                              f"services.{name}", source.keys.get(("services", name))))
        return merge_documents(merged, data)

    def extends(self, data: dict[str, Any], folder: Path, depth: int = 0) -> dict[str, Any]:
        """Every service's ``extends`` (same file or ``file:``) resolved into the service."""
        services = data.get("services")
        if not isinstance(services, dict):
            return data
        out = dict(data)
        out["services"] = {name: self.extended(services, name, folder, set()) for name in services}
        return out

    def extended(self, services: dict[str, Any], name: str, folder: Path, seen: set[str]) -> Any:
        spec = services.get(name)
        if not isinstance(spec, dict) or "extends" not in spec:
            return spec
        rule = spec["extends"]
        rule = {"service": rule} if isinstance(rule, str) else rule
        own = {k: v for k, v in spec.items() if k != "extends"}
        if not isinstance(rule, dict) or not isinstance(rule.get("service"), str):
            self.errors.append(Diagnostic('extends needs "service" (and optionally "file")',
                                          f"services.{name}.extends"))
            return own
        key = f"{rule.get('file', '')}:{rule['service']}"
        if key in seen:
            self.errors.append(Diagnostic(f"extends loops back to {rule['service']}", f"services.{name}.extends"))
            return own
        pool, where = services, folder
        if isinstance(rule.get("file"), str):
            target = folder / rule["file"]
            if not target.is_file():
                self.errors.append(Diagnostic(f"extends.file {rule['file']} does not exist ({target})",
                                              f"services.{name}.extends.file"))
                return own
            pool, where = self.parse(target).data.get("services") or {}, target.parent
        if rule["service"] not in pool:
            self.errors.append(Diagnostic(f'extends names unknown service "{rule["service"]}"',
                                          f"services.{name}.extends.service"))
            return own
        base = self.extended(pool, rule["service"], where, {*seen, key})
        base = {k: v for k, v in (base or {}).items() if k not in _NOT_EXTENDED}
        return merge_service(base, own)


def compose_source(path: Path, display: str, *, with_override: bool) -> Source:
    """The compose file at ``path`` as one document: override (when compose would read it),
    ``include`` and ``extends`` applied; positions are those of the main file."""
    files = _Files()
    main = parse_file(path, display)
    data = files.extends(files.include(main, path.parent), path.parent)
    if with_override:
        for name in OVERRIDE_FILES.get(path.name, ()):
            override = path.parent / name
            if override.is_file():
                extra = parse_file(override, name)
                data = merge_documents(data, files.extends(files.include(extra, path.parent), path.parent))
                break
    if files.errors:
        raise ConfigError([
            d if d.location is not None
            else Diagnostic(d.message, d.path, main.keys.get(tuple(d.path.split(".")[:2])))
            for d in files.errors
        ])
    return Source(display, data, main.values, main.keys)


def resolve_extends(source: Source, folder: Path) -> Source:
    """``source`` with its services' ``extends`` resolved (``file:`` read from ``folder``)."""
    files = _Files()
    data = files.extends(source.data, folder)
    if files.errors:
        raise ConfigError(files.errors)
    return Source(source.file, data, source.values, source.keys)
