"""A service's health check as Kubernetes probes: readiness always, startup and liveness when due.

The health check answers "may this instance take traffic", which is a readinessProbe:
a failing pod leaves its Service and nothing restarts it. ``start_period`` becomes a
startupProbe that holds the other probes back while the service starts. A livenessProbe
restarts the container when it fails, which turns a slow dependency into a restart
storm, so it is written only when the service asks for it with the container label
``dev-orchestrator.kubernetes.liveness: "true"`` (labels validate in services.yaml and in
a compose file, and an environment's overlay can set them). Log and notify checks read
the service's output or a socket of the supervisor: they have no Kubernetes form and
are reported.
"""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import urlsplit

from ..config.models import HealthCheck, Probe
from ..config.resolve import ResolvedService
from .view import Notes, docker_healthcheck, in_container_port

LIVENESS_LABEL = "dev-orchestrator.kubernetes.liveness"
_LOCAL_HOSTS = {"127.0.0.1", "localhost", "0.0.0.0", "::1", "[::1]", ""}
_TRUE = {"true", "yes", "1", "on"}
_FALSE = {"false", "no", "0", "off"}


def _seconds(value: float) -> int:
    return max(1, math.ceil(value))


def wants_liveness(svc: ResolvedService, notes: Notes) -> bool:
    """Whether the service's label asks for a livenessProbe (a bad value is reported, not guessed)."""
    labels = svc.docker.labels if svc.docker is not None else {}
    value = labels.get(LIVENESS_LABEL)
    if value is None:
        return False
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text not in _FALSE:
        notes.add(f'{svc.name}: label {LIVENESS_LABEL}: "{value}" is not true or false; no livenessProbe')
    return False


def probes(svc: ResolvedService, notes: Notes) -> dict[str, Any]:
    """``readinessProbe``, ``startupProbe`` (with start_period) and ``livenessProbe`` (when asked)."""
    check = docker_healthcheck(svc)
    liveness = wants_liveness(svc, notes)
    if check is None:
        if liveness:
            notes.add(f"{svc.name}: {LIVENESS_LABEL} is set but the service has no healthcheck; no probe")
        return {}
    if check == "docker":
        notes.add(f"{svc.name}: healthcheck \"docker\" (the image's own) has no Kubernetes probe")
        return {}
    assert isinstance(check, HealthCheck)
    handler = probe_handler(svc, check, notes)
    if handler is None:
        return {}
    if check.deep is not None:
        notes.add(f"{svc.name}: the deep probe ({check.deep.describe()}) is not mapped")
    period = _seconds(check.interval)
    timing = {"periodSeconds": period, "timeoutSeconds": _seconds(check.timeout or 1.0)}
    out: dict[str, Any] = {"readinessProbe": {**handler, **timing, "failureThreshold": check.retries}}
    if liveness:
        out["livenessProbe"] = {**handler, **timing, "failureThreshold": check.retries}
    if check.start_period > 0:
        startup = math.ceil(check.start_period / period) + check.retries
        out["startupProbe"] = {**handler, **timing, "failureThreshold": startup}
    return out


def probe_handler(svc: ResolvedService, probe: Probe, notes: Notes) -> dict[str, Any] | None:
    """``httpGet``, ``tcpSocket`` or ``exec`` of one probe; None (reported) when it has no form."""
    if probe.http is not None:
        url = urlsplit(probe.http.url)
        port = url.port or (443 if url.scheme == "https" else 80)
        if (url.hostname or "") not in _LOCAL_HOSTS:
            notes.add(f"{svc.name}: probe host {url.hostname} replaced by the pod itself")
        path = (url.path or "/") + (f"?{url.query}" if url.query else "")
        get: dict[str, Any] = {"path": path, "port": in_container_port(svc, port)}
        if url.scheme == "https":
            get["scheme"] = "HTTPS"
        return {"httpGet": get}
    if probe.tcp is not None:
        if probe.tcp.host not in _LOCAL_HOSTS:
            notes.add(f"{svc.name}: probe host {probe.tcp.host} replaced by the pod itself")
        return {"tcpSocket": {"port": in_container_port(svc, probe.tcp.port)}}
    if probe.command is not None:
        return {"exec": {"command": probe.argv()}}
    if probe.notify:
        notes.add(f"{svc.name}: notify probe (READY=1 on the supervisor's socket) is not translatable "
                  "to Kubernetes; no probe")
        return None
    notes.add(f"{svc.name}: log probe /{probe.log}/ is not translatable to Kubernetes "
              "(a probe cannot read the container's output); no probe")
    return None
