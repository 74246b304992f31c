"""The environment of exported pods: a ConfigMap per service, one Secret, each container's env.

A service's ConfigMap holds what the stack gives it (the environment's name, its own
settings) and is read whole with ``envFrom``. Every secret value, whether named like a
secret or interpolating a secret variable (a database URL with its password), goes to
the stack's Secret instead, under ``<service>.<VARIABLE>``, and reaches only its own
container through a ``secretKeyRef``. Nothing secret is written to a ConfigMap.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..config.resolve import ResolvedService, ResolvedStack
from ..config.secrets import is_secret_key
from ..config.service_env import secret_env
from ..config.source import dotted
from .view import Notes, env_file_values, own_environment


def escape(value: str) -> str:
    # Kubernetes expands $(VAR) in env values, command and args; $$( keeps it literal.
    return value.replace("$(", "$$(")


class KubeEnv:
    """Collects the ConfigMaps and the Secret while containers are built."""

    def __init__(
        self, stack: ResolvedStack, project: str, names: Mapping[str, str],
        environ: Mapping[str, str], notes: Notes,
    ) -> None:
        self.stack = stack
        self.secret_name = f"{project}-secrets"
        self.names = names
        self.environ = environ
        self.notes = notes
        self.config_maps: dict[str, dict[str, str]] = {}
        self.secret: dict[str, str] = {}

    def container(self, svc: ResolvedService) -> dict[str, Any]:
        """``envFrom`` and ``env`` of the service's container."""
        kname = self.names[svc.name]
        tainted = set(secret_env(self.stack.config, svc.name, docker=True))

        def secret(key: str) -> bool:
            return key in tainted or is_secret_key(key)

        data: dict[str, str] = {}
        entries: dict[str, dict[str, Any]] = {}
        for key, value in svc.stack_env.items():
            if secret(key):
                entries[key] = self.reference(kname, key, value)
            else:
                data[key] = value
        values: dict[str, str | None] = {**env_file_values(self.stack, svc), **own_environment(svc)}
        for key, given in values.items():
            text = self.environ.get(key) if given is None else given
            if text is None:
                self.notes.add(f"{svc.name}: environment {key} passes through a variable that is not set; left out")
                continue
            entries[key] = self.reference(kname, key, text) if secret(key) else {"name": key, "value": escape(text)}
        self.report(svc)
        out: dict[str, Any] = {}
        if data:
            name = f"{kname}-settings"
            self.config_maps[name] = data
            out["envFrom"] = [{"configMapRef": {"name": name}}]
        if entries:
            out["env"] = list(entries.values())
        return out

    def reference(self, kname: str, key: str, value: str) -> dict[str, Any]:
        secret_key = f"{kname}.{key}"
        self.secret[secret_key] = value
        return {"name": key, "valueFrom": {"secretKeyRef": {"name": self.secret_name, "key": secret_key}}}

    def report(self, svc: ResolvedService) -> None:
        """A note for each secret value outside the environment (a command argument, ...)."""
        written = {("healthcheck",), ("docker", "command"), ("docker", "entrypoint"), ("docker", "healthcheck")}
        for path in self.stack.config.secrets:
            if path[:2] == ("services", svc.name) and (path[2:3] in written or path[2:4] in written):
                self.notes.add(f"{dotted(path)}: interpolates a secret and is written as its value")

    def objects(self, meta: Any) -> list[dict[str, Any]]:
        """The ConfigMaps (in service order), then the Secret if anything is secret."""
        out: list[dict[str, Any]] = [
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta(name), "data": data}
            for name, data in self.config_maps.items()
        ]
        if self.secret:
            out.append({"apiVersion": "v1", "kind": "Secret", "metadata": meta(self.secret_name),
                        "type": "Opaque", "stringData": self.secret})
        return out
