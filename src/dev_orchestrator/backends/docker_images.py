"""Images before anything starts: build, pull by policy, and check what ``healthcheck: docker`` needs.

``pull: missing`` (default) uses a local image and pulls only when there is none;
``never`` requires it locally; ``always`` pulls every start. With a ``build`` section the
image is built when it is missing (``always``: on every start, with the layer cache).
Every problem of every service is reported in one error, before any container starts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import docker
import docker.errors
import docker.utils
import requests.exceptions

from ..errors import BackendError
from .docker_spec import image_of, project_labels

if TYPE_CHECKING:
    from ..config.resolve import ResolvedService, ResolvedStack

Call = Callable[..., Awaitable[Any]]


class ImageProblem(Exception):
    """One service's image cannot be had; collected into one BackendError."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def _explain(exc: BaseException) -> str:
    if isinstance(exc, docker.errors.APIError):
        text = exc.explanation or str(exc)
        return text.decode(errors="replace") if isinstance(text, bytes) else str(text)
    return str(exc)


async def _inspect(client: docker.DockerClient, tag: str, call: Call) -> dict[str, Any] | None:
    try:
        attrs: dict[str, Any] = await call(client.api.inspect_image, tag)
    except docker.errors.ImageNotFound:
        return None
    return attrs


async def _pull(client: docker.DockerClient, tag: str, call: Call) -> None:
    repo, version = docker.utils.parse_repository_tag(tag)
    await call(client.api.pull, repo, tag=version or "latest")


def _build_sync(client: docker.DockerClient, stack: ResolvedStack, svc: ResolvedService, tag: str,
                output: list[str] | None = None) -> None:
    """Build ``tag`` from the service's build section; ``output`` collects the build's lines."""
    spec = svc.docker
    assert spec is not None and spec.build is not None
    build = spec.build
    context = (stack.root / build.context).resolve()
    if not context.is_dir():
        raise ImageProblem(
            f"{svc.name}: build context {context} does not exist",
            f"fix services.{svc.name}.docker.build.context (relative to services.yaml)",
        )
    if build.dockerfile and not (context / build.dockerfile).is_file():
        raise ImageProblem(
            f"{svc.name}: Dockerfile {Path(context / build.dockerfile)} does not exist",
            f"fix services.{svc.name}.docker.build.dockerfile (relative to the build context)",
        )
    output = [] if output is None else output
    stream = client.api.build(
        path=str(context), dockerfile=build.dockerfile, tag=tag, buildargs=dict(build.args),
        target=build.target, labels=project_labels(stack.project), rm=True, forcerm=True, decode=True,
    )
    for item in stream:
        if "stream" in item:
            output.extend(str(item["stream"]).splitlines())
        if "error" in item:
            tail = "\n".join(f"  {line}" for line in output[-10:] if line.strip())
            raise ImageProblem(f"{svc.name}: building {tag} failed: {str(item['error']).strip()}\n{tail}".rstrip())


def image_variables(stack: ResolvedStack, service: str) -> tuple[str, list[str]] | None:
    """Where the service's image is chosen and the variables that choose it, if any.

    The files say it as written: ``image: ${POSTGRES_IMAGE:-postgres:16-alpine}`` names
    POSTGRES_IMAGE. Read back from the value's place, only when an image is missing.
    """
    from ..config.interpolate import referenced_names

    place = stack.config.location("services", service, "docker", "image")
    if place is None:
        return None
    path = Path(place.file) if Path(place.file).is_absolute() else stack.root / place.file
    try:
        line = path.read_text(encoding="utf-8").splitlines()[place.line - 1]
    except (OSError, IndexError, UnicodeDecodeError):
        return None
    names = referenced_names(line[place.column - 1:])
    return (str(place), names) if names else None


async def _image_for(
    client: docker.DockerClient, stack: ResolvedStack, svc: ResolvedService, call: Call,
    pulls: dict[str, asyncio.Future[None]],
) -> str:
    """Make the service's image available; return its id."""
    spec = svc.docker
    assert spec is not None
    tag = image_of(stack.project, svc)
    where = f"services.{svc.name}.docker"
    local = await _inspect(client, tag, call)
    if spec.build is not None:
        if local is None or spec.pull == "always":
            try:
                await call(_build_sync, client, stack, svc, tag)
            except docker.errors.APIError as exc:
                raise ImageProblem(f"{svc.name}: building {tag} failed: {_explain(exc)}") from exc
            local = await _inspect(client, tag, call)
    elif spec.pull == "always" or (local is None and spec.pull == "missing"):
        # One pull per image even when several services use it.
        if tag not in pulls:
            pulls[tag] = asyncio.ensure_future(_pull(client, tag, call))
        try:
            await asyncio.shield(pulls[tag])
        except (docker.errors.APIError, requests.exceptions.RequestException) as exc:
            state = "not available locally and" if local is None else "present locally, but with pull: always it"
            hints = [f"build it: docker build -t {tag} ...", f"or add a {where}.build section"]
            chooser = image_variables(stack, svc.name)
            if chooser:
                place, names = chooser
                hints.append(f"or choose another image: {where}.image ({place}) is read from "
                             f"{' and '.join(names)}; set {names[0]}=IMAGE in the environment or .env")
            else:
                hints.append(f"or fix {where}.image")
            raise ImageProblem(
                f'{svc.name}: image "{tag}" is {state} cannot be pulled: {_explain(exc)}', "\n".join(hints),
            ) from exc
        local = await _inspect(client, tag, call)
    if local is None:
        raise ImageProblem(
            f'{svc.name}: image "{tag}" is not available locally (pull: never)',
            f"build or pull it first, or set {where}.pull: missing",
        )
    if svc.healthcheck == "docker":
        test = ((local.get("Config") or {}).get("Healthcheck") or {}).get("Test") or []
        if not test or test == ["NONE"]:
            raise ImageProblem(
                f'{svc.name}: healthcheck "docker" but image "{tag}" has no HEALTHCHECK',
                f"add a HEALTHCHECK to the image or give {where}.healthcheck a probe",
            )
    return str(local["Id"])


async def ensure_images(
    client: docker.DockerClient, stack: ResolvedStack, services: list[ResolvedService], call: Call
) -> dict[str, str]:
    """Image id per service; one BackendError listing every service whose image is missing."""
    pulls: dict[str, asyncio.Future[None]] = {}
    results = await asyncio.gather(
        *(_image_for(client, stack, svc, call, pulls) for svc in services), return_exceptions=True
    )
    problems: list[ImageProblem] = []
    ids: dict[str, str] = {}
    for svc, result in zip(services, results, strict=True):
        if isinstance(result, ImageProblem):
            problems.append(result)
        elif isinstance(result, BaseException):
            problems.append(ImageProblem(f"{svc.name}: image check failed: {_explain(result)}"))
        else:
            ids[svc.name] = result
    for future in pulls.values():
        if future.done() and not future.cancelled():
            future.exception()  # retrieved: reported above per service
    if problems:
        hints = sorted({p.hint for p in problems if p.hint})
        raise BackendError("\n".join(p.message for p in problems), hint="; ".join(hints) or None)
    return ids
