"""A stack file for ``docker stack deploy``, made from the compose export.

Swarm reads a compose file with other rules: it runs images only (it never builds), it
ignores ``depends_on`` and ``restart``, takes restarts, replicas and updates from
``deploy:``, reads no ``.env``, and serves secrets and configs from the swarm's own
store. Each of those is carried here; what cannot be is reported in the notes.

Why ``network="dnsrr"``: Swarm's virtual IPs and its ingress (routing mesh) need IPVS in
the kernel. Where there is none, services are reached by DNS round robin
(``endpoint_mode: dnsrr``) and ports are published on each task's node (``mode: host``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from ..config.models import HealthCheck, Probe
from ..config.resolve import ResolvedService, ResolvedStack
from ..config.stack_secrets import container_mount
from .compose import ComposeExport, bind_source, export_compose
from .view import (
    Mount,
    Notes,
    PortMapping,
    docker_healthcheck,
    image_of,
    in_container_port,
    update_intent,
)

Network = Literal["vip", "dnsrr"]
STACK_VERSION = "3.9"  # what docker stack deploy of Docker 20.10 and later reads
_NAME = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class ImageBuild:
    """A service image that Swarm cannot build: what ``export --build`` builds and tags."""

    service: str
    image: str
    context: Path
    dockerfile: str | None = None
    args: dict[str, str] = field(default_factory=dict)
    target: str | None = None


class SwarmExport(ComposeExport):
    """The stack document, plus the images to build first (Swarm never builds)."""

    def __init__(self, base: ComposeExport, builds: list[ImageBuild]) -> None:
        super().__init__(base.document, base.notes, base.skipped, base.header, base.variables)
        self.builds = builds

    def images(self) -> list[str]:
        return [service["image"] for service in self.document["services"].values()]


ImageFacts = Callable[[str], str]
"""image reference -> what is known of its contents (history, environment), lowercased."""


def image_tools(text: str) -> list[str]:
    """Clients a probe can run in an image, best first, from what is known of it."""
    text = text.lower()
    tools = []
    if "python" in text:
        tools.append("python")
    if any(word in text for word in ("busybox", "alpine", "wget")):
        tools.append("wget")
    if "curl" in text:
        tools.append("curl")
    return tools


def _python(code: str) -> list[str]:
    return ["CMD", "python3", "-c", code]


def probe_test(svc: ResolvedService, probe: Probe, tools: list[str], image: str, notes: Notes) -> list[str] | None:
    """A probe as a ``CMD`` test with a client that the image has (``tools``)."""
    if probe.command is not None:
        return ["CMD-SHELL", probe.command] if isinstance(probe.command, str) else ["CMD", *probe.command]
    timeout = max(1, round(probe.timeout or 2.0))
    if probe.http is not None:
        url = urlsplit(probe.http.url)
        port = in_container_port(svc, url.port or (443 if url.scheme == "https" else 80))
        path = (url.path or "/") + (f"?{url.query}" if url.query else "")
        target = f"{url.scheme}://127.0.0.1:{port}{path}"
        if tools and tools[0] == "python":
            return _python(f"import urllib.request; urllib.request.urlopen({target!r}, timeout={timeout})")
        if "wget" in tools:  # no -T: the healthcheck's timeout bounds it (and Debian's static busybox 1.35 crashes on it)
            return ["CMD", "wget", "-q", "-O", "/dev/null", target]
        if "curl" in tools:
            return ["CMD", "curl", "-fsS", "-m", str(timeout), "-o", "/dev/null", target]
        notes.add(f"{svc.name}: no http client known in {image} (python, wget or curl); the healthcheck "
                  "assumes wget or curl: give the service a command probe that the image can run")
        return ["CMD-SHELL", f"wget -q -O /dev/null '{target}' || curl -fsS -o /dev/null '{target}'"]
    if probe.tcp is not None:
        port = in_container_port(svc, probe.tcp.port)
        if tools and tools[0] == "python":
            return _python(f"import socket; socket.create_connection(('127.0.0.1', {port}), {timeout}).close()")
        if "wget" in tools:  # busybox: nc without -z, so send nothing and wait for the close
            return ["CMD", "sh", "-c", f"echo | nc -w {timeout} 127.0.0.1 {port} >/dev/null"]
        notes.add(f"{svc.name}: no tcp client known in {image}; the healthcheck assumes nc: "
                  "give the service a command probe that the image can run")
        return ["CMD-SHELL", f"nc -z 127.0.0.1 {port} || echo | nc -w 1 127.0.0.1 {port}"]
    notes.add(f"{svc.name}: {probe.describe()} probe has no Swarm equivalent; no healthcheck")
    return None


def restart_policy(svc: ResolvedService) -> dict[str, Any]:
    """compose's ``restart:`` as Swarm's ``deploy.restart_policy`` (Swarm ignores the former)."""
    policy = svc.restart
    if policy.mode == "no":
        return {"condition": "none"}
    if policy.mode == "on-failure":
        out: dict[str, Any] = {"condition": "on-failure"}
        if policy.max_retries is not None:
            out["max_attempts"] = policy.max_retries
        return out
    return {"condition": "any"}


class _Service:
    """One compose service rewritten for Swarm."""

    def __init__(
        self, stack: ResolvedStack, svc: ResolvedService, data: dict[str, Any], network: Network,
        base: Path, facts: ImageFacts, notes: Notes, store: dict[str, dict[str, dict[str, Any]]],
    ) -> None:
        self.stack, self.svc, self.data, self.network = stack, svc, data, network
        self.base, self.facts, self.notes, self.store = base, facts, notes, store

    def build(self) -> tuple[dict[str, Any], ImageBuild | None]:
        out = dict(self.data)
        svc, docker = self.svc, self.svc.docker
        assert docker is not None
        image, _ = image_of(self.stack, svc.name, docker)
        out["image"] = image
        plan = None
        if docker.build is not None:
            out.pop("build", None)
            context = Path(docker.build.context).expanduser()
            plan = ImageBuild(svc.name, image, context if context.is_absolute() else self.stack.root / context,
                              docker.build.dockerfile, dict(docker.build.args), docker.build.target)
        for key in ("pull_policy", "profiles", "restart", "expose"):
            out.pop(key, None)
        if not out.get("environment"):
            out.pop("environment", None)
        if svc.spec.profiles:
            self.notes.add(f"{svc.name}: profiles {', '.join(svc.spec.profiles)} are not read by Swarm; "
                           "the service is deployed")
        if "depends_on" in out:
            out["depends_on"] = list(out["depends_on"])
            self.notes.add("depends_on is kept as a list, but Swarm ignores it: every service starts at once, "
                           "so a dependent must retry until its dependencies answer")
        self.healthcheck(out, plan)
        ports = self.ports(out)
        self.mounts(out)
        out["deploy"] = self.deploy(ports)
        return out, plan

    # -- pieces --------------------------------------------------------------------------

    def healthcheck(self, out: dict[str, Any], plan: ImageBuild | None) -> None:
        check = docker_healthcheck(self.svc)
        if not isinstance(check, HealthCheck) or "healthcheck" not in out:
            return
        text = out["image"] + " " + self.facts(out["image"])
        if plan is not None:
            text += " " + _dockerfile_bases(plan)
        test = probe_test(self.svc, check, image_tools(text), out["image"], self.notes)
        if test is None:
            out.pop("healthcheck")
            return
        out["healthcheck"] = {**out["healthcheck"], "test": [part.replace("$", "$$") for part in test]}

    def ports(self, out: dict[str, Any]) -> list[dict[str, Any]]:
        mappings = [PortMapping.parse(text) for text in out.pop("ports", [])]
        ports = []
        for mapping in mappings:
            entry: dict[str, Any] = {"target": mapping.container}
            if mapping.host is not None:
                entry["published"] = mapping.host
            entry["protocol"] = mapping.protocol
            entry["mode"] = "host" if self.network == "dnsrr" else "ingress"
            if mapping.host_ip:
                self.notes.add(f"{self.svc.name}: port {mapping.host_ip}:{mapping.host or ''}:{mapping.container} "
                               f"is published on every address of the node (Swarm has no host_ip)")
            if entry["mode"] == "ingress" and "published" not in entry:
                entry["mode"] = "host"  # ingress needs a fixed port; an ephemeral one is per task
            ports.append(entry)
        if ports:
            out["ports"] = ports
        return ports

    def mounts(self, out: dict[str, Any]) -> None:
        """Read-only file mounts become secrets (under /run/secrets) and configs; the rest stays."""
        assert self.svc.docker is not None
        kept = []
        from_variables = {container_mount(f): f for f in self.svc.secrets if f.value is not None}
        for text in self.svc.docker.volumes:
            secret = from_variables.get(text)
            if secret is not None:  # environment: source: Swarm reads secrets from files or its store
                name = f"{self.stack.project}_{_NAME.sub('_', secret.name)}"
                self.store["secrets"].setdefault(secret.name, {"external": True, "name": name})
                target = secret.target if secret.target.startswith("/") else f"/run/secrets/{secret.target}"
                out.setdefault("secrets", []).append({"source": secret.name, "target": target})
                variable = self.stack.config.spec.secrets[secret.name].environment
                self.notes.add(f"{self.svc.name}: secret {secret.name} comes from a variable; create it in the "
                               f"swarm first: printf %s \"${variable}\" | docker secret create {name} -")
                continue
            mount = Mount.parse(text)
            source = self.stack.root / Path(mount.source).expanduser() if mount.kind == "bind" else None
            if source is None or not mount.read_only or not source.is_file():
                if mount.kind == "bind":
                    self.notes.add(f"{self.svc.name}: bind mount {mount.source} must exist on every node "
                                   "that runs a task (Swarm does not copy it)")
                    kept.append(":".join(p for p in (bind_source(mount.source, self.stack.root, self.base),
                                                      mount.target, mount.mode) if p))
                else:
                    kept.append(text)
                continue
            kind = "secrets" if mount.target.startswith("/run/secrets/") else "configs"
            name = _NAME.sub("_", mount.target.removeprefix("/run/secrets/").strip("/")) if kind == "secrets" \
                else _NAME.sub("_", f"{self.svc.name}{mount.target}")
            entry = {"file": bind_source(mount.source, self.stack.root, self.base)}
            # Swarm never changes a secret or config in place: a name per content lets a
            # redeploy with a changed file roll the services onto the new one.
            digest = hashlib.sha256(source.read_bytes()).hexdigest()[:12]
            entry["name"] = f"{self.stack.project}_{name}_{digest}"
            self.store[kind].setdefault(name, entry)
            out.setdefault(kind, []).append({"source": name, "target": mount.target})
        if kept:
            out["volumes"] = kept
        else:
            out.pop("volumes", None)

    def deploy(self, ports: list[dict[str, Any]]) -> dict[str, Any]:
        svc, intent = self.svc, update_intent(self.svc)
        deploy: dict[str, Any] = dict(self.data.get("deploy") or {})
        if "resources" in deploy:
            deploy.pop("resources")
            self.notes.add(f"{svc.name}: gpus is not carried (Swarm reserves GPUs as generic_resources "
                           "that each node's daemon must declare)")
        if svc.one_shot:
            deploy = {"mode": "replicated-job"}
            self.notes.add(f"{svc.name}: a one-shot job runs as a Swarm job (mode replicated-job)")
        else:
            deploy.setdefault("replicas", intent.replicas)
        fixed = [p["published"] for p in ports if p["mode"] == "host" and "published" in p]
        update = deploy.get("update_config")
        if update and update["order"] == "start-first" and fixed:
            update["order"] = "stop-first"
            self.notes.add(f"{svc.name}: start-first becomes stop-first: the new task would need host port "
                           f"{fixed[0]} while the old one holds it on the same node")
        if fixed and intent.replicas > 1 and not svc.one_shot:
            deploy["placement"] = {"max_replicas_per_node": 1}
            self.notes.add(f"{svc.name}: {intent.replicas} replicas publish host port {fixed[0]}: one task per "
                           f"node (placement max_replicas_per_node: 1), so it needs {intent.replicas} nodes; "
                           "publish the port without a host port to run them on one node")
        if self.network == "dnsrr":
            deploy["endpoint_mode"] = "dnsrr"
        deploy["restart_policy"] = {"condition": "on-failure"} if svc.one_shot and svc.restart.mode != "no" \
            else restart_policy(svc)
        if svc.one_shot and svc.restart.max_retries is not None:
            deploy["restart_policy"]["max_attempts"] = svc.restart.max_retries
        return deploy


def _dockerfile_bases(plan: ImageBuild) -> str:
    """The FROM lines of a build's Dockerfile, with ARG defaults filled in (what the image starts from)."""
    path = plan.context / (plan.dockerfile or "Dockerfile")
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    defaults = dict(re.findall(r"^\s*ARG\s+(\w+)=(\S+)", text, re.MULTILINE | re.IGNORECASE))
    defaults.update(plan.args)
    bases = re.findall(r"^\s*FROM\s+(\S+)", text, re.MULTILINE | re.IGNORECASE)
    return " ".join(re.sub(r"\$\{?(\w+)\}?", lambda m: defaults.get(m.group(1), ""), b) for b in bases)


def export_swarm(
    stack: ResolvedStack, *, base: Path | None = None, network: Network = "vip",
    facts: ImageFacts | None = None,
) -> SwarmExport:
    """The stack file of ``stack`` for ``docker stack deploy``; paths relative to ``base``.

    ``facts`` tells what is known of an image's contents (its history), so that
    healthchecks use a client the image has; without it the image's name decides.
    """
    base = base or stack.root
    composed = export_compose(stack, base=base)
    store: dict[str, dict[str, dict[str, Any]]] = {"secrets": {}, "configs": {}}
    builds: list[ImageBuild] = []
    services: dict[str, Any] = {}
    # the compose export's own words on probes describe its CMD-SHELL tests, rewritten here
    composed.notes.items = [n for n in composed.notes.items if " probe runs as " not in n]
    for name, data in composed.document["services"].items():
        rewritten, plan = _Service(stack, stack.services[name], data, network, base, facts or (lambda _: ""),
                                   composed.notes, store).build()
        services[name] = rewritten
        if plan is not None:
            builds.append(plan)
    document: dict[str, Any] = {"version": STACK_VERSION, "services": services}
    for key in ("volumes",):
        if key in composed.document:
            document[key] = composed.document[key]
    for kind in ("secrets", "configs"):
        if store[kind]:
            document[kind] = store[kind]
    if composed.variables:
        composed.notes.add(
            "Swarm reads no .env: the secret values are written as ${VAR} references that docker stack deploy "
            f"fills from its environment ({', '.join(composed.variables)}); deploy swarm passes them from .env"
        )
    composed.document = document
    composed.header = (
        f"# Docker Swarm stack file of {stack.project} (env {stack.config.env}), written by\n"
        f"# dev-orchestrator export swarm (endpoint mode {network}). Regenerate rather than edit.\n"
        f"# Deploy: docker stack deploy --resolve-image never -c FILE {stack.project}\n"
    )
    return SwarmExport(composed, builds)
