"""Kubernetes manifests from a stack: Deployments, Jobs, Services, PVCs, a ConfigMap, a Secret.

Kubernetes has no start order, so ``depends_on`` becomes init containers that wait for
a dependency's Service to answer (or its Job to complete). Each service's settings go
to its own ConfigMap, secret values to a Secret that environment variables reference
(``kube_env``). The mapping is pure: the same stack gives the same objects, in the same
order.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..config.resolve import ResolvedService, ResolvedStack
from ..errors import UsageError
from .kube_env import KubeEnv
from .kube_env import escape as _escape
from .kube_probes import probes
from .kube_waits import Waits, kubectl_image
from .render import dump_all
from .view import (
    Mount,
    Notes,
    UpdateIntent,
    command_list,
    container_ports,
    exported_services,
    image_of,
    project_labels,
    update_intent,
)

DEFAULT_KUBE_VERSION = "1.33"
WAIT_IMAGE = "busybox:1.36"
WAIT_TIMEOUT = 300
_PULL = {"always": "Always", "never": "Never", "missing": "IfNotPresent"}


@dataclass(frozen=True)
class KubeOptions:
    namespace: str | None = None
    kube_version: str = DEFAULT_KUBE_VERSION
    wait_image: str = WAIT_IMAGE
    kubectl_image: str | None = None
    volume_size: str = "1Gi"
    storage_class: str | None = None
    wait_timeout: int = WAIT_TIMEOUT

    def __post_init__(self) -> None:
        if not re.fullmatch(r"1\.\d{1,2}", self.kube_version):
            raise UsageError(
                f'invalid Kubernetes version "{self.kube_version}" (use major.minor, e.g. 1.33)'
            )
        if self.namespace is not None and not re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", self.namespace):
            raise UsageError(f'invalid namespace "{self.namespace}" (lowercase letters, digits and -)')
        if self.storage_class is not None and not re.fullmatch(
            r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?", self.storage_class
        ):
            raise UsageError(f'invalid storage class "{self.storage_class}" (lowercase letters, digits, - and .)')
        if not 1 <= self.wait_timeout <= 86400:
            raise UsageError(f"invalid wait timeout {self.wait_timeout}s (use 1 to 86400 seconds)")


@dataclass
class KubeExport:
    """The manifests, plus what could not be carried over."""

    objects: list[dict[str, Any]]
    notes: Notes = field(default_factory=Notes)
    skipped: list[str] = field(default_factory=list)
    header: str = ""

    def text(self) -> str:
        return dump_all(self.objects, self.header)

    def files(self) -> dict[str, str]:
        """One file per object: ``<index>-<kind>-<name>.yaml`` (apply order kept by the index)."""
        out: dict[str, str] = {}
        for index, obj in enumerate(self.objects, 1):
            name = f"{index:02d}-{obj['kind'].lower()}-{obj['metadata']['name']}.yaml"
            out[name] = dump_all([obj], self.header)
        return out


def k8s_name(name: str) -> str:
    """A service name as a DNS-1035 label (what a Kubernetes Service name must be)."""
    text = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")
    if not text or not text[0].isalpha():
        text = f"s-{text}".rstrip("-")
    return text[:63].rstrip("-")


class _Builder:
    def __init__(
        self, stack: ResolvedStack, options: KubeOptions, environ: Mapping[str, str]
    ) -> None:
        self.stack = stack
        self.options = options
        self.environ = environ
        self.notes = Notes()
        self.project = k8s_name(stack.project)
        self.exported, self.skipped = exported_services(stack)
        self.names = {n: k8s_name(n) for n in stack.graph.order()}
        self.env = KubeEnv(stack, self.project, self.names, environ, self.notes, options.namespace)
        self.volumes: list[str] = []
        self.waits = Waits(
            stack, self.names, self.exported, self.notes, wait_image=options.wait_image,
            kubectl_image=kubectl_image(options.kube_version, options.kubectl_image), timeout=options.wait_timeout,
        )
        seen: dict[str, str] = {}
        for name, kname in self.names.items():
            if kname in seen:
                raise UsageError(
                    f'services "{seen[kname]}" and "{name}" both become "{kname}" in Kubernetes',
                    hint="rename one of them",
                )
            seen[kname] = name

    # -- metadata ----------------------------------------------------------------------

    def meta(self, name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"name": name}
        if self.options.namespace:
            out["namespace"] = self.options.namespace
        out["labels"] = labels or project_labels(self.stack.project, name)
        return out

    def selector(self, kname: str) -> dict[str, str]:
        return {"app.kubernetes.io/name": kname, "app.kubernetes.io/part-of": self.stack.project}

    # -- the whole export --------------------------------------------------------------

    def build(self) -> list[dict[str, Any]]:
        workloads: list[dict[str, Any]] = []
        for name in self.exported:
            workloads.extend(self.service(self.stack.services[name]))
        head = self.env.objects(self.meta)
        if self.waits.job_waiters:
            head.extend(self.rbac())
        for volume in self.volumes:
            claim: dict[str, Any] = {"accessModes": ["ReadWriteOnce"]}
            if self.options.storage_class:
                claim["storageClassName"] = self.options.storage_class
            claim["resources"] = {"requests": {"storage": self.options.volume_size}}
            head.append({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": self.meta(volume),
                         "spec": claim})
        if self.volumes and not self.options.storage_class:
            self.notes.add(
                f"volume claims {', '.join(self.volumes)}: no storage class given; they use the cluster's default "
                "StorageClass and stay Pending where it has none (--storage-class NAME)"
            )
        return head + workloads

    def rbac(self) -> list[dict[str, Any]]:
        name = f"{self.project}-job-waiter"
        namespace = self.options.namespace or "default"
        return [
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": self.meta(name)},
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": self.meta(name),
             "rules": [{"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["get", "list", "watch"]}]},
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": self.meta(name),
             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
             "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}]},
        ]

    # -- one service -------------------------------------------------------------------

    def service(self, svc: ResolvedService) -> list[dict[str, Any]]:
        kname = self.names[svc.name]
        labels = project_labels(self.stack.project, kname)
        pod = self.pod(svc, kname)
        out: list[dict[str, Any]] = []
        ports = container_ports(svc)
        if svc.one_shot:
            policy = svc.restart
            pod["restartPolicy"] = "Never" if policy.mode == "no" else "OnFailure"
            backoff = 0 if policy.mode == "no" else (policy.max_retries if policy.max_retries is not None else 6)
            if ports:
                self.notes.add(f"{svc.name}: a one-shot job gets no Service for its ports")
            out.append(
                {"apiVersion": "batch/v1", "kind": "Job", "metadata": self.meta(kname, labels),
                 "spec": {"backoffLimit": backoff,
                          "template": {"metadata": {"labels": labels}, "spec": pod}}}
            )
            return out
        if ports:
            out.append(
                {"apiVersion": "v1", "kind": "Service", "metadata": self.meta(kname, labels),
                 "spec": {"selector": self.selector(kname),
                          "ports": [{"name": f"{p.protocol}-{p.container}", "port": p.container,
                                     "targetPort": p.container, "protocol": p.protocol.upper()}
                                    for p in ports]}}
            )
        intent = update_intent(svc)
        spec: dict[str, Any] = {"replicas": intent.replicas, "selector": {"matchLabels": self.selector(kname)}}
        strategy = self.strategy(svc, intent, pod)
        if strategy is not None:
            spec["strategy"] = strategy
        spec["template"] = {"metadata": {"labels": labels}, "spec": pod}
        out.append({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": self.meta(kname, labels),
                    "spec": spec})
        return out

    def strategy(self, svc: ResolvedService, intent: UpdateIntent, pod: dict[str, Any]) -> dict[str, Any] | None:
        """The Deployment's rollout: start-first is a surge of one that never drops below N.

        A written ``order: stop-first`` becomes Recreate (the old pods stop before the new
        start, as asked). The implicit stop-first of a service without ``listen`` keeps
        Kubernetes' default rolling update: a Service routes only to ready pods, so an
        overlap costs nothing there, and Recreate would take every plain service down on
        each rollout. A ReadWriteOnce claim cannot be attached to an old and a new pod at
        once, so a service with one is always recreated.
        """
        if any("persistentVolumeClaim" in v for v in pod.get("volumes", [])):
            if intent.order == "start-first":
                self.notes.add(f"{svc.name}: start-first cannot hold with a ReadWriteOnce volume claim; "
                               "the Deployment is recreated (stop-first)")
            return {"type": "Recreate"}
        if intent.order == "start-first":
            return {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}
        if intent.explicit_order:
            return {"type": "Recreate"}
        return None

    def pod(self, svc: ResolvedService, kname: str) -> dict[str, Any]:
        pod: dict[str, Any] = {}
        init = self.waits.init_containers(svc)
        if self.waits.waits_on_job(svc):
            pod["serviceAccountName"] = f"{self.project}-job-waiter"
        if init:
            pod["initContainers"] = init
        container, volumes = self.container(svc, kname)
        pod["containers"] = [container]
        if volumes:
            pod["volumes"] = volumes
        pod["terminationGracePeriodSeconds"] = math.ceil(svc.stop_grace_period)
        if svc.stop_signal != "SIGTERM":
            self.notes.add(f"{svc.name}: stop_signal {svc.stop_signal} is not mapped (Kubernetes sends SIGTERM)")
        return pod

    def container(self, svc: ResolvedService, kname: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        docker = svc.docker
        assert docker is not None  # only services with a docker section are exported
        image, local_only = image_of(self.stack, svc.name, docker)
        if local_only:
            self.notes.add(f"{svc.name}: no docker.image; build and push {image} (or set docker.image)")
        out: dict[str, Any] = {"name": kname, "image": image, "imagePullPolicy": _PULL[docker.pull]}
        entrypoint = command_list(docker.entrypoint)
        if entrypoint:
            out["command"] = [_escape(a) for a in entrypoint]
        args = command_list(docker.command)
        if args:
            out["args"] = [_escape(a) for a in args]
        if docker.working_dir:
            out["workingDir"] = docker.working_dir
        out.update(self.env.container(svc))
        ports = container_ports(svc)
        if ports:
            out["ports"] = [{"name": f"{p.protocol}-{p.container}", "containerPort": p.container,
                             "protocol": p.protocol.upper()} for p in ports]
        mounts, volumes = self.mounts(svc)
        if mounts:
            out["volumeMounts"] = mounts
        if svc.spec.gpus:
            out["resources"] = {"limits": {"nvidia.com/gpu": svc.spec.gpus}}
        out.update(probes(svc, self.notes))
        if docker.user:
            match = re.fullmatch(r"(\d+)(?::(\d+))?", docker.user)
            if match:
                context = {"runAsUser": int(match.group(1))}
                if match.group(2):
                    context["runAsGroup"] = int(match.group(2))
                out["securityContext"] = context
            else:
                self.notes.add(f"{svc.name}: user {docker.user!r} is not numeric; runAsUser not set")
        return out, volumes

    def mounts(self, svc: ResolvedService) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        handled, mounts, volumes = self.env.secret_mounts(svc)
        for index, text in enumerate(svc.docker.volumes if svc.docker else []):
            if text in handled:
                continue
            mount = Mount.parse(text)
            if mount.kind == "bind":
                self.notes.add(f"{svc.name}: host bind mount {mount.source} -> {mount.target} has no Kubernetes "
                               "form (a pod runs on any node); left out: bake the files into the image, or use "
                               "a ConfigMap or a volume")
                continue
            if mount.kind == "anonymous":
                vname = f"scratch-{index}"
                volumes.append({"name": vname, "emptyDir": {}})
            else:
                vname = k8s_name(mount.source)
                if vname not in self.volumes:
                    self.volumes.append(vname)
                if all(v["name"] != vname for v in volumes):
                    volumes.append({"name": vname, "persistentVolumeClaim": {"claimName": vname}})
            entry: dict[str, Any] = {"name": vname, "mountPath": mount.target}
            if mount.read_only:
                entry["readOnly"] = True
            mounts.append(entry)
        return mounts, volumes

def export_kubernetes(
    stack: ResolvedStack,
    options: KubeOptions | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> KubeExport:
    """Map the Docker view of ``stack`` to Kubernetes objects; notes list what was left out."""
    options = options or KubeOptions()
    builder = _Builder(stack, options, os.environ if environ is None else environ)
    if not builder.exported:
        listed = ", ".join(builder.skipped) or "none"
        raise UsageError(
            f"nothing to export: no service has a docker: section (process-only: {listed})",
            hint="give each service a docker: section with an image",
        )
    objects = builder.build()
    header = (
        f"# Kubernetes manifests of {stack.project} (env {stack.config.env}), written by\n"
        f"# dev-orchestrator export kubernetes. Regenerate rather than edit.\n"
    )
    return KubeExport(objects, builder.notes, builder.skipped, header)

