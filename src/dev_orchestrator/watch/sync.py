"""Carry a batch's changed files over to where the service reads them.

For a local process: copy into the rule's target folder (delete what was removed,
create folders, keep modes). For a container: one in-memory tar archive of what
exists, unpacked at ``/`` with ``put_archive``, and one ``rm -rf`` for what is gone,
the way compose syncs. Whether a path was written or removed is read from the disk at
sync time, not from the event, so a rename (a delete and an add) and an editor's save
by rename come out right. Nothing is written outside the target: ``..`` and symlinks
that lead out of the source or the target are refused and reported.

These functions block (file I/O, the Docker API): run them in a worker thread.
"""

from __future__ import annotations

import contextlib
import io
import os
import posixpath
import shutil
import stat
import tarfile
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..errors import BackendError
from .rules import ExecSpec

RM_CHUNK = 500  # paths per rm in the container: a command line has a length limit
Accept = Callable[[Path], bool]  # whether a file found inside a synced folder belongs to the rule


@dataclass(frozen=True)
class SyncResult:
    """What one sync did: paths below the target, and what it refused and why."""

    written: tuple[str, ...] = ()
    deleted: tuple[str, ...] = ()
    refused: tuple[tuple[str, str], ...] = ()


@dataclass
class _Result:
    written: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)

    def freeze(self) -> SyncResult:
        return SyncResult(tuple(self.written), tuple(self.deleted), tuple(self.refused))


def _relative(source: Path, path: Path) -> tuple[str, ...] | None:
    """The parts of ``path`` below ``source`` (``()`` for source itself); None when outside."""
    path = Path(os.path.normpath(path))
    if path == source:
        return ()
    try:
        parts = path.relative_to(source).parts
    except ValueError:
        return None
    return None if ".." in parts else parts


def _inside(base: str, candidate: str) -> bool:
    return candidate == base or candidate.startswith(base.rstrip(os.sep) + os.sep)


def _link_escapes(source_real: str, link: Path) -> bool:
    """Whether the symlink ``link`` points somewhere outside the (real) source folder."""
    return not _inside(source_real, os.path.realpath(link))


def _relative_link(link: Path) -> str:
    """The link's text, made relative to the link's folder (an absolute link would lead back)."""
    text = os.readlink(link)
    if not os.path.isabs(text):
        return text
    return os.path.relpath(os.path.realpath(link), os.path.realpath(link.parent))


def _walk(folder: Path, accept: Accept | None) -> list[Path]:
    """Everything below ``folder`` that belongs to the rule, parents before children."""
    out: list[Path] = []
    for base, dirs, files in os.walk(folder):
        here = Path(base)
        kept = [d for d in sorted(dirs) if accept is None or accept(here / d)]
        dirs[:] = [d for d in kept if not (here / d).is_symlink()]  # never descend through a link
        out.extend(here / d for d in kept)
        out.extend(here / f for f in sorted(files) if accept is None or accept(here / f))
    return out


# -- local processes -------------------------------------------------------------------


def sync_local(
    source: Path, target: Path, files: Iterable[Path], *, accept: Accept | None = None
) -> SyncResult:
    """Copy the changed ``files`` (below ``source``) into ``target``; remove what is gone.

    ``source`` is the rule's path (a folder, or one file whose target is a file path).
    A changed folder is copied whole (what ``accept`` lets through); modes are kept.
    """
    source = Path(os.path.normpath(source))
    target = Path(os.path.normpath(target))
    if source.is_file() and target.is_dir() and not target.is_symlink():
        target = target / source.name  # a file into a folder, as cp does (never replace the folder)
    source_real = os.path.realpath(source)
    result = _Result()
    for path in sorted(set(files)):
        parts = _relative(source, path)
        shown = "/".join(parts) if parts else "."
        if parts is None:
            result.refused.append((str(path), f"outside the watched path {source}"))
            continue
        dest = target.joinpath(*parts)
        if not _dest_inside(target, dest):
            result.refused.append((shown, f"would write outside {target} (a symlink in the target)"))
            continue
        try:
            _apply_local(source, source_real, target, Path(os.path.normpath(path)), dest, parts, accept, result)
        except OSError as exc:
            raise BackendError(f"sync of {path} to {dest} failed: {exc}") from exc
    return result.freeze()


def _dest_inside(target: Path, dest: Path) -> bool:
    """Whether the nearest existing folder above ``dest`` really lies within ``target``."""
    if dest == target or not target.exists():
        return True
    target_real = os.path.realpath(target)
    probe = dest.parent
    while not probe.exists() and probe != probe.parent and probe != target:
        probe = probe.parent
    return _inside(target_real, os.path.realpath(probe))


def _apply_local(
    source: Path,
    source_real: str,
    target: Path,
    path: Path,
    dest: Path,
    parts: tuple[str, ...],
    accept: Accept | None,
    result: _Result,
) -> None:
    shown = "/".join(parts) if parts else "."
    try:
        info = path.lstat()
    except FileNotFoundError:
        if not parts:
            result.refused.append((shown, "the watched path itself is gone; the target is left as it is"))
        elif os.path.lexists(dest):
            _remove(dest)
            result.deleted.append(shown)
        return
    if stat.S_ISLNK(info.st_mode) and _link_escapes(source_real, path):
        result.refused.append((shown, f"a symlink to {os.readlink(path)}, outside {source}"))
        return
    _make_parents(source, target, parts)
    entries = [path] + (_walk(path, accept) if stat.S_ISDIR(info.st_mode) else [])
    for entry in entries:
        sub = parts + entry.relative_to(path).parts if entry != path else parts
        entry_dest = target.joinpath(*sub)
        entry_info = entry.lstat()
        if stat.S_ISLNK(entry_info.st_mode) and _link_escapes(source_real, entry):
            result.refused.append(("/".join(sub), f"a symlink to {os.readlink(entry)}, outside {source}"))
            continue
        _copy_one(entry, entry_info, entry_dest)
        result.written.append("/".join(sub) if sub else ".")


def _make_parents(source: Path, target: Path, parts: tuple[str, ...]) -> None:
    """Create the target's missing folders above a path, with their source folders' modes."""
    if not parts:
        target.parent.mkdir(parents=True, exist_ok=True)
    elif not target.exists():
        target.mkdir(parents=True)
        shutil.copymode(source, target)
    for cut in range(1, len(parts)):
        folder = target.joinpath(*parts[:cut])
        if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
            _remove(folder)
        if not folder.exists():
            folder.mkdir()
            shutil.copymode(source.joinpath(*parts[:cut]), folder)


def _copy_one(path: Path, info: os.stat_result, dest: Path) -> None:
    """One file, folder or symlink, replacing whatever stood at ``dest`` (never writing through a link)."""
    mode = stat.S_IMODE(info.st_mode)
    if stat.S_ISDIR(info.st_mode):
        if os.path.lexists(dest) and (dest.is_symlink() or not dest.is_dir()):
            _remove(dest)
        dest.mkdir(exist_ok=True)
        os.chmod(dest, mode)
        return
    if stat.S_ISLNK(info.st_mode):
        if os.path.lexists(dest):
            _remove(dest)
        os.symlink(_relative_link(path), dest)
        return
    if dest.is_dir() and not dest.is_symlink():
        shutil.rmtree(dest)
    # A temporary file and a rename: a reader never sees half a file, and a symlink at
    # dest is replaced, not followed.
    fd, tmp = tempfile.mkstemp(prefix=".sync-", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as out, open(path, "rb") as src:
            shutil.copyfileobj(src, out)
        os.chmod(tmp, mode)
        os.utime(tmp, ns=(info.st_atime_ns, info.st_mtime_ns))
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _remove(dest: Path) -> None:
    if dest.is_dir() and not dest.is_symlink():
        shutil.rmtree(dest)
    else:
        dest.unlink()


# -- containers --------------------------------------------------------------------------


class Container(Protocol):
    """The part of the Docker SDK's ``Container`` that a sync uses."""

    def put_archive(self, path: str, data: bytes) -> bool: ...

    def exec_run(
        self,
        cmd: str | list[str],
        *,
        privileged: bool = ...,
        user: str = ...,
        environment: dict[str, str] | None = ...,
        workdir: str | None = ...,
    ) -> Any: ...


@dataclass(frozen=True)
class Archive:
    """What a container sync sends: a tar to unpack at ``/``, and the paths to remove."""

    data: bytes
    written: tuple[str, ...]  # container paths
    deleted: tuple[str, ...]
    refused: tuple[tuple[str, str], ...] = ()


def container_archive(
    source: Path, target: str, files: Iterable[Path], *, accept: Accept | None = None
) -> Archive:
    """The tar (entries named by their container path) and the deletions for ``files``.

    ``target`` must be an absolute container path. Missing parent folders are left to
    the engine, which creates them when it unpacks (mode 0755).
    """
    if not posixpath.isabs(target):
        raise BackendError(f'sync target "{target}" must be an absolute path in the container')
    source = Path(os.path.normpath(source))
    target = posixpath.normpath(target)
    source_real = os.path.realpath(source)
    buffer = io.BytesIO()
    written: list[str] = []
    deleted: list[str] = []
    refused: list[tuple[str, str]] = []
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(set(files)):
            parts = _relative(source, path)
            if parts is None:
                refused.append((str(path), f"outside the watched path {source}"))
                continue
            dest = posixpath.join(target, *parts) if parts else target
            path = Path(os.path.normpath(path))
            if not os.path.lexists(path):
                if not parts:
                    refused.append((dest, "the watched path itself is gone; the target is left as it is"))
                else:
                    deleted.append(dest)
                continue
            entries = [path] + (_walk(path, accept) if path.is_dir() and not path.is_symlink() else [])
            for entry in entries:
                sub = entry.relative_to(path).parts if entry != path else ()
                name = posixpath.join(dest, *sub)
                if entry.is_symlink() and _link_escapes(source_real, entry):
                    refused.append((name, f"a symlink to {os.readlink(entry)}, outside {source}"))
                    continue
                try:
                    _add(tar, entry, name)
                except FileNotFoundError:
                    deleted.append(name)  # removed while the archive was being built
                    continue
                written.append(name)
    return Archive(buffer.getvalue(), tuple(written), _topmost(deleted), tuple(refused))


def _topmost(paths: list[str]) -> tuple[str, ...]:
    """The paths without those below another of them (``rm -rf`` of a folder covers its files)."""
    every = set(paths)

    def covered(path: str) -> bool:
        parent = posixpath.dirname(path)
        while parent not in ("/", ""):
            if parent in every:
                return True
            parent = posixpath.dirname(parent)
        return False

    return tuple(sorted(p for p in every if not covered(p)))


def _add(tar: tarfile.TarFile, path: Path, name: str) -> None:
    info = path.lstat()
    entry = tarfile.TarInfo(name.lstrip("/"))
    entry.mode = stat.S_IMODE(info.st_mode)
    entry.mtime = int(info.st_mtime)
    entry.uid = entry.gid = 0  # the engine gives synced files to the container's root anyway
    entry.uname = entry.gname = "root"
    if stat.S_ISDIR(info.st_mode):
        entry.type = tarfile.DIRTYPE
        tar.addfile(entry)
    elif stat.S_ISLNK(info.st_mode):
        entry.type = tarfile.SYMTYPE
        entry.linkname = _relative_link(path)
        tar.addfile(entry)
    elif stat.S_ISREG(info.st_mode):
        entry.size = info.st_size
        with open(path, "rb") as src:
            tar.addfile(entry, src)
    # sockets, fifos and devices are not synced


def sync_container(
    container: Container, source: Path, target: str, files: Iterable[Path], *, accept: Accept | None = None
) -> SyncResult:
    """Remove what is gone, then unpack what changed, inside a running container."""
    archive = container_archive(source, target, files, accept=accept)
    try:
        for start in range(0, len(archive.deleted), RM_CHUNK):
            chunk = list(archive.deleted[start : start + RM_CHUNK])
            code, output = _exec(container, ["rm", "-rf", "--", *chunk])
            if code not in (0, None):
                raise BackendError(f"removing {len(chunk)} path(s) in the container failed: {output}")
        if archive.written and not container.put_archive("/", archive.data):
            raise BackendError(f"the engine refused the archive of {len(archive.written)} path(s) for {target}")
    except BackendError:
        raise
    except Exception as exc:  # the Docker SDK's errors (APIError, NotFound, connection errors)
        raise BackendError(f"sync into the container failed: {exc}") from exc
    return SyncResult(archive.written, archive.deleted, archive.refused)


def run_exec(container: Container, spec: ExecSpec) -> tuple[int | None, str]:
    """Run a sync+exec rule's command in the container; (exit code, output)."""
    try:
        return _exec(
            container,
            spec.argv(),
            user=spec.user or "",
            privileged=spec.privileged,
            environment=dict(spec.environment) or None,
            workdir=spec.working_dir,
        )
    except Exception as exc:
        raise BackendError(f"exec {spec.argv()} in the container failed: {exc}") from exc


def _exec(container: Container, cmd: list[str], **options: Any) -> tuple[int | None, str]:
    code, output = container.exec_run(cmd, **options)
    text = output.decode(errors="replace") if isinstance(output, bytes) else str(output or "")
    return code, text.strip()
