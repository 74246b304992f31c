"""`init`: write a commented services.yaml for the current folder.

From a compose file or a Procfile found there (through the importers), else a small
template that runs as it is. It never overwrites an existing services.yaml.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from .common import print_warning

TEMPLATE = """\
# services.yaml: the services of this project, for dev-orchestrator.
# Run `dev-orchestrator start`, then `status`, `logs -f`, `stop`.
# Reference: docs/CONFIGURATION.md (every key), `dev-orchestrator config schema` (JSON Schema).
name: {name}

services:
  web:
    # A command as a list (no shell) or a string (split like a shell).
    command: [python3, -m, http.server, "${{WEB_PORT:-8080}}", --bind, 127.0.0.1]
    ports: ["${{WEB_PORT:-8080}}"]
    # Dependents wait until this passes; start-up polls fast, then every interval.
    healthcheck:
      http: {{url: "http://127.0.0.1:${{WEB_PORT:-8080}}/"}}
      interval: 10s
    restart: on-failure:3
    # depends_on: [db]                # start after db is healthy
    # environment: {{DEBUG: "1"}}
    # docker: {{image: nginx:1.27}}    # how it runs with --docker

# settings:                           # application settings, per service, as env variables
#   web: {{greeting: hello}}          # -> WEB_GREETING=hello for web
"""

HEADER = """\
# services.yaml: made by `dev-orchestrator init` from {source}.
# Run `dev-orchestrator start`, then `status`, `logs -f`, `stop`.
# Reference: docs/CONFIGURATION.md (every key), `dev-orchestrator config schema`.
"""

SOURCES = ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml", "Procfile")

EPILOG = """\b
Examples:
  dev-orchestrator init                 services.yaml from compose.yaml, a Procfile, or a template
  dev-orchestrator init --from Procfile
"""


@click.command(epilog=EPILOG)
@click.option("--from", "source", type=click.Path(path_type=Path, exists=True, dir_okay=False), default=None,
              help="The compose file or Procfile to start from (default: the first one found here).")
@click.option("-o", "--output", type=click.Path(path_type=Path), default=Path("services.yaml"), show_default=True)
def init(source: Path | None, output: Path) -> int:
    """Write a commented services.yaml for this folder (never overwrites one)."""
    from ..config.loader import project_name
    from ..errors import UsageError

    if output.exists():
        raise UsageError(f"{output} already exists; init never overwrites it",
                         hint="edit it, or pass -o to write somewhere else")
    folder = output.resolve().parent
    if source is None:
        source = next((folder / name for name in SOURCES if (folder / name).is_file()), None)
    if source is None:
        text = TEMPLATE.format(name=project_name({}, folder))
        notes: list[str] = []
        what = "a template"
    else:
        result = _import(source, folder)
        text = HEADER.format(source=source.name) + result.text()
        notes = list(result.notes)
        what = f"{source.name} ({len(result.document.get('services', {}))} services)"
    output.write_text(text, encoding="utf-8")
    click.echo(f"wrote {output} from {what}")
    for note in notes:
        print_warning(note)
    return 0


def _import(source: Path, folder: Path) -> Any:
    if source.name == "Procfile" or source.suffix not in (".yml", ".yaml"):
        from ..export.procfile import import_procfile

        env_file = folder / ".env"
        return import_procfile(source, env_file=env_file if env_file.is_file() else None, ports=False,
                               base_port=5000, out_dir=folder)
    from ..export.compose_import import import_compose

    return import_compose(source)
