"""Which watch rules a changed path belongs to: include/ignore globs and ignore files.

Patterns follow gitignore's rules (``pathspec``): ``*.tmp`` matches at any depth,
``**`` spans folders, a pattern with an inner slash is anchored to the rule's path,
and an excluded folder excludes everything below it. Besides each rule's own
``ignore``, some paths never count (version control, the orchestrator's own files,
logs, editor swap files), nor what ``.gitignore`` files under the project root exclude,
nor, for a container built from a context, what its ``.dockerignore`` excludes.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from pathspec import GitIgnoreSpec

from .rules import RuleKey, WatchRule

# Written by tools, never by the user's edits: never a reason to restart or sync.
ALWAYS_IGNORED = (
    ".git/",
    ".orchestrator/",
    "*.swp",
    "*.swx",
    "*~",
    ".#*",
    r"\#*#",  # emacs auto-save (a leading # starts a comment in gitignore syntax)
    "4913",  # vim's probe file when it checks that a folder is writable
    ".DS_Store",
)
IGNORE_FILES = (".gitignore", ".dockerignore")

_ALWAYS = GitIgnoreSpec.from_lines(ALWAYS_IGNORED)


def _parts(path: Path, base: Path) -> tuple[str, ...] | None:
    """``path`` relative to ``base`` as parts; None when it is not inside (``()`` when equal)."""
    if path == base:
        return ()
    try:
        return path.relative_to(base).parts
    except ValueError:
        return None


def _within(path: Path, base: Path) -> bool:
    return path == base or base in path.parents


def excluded(spec: GitIgnoreSpec, parts: Sequence[str], is_dir: bool) -> bool:
    """Whether gitignore-style ``spec`` excludes the path or one of its folders."""
    for cut in range(1, len(parts) + 1):
        folder = cut < len(parts) or is_dir
        if spec.match_file("/".join(parts[:cut]) + ("/" if folder else "")):
            return True
    return False


class GitIgnores:
    """The ``.gitignore`` files of one tree, read on first use and kept until one changes.

    Git's rules: a deeper file overrides a shallower one, the last matching pattern
    wins, and nothing below an excluded folder can be included again.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._specs: dict[Path, GitIgnoreSpec | None] = {}
        self._folders: dict[Path, bool] = {}

    def forget(self) -> None:
        """Drop what was read (a .gitignore was edited)."""
        self._specs.clear()
        self._folders.clear()

    def _spec(self, folder: Path) -> GitIgnoreSpec | None:
        if folder not in self._specs:
            try:
                lines = (folder / ".gitignore").read_text(encoding="utf-8", errors="replace").splitlines()
            except OSError:
                self._specs[folder] = None
            else:
                self._specs[folder] = GitIgnoreSpec.from_lines(lines)
        return self._specs[folder]

    def _decide(self, parts: tuple[str, ...], is_dir: bool) -> bool:
        result: bool | None = None
        for depth in range(len(parts)):
            spec = self._spec(self.root.joinpath(*parts[:depth]))
            if spec is None:
                continue
            rel = "/".join(parts[depth:]) + ("/" if is_dir else "")
            found = spec.check_file(rel).include
            if found is not None:
                result = found
        return bool(result)

    def ignores(self, path: Path, is_dir: bool = False) -> bool:
        parts = _parts(path, self.root)
        if not parts:
            return False
        for cut in range(1, len(parts)):
            folder = self.root.joinpath(*parts[:cut])
            if folder not in self._folders:
                self._folders[folder] = self._decide(parts[:cut], True)
            if self._folders[folder]:
                return True
        return self._decide(parts, is_dir)


class DockerIgnore:
    """A build context's ``.dockerignore`` (or ``<Dockerfile>.dockerignore``), as docker reads it.

    Docker anchors every pattern at the context root, matches a path when it or one of
    its parents matches, and lets the last matching pattern decide (``!`` re-includes).
    """

    def __init__(self, context: Path, dockerfile: Path | None = None) -> None:
        self.context = context
        self.dockerfile = dockerfile
        self._spec: GitIgnoreSpec | None = None
        self._loaded = False

    def forget(self) -> None:
        self._loaded = False

    def _load(self) -> GitIgnoreSpec | None:
        if not self._loaded:
            self._loaded = True
            self._spec = None
            candidates = [self.context / ".dockerignore"]
            if self.dockerfile is not None:
                candidates.insert(0, self.dockerfile.with_name(self.dockerfile.name + ".dockerignore"))
            for candidate in candidates:
                try:
                    text = candidate.read_text(encoding="utf-8", errors="replace")
                except OSError:
                    continue
                self._spec = GitIgnoreSpec.from_lines(_anchored(text.splitlines()))
                break
        return self._spec

    def ignores(self, path: Path) -> bool:
        spec = self._load()
        parts = _parts(path, self.context)
        if spec is None or not parts:
            return False
        prefixes = ["/".join(parts[:cut]) for cut in range(1, len(parts) + 1)]
        result = False
        for pattern in spec.patterns:
            if pattern.include is None:
                continue
            if any(pattern.match_file(p) for p in prefixes):
                result = bool(pattern.include)
        return result


def _anchored(lines: Iterable[str]) -> list[str]:
    """.dockerignore lines as gitignore patterns anchored at the context root."""
    out = []
    for raw in lines:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        body = os.path.normpath(line[1:].strip() if negate else line).lstrip("/")
        if body in ("", "."):
            continue
        out.append(("!" if negate else "") + "/" + body)
    return out


class Matcher:
    """Map a changed path to the rules it triggers (none when some rule or file ignores it)."""

    def __init__(
        self,
        rules: Sequence[WatchRule],
        *,
        root: Path,
        logs_dir: Path | None = None,
        config_files: Sequence[Path] = (),
    ) -> None:
        self.rules = tuple(rules)
        self.root = root
        self.logs_dir = logs_dir if logs_dir is not None else root / "logs"
        self.config_files = frozenset(config_files)
        self.gitignores = GitIgnores(root)
        self._ignore = {r.key: GitIgnoreSpec.from_lines(r.ignore) for r in self.rules}
        self._include = {r.key: GitIgnoreSpec.from_lines(r.include) for r in self.rules if r.include}
        self._docker: dict[RuleKey, DockerIgnore] = {}
        contexts: dict[tuple[Path, Path | None], DockerIgnore] = {}
        for rule in self.rules:
            if rule.container and rule.build_context is not None:
                ident = (rule.build_context, rule.dockerfile)
                self._docker[rule.key] = contexts.setdefault(ident, DockerIgnore(*ident))
        # A rule whose own path is gitignored (a generated folder, say) still sees its changes.
        self._honours_gitignore = {
            r.key: not (_within(r.path, root) and self.gitignores.ignores(r.path, is_dir=r.path.is_dir()))
            for r in self.rules
        }
        # What a process's sync writes must not count as a change again (a copy loop).
        self._written = tuple(
            t for r in self.rules if r.action.syncs and not r.container and (t := r.local_target(root)) is not None
        )
        self._suspended: set[RuleKey] = set()

    # -- suspension (the feedback guard's verdicts) --------------------------------------

    def suspend(self, keys: Iterable[RuleKey]) -> None:
        self._suspended.update(keys)

    def resume(self, service: str | None = None) -> None:
        """Watch the suspended rules of ``service`` again (of every service when None)."""
        self._suspended = {k for k in self._suspended if service is not None and k[0] != service}

    @property
    def suspended(self) -> frozenset[RuleKey]:
        return frozenset(self._suspended)

    # -- matching ------------------------------------------------------------------------

    def is_config(self, path: Path) -> bool:
        return path in self.config_files

    def note_change(self, path: Path) -> None:
        """Forget cached ignore files when one of them changed."""
        if path.name == ".gitignore":
            self.gitignores.forget()
        elif path.name == ".dockerignore" or path.name.endswith(".dockerignore"):
            for ignore in self._docker.values():
                ignore.forget()

    def always_ignored(self, path: Path) -> bool:
        """Version control, the orchestrator's files, logs, editor droppings, sync targets."""
        if _within(path, self.logs_dir) or any(_within(path, t) for t in self._written):
            return True
        parts = _parts(path, self.root)
        if parts is None:
            parts = path.parts[1:]
        # the folder itself too (".git" made by git init): its name alone may say so
        return excluded(_ALWAYS, parts, is_dir=False) or excluded(_ALWAYS, parts, is_dir=True)

    def rules_for(self, path: Path) -> tuple[WatchRule, ...]:
        """The rules that ``path`` (absolute, as the watcher reports it) triggers.

        A config file of the stack triggers none: its change is a reload, which restarts
        what the new config changes (and nothing twice).
        """
        if path in self.config_files or self.always_ignored(path):
            return ()
        is_dir: bool | None = None
        out = []
        for rule in self.rules:
            if rule.key in self._suspended:
                continue
            parts = _parts(path, rule.path)
            if parts is None:
                continue
            if is_dir is None:
                is_dir = path.is_dir()
            if self._matches(rule, path, parts or (path.name,), is_dir):
                out.append(rule)
        return tuple(out)

    def _matches(self, rule: WatchRule, path: Path, parts: tuple[str, ...], is_dir: bool) -> bool:
        if excluded(self._ignore[rule.key], parts, is_dir):
            return False
        include = self._include.get(rule.key)
        # A folder passes a sync rule's include (its files are filtered as they are copied).
        if include is not None and not (is_dir and rule.action.syncs) and (
            is_dir or not include.match_file("/".join(parts))
        ):
            return False
        if (
            self._honours_gitignore[rule.key]
            and _within(path, self.root)
            and self.gitignores.ignores(path, is_dir)
        ):
            return False
        docker = self._docker.get(rule.key)
        return not (docker is not None and docker.ignores(path))

    def accepts(self, rule: WatchRule, path: Path) -> bool:
        """Whether a file found under ``rule.path`` (by a recursive sync) belongs to it."""
        parts = _parts(path, rule.path)
        if parts is None or self.always_ignored(path):
            return False
        return self._matches(rule, path, parts or (path.name,), path.is_dir())
