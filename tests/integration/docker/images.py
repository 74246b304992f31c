"""Test images, built locally (this machine and CI have no registry to pull from).

- busybox: Debian's static busybox on an empty image (httpd, nc, wget, sh), a few MB.
- busybox-health: the same with a HEALTHCHECK (healthy once /tmp/ready exists).
- redis / postgres: Debian bookworm packages in a root filesystem made by debootstrap,
  imported once as a base image, then given the public images' conventions.
- zyron-base: the same root filesystem's Python 3.11 with a virtual environment holding
  the Zyron services' requirements, installed from wheels that ``pip download`` fetched
  on the host beforehand (cached by the requirements' hash): the base image the Zyron
  Dockerfile's ``BASE_IMAGE`` names, so building the Zyron images needs no network.

An image whose tag exists is reused, so only a clean machine pays for the builds.
Run ``python tests/integration/docker/images.py`` to build them ahead of a test run.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import docker
import docker.errors

HERE = Path(__file__).resolve().parent / "images"
REPO = Path(__file__).resolve().parents[3]

BUSYBOX = "dev-orchestrator-test/busybox:1"
BUSYBOX_HEALTH = "dev-orchestrator-test/busybox-health:1"
REDIS_NAME = "zyron-test/redis"
POSTGRES_NAME = "zyron-test/postgres"
ZYRON_BASE_NAME = "zyron-test/zyron-base"
DEBIAN_PYTHON = "3.11.2"  # bookworm's python3
# pip download evaluates environment markers with the host's Python, not --python-version's:
# what bookworm's 3.11.2 needs beyond that (redis: async-timeout for python_full_version < 3.11.3)
FOR_DEBIAN_PYTHON = ["async-timeout>=4.0.3"]

LABEL = {"dev-orchestrator.test-image": "1"}
PACKAGES = ["redis-server", "postgresql-15", "python3", "python3-venv"]
# the package list is in the tag: a root filesystem made for another list is not reused
DEBIAN_BASE = f"zyron-test/debian-services:bookworm-{hashlib.sha256(','.join(PACKAGES).encode()).hexdigest()[:8]}"


class ImageBuildError(RuntimeError):
    pass


def exists(client: docker.DockerClient, tag: str) -> bool:
    try:
        client.images.get(tag)
    except docker.errors.ImageNotFound:
        return False
    return True


def _build(client: docker.DockerClient, context: Path, tag: str, **buildargs: str) -> str:
    try:
        client.images.build(path=str(context), tag=tag, buildargs=buildargs, labels=LABEL, rm=True, forcerm=True)
    except docker.errors.BuildError as exc:
        log = "".join(str(item.get("stream", item.get("error", ""))) for item in exc.build_log)
        raise ImageBuildError(f"building {tag} failed: {exc}\n{log[-2000:]}") from exc
    return tag


def static_busybox() -> Path:
    """Debian's busybox-static installs a statically linked /bin/busybox."""
    for candidate in ("/bin/busybox", "/usr/bin/busybox"):
        path = Path(candidate)
        if path.is_file():
            out = subprocess.run(["file", "-L", str(path)], capture_output=True, text=True).stdout
            if "statically linked" in out or "static-pie" in out or not out:
                return path
    raise ImageBuildError("no static busybox found: apt-get install busybox-static")


def busybox(client: docker.DockerClient) -> str:
    if exists(client, BUSYBOX):
        return BUSYBOX
    with tempfile.TemporaryDirectory(prefix="busybox-image-") as tmp:
        shutil.copy(HERE / "busybox" / "Dockerfile", tmp)
        shutil.copy(static_busybox(), Path(tmp) / "busybox")
        return _build(client, Path(tmp), BUSYBOX)


def busybox_health(client: docker.DockerClient) -> str:
    if exists(client, BUSYBOX_HEALTH):
        return BUSYBOX_HEALTH
    return _build(client, HERE / "busybox-health", BUSYBOX_HEALTH, BASE=busybox(client))


def debian_mirror() -> str:
    """The Debian mirror apt is configured with here (deb822 or one-line sources)."""
    files = ["/etc/apt/sources.list", *sorted(glob.glob("/etc/apt/sources.list.d/*"))]
    for name in files:
        try:
            text = Path(name).read_text()
        except OSError:
            continue
        for match in re.finditer(r"(?:^URIs:\s*|^deb\s+(?:\[[^]]*\]\s+)?)(\S+)", text, re.MULTILINE):
            uri = match.group(1)
            if "security" not in uri and uri.startswith("http"):
                return uri
    return "http://deb.debian.org/debian"


def debian_base(client: docker.DockerClient) -> str:
    if exists(client, DEBIAN_BASE):
        return DEBIAN_BASE
    if shutil.which("debootstrap") is None:
        raise ImageBuildError("debootstrap is needed to build the redis/postgres test images")
    with tempfile.TemporaryDirectory(prefix="debian-rootfs-") as tmp:
        root = Path(tmp) / "root"
        cmd = [
            "debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}",
            "bookworm", str(root), debian_mirror(),
        ]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            raise ImageBuildError(f"debootstrap failed ({done.returncode}):\n{done.stdout[-1500:]}{done.stderr[-1500:]}")
        for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for item in (root / cache).glob("*.deb"):
                item.unlink()
        tarball = Path(tmp) / "root.tar"
        subprocess.run(["tar", "-C", str(root), "-cf", str(tarball), "."], check=True)
        repo, tag = DEBIAN_BASE.rsplit(":", 1)
        client.api.import_image_from_file(
            str(tarball), repository=repo, tag=tag,
            changes=["ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        )
    return DEBIAN_BASE


def context_tag(name: str, version: str, context: Path) -> str:
    """``name:version-<hash of the build context>``: editing the context builds anew."""
    digest = hashlib.sha256()
    for path in sorted(p for p in context.rglob("*") if p.is_file()):
        digest.update(path.relative_to(context).as_posix().encode() + b"\0" + path.read_bytes())
    return f"{name}:{version}-{digest.hexdigest()[:10]}"


def redis(client: docker.DockerClient) -> str:
    tag = context_tag(REDIS_NAME, "7", HERE / "redis")
    if exists(client, tag):
        return tag
    return _build(client, HERE / "redis", tag, BASE=debian_base(client))


def postgres(client: docker.DockerClient) -> str:
    tag = context_tag(POSTGRES_NAME, "15", HERE / "postgres")
    if exists(client, tag):
        return tag
    return _build(client, HERE / "postgres", tag, BASE=debian_base(client))


def zyron_requirements() -> list[str]:
    """What the Zyron images install: psutil and the ``zyron`` extra (the Dockerfile's deps stage)."""
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    core = [d for d in project["dependencies"] if re.match(r"psutil\b", d)]
    return [*core, *project["optional-dependencies"]["zyron"]]


def _constraints() -> list[str]:
    """The versions this test environment runs, so the images run the same ones."""
    done = subprocess.run([sys.executable, "-m", "pip", "freeze", "--exclude-editable"], capture_output=True,
                          text=True, timeout=120)
    return sorted(line for line in done.stdout.splitlines() if "==" in line and not line.startswith("-"))


def wheelhouse(requirements: list[str]) -> Path:
    """Linux x86_64 CPython 3.11 wheels of ``requirements``, downloaded once per content."""
    constraints = _constraints()
    key = hashlib.sha256(json.dumps([requirements, constraints, DEBIAN_PYTHON, FOR_DEBIAN_PYTHON]).encode()).hexdigest()[:12]
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "dev-orchestrator-test"
    folder = cache / f"wheels-{key}"
    if (folder / ".complete").is_file():
        return folder
    partial = cache / f"wheels-{key}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    (partial / "constraints.txt").write_text("\n".join(constraints) + "\n")
    platforms = ["manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_28_x86_64"]
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:", "--dest", str(partial),
           "--python-version", DEBIAN_PYTHON, "--implementation", "cp", "--abi", "cp311", "--abi", "abi3", "--abi", "none",
           *(f"--platform={p}" for p in platforms), "-c", str(partial / "constraints.txt"), *requirements,
           *FOR_DEBIAN_PYTHON]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise ImageBuildError(f"pip download of the Zyron requirements failed:\n{done.stderr[-2000:]}")
    (partial / ".complete").touch()
    shutil.rmtree(folder, ignore_errors=True)
    partial.rename(folder)
    return folder


def zyron_base(client: docker.DockerClient) -> str:
    """Python 3.11 from Debian with the Zyron requirements installed: the Zyron images' BASE_IMAGE."""
    requirements = zyron_requirements()
    recipe = (HERE / "zyron-base" / "Dockerfile").read_bytes()
    key = hashlib.sha256(json.dumps([requirements, _constraints(), DEBIAN_BASE]).encode() + recipe).hexdigest()[:10]
    tag = f"{ZYRON_BASE_NAME}:3.11-{key}"
    if exists(client, tag):
        return tag
    base = debian_base(client)
    wheels = wheelhouse(requirements)
    with tempfile.TemporaryDirectory(prefix="zyron-base-") as tmp:
        shutil.copy(HERE / "zyron-base" / "Dockerfile", tmp)
        shutil.copytree(wheels, Path(tmp) / "wheels", ignore=shutil.ignore_patterns(".complete", "constraints.txt"))
        (Path(tmp) / "requirements.txt").write_text("\n".join(requirements) + "\n")
        return _build(client, Path(tmp), tag, BASE=base)


def main() -> int:
    client = docker.from_env()
    for build in (busybox, busybox_health, redis, postgres, zyron_base):
        print(build(client), flush=True)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
