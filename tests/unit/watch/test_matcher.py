"""Which rule a changed path belongs to: globs, the paths that never count, .gitignore, .dockerignore."""

from __future__ import annotations

from pathlib import Path

import pytest

from dev_orchestrator.watch.matcher import Matcher
from dev_orchestrator.watch.rules import Action

from .conftest import rule


def touch(path: Path, text: str = "x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def matched(matcher: Matcher, path: Path) -> list[str]:
    return [f"{r.service}[{r.index}]" for r in matcher.rules_for(path)]


@pytest.fixture
def src(tmp_path: Path) -> Path:
    (tmp_path / "src").mkdir()
    return tmp_path / "src"


def test_ignore_and_include_globs_follow_gitignore(tmp_path: Path, src: Path) -> None:
    matcher = Matcher(
        [rule("api", src, ignore=("**/__pycache__/**", "*.tmp", "/generated/"), include=("*.py",))],
        root=tmp_path,
    )
    (src / "pkg" / "__pycache__").mkdir(parents=True)
    assert matched(matcher, src / "app.py") == ["api[0]"]
    assert matched(matcher, src / "pkg" / "deep" / "mod.py") == ["api[0]"]
    assert matched(matcher, src / "README.md") == []  # not included
    assert matched(matcher, src / "pkg" / "__pycache__" / "mod.cpython-311.pyc") == []
    assert matched(matcher, src / "pkg" / "__pycache__") == []  # the folder itself too
    assert matched(matcher, src / "pkg" / "x.tmp") == []  # *.tmp at any depth
    assert matched(matcher, src / "generated" / "a.py") == []  # anchored to the rule's path
    assert matched(matcher, src / "pkg" / "generated" / "a.py") == ["api[0]"]


@pytest.mark.parametrize(
    "name",
    [
        ".git/HEAD",
        ".git/objects/ab/cdef",
        "sub/.git/index",
        ".orchestrator/state.json",
        "app.py.swp",
        "app.py.swx",
        "app.py~",
        ".#app.py",
        "#app.py#",
        "4913",
        ".DS_Store",
    ],
)
def test_some_paths_never_count(tmp_path: Path, name: str) -> None:
    matcher = Matcher([rule("api", tmp_path)], root=tmp_path)
    assert matched(matcher, tmp_path / name) == []
    assert matched(matcher, tmp_path / "app.py") == ["api[0]"]


def test_the_logs_folder_never_counts(tmp_path: Path) -> None:
    matcher = Matcher([rule("api", tmp_path)], root=tmp_path)
    assert matched(matcher, tmp_path / "logs" / "api.log") == []
    other = Matcher([rule("api", tmp_path)], root=tmp_path, logs_dir=tmp_path / "var" / "log")
    assert matched(other, tmp_path / "var" / "log" / "api.log") == []
    assert matched(other, tmp_path / "logs" / "api.log") == ["api[0]"]


def test_gitignore_files_exclude_as_git_does(tmp_path: Path, src: Path) -> None:
    touch(tmp_path / ".gitignore", "*.log\nnode_modules/\n/dist\n")
    touch(src / ".gitignore", "!keep.log\ncache/\n")
    touch(src / "node_modules" / ".gitignore", "!*\n")
    matcher = Matcher([rule("api", src)], root=tmp_path)
    assert matched(matcher, src / "debug.log") == []
    assert matched(matcher, src / "keep.log") == ["api[0]"]  # the deeper file re-includes it
    assert matched(matcher, src / "cache" / "x.bin") == []
    # nothing below an excluded folder comes back, whatever a file inside it says
    assert matched(matcher, src / "node_modules" / "lib" / "index.js") == []
    assert matched(matcher, src / "dist" / "x.js") == ["api[0]"]  # /dist is anchored to the root
    assert matched(matcher, src / "main.py") == ["api[0]"]


def test_a_rule_on_a_gitignored_folder_still_sees_it(tmp_path: Path) -> None:
    touch(tmp_path / ".gitignore", "dist/\n*.map\n")
    (tmp_path / "dist").mkdir()
    matcher = Matcher([rule("web", tmp_path / "dist", Action.SYNC, target="/srv")], root=tmp_path)
    assert matched(matcher, tmp_path / "dist" / "bundle.js") == ["web[0]"]


def test_an_edited_gitignore_is_read_again(tmp_path: Path, src: Path) -> None:
    matcher = Matcher([rule("api", src)], root=tmp_path)
    assert matched(matcher, src / "a.out") == ["api[0]"]
    touch(tmp_path / ".gitignore", "*.out\n")
    matcher.note_change(tmp_path / ".gitignore")
    assert matched(matcher, src / "a.out") == []


def test_dockerignore_applies_to_a_built_containers_rules_as_docker_reads_it(tmp_path: Path) -> None:
    context = tmp_path / "backend"
    touch(context / ".dockerignore", "*.md\n**/*.pyc\ntests\n!tests/fixtures\n# a comment\n")
    container = rule("api", context, Action.SYNC, target="/app", container=True, build_context=context)
    process = rule("worker", context, Action.RESTART)
    matcher = Matcher([container, process], root=tmp_path)
    assert matched(matcher, context / "README.md") == ["worker[0]"]  # anchored: only at the root
    assert matched(matcher, context / "docs" / "guide.md") == ["api[0]", "worker[0]"]
    assert matched(matcher, context / "pkg" / "m.pyc") == ["worker[0]"]
    assert matched(matcher, context / "tests" / "test_a.py") == ["worker[0]"]
    assert matched(matcher, context / "tests" / "fixtures" / "a.json") == ["api[0]", "worker[0]"]


def test_a_dockerfile_specific_ignore_file_wins(tmp_path: Path) -> None:
    context = tmp_path / "app"
    touch(context / ".dockerignore", "*.txt\n")
    touch(context / "Dockerfile.dev.dockerignore", "*.log\n")
    dev = rule("api", context, Action.REBUILD, container=True, build_context=context,
               dockerfile=context / "Dockerfile.dev")
    matcher = Matcher([dev], root=tmp_path)
    assert matched(matcher, context / "notes.txt") == ["api[0]"]
    assert matched(matcher, context / "x.log") == []


def test_a_process_sync_target_never_counts_as_a_change(tmp_path: Path, src: Path) -> None:
    copier = rule("web", src, Action.SYNC, target="./src/out")
    matcher = Matcher([copier, rule("api", tmp_path, index=0)], root=tmp_path)
    assert matched(matcher, src / "out" / "a.css") == []
    assert matched(matcher, src / "a.css") == ["web[0]", "api[0]"]


def test_a_file_rule_matches_its_file_only(tmp_path: Path) -> None:
    config = touch(tmp_path / "config" / "app.toml")
    matcher = Matcher([rule("api", config, Action.SYNC_EXEC, target="/app/app.toml")], root=tmp_path)
    assert matched(matcher, config) == ["api[0]"]
    assert matched(matcher, tmp_path / "config" / "other.toml") == []
    assert matched(matcher, tmp_path.parent / "elsewhere.py") == []


def test_suspended_rules_match_nothing_until_resumed(tmp_path: Path, src: Path) -> None:
    matcher = Matcher([rule("api", src), rule("web", src)], root=tmp_path)
    matcher.suspend([("api", 0)])
    assert matched(matcher, src / "a.py") == ["web[0]"]
    matcher.resume("web")
    assert matcher.suspended == {("api", 0)}
    matcher.resume("api")
    assert matched(matcher, src / "a.py") == ["api[0]", "web[0]"]


def test_accepts_filters_what_a_folder_sync_copies(tmp_path: Path, src: Path) -> None:
    sync = rule("web", src, Action.SYNC, target="/srv", ignore=("*.tmp",), include=("*.css",))
    matcher = Matcher([sync], root=tmp_path)
    (src / "css").mkdir()
    assert matcher.accepts(sync, src / "css")  # a folder passes a sync rule's include
    assert matcher.accepts(sync, touch(src / "css" / "a.css"))
    assert not matcher.accepts(sync, touch(src / "css" / "a.tmp"))
    assert not matcher.accepts(sync, touch(src / "css" / "a.js"))


def test_a_stack_config_file_triggers_no_rule(tmp_path: Path) -> None:
    files = [tmp_path / "services.yaml", tmp_path / ".env"]
    matcher = Matcher([rule("api", tmp_path)], root=tmp_path, config_files=files)
    assert all(matcher.is_config(f) and matched(matcher, f) == [] for f in files)
    assert matched(matcher, tmp_path / "app.toml") == ["api[0]"]
