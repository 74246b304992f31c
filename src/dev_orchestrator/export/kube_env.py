"""The environment and secrets of exported pods: per service a ConfigMap, a Secret, secret files.

A service's ConfigMap ``<service>-settings`` holds its whole plain environment: the
environment's name, its own settings, ``environment`` and ``env_file`` values, read with
``envFrom`` (Kubernetes does not expand ``$(VAR)`` there, so values are written as they
are). Every secret value, whether named like a secret or interpolating a secret variable
(a database URL with its password), goes to the service's Secret ``<service>-secrets``
instead, read the same way. Nothing secret is written to a ConfigMap, and no service sees
another one's secrets.

The stack's own secrets (``secrets:`` read from a file or a variable) stay where they
are: the pod mounts a Secret ``<project>-<secret>`` at ``/run/secrets/<target>``, and the
export says how to create it (``kubectl create secret generic ... --from-file``), since
writing the file's content into the manifests would copy it out of the file it was
kept in, and a placeholder value would overwrite the real one on each ``kubectl apply``.
"""

from __future__ import annotations

import posixpath
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..config.resolve import ResolvedService, ResolvedStack
from ..config.secrets import is_secret_key
from ..config.service_env import secret_env
from ..config.source import dotted
from ..config.stack_secrets import MOUNT_FOLDER, container_mount
from .view import Notes, env_file_values, own_environment


def escape(value: str) -> str:
    # Kubernetes expands $(VAR) in env values, command and args; $$( keeps it literal.
    return value.replace("$(", "$$(")


@dataclass(frozen=True)
class StackSecret:
    """A secret of the stack's ``secrets:``, as a Kubernetes Secret the user creates."""

    name: str  # the stack's name of it
    secret: str  # the Kubernetes Secret's name
    source: str  # --from-file=KEY=PATH or --from-literal=KEY="$VAR"

    def create_command(self, namespace: str | None) -> str:
        where = f" -n {namespace}" if namespace else ""
        return f"kubectl create secret generic {self.secret}{where} {self.source}"


class KubeEnv:
    """Collects the ConfigMaps, the Secrets and the stack's secrets while containers are built."""

    def __init__(
        self, stack: ResolvedStack, project: str, names: Mapping[str, str],
        environ: Mapping[str, str], notes: Notes, namespace: str | None = None,
    ) -> None:
        self.stack = stack
        self.project = project
        self.names = names
        self.environ = environ
        self.notes = notes
        self.namespace = namespace
        self.config_maps: dict[str, dict[str, str]] = {}
        self.secrets: dict[str, dict[str, str]] = {}
        self.stack_secrets: dict[str, StackSecret] = {}

    def container(self, svc: ResolvedService) -> dict[str, Any]:
        """``envFrom`` of the service's container: its ConfigMap, then its Secret."""
        kname = self.names[svc.name]
        tainted = set(secret_env(self.stack.config, svc.name, docker=True))
        values: dict[str, str] = dict(svc.stack_env)
        given: dict[str, str | None] = {**env_file_values(self.stack, svc), **own_environment(svc)}
        for key, value in given.items():
            text = self.environ.get(key) if value is None else value
            if text is None:
                self.notes.add(f"{svc.name}: environment {key} passes through a variable that is not set; left out")
                values.pop(key, None)
                continue
            values[key] = text
        plain = {k: v for k, v in values.items() if not (k in tainted or is_secret_key(k))}
        secret = {k: v for k, v in values.items() if k not in plain}
        self.report(svc)
        out: list[dict[str, Any]] = []
        if plain:
            self.config_maps[f"{kname}-settings"] = plain
            out.append({"configMapRef": {"name": f"{kname}-settings"}})
        if secret:
            self.secrets[f"{kname}-secrets"] = secret
            out.append({"secretRef": {"name": f"{kname}-secrets"}})
        return {"envFrom": out} if out else {}

    def report(self, svc: ResolvedService) -> None:
        """A note for each secret value outside the environment (a command argument, ...)."""
        written = {("healthcheck",), ("docker", "command"), ("docker", "entrypoint"), ("docker", "healthcheck")}
        for path in self.stack.config.secrets:
            if path[:2] == ("services", svc.name) and (path[2:3] in written or path[2:4] in written):
                self.notes.add(f"{dotted(path)}: interpolates a secret and is written as its value")

    # -- the stack's secrets: files under /run/secrets --------------------------------------

    def secret_mounts(self, svc: ResolvedService) -> tuple[set[str], list[dict[str, Any]], list[dict[str, Any]]]:
        """The docker volumes that are secret files, and the pod's mounts and volumes for them."""
        from .kubernetes import k8s_name

        handled = {container_mount(f) for f in svc.secrets}
        mounts: list[dict[str, Any]] = []
        volumes: list[dict[str, Any]] = []
        in_folder: list[dict[str, Any]] = []  # one projected volume for every file under /run/secrets
        for index, secret in enumerate(svc.secrets):
            use = self.stack_secret(secret.name, k8s_name(f"{self.project}-{secret.name}"))
            target = secret.target if secret.target.startswith("/") else f"{MOUNT_FOLDER}/{secret.target}"
            folder, file = posixpath.split(target)
            source = {"secret": {"name": use.secret, "items": [{"key": secret.name, "path": file}]}}
            if folder == MOUNT_FOLDER:
                in_folder.append(source)
                continue
            name = f"secret-{index}"
            volumes.append({"name": name, "projected": {"sources": [source]}})
            mounts.append({"name": name, "mountPath": target, "subPath": file, "readOnly": True})
        if in_folder:
            volumes.insert(0, {"name": "run-secrets", "projected": {"sources": in_folder}})
            mounts.insert(0, {"name": "run-secrets", "mountPath": MOUNT_FOLDER, "readOnly": True})
        return handled, mounts, volumes

    def stack_secret(self, name: str, secret: str) -> StackSecret:
        if name in self.stack_secrets:
            return self.stack_secrets[name]
        source = self.stack.config.spec.secrets[name]
        if source.file is not None:
            origin = f"--from-file={name}={shlex.quote(source.file)}"  # relative to services.yaml
        else:
            origin = f'--from-literal={name}="${source.environment}"'
        use = StackSecret(name, secret, origin)
        self.stack_secrets[name] = use
        self.notes.add(
            f"secret {name}: not written into the manifests; create Secret {secret} before applying: "
            f"{use.create_command(self.namespace)}"
        )
        return use

    def objects(self, meta: Any) -> list[dict[str, Any]]:
        """The ConfigMaps (in service order), then the Secrets."""
        out: list[dict[str, Any]] = [
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta(name), "data": data}
            for name, data in self.config_maps.items()
        ]
        out.extend(
            {"apiVersion": "v1", "kind": "Secret", "metadata": meta(name), "type": "Opaque", "stringData": data}
            for name, data in self.secrets.items()
        )
        return out
