"""Options every command shares, config loading for commands, and message printing."""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import click

from .views import style as style  # the one implementation, shared with the quick path
from .views import use_color as use_color

F = TypeVar("F", bound=Callable[..., Any])


PROFILES_META = "dev_orchestrator.profiles"
NAMED_META = "dev_orchestrator.named"


def common_options(fn: F) -> F:
    """-f/--file, --env, --docker, --profile, --debug (options go after the command)."""
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
        help="services.yaml or compose file to use (default: found by walking up from here).",
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
    @click.option(
        "--profile",
        "profiles",
        multiple=True,
        metavar="NAME",
        help="Activate a compose profile (repeatable; adds to $COMPOSE_PROFILES and "
        "$DEV_ORCHESTRATOR_PROFILES, comma lists; * activates all).",
    )
    @click.option("--debug", is_flag=True, hidden=True, help="Show tracebacks for errors.")
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        kwargs.pop("debug", None)
        profiles = tuple(kwargs.pop("profiles", ()) or ())
        names = kwargs.get("services") if isinstance(kwargs.get("services"), (tuple, list)) else ()
        with _activation(profiles, tuple(names or ())):
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


@contextlib.contextmanager
def _activation(profiles: tuple[str, ...], names: tuple[str, ...]) -> Iterator[None]:
    """Profiles and named services for this command, in the loader's environment variables.

    The background supervisor loads the files again from the environment each request
    carries, so the variables (not only this process's arguments) must say what is active.
    They are put back when the command returns, so that one command never leaks into another.
    """
    from ..config.profiles import NAMED_VARIABLE, PROFILE_VARIABLES, split_list

    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        ctx.meta[PROFILES_META], ctx.meta[NAMED_META] = profiles, names
    variable = PROFILE_VARIABLES[0]
    wanted: dict[str, str | None] = {variable: None, NAMED_VARIABLE: None}
    if profiles:
        given = [name for item in profiles for name in split_list(item)]
        wanted[variable] = ",".join(dict.fromkeys([*split_list(os.environ.get(variable)), *given]))
    if names:
        wanted[NAMED_VARIABLE] = ",".join(names)
    saved = {k: os.environ.get(k) for k in wanted}
    try:
        for key, value in wanted.items():
            if value is not None:
                os.environ[key] = value
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def load_config(
    file: Path | None, env: str | None, *, quiet_warnings: bool = False, all_profiles: bool = False
) -> Any:
    """Load and validate; print interpolation warnings and compose notes to stderr.

    ``all_profiles`` activates every profile (an export writes every service, each with
    its profiles, for compose to choose from).
    """
    from ..config import load

    config = load(file, env, profiles=["*"] if all_profiles else None)
    if not quiet_warnings:
        for warning in config.warnings:
            print_warning(warning)
        for note in config.notes:
            print_note(note)
    return config


def print_note(message: str) -> None:
    """Something a compose file holds that the stack does not apply (never dropped silently)."""
    color = use_color(sys.stderr)
    mark = click.style("note:", fg="cyan") if color else "note:"
    click.echo(f"{mark} {message}", err=True)




def print_error(message: str, *, hint: str | None = None) -> None:
    from .views import print_error as shared  # the quick path prints its errors with it too

    shared(message, hint=hint)


def print_warning(message: str) -> None:
    color = use_color(sys.stderr)
    mark = click.style("warning:", fg="yellow") if color else "warning:"
    click.echo(f"{mark} {message}", err=True)




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


def project_paths(file: Path | None) -> tuple[Path, Any]:
    """services.yaml and the project's runtime paths (a symlinked or non-folder
    .orchestrator or logs is refused here, exit 2, before anything reads or follows it)."""
    from ..config.locate import services_file
    from ..state import Paths, check_private_dir

    path = services_file(file)
    paths = Paths(path.parent)
    check_private_dir(paths.dir, "the runtime folder")
    check_private_dir(paths.logs, "the logs folder")
    return path, paths
