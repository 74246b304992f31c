"""Options every command shares, config loading for commands, and message printing."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def common_options(fn: F) -> F:
    """-f/--file, --env, --docker, --debug (options go after the command)."""
    return _common(fn, ("-f", "--file"))


def common_options_no_short_file(fn: F) -> F:
    """The common options where ``-f`` means something else (``logs -f`` follows)."""
    return _common(fn, ("--file",))


def _common(fn: F, file_flags: tuple[str, ...]) -> F:
    @click.option(
        *file_flags,
        "file",
        type=click.Path(path_type=Path, dir_okay=True),
        default=None,
        help="services.yaml to use (default: found by walking up from here).",
    )
    @click.option(
        "--env",
        "env",
        default=None,
        metavar="NAME",
        help="Environment overlay: config/<project>.<NAME>.yaml (default $DEV_ORCHESTRATOR_ENV, "
        "else the variable the stack names in orchestrator.env_var, else dev).",
    )
    @click.option(
        "--docker/--no-docker",
        "docker",
        default=None,
        help="Run services that have a docker: section as containers.",
    )
    @click.option("--debug", is_flag=True, hidden=True, help="Show tracebacks for errors.")
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        kwargs.pop("debug", None)
        return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def load_config(file: Path | None, env: str | None, *, quiet_warnings: bool = False) -> Any:
    """Load and validate; print interpolation warnings to stderr."""
    from ..config import load

    config = load(file, env)
    if not quiet_warnings:
        for warning in config.warnings:
            print_warning(warning)
    return config


def use_color(stream: Any) -> bool:
    return stream.isatty() and not os.environ.get("NO_COLOR")


def print_error(message: str, *, hint: str | None = None) -> None:
    color = use_color(sys.stderr)
    mark = click.style("✗", fg="red", bold=True) if color else "error:"
    lines = message.splitlines() or [""]
    click.echo(f"{mark} {lines[0]}", err=True)
    for line in lines[1:]:
        click.echo(line, err=True)
    for line in (hint or "").splitlines():
        click.echo(f"  hint: {line}", err=True)


def print_warning(message: str) -> None:
    color = use_color(sys.stderr)
    mark = click.style("warning:", fg="yellow") if color else "warning:"
    click.echo(f"{mark} {message}", err=True)


def style(text: str, **kwargs: Any) -> str:
    return click.style(text, **kwargs) if use_color(sys.stdout) else text


def parse_timeout(ctx: Any, param: Any, value: str | None) -> float | None:
    """click callback: a duration option (``500ms``, ``2s``, ``1m``) -> seconds."""
    if value is None:
        return None
    from ..config.types import parse_duration

    try:
        return parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def display_path(path: Path) -> str:
    """``path`` relative to the current folder when it lies below it (shorter to read)."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
