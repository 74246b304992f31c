"""`config`, `config validate`, `config schema` and `graph`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import yaml

from .common import common_options, load_config, print_warning, style
from .completion import service_names

CONFIG_EPILOG = """\b
Examples:
  dev-orchestrator config                       merged dev configuration (secrets masked)
  dev-orchestrator config --env prod --json     the prod document as JSON
  dev-orchestrator config validate --env staging
  dev-orchestrator config schema > services.schema.json
"""


def _files_line(config: Any) -> str:
    return " + ".join(config.files)


def _stack_comments(config: Any) -> list[str]:
    """Lines about services left out by their profiles, and how to write out a compose stack."""
    lines = [f"{name}: {config.activation.describe(name)}" for name in config.activation.inactive]
    if config.compose:
        lines.append(f"translated from {config.file.name}; write it out to add local processes or overlays: "
                     f"dev-orchestrator import compose {config.file.name} -o services.yaml")
    return lines


@click.group(invoke_without_command=True, epilog=CONFIG_EPILOG)
@common_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of YAML.")
@click.option(
    "--show-secrets", is_flag=True,
    help="Print secret values (named like a secret, or interpolating a secret variable) instead of ******.",
)
@click.pass_context
def config(
    ctx: click.Context, file: Path | None, env: str | None, docker: bool | None, as_json: bool, show_secrets: bool
) -> None:
    """Show the merged, interpolated, validated configuration."""
    if ctx.invoked_subcommand is not None:
        return
    from ..config.secrets import mask_paths, mask_secrets

    loaded = load_config(file, env)
    document = loaded.spec.model_dump(mode="json", exclude_unset=True)
    if docker is not None:
        document.setdefault("orchestrator", {})["docker"] = docker
    if not show_secrets:
        document = mask_secrets(mask_paths(document, loaded.secret_paths))
    if as_json:
        click.echo(json.dumps(document, indent=2))
    else:
        click.echo(f"# {loaded.project} · env {loaded.env} · {_files_line(loaded)}")
        for line in _stack_comments(loaded):
            click.echo(f"# {line}")
        click.echo(yaml.safe_dump(document, sort_keys=False, allow_unicode=True), nl=False)


@config.command()
@common_options
def validate(file: Path | None, env: str | None, docker: bool | None) -> None:
    """Check the configuration; exit 2 with every error found."""
    from ..config.resolve import require_runnable, resolve
    from ..config.service_env import unreached_sections
    from ..errors import UsageError

    loaded = load_config(file, env)
    # Every check that start runs: resolving finds dependency conditions that can never
    # hold (service_healthy on a service without a healthcheck) and missing env files.
    stack = resolve(loaded, docker=docker)
    try:
        require_runnable(stack, set(stack.services))
    except UsageError as exc:
        print_warning(f"{exc.message} ({exc.hint})" if exc.hint else exc.message)
    for section in unreached_sections(loaded.spec):
        where = loaded.location("settings", section)
        print_warning(
            f"{where}: settings.{section} reaches no service (no service is named {section}); "
            "list it in the settings_from of the services that read it"
            if where else f"settings.{section} reaches no service"
        )
    count = len(loaded.spec.services)
    mark = style("✓", fg="green", bold=True)
    click.echo(
        f"{mark} {_files_line(loaded)}: valid · {loaded.project} · env {loaded.env} · "
        f"{count} service{'s' if count != 1 else ''}"
    )


@config.command()
def schema() -> None:
    """Print the JSON Schema of services.yaml (and of every overlay)."""
    from ..config.schema import json_schema

    click.echo(json.dumps(json_schema(), indent=2))


GRAPH_EPILOG = """\b
Examples:
  dev-orchestrator graph                 start order of the whole stack
  dev-orchestrator graph backend         backend and what it needs
  dev-orchestrator graph --json          {"order": [[...], ...], "edges": {...}}
"""


@click.command(epilog=GRAPH_EPILOG)
@click.argument("services", nargs=-1, shell_complete=service_names)
@common_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def graph(services: tuple[str, ...], file: Path | None, env: str | None, docker: bool | None, as_json: bool) -> None:
    """Show the start order: services on one step start together."""
    from ..config.resolve import resolve
    from .selection import select

    loaded = load_config(file, env, quiet_warnings=as_json)
    stack = resolve(loaded, docker=docker)
    names = select(stack, services)
    sub = stack.graph.subgraph(stack.graph.closure(names))
    layers = sub.layers()
    if as_json:
        edges = {name: list(sub.deps[name]) for name in sub.order()}
        # each edge with the condition it waits for (and whether it restarts with its dependency)
        conditions = {
            name: [{"service": d.name, "condition": d.condition.value, "restart": d.restart}
                   for d in stack.services[name].depends_on if d.name in sub.deps]
            for name in sub.order()
        }
        shape: dict[str, Any] = {"order": layers, "edges": edges, "dependencies": conditions}
        if loaded.activation.inactive:  # services left out by their profiles, with those profiles
            shape["inactive"] = {name: list(p) for name, p in loaded.activation.inactive.items()}
        click.echo(json.dumps(shape, indent=2))
        return
    click.echo(f"{loaded.project} · env {loaded.env} · {len(sub)} services · {_files_line(loaded)}")
    for step, layer in enumerate(layers, 1):
        click.echo(f"  step {step}  {'  '.join(layer)}")
    width = max((len(n) for n in sub.deps), default=0)
    with_deps = [n for n in sub.order() if sub.deps[n]]
    if with_deps:
        click.echo("dependencies:")
        for name in with_deps:
            parts = [f"{d.name} ({d.condition.value})" for d in stack.services[name].depends_on]
            click.echo(f"  {name.ljust(width)}  <- {', '.join(parts)}")
    for name in loaded.activation.inactive:
        click.echo(f"  {name}: {loaded.activation.describe(name)}")
