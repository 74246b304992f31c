"""Start order in Kubernetes: one init container per dependency that waits for it.

Kubernetes starts every pod at once, so ``depends_on`` becomes init containers that
hold a pod back until each dependency answers the same check the orchestrator makes
locally, asked of the dependency's Service: an ``http`` check is a ``wget`` of its path,
anything else a TCP connect (``nc -z``). A Service routes only to ready pods, so the
TCP answer also carries the dependency's readiness probe (a ``command`` check). The loop
is bounded: after the deadline the init container exits 1 with a line that says which
dependency did not answer, and Kubernetes retries it with back-off (``Init:Error`` in
``kubectl get pods``), instead of a pod that waits in silence.

A one-shot job (``service_completed_successfully``) has no Service to ask: its
dependents wait with ``kubectl wait --for=condition=complete`` under a ServiceAccount
that may read Jobs. That is the one wait that needs the Kubernetes API; every export
that uses it says so on stderr.
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ..config.models import Condition, HealthCheck
from ..config.resolve import ResolvedService, ResolvedStack
from .view import Notes, container_ports, docker_healthcheck, in_container_port

KUBECTL_IMAGE = "registry.k8s.io/kubectl:v{version}.0"


@dataclass(frozen=True)
class Check:
    """What a dependent asks of a dependency's Service: ``http://host:port/path`` or ``host:port``."""

    host: str
    port: int
    path: str | None = None  # an http check; None is a TCP connect

    def describe(self) -> str:
        return f"http://{self.host}:{self.port}{self.path}" if self.path is not None else f"tcp {self.host}:{self.port}"

    def command(self) -> str:
        if self.path is not None:
            url = shlex.quote(f"http://{self.host}:{self.port}{self.path}")
            # timeout, not wget -T: busybox 1.35's wget -T crashes, and without a bound one
            # try could hang for wget's own 900 s
            return f"timeout 5 wget -q -O /dev/null {url} 2>/dev/null"
        # busybox's small nc has no -z; "-e true" (it must come last) connects, runs true and
        # closes. An empty write instead ("echo | nc") would hang on a server that keeps the
        # connection open (Redis), and the loop would never end.
        return (f"nc -z -w 2 {self.host} {self.port} 2>/dev/null || "
                f"nc -w 2 {self.host} {self.port} -e true </dev/null >/dev/null 2>&1")


def wait_script(who: str, dep: str, check: Check, timeout: int) -> str:
    """A bounded ``sh`` loop: a line per try, success or a last line that names the failure."""
    what = shlex.quote(f"{who}: waiting for {dep} ({check.describe()})")
    gave_up = shlex.quote(f"{who}: {dep} did not answer ({check.describe()}) in {timeout}s; giving up, "
                          "Kubernetes retries this init container")
    ready = shlex.quote(f"{who}: {dep} is ready ({check.describe()})")
    return (
        f"deadline=$(( $(date +%s) + {timeout} )); "
        f"until {check.command()}; do "
        f"if [ $(date +%s) -ge $deadline ]; then echo {gave_up}; exit 1; fi; "
        f"echo {what}; sleep 2; "
        f"done; echo {ready}"
    )


class Waits:
    """The init containers of each pod, and whether any of them needs the Job waiter's account."""

    def __init__(
        self, stack: ResolvedStack, names: Mapping[str, str], exported: list[str], notes: Notes,
        *, wait_image: str, kubectl_image: str, timeout: int,
    ) -> None:
        self.stack = stack
        self.names = names
        self.exported = exported
        self.notes = notes
        self.wait_image = wait_image
        self.kubectl_image = kubectl_image
        self.timeout = timeout
        self.job_waiters: list[str] = []

    def waits_on_job(self, svc: ResolvedService) -> bool:
        return any(
            d.condition is Condition.COMPLETED and d.name in self.exported and self.stack.services[d.name].one_shot
            for d in svc.depends_on
        )

    def init_containers(self, svc: ResolvedService) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for dep in svc.depends_on:
            target = self.stack.services[dep.name]
            kdep = self.names[dep.name]
            name = f"wait-for-{kdep}"[:63].rstrip("-")
            if dep.condition is Condition.COMPLETED:
                job = self.job_wait(svc, dep.name, kdep, name)
                if job is not None:
                    out.append(job)
                continue
            if target.one_shot:
                self.notes.add(f"{svc.name}: {dep.name} is a Job; waiting for it to start is not mapped "
                               f"(use condition service_completed_successfully to wait for it to finish)")
                continue
            check = self.check(svc, target, kdep, dep.condition)
            if check is None:
                continue
            if dep.name not in self.exported:
                self.notes.add(
                    f"{svc.name}: waits for a Service {kdep} on port {check.port} "
                    f"that this export does not create ({dep.name} is not exported)"
                )
            script = wait_script(svc.name, dep.name, check, self.deadline(target))
            out.append({"name": name, "image": self.wait_image, "command": ["sh", "-c", script]})
        return out

    def deadline(self, target: ResolvedService) -> int:
        """The wait's bound: the option's, or longer when the dependency itself may take longer."""
        check = docker_healthcheck(target)
        own = check.startup_deadline() if isinstance(check, HealthCheck) else 0.0
        return max(self.timeout, math.ceil(own))

    def check(self, svc: ResolvedService, target: ResolvedService, kdep: str, condition: Condition) -> Check | None:
        ports = container_ports(target)
        if not ports:
            self.notes.add(
                f"{svc.name}: {target.name} has no port to wait on; Kubernetes starts {svc.name} without waiting"
            )
            return None
        served = {p.container for p in ports if p.protocol == "tcp"}
        if not served:
            self.notes.add(f"{svc.name}: {target.name} has only UDP ports; Kubernetes starts {svc.name} "
                           "without waiting")
            return None
        first = next(p.container for p in ports if p.protocol == "tcp")
        health = docker_healthcheck(target)
        if condition is not Condition.HEALTHY or not isinstance(health, HealthCheck):
            return Check(kdep, first)
        if health.http is not None:
            url = urlsplit(health.http.url)
            port = in_container_port(target, url.port or (443 if url.scheme == "https" else 80))
            if url.scheme == "https":
                self.notes.add(f"{svc.name}: {target.name}'s https check is waited on as a TCP connect "
                               f"(busybox wget has no TLS)")
                return Check(kdep, port if port in served else first)
            if port in served:
                path = (url.path or "/") + (f"?{url.query}" if url.query else "")
                return Check(kdep, port, path)
        if health.tcp is not None:
            port = in_container_port(target, health.tcp.port)
            if port in served:
                return Check(kdep, port)
        return Check(kdep, first)  # readiness (a command check) gates the Service's endpoints

    def job_wait(self, svc: ResolvedService, dep: str, kdep: str, name: str) -> dict[str, Any] | None:
        if dep not in self.exported:
            self.notes.add(f"{svc.name}: cannot wait for {dep} to complete (not exported)")
            return None
        if svc.name not in self.job_waiters:
            self.job_waiters.append(svc.name)
        self.notes.add(
            f"{svc.name}: waits for Job {kdep} to complete with kubectl wait ({self.kubectl_image}, "
            f"ServiceAccount with read access to Jobs); keep the Job after it completes "
            f"(no ttlSecondsAfterFinished), or new pods of {svc.name} wait for it again"
        )
        return {"name": name, "image": self.kubectl_image,
                "args": ["wait", "--for=condition=complete", f"job/{kdep}", f"--timeout={self.timeout}s"]}


def kubectl_image(version: str, given: str | None) -> str:
    return given or KUBECTL_IMAGE.format(version=version)
