"""The click application: every command, and the mapping of errors to exit codes.

Commands live in submodules that are imported only when their command runs, so a quick
command such as ``status`` does not pay for what only ``up`` needs.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from typing import Any

import click

from ..errors import ConfigError, OrchestratorError
from . import debug_requested

# command name -> "module:attribute" (relative to this package)
COMMANDS: dict[str, str] = {
    "config": "config_cmd:config",
    "graph": "config_cmd:graph",
    "up": "engine_cmd:up",
    "start": "control_cmd:start",
    "stop": "control_cmd:stop",
    "restart": "control_cmd:restart",
    "status": "look_cmd:status",
    "health": "look_cmd:health",
    "logs": "look_cmd:logs",
    "ports": "look_cmd:ports",
    "export": "export_cmd:export",
    "import": "export_cmd:import_",
    "exec": "exec_cmd:exec_",
    "run": "exec_cmd:run",
    "init": "init_cmd:init",
    "watch": "watch_cmd:watch",
    "ui": "ui_cmd:ui",
    "dashboard": "dashboard_cmd:dashboard",
    "deploy": "deploy_cmd:deploy",
}
# compose's names for the same commands, shown in --help
ALIASES: dict[str, str] = {"down": "stop", "ps": "status"}

EPILOG = """\b
Examples:
  dev-orchestrator start                  start the stack, return when healthy
  dev-orchestrator up backend             run backend and its dependencies in the foreground
  dev-orchestrator status --json          machine-readable status
  dev-orchestrator logs -f backend        follow one service's log
  dev-orchestrator config --env staging   the merged staging configuration
  dev-orchestrator stop                   stop everything
"""


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([name for name in COMMANDS if self._available(name)] + list(ALIASES))

    def resolve_command(self, ctx: click.Context, args: list[str]) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0] if args else ""
        if name and not name.startswith("-") and self.get_command(ctx, name) is None:
            import difflib

            known = sorted([*COMMANDS, *ALIASES])
            close = [c for c in known if c.startswith(name)] or difflib.get_close_matches(name, known, n=1, cutoff=0.5)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise click.UsageError(f"No such command '{name}'.{hint}", ctx)
        return super().resolve_command(ctx, args)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in ALIASES:
            import copy

            original = self.get_command(ctx, ALIASES[cmd_name])
            if original is None:
                return None
            alias = copy.copy(original)
            alias.name = cmd_name
            alias.short_help = f"Same as {ALIASES[cmd_name]}."
            return alias
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        try:
            module = importlib.import_module(f".{module_name}", __package__)
        except ModuleNotFoundError as exc:
            if exc.name == f"{__package__}.{module_name}":
                return None
            raise
        command: click.Command = getattr(module, attr)
        return command

    def _available(self, name: str) -> bool:
        module_name = COMMANDS[name].split(":")[0]
        return importlib.util.find_spec(f".{module_name}", __package__) is not None


@click.group(cls=LazyGroup, epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="dev-orchestrator", prog_name="dev-orchestrator")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
def cli(debug: bool) -> None:
    """Run a stack of local processes and Docker containers from one services.yaml.

    Services start in dependency order, as parallel as the graph allows, gated on health;
    a failing critical service rolls the start back. Commands talk to a background
    supervisor, so they work from any terminal.
    """


def main(args: list[str]) -> None:
    """Run the full CLI on ``args`` and exit with its code."""
    sys.exit(run(args, debug=debug_requested(args)))


def run(args: list[str], *, debug: bool = False) -> int:
    from .common import print_error

    try:
        result: Any = cli.main(args=args, prog_name="dev-orchestrator", standalone_mode=False)
    except click.exceptions.Abort:
        print_error("aborted")
        return 130
    except click.ClickException as exc:
        exc.show()
        return 2
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except ConfigError as exc:
        if debug:
            raise
        for diagnostic in exc.diagnostics:
            click.echo(str(diagnostic), err=True)
        count = len(exc.diagnostics)
        print_error(f"{count} error{'s' if count != 1 else ''} in the configuration")
        return exc.exit_code
    except OrchestratorError as exc:
        if debug:
            raise
        print_error(exc.message, hint=exc.hint)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug: say so plainly, traceback only with --debug
        if debug:
            raise
        print_error(
            f"internal error: {type(exc).__name__}: {exc}",
            hint="run again with --debug for the traceback, and report it",
        )
        return 1
    return result if isinstance(result, int) else 0
