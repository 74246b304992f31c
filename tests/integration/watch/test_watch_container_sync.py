"""Syncing into a real container (Debian's static busybox on an empty image, built locally).

As the Docker tests do: an unreachable engine fails these tests, and
DEV_ORCHESTRATOR_SKIP_DOCKER=1 skips them on a machine without one.
"""

from __future__ import annotations

import asyncio
import functools
import importlib.util
import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from dev_orchestrator.watch import Batch, Watcher, from_dict, sync_container

REPO = Path(__file__).resolve().parents[3]
LABEL = "dev-orchestrator.project"

pytestmark = [
    pytest.mark.docker,
    pytest.mark.timeout(120),
    pytest.mark.skipif(
        os.environ.get("DEV_ORCHESTRATOR_SKIP_DOCKER", "") not in ("", "0"), reason="DEV_ORCHESTRATOR_SKIP_DOCKER=1"
    ),
]


def images() -> ModuleType:
    """The Docker tests' image builders, loaded by path (their folder is not a package)."""
    name = "dev_orchestrator_test_images"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, REPO / "tests" / "integration" / "docker" / "images.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture(scope="module")
def container() -> Iterator[Any]:
    import docker

    try:
        client = docker.from_env()
        client.ping()
    except Exception as exc:  # fail, never skip: CI must not pass without the engine
        pytest.fail(
            f"the Docker engine is not reachable ({exc}); start it, or set DEV_ORCHESTRATOR_SKIP_DOCKER=1",
            pytrace=False,
        )
    image = images().busybox(client)
    project = f"dowatch-{uuid.uuid4().hex[:8]}"
    box = client.containers.run(image, ["sleep", "600"], detach=True, labels={LABEL: project})
    try:
        yield box
    finally:
        box.remove(force=True)
        client.close()


def sh(box: Any, script: str) -> str:
    code, output = box.exec_run(["sh", "-c", script])
    assert code == 0, output
    return str(output.decode()).strip()


def listing(box: Any, folder: str) -> list[str]:
    """``mode path`` of everything below ``folder``, sorted."""
    return sh(box, f"cd {folder} && find . -mindepth 1 | sort | xargs stat -c '%a %n'").splitlines()


def write(path: Path, text: str = "x", mode: int = 0o644) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


def test_nested_folders_modes_a_rename_and_a_delete(container: Any, tmp_path: Path) -> None:
    src = tmp_path / "static"
    (src / "css").mkdir(parents=True, mode=0o750)
    write(src / "css" / "site.css", "body{}", 0o640)
    write(src / "bin" / "run.sh", "#!/bin/sh\necho ran\n", 0o755)
    old = write(src / "old.txt", "kept across the rename")
    write(src / "doomed" / "deep" / "x.txt")

    sync_container(container, src, "/srv/static", [src])  # initial_sync: the whole folder
    assert listing(container, "/srv/static") == [
        "755 ./bin",
        "755 ./bin/run.sh",
        "750 ./css",
        "640 ./css/site.css",
        "755 ./doomed",
        "755 ./doomed/deep",
        "644 ./doomed/deep/x.txt",
        "644 ./old.txt",
    ]
    assert sh(container, "/srv/static/bin/run.sh") == "ran"

    new = src / "renamed.txt"
    old.rename(new)
    for item in sorted((src / "doomed").rglob("*"), reverse=True):
        item.rmdir() if item.is_dir() else item.unlink()
    (src / "doomed").rmdir()
    icon = write(src / "img" / "icons" / "a.svg", "<svg/>", 0o600)
    result = sync_container(container, src, "/srv/static", [old, new, src / "doomed", src / "img"])

    assert result.deleted == ("/srv/static/doomed", "/srv/static/old.txt")
    assert listing(container, "/srv/static") == [
        "755 ./bin",
        "755 ./bin/run.sh",
        "750 ./css",
        "640 ./css/site.css",
        "755 ./img",
        "755 ./img/icons",
        "600 ./img/icons/a.svg",
        "644 ./renamed.txt",
    ]
    assert sh(container, "cat /srv/static/renamed.txt") == "kept across the rename"
    assert icon.exists()


def test_a_watched_edit_reaches_the_container(container: Any, tmp_path: Path) -> None:
    src = tmp_path / "app"
    src.mkdir()
    raw = {
        "docker": {"build": "."},
        "develop": {"watch": [{"path": "./app", "action": "sync", "target": "/srv/app", "ignore": ["*.tmp"]}]},
    }
    rules = from_dict("web", raw, tmp_path)

    async def main() -> Batch:
        async with Watcher(rules, root=tmp_path, force_polling=False) as watcher:
            write(src / "pages" / "index.html", "<h1>hello</h1>")
            write(src / "pages" / "draft.tmp")
            async for event in watcher.batches():
                assert isinstance(event, Batch)
                for rule_files in event.syncs:
                    rule = rule_files.rule
                    assert rule.target is not None
                    accept = functools.partial(watcher.matcher.accepts, rule)  # a new folder: copy what counts
                    await asyncio.to_thread(
                        sync_container, container, rule.path, rule.target, rule_files.files, accept=accept
                    )
                return event
        raise AssertionError("the watcher stopped without a batch")

    batch = asyncio.run(asyncio.wait_for(main(), 20))
    assert src / "pages" / "draft.tmp" not in batch.files
    assert sh(container, "cat /srv/app/pages/index.html") == "<h1>hello</h1>"
    assert sh(container, "ls /srv/app/pages") == "index.html"
