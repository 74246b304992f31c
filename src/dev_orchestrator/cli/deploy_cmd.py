"""`deploy swarm`: the stack on Docker Swarm, awaited until it converges; `--rm` takes it down."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from ..errors import UsageError
from .common import common_options, display_path, load_config, parse_timeout, print_warning, style

DEPLOY_EPILOG = """\b
Examples:
  docker swarm init --advertise-addr 127.0.0.1      # once: this machine as a one-node swarm
  dev-orchestrator deploy swarm --env prod --build
  dev-orchestrator deploy swarm --swarm-network dnsrr --timeout 3m
  dev-orchestrator deploy swarm --rm
"""


def _progress(line: str) -> None:
    click.echo(line, err=True)


@click.group(epilog=DEPLOY_EPILOG)
def deploy() -> None:
    """Put the stack on an engine that runs many machines (Docker Swarm)."""


@deploy.command(epilog=DEPLOY_EPILOG)
@common_options
@click.option("--timeout", default="120s", show_default=True, callback=parse_timeout, metavar="DURATION",
              help="How long to wait for the stack to converge (or, with --rm, to be gone).")
@click.option("--rm", "remove", is_flag=True, help="Remove the stack and wait until nothing of it is left.")
@click.option("--swarm-network", "network", type=click.Choice(["vip", "dnsrr"]), default="vip", show_default=True,
              help="vip: virtual IPs and ingress ports (need IPVS); dnsrr: DNS round robin, ports on each task's node.")
@click.option("--build", is_flag=True, help="Build and tag the images of services with build: first.")
@click.option("--name", default=None, metavar="STACK", help="Stack name (default: the project's name).")
def swarm(
    file: Path | None, env: str | None, docker: bool | None, timeout: float, remove: bool, network: Any,
    build: bool, name: str | None,
) -> None:
    """Deploy with docker stack deploy, then wait until every service has converged.

    Converged: for each service of the stack, as many tasks run (healthy, where the
    image has a healthcheck) as it wants and no update is under way; a job has
    completed. Exit 1 with the failing task's error when that does not happen within
    --timeout; exit 2 when this daemon is not in swarm mode.
    """
    from ..backends import swarm as backend
    from ..config.resolve import resolve
    from .common import project_paths

    loaded = load_config(file, env)
    stack_name = name or loaded.project
    client = backend.client()
    backend.require_swarm(client)
    started = time.monotonic()
    if remove:
        took = backend.stack_remove(client, stack_name, timeout, _progress)
        click.echo(f"{style('✓', fg='green', bold=True)} removed stack {stack_name} in {took:.1f}s; "
                   f"nothing labelled com.docker.stack.namespace={stack_name} is left")
        return
    stack = resolve(loaded, docker=True)
    _, paths = project_paths(file)
    paths.ensure()
    target = paths.dir / f"stack.{loaded.env}.yaml"
    result = backend.prepare(stack, base=paths.dir, network=network, build=build, progress=_progress,
                             docker_client=client, every_image=True)
    for note in result.notes:
        print_warning(note)
    from ..config.interpolate import unset_names

    missing = unset_names(result.document, stack.base_env)  # ${VAR:-default} needs no VAR
    if missing:
        raise UsageError(f"the stack reads {', '.join(missing)}, which neither .env nor the environment sets",
                         hint="set them in .env next to services.yaml (Swarm reads no .env; this command passes them)")
    target.write_text(result.text(), encoding="utf-8")
    target.chmod(0o600)
    click.echo(f"{stack.project} · env {loaded.env} · {len(result.document['services'])} services · "
               f"stack {stack_name} · {display_path(target)}", err=True)
    baseline = backend.update_baseline(client, stack_name)
    backend.stack_deploy(target, stack_name, {v: stack.base_env[v] for v in result.variables if v in stack.base_env})
    states = backend.wait_converged(client, stack_name, result.document["services"], timeout, _progress, baseline)
    for state in states:
        ports = f"  ports {', '.join(state.ports)}" if state.ports else ""
        click.echo(f"  {state.name:<14} {state.summary()}{ports}")
    click.echo(f"{style('✓', fg='green', bold=True)} stack {stack_name} converged in "
               f"{time.monotonic() - started:.1f}s ({len(states)} services)")
