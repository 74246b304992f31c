"""`export kubernetes`, `export compose`, `import compose` and `import procfile`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import click

from ..errors import OrchestratorError, UsageError
from .common import common_options, load_config, print_warning, style

EXPORT_EPILOG = """\b
Examples:
  dev-orchestrator export kubernetes --env prod > k8s.yaml
  dev-orchestrator export kubernetes --env prod -o deploy/k8s --namespace shop
  dev-orchestrator export compose --env staging -o compose.yaml
  dev-orchestrator export swarm --env prod --build -o stack.yaml
  dev-orchestrator export compose --target swarm --swarm-network dnsrr
"""

IMPORT_EPILOG = """\b
Examples:
  dev-orchestrator import compose docker-compose.yml
  dev-orchestrator import procfile Procfile --env-file .env --ports
"""

_OWN_FILE = re.compile(r"^\d{2}-[a-z]+-[a-z0-9.-]+\.yaml$")


def _notes(notes: Any, skipped: list[str]) -> None:
    for note in notes:
        print_warning(note)
    if skipped:
        print_warning(
            f"not exported (process-only, no docker: section to take an image from): {', '.join(skipped)}"
        )
        click.echo("  hint: add a docker: section with an image to export them", err=True)


def _write(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from exc


def _done(message: str) -> None:
    click.echo(f"{style('✓', fg='green', bold=True)} {message}", err=True)


@click.group(epilog=EXPORT_EPILOG)
def export() -> None:
    """Write the stack for another engine: Kubernetes manifests or a compose file."""


@export.command()
@common_options
@click.option("-o", "--output", default="-", metavar="DIR|FILE|-",
              help="A folder (one file per object), a .yaml file, or - for stdout (default).")
@click.option("--namespace", default=None, metavar="NS", help="Namespace of every object.")
@click.option("--kube-version", default=None, metavar="1.XX", help="Target Kubernetes version (default 1.33).")
@click.option("--wait-image", default=None, metavar="IMAGE",
              help="Image of the init containers that wait for a dependency (default busybox:1.36).")
@click.option("--kubectl-image", default=None, metavar="IMAGE",
              help="Image of the init containers that wait for a Job (default registry.k8s.io/kubectl).")
@click.option("--volume-size", default="1Gi", show_default=True, help="Storage request of each volume claim.")
@click.option("--storage-class", default=None, metavar="NAME",
              help="StorageClass of each volume claim (default: the cluster's default, reported).")
@click.option("--kustomize", "kustomize_dir", default=None, metavar="DIR", type=click.Path(path_type=Path),
              help="Write DIR/base and DIR/overlays/<env> for every environment, for kubectl apply -k.")
@click.option("--validate", "check", is_flag=True,
              help="Validate the manifests strictly against --kube-version (needs kubernetes-validate; "
              "with --kustomize, kubectl renders each overlay first).")
def kubernetes(
    file: Path | None, env: str | None, docker: bool | None, output: str, namespace: str | None,
    kube_version: str | None, wait_image: str | None, kubectl_image: str | None, volume_size: str,
    check: bool, storage_class: str | None = None, kustomize_dir: Path | None = None,
) -> None:
    """Kubernetes manifests: Deployments, Jobs, Services, PVCs, ConfigMaps and Secrets.

    Services without a docker: section cannot be exported (they have no image); they are
    listed on stderr and the rest is written (exit 0). --kustomize writes a base (the
    stack without an environment's file) and an overlay per environment instead.
    """
    from ..config.resolve import resolve
    from ..export.kubernetes import (
        DEFAULT_KUBE_VERSION,
        WAIT_IMAGE,
        KubeOptions,
        export_kubernetes,
    )
    from ..export.kubevalidate import validate

    options = KubeOptions(
        namespace=namespace,
        kube_version=kube_version or DEFAULT_KUBE_VERSION,
        wait_image=wait_image or WAIT_IMAGE,
        kubectl_image=kubectl_image,
        volume_size=volume_size,
        storage_class=storage_class,
    )
    if kustomize_dir is not None:
        if env is not None or output != "-":
            raise UsageError("--kustomize writes every environment into its folder; drop --env and -o")
        _kustomize(file, kustomize_dir, options, check)
        return
    loaded = load_config(file, env)
    for name in loaded.activation.inactive:  # left out by its profiles: say so, never drop silently
        print_warning(f"{name}: {loaded.activation.describe(name)}, not exported (activate it with --profile)")
    result = export_kubernetes(resolve(loaded, docker=True), options)
    if check:
        problems = validate(result.objects, [options.kube_version])
        if problems:
            raise OrchestratorError(
                f"{len(problems)} problem(s) in the manifests:\n" + "\n".join(problems)
            )
    if output == "-":
        click.echo(result.text(), nl=False)
    elif output.endswith((".yaml", ".yml")) and not Path(output).is_dir():
        _write(Path(output), result.text())
        _done(f"wrote {len(result.objects)} objects to {output}")
    else:
        folder = Path(output)
        if folder.exists() and not folder.is_dir():
            raise UsageError(f"{folder} exists and is not a folder")
        files = result.files()
        if folder.is_dir():  # drop files of an earlier export, so renamed objects do not linger
            for old in folder.iterdir():
                if _OWN_FILE.match(old.name) and old.name not in files:
                    old.unlink()
        for name, text in files.items():
            _write(folder / name, text)
        _done(f"wrote {len(files)} files to {folder}")
    _notes(result.notes, result.skipped)


def _kustomize(file: Path | None, folder: Path, options: Any, check: bool) -> None:
    from ..config import load
    from ..config.loader import available_envs
    from ..config.resolve import resolve
    from ..export.kubernetes import export_kubernetes
    from ..export.kubevalidate import validate
    from ..export.kustomize import export_kustomize, render

    base_config = load(file, "base", overlay=False)
    for warning in base_config.warnings:
        print_warning(warning)
    envs = available_envs(base_config.root, base_config.project)
    base = export_kubernetes(resolve(base_config, docker=True), options)
    exports = {env: export_kubernetes(resolve(load_config(file, env, quiet_warnings=True), docker=True), options)
               for env in envs}
    result = export_kustomize(base, exports, options.namespace)
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{folder} exists and is not a folder")
    # earlier files of ours that no longer belong; a file of the user's in an overlay is kept
    places = [("base", _OWN_KUSTOMIZE_FILE)]
    for env in envs:
        places += [(f"overlays/{env}", _OWN_OBJECT_FILE), (f"overlays/{env}/patches", _OWN_KUSTOMIZE_FILE)]
    for sub, own in places:
        place = folder / sub
        if place.is_dir():
            for old in place.iterdir():
                relative = old.relative_to(folder).as_posix()
                if old.is_file() and own.match(old.name) and relative not in result.files:
                    old.unlink()
    for path, text in result.files.items():
        _write(folder / path, text)
    _done(f"wrote base and {len(envs)} overlay(s) ({', '.join(envs) or 'none'}) to {folder}")
    if not envs:
        print_warning(f"no environment files (config/{base_config.project}.<env>.yaml): only base/ was written")
    if check:
        problems: list[str] = []
        for layer in ["base", *(f"overlays/{env}" for env in envs)]:
            objects = render(str(folder / layer))
            problems.extend(f"{layer}: {p}" for p in validate(objects, [options.kube_version]))
        if problems:
            raise OrchestratorError(f"{len(problems)} problem(s) in the manifests:\n" + "\n".join(problems))
        _done(f"kubectl kustomize rendered base and every overlay; valid for Kubernetes {options.kube_version}")
    _notes(result.notes, base.skipped)


_OWN_KUSTOMIZE_FILE = re.compile(r"^[a-z]+-[a-z0-9.-]+\.yaml$")
# an overlay's own objects, `<kind>-<name>.yaml`, of the kinds the export writes
_OWN_OBJECT_FILE = re.compile(
    r"^(configmap|deployment|job|persistentvolumeclaim|role|rolebinding|secret|service|serviceaccount)"
    r"-[a-z0-9.-]+\.yaml$")


_swarm_network = click.option(
    "--swarm-network", "network", type=click.Choice(["vip", "dnsrr"]), default="vip", show_default=True,
    help="vip: Swarm's virtual IPs and ingress ports (need IPVS in the kernel); "
    "dnsrr: DNS round robin and ports published on each task's node (mode: host).")
_build = click.option("--build", is_flag=True,
                      help="Build and tag the images of services with build: (Swarm runs images only).")


@export.command()
@common_options
@click.option("-o", "--output", default="-", metavar="FILE|-", help="Compose file to write, or - for stdout (default).")
@click.option("--develop", is_flag=True, help="Keep develop.watch (read by compose 2.22+; older compose rejects it).")
@click.option("--target", type=click.Choice(["compose", "swarm"]), default="compose", show_default=True,
              help="swarm: a stack file for docker stack deploy (same as export swarm).")
@_swarm_network
@_build
def compose(
    file: Path | None, env: str | None, docker: bool | None, output: str, develop: bool = False,
    target: str = "compose", network: str = "vip", build: bool = False,
) -> None:
    """A compose file: services with images, depends_on with conditions, healthchecks, ports, volumes.

    Values that interpolate a secret variable are written as the ${VAR} text they came
    from; with -o FILE an .env.example next to it lists the variables they read.
    """
    if target == "swarm":
        if develop:
            raise UsageError("--develop goes with compose files: Swarm has no develop.watch")
        _swarm(file, env, output, network, build)
        return
    if network != "vip" or build:
        raise UsageError("--swarm-network and --build go with --target swarm")
    from ..config.resolve import resolve
    from ..export.compose import export_compose

    loaded = load_config(file, env, all_profiles=True)  # every service, each with its profiles
    destination = None if output == "-" else Path(output)
    base = (destination.resolve().parent if destination else Path.cwd())
    result = export_compose(resolve(loaded, docker=True), base=base, develop=develop)
    _emit(destination, result)


@export.command()
@common_options
@click.option("-o", "--output", default="-", metavar="FILE|-", help="Stack file to write, or - for stdout (default).")
@_swarm_network
@_build
def swarm(file: Path | None, env: str | None, docker: bool | None, output: str, network: str, build: bool) -> None:
    """A stack file for docker stack deploy: images only, deploy: keys, Swarm secrets and configs.

    Swarm ignores depends_on and restart and reads no .env: restarts, replicas and
    updates go to deploy:, secret values stay ${VAR} references (deploy swarm fills
    them from .env), read-only file mounts become Swarm secrets (under /run/secrets)
    and configs. Services with build: need --build, or their images must exist here.
    """
    _swarm(file, env, output, network, build)


def _swarm(file: Path | None, env: str | None, output: str, network: Any, build: bool) -> None:
    from ..backends.swarm import prepare
    from ..config.resolve import resolve

    loaded = load_config(file, env)
    for name in loaded.activation.inactive:
        print_warning(f"{name}: {loaded.activation.describe(name)}, not exported (activate it with --profile)")
    destination = None if output == "-" else Path(output)
    base = (destination.resolve().parent if destination else Path.cwd())
    progress = lambda line: click.echo(line, err=True)  # noqa: E731
    result = prepare(resolve(loaded, docker=True), base=base, network=network, build=build, progress=progress)
    _emit(destination, result, "the stack file")


def _emit(target: Path | None, result: Any, what: str = "the compose file") -> None:
    if target is None:
        click.echo(result.text(), nl=False)
    else:
        _write(target, result.text())
        _done(f"wrote {len(result.document['services'])} services to {target}")
        if result.variables:
            _env_example(target, result)
    _notes(result.notes, result.skipped)
    if result.variables and target is None and what == "the compose file":
        print_warning(
            "secret values are written as ${VAR} references for compose to fill in: "
            f"set {', '.join(result.variables)} in .env next to the compose file"
        )


def _env_example(target: Path, result: Any) -> None:  # also for stack files: the same variables
    """``.env.example`` next to the compose file, unless one that this export did not write is there."""
    from ..export.compose import ENV_EXAMPLE_MARK

    example = target.resolve().parent / ".env.example"
    try:
        foreign = example.exists() and ENV_EXAMPLE_MARK not in example.read_text(encoding="utf-8").split("\n", 1)[0]
    except (OSError, UnicodeDecodeError):
        foreign = True
    if foreign:
        print_warning(
            f"{example} exists and was not written by this export; left as is. "
            f"The compose file reads: {', '.join(result.variables)}"
        )
        return
    _write(example, result.env_example(target.name))
    _done(f"wrote {example}: {len(result.variables)} variables to set (no values)")


@click.group("import", epilog=IMPORT_EPILOG)
def import_() -> None:
    """Write a services.yaml from a compose file or a Procfile."""


def _save(result: Any, output: str, force: bool, variables: dict[str, str]) -> None:
    result.validate(variables)
    count = len(result.document.get("services", {}))
    if output == "-":
        click.echo(result.text(), nl=False)
    else:
        target = Path(output)
        if target.exists() and not force:
            raise UsageError(f"{target} already exists", hint="pass --force to overwrite it, or -o another path")
        _write(target, result.text())
        _done(f"wrote {target}: {count} service{'s' if count != 1 else ''}")
    if len(result.notes):
        print_warning(f"{len(result.notes)} note(s): what was not carried over or was changed")
        for note in result.notes:
            click.echo(f"  {note}", err=True)


def _variables(folder: Path) -> dict[str, str]:
    import os

    from dotenv import dotenv_values

    dotenv = folder / ".env"
    values = {k: v for k, v in dotenv_values(dotenv).items() if v is not None} if dotenv.is_file() else {}
    return {**values, **os.environ}


_force = click.option("--force", is_flag=True, help="Overwrite the output file if it exists.")


@import_.command("compose")
@click.argument("source", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("-o", "--output", default="services.yaml", show_default=True, metavar="FILE|-")
@_force
def import_compose_cmd(source: Path, output: str, force: bool) -> None:
    """A services.yaml from a compose file; what cannot be carried over is listed on stderr."""
    from ..export.compose_import import import_compose

    _save(import_compose(source), output, force, _variables(source.resolve().parent))


@import_.command("procfile")
@click.argument("source", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("-o", "--output", default="services.yaml", show_default=True, metavar="FILE|-")
@click.option("--env-file", type=click.Path(path_type=Path), default=None,
              help="A .env file every process reads (as foreman and honcho do).")
@click.option("--ports", is_flag=True, help="Give each process a PORT: 5000, 5100, ... (as honcho does).")
@click.option("--base-port", type=int, default=5000, show_default=True, help="The first PORT with --ports.")
@_force
def import_procfile_cmd(
    source: Path, output: str, env_file: Path | None, ports: bool, base_port: int, force: bool
) -> None:
    """A services.yaml from a Procfile: one service per process, run through a shell."""
    from ..export.procfile import import_procfile

    out_dir = Path.cwd() if output == "-" else Path(output).resolve().parent
    if not 1 <= base_port <= 65535 - 100 * 50:
        raise UsageError(f"invalid --base-port {base_port}")
    result = import_procfile(source, env_file=env_file, ports=ports, base_port=base_port, out_dir=out_dir)
    _save(result, output, force, _variables(out_dir))
