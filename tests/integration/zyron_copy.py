"""A copy of the repository's Zyron stack under another project name, for the Docker and
Swarm tests: the files, the images' build context, and the job that proves it works."""

from __future__ import annotations

import hashlib
import io
import shutil
import socket
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

REPO = Path(__file__).resolve().parents[2]


def free_ports(count: int) -> list[int]:
    socks = [socket.socket() for _ in range(count)]
    for sock in socks:
        sock.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for sock in socks:
        sock.close()
    return ports


def copy_config(root: Path, project: str) -> Path:
    """services.yaml and config/ of the repository, renamed to ``project``; the services.yaml."""
    doc = yaml.safe_load((REPO / "services.yaml").read_text())
    doc["name"] = project
    (root / "services.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    shutil.copytree(REPO / "config", root / "config")
    for overlay in (root / "config").glob("zyron.*.yaml"):
        overlay.rename(overlay.with_name(overlay.name.replace("zyron.", f"{project}.", 1)))
    return root / "services.yaml"


def copy_stack(root: Path, project: str) -> None:
    """The configuration and the Zyron services' code."""
    copy_config(root, project)
    for folder in ("zyron", "visual_brain"):
        shutil.copytree(REPO / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__"))


BUILD_CONTEXT = ("pyproject.toml", ".dockerignore", "docker/Dockerfile", "src/dev_orchestrator/__init__.py",
                 "src/dev_orchestrator/gpu.py")


def copy_with_build_context(root: Path, project: str) -> None:
    """The stack, with what docker/Dockerfile copies, every service a container in staging."""
    copy_stack(root, project)
    for name in BUILD_CONTEXT:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / name, root / name)
    overlay = root / "config" / f"{project}.staging.yaml"
    doc = yaml.safe_load(overlay.read_text())
    del doc["orchestrator"]["containers"]  # every service with a docker: section runs as a container
    overlay.write_text(yaml.safe_dump(doc, sort_keys=False))


def image_tag(base_image: str) -> str:
    """A tag for the Zyron images from the content they are built from: a changed file builds anew,
    an unchanged one reuses the images a previous run built."""
    digest = hashlib.sha256(base_image.encode())
    files = [REPO / n for n in BUILD_CONTEXT]
    for folder in ("zyron", "visual_brain"):
        files.extend(p for p in (REPO / folder).rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    for path in sorted(files):
        digest.update(path.relative_to(REPO).as_posix().encode() + b"\0" + path.read_bytes())
    return f"test-{digest.hexdigest()[:12]}"


def png() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (320, 240), (10, 200, 90)).save(buffer, "PNG")
    return buffer.getvalue()


def thumbnail_job(backend: str, timeout: float = 60.0) -> dict[str, Any]:
    """A thumbnail job through the backend (to Visual Brain over Redis and back), until it ends."""
    with httpx.Client(timeout=15) as client:
        job: dict[str, Any] = client.post(f"{backend}/api/jobs", data={"kind": "thumbnail"},
                                          files={"file": ("a.png", png(), "image/png")}).json()
        deadline = time.monotonic() + timeout
        while job["status"] not in ("done", "failed") and time.monotonic() < deadline:
            time.sleep(0.2)
            job = client.get(f"{backend}/api/jobs/{job['id']}").json()
        if job["status"] == "done":
            result = client.get(f"{backend}/api/jobs/{job['id']}/result")
            job["result_png"] = result.status_code == 200 and result.content[:8] == b"\x89PNG\r\n\x1a\n"
        return job
