"""Syncing changed files: into a local folder (real files) and into a container (a recording fake)."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path
from typing import Any

import pytest

from dev_orchestrator.errors import BackendError
from dev_orchestrator.watch.rules import ExecSpec
from dev_orchestrator.watch.sync import container_archive, run_exec, sync_container, sync_local


def write(path: Path, text: str = "x", mode: int | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    if mode is not None:
        path.chmod(mode)
    return path


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.fixture
def src(tmp_path: Path) -> Path:
    (tmp_path / "src").mkdir()
    return tmp_path / "src"


@pytest.fixture
def dst(tmp_path: Path) -> Path:
    return tmp_path / "dst"


# -- local ------------------------------------------------------------------------------


def test_files_are_copied_into_nested_folders_with_their_modes(src: Path, dst: Path) -> None:
    (src / "bin").mkdir(mode=0o750)
    tool = write(src / "bin" / "tool.sh", "#!/bin/sh\n", 0o755)
    secret = write(src / "a" / "b" / "c" / "secret.txt", "s", 0o600)
    result = sync_local(src, dst, [tool, secret])
    assert (dst / "bin" / "tool.sh").read_text() == "#!/bin/sh\n"
    assert mode(dst / "bin" / "tool.sh") == 0o755 and mode(dst / "bin") == 0o750
    assert mode(dst / "a" / "b" / "c" / "secret.txt") == 0o600
    assert os.stat(dst / "bin" / "tool.sh").st_mtime_ns == os.stat(tool).st_mtime_ns
    assert result.written == ("a/b/c/secret.txt", "bin/tool.sh") and result.refused == ()


def test_a_rename_and_a_delete_are_applied(src: Path, dst: Path) -> None:
    old, gone = write(src / "old.txt", "1"), write(src / "gone.txt", "2")
    sync_local(src, dst, [src])  # the initial sync: the whole folder
    assert sorted(p.name for p in dst.iterdir()) == ["gone.txt", "old.txt"]
    new = src / "new.txt"
    old.rename(new)
    gone.unlink()
    result = sync_local(src, dst, [old, new, gone])  # what the watcher reports
    assert sorted(p.name for p in dst.iterdir()) == ["new.txt"]
    assert (dst / "new.txt").read_text() == "1"
    assert result.written == ("new.txt",) and result.deleted == ("gone.txt", "old.txt")


def test_a_removed_folder_is_removed_and_a_moved_in_folder_copied_whole(src: Path, dst: Path) -> None:
    write(src / "old" / "deep" / "x.txt")
    sync_local(src, dst, [src])
    moved = src / "moved"
    (src / "old").rename(moved)
    write(moved / "skip.tmp")
    result = sync_local(src, dst, [src / "old", moved], accept=lambda p: not p.name.endswith(".tmp"))
    assert not (dst / "old").exists()
    assert (dst / "moved" / "deep" / "x.txt").is_file() and not (dst / "moved" / "skip.tmp").exists()
    assert result.deleted == ("old",)
    assert result.written == ("moved", "moved/deep", "moved/deep/x.txt")


def test_a_file_that_became_a_folder_is_replaced(src: Path, dst: Path) -> None:
    write(src / "thing")
    sync_local(src, dst, [src / "thing"])
    (src / "thing").unlink()
    write(src / "thing" / "inside.txt")
    sync_local(src, dst, [src / "thing"])
    assert (dst / "thing" / "inside.txt").is_file()


def test_a_single_file_rule_copies_to_its_target_file(tmp_path: Path) -> None:
    source = write(tmp_path / "app.toml", "a = 1\n", 0o640)
    target = tmp_path / "out" / "conf" / "app.toml"
    sync_local(source, target, [source])
    assert target.read_text() == "a = 1\n" and mode(target) == 0o640


def test_paths_outside_the_source_are_refused(tmp_path: Path, src: Path, dst: Path) -> None:
    outside = write(tmp_path / "elsewhere.txt")
    result = sync_local(src, dst, [outside, src / ".." / "elsewhere.txt"])
    assert [r[1] for r in result.refused] == [f"outside the watched path {src}"] * 2
    assert not dst.exists()


def test_a_symlink_leading_out_of_the_source_is_refused(tmp_path: Path, src: Path, dst: Path) -> None:
    secret = write(tmp_path / "secret", "top secret")
    (src / "leak").symlink_to(secret)
    write(src / "real.txt")
    (src / "alias").symlink_to("real.txt")
    result = sync_local(src, dst, [src])
    assert not (dst / "leak").exists() and not (dst / "leak").is_symlink()
    assert [r[0] for r in result.refused] == ["leak"]
    assert os.readlink(dst / "alias") == "real.txt" and (dst / "alias").read_text() == "x"


def test_a_symlink_in_the_target_is_never_written_through(tmp_path: Path, src: Path, dst: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    dst.mkdir()
    (dst / "sub").symlink_to(outside)  # the target's sub/ leads out of it
    (dst / "file.txt").symlink_to(tmp_path / "victim.txt")
    write(tmp_path / "victim.txt", "keep me")
    changed = [write(src / "sub" / "x.txt", "evil"), write(src / "file.txt", "new")]
    result = sync_local(src, dst, changed)
    assert list(outside.iterdir()) == []
    assert [r[0] for r in result.refused] == ["sub/x.txt"]
    assert (tmp_path / "victim.txt").read_text() == "keep me"  # the link was replaced, not followed
    assert not (dst / "file.txt").is_symlink() and (dst / "file.txt").read_text() == "new"


def test_the_watched_folder_itself_vanishing_leaves_the_target(src: Path, dst: Path) -> None:
    write(src / "a.txt")
    sync_local(src, dst, [src])
    (src / "a.txt").unlink()
    src.rmdir()
    result = sync_local(src, dst, [src])
    assert (dst / "a.txt").exists() and result.refused[0][0] == "."


# -- containers ------------------------------------------------------------------------


class FakeContainer:
    """Records what a sync asks of the Docker SDK's Container."""

    def __init__(self, exit_code: int = 0, accept: bool = True) -> None:
        self.archives: list[tuple[str, bytes]] = []
        self.execs: list[tuple[list[str], dict[str, Any]]] = []
        self.exit_code = exit_code
        self.accept = accept

    def put_archive(self, path: str, data: bytes) -> bool:
        self.archives.append((path, data))
        return self.accept

    def exec_run(self, cmd: str | list[str], **options: Any) -> tuple[int, bytes]:
        self.execs.append((list(cmd), options))
        return self.exit_code, b"done\n"

    def members(self) -> dict[str, tarfile.TarInfo]:
        ((_, data),) = self.archives
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            return {m.name: m for m in tar.getmembers()}


def test_changed_files_go_in_one_archive_named_by_container_path(src: Path) -> None:
    (src / "css").mkdir(mode=0o750)
    css = write(src / "css" / "site.css", "body{}", 0o640)
    script = write(src / "run.sh", "#!/bin/sh\n", 0o755)
    container = FakeContainer()
    result = sync_container(container, src, "/app/static/", [src / "css", script])
    assert container.archives[0][0] == "/"
    members = container.members()
    assert sorted(members) == ["app/static/css", "app/static/css/site.css", "app/static/run.sh"]
    assert members["app/static/css"].isdir() and members["app/static/css"].mode == 0o750
    assert members["app/static/css/site.css"].mode == 0o640 and members["app/static/css/site.css"].size == 6
    assert members["app/static/run.sh"].mode == 0o755 and members["app/static/run.sh"].uid == 0
    assert result.written == ("/app/static/css", "/app/static/css/site.css", "/app/static/run.sh")
    assert container.execs == [] and css.exists()


def test_deletions_are_one_rm_before_the_archive(src: Path) -> None:
    write(src / "new.txt")
    container = FakeContainer()
    result = sync_container(container, src, "/app", [src / "old.txt", src / "new.txt", src / "gone"])
    assert container.execs == [(["rm", "-rf", "--", "/app/gone", "/app/old.txt"], {})]
    assert list(container.members()) == ["app/new.txt"]
    assert result.deleted == ("/app/gone", "/app/old.txt")


def test_a_container_symlink_out_of_the_source_is_refused(tmp_path: Path, src: Path) -> None:
    (src / "leak").symlink_to(write(tmp_path / "secret"))
    (src / "ok").symlink_to("inside.txt")
    write(src / "inside.txt")
    archive = container_archive(src, "/app", [src])
    with tarfile.open(fileobj=io.BytesIO(archive.data)) as tar:
        names = {m.name: m for m in tar.getmembers()}
    assert "app/leak" not in names and names["app/ok"].issym() and names["app/ok"].linkname == "inside.txt"
    assert [r[0] for r in archive.refused] == ["/app/leak"]


def test_container_sync_failures_are_backend_errors(src: Path) -> None:
    write(src / "a.txt")
    with pytest.raises(BackendError, match="must be an absolute path"):
        sync_container(FakeContainer(), src, "app", [src / "a.txt"])
    with pytest.raises(BackendError, match="refused the archive"):
        sync_container(FakeContainer(accept=False), src, "/app", [src / "a.txt"])
    with pytest.raises(BackendError, match="removing 1 path"):
        sync_container(FakeContainer(exit_code=1), src, "/app", [src / "b.txt"])

    class Broken(FakeContainer):
        def put_archive(self, path: str, data: bytes) -> bool:
            raise ConnectionError("engine went away")

    with pytest.raises(BackendError, match="engine went away"):
        sync_container(Broken(), src, "/app", [src / "a.txt"])


def test_run_exec_passes_the_rules_options() -> None:
    container = FakeContainer()
    spec = ExecSpec(command="kill -HUP 1", user="app", working_dir="/app", environment={"A": "1"})
    assert run_exec(container, spec) == (0, "done")
    assert container.execs == [
        (["kill", "-HUP", "1"], {"user": "app", "privileged": False, "environment": {"A": "1"}, "workdir": "/app"})
    ]


def test_a_single_file_rule_into_an_existing_folder_lands_inside_it(tmp_path: Path) -> None:
    source = write(tmp_path / "app.toml", "a = 1\n")
    folder = tmp_path / "conf"
    write(folder / "keep.txt")
    sync_local(source, folder, [source])
    assert (folder / "app.toml").read_text() == "a = 1\n" and (folder / "keep.txt").exists()


def test_many_deletions_are_removed_in_chunks_topmost_only(src: Path) -> None:
    gone = [src / "tree", src / "tree-2", *(src / "tree" / f"f{i}" for i in range(10))]
    gone += [src / f"g{i:04}" for i in range(1199)]
    container = FakeContainer()
    result = sync_container(container, src, "/app", gone)
    assert [len(cmd) - 3 for cmd, _ in container.execs] == [500, 500, 201]
    assert "/app/tree" in result.deleted and "/app/tree/f1" not in result.deleted
    assert container.archives == []
