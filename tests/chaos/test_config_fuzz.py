"""The loader on hostile input: the repository's own YAML files, mutated.

Every mutation of a real services.yaml or overlay (flipped bytes, truncation, binary
junk, huge keys, deep nesting, Python tags, alias bombs) must end in a loaded stack or
in one of the product's own errors, never in another exception, and each case must end
quickly: a file that makes the loader hang or recurse without bound fails here.
"""

from __future__ import annotations

import random
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

import pytest

from dev_orchestrator.config import load
from dev_orchestrator.config.loader import project_name
from dev_orchestrator.config.resolve import resolve
from dev_orchestrator.config.source import parse_file
from dev_orchestrator.errors import OrchestratorError

REPO = Path(__file__).resolve().parents[2]
SEED = 20240601
CASES = 300
CASE_SECONDS = 5  # far above what one load takes; only a hang or a runaway reaches it
# Variables every environment of the repository's stacks asks for (prod is strict).
ENVIRON = {
    "DB_HOST": "db.internal", "DB_PASSWORD": "pw", "REDIS_URL": "redis://r:6379/0",
    "VISUAL_BRAIN_API_KEY": "key", "PUBLIC_FRONTEND_URL": "https://z.example",
    "PUBLIC_BACKEND_URL": "https://api.z.example",
}
YAML_BYTES = b":-[]{}&*!|>'\"%@#,?\n\t <"


class CaseTimeout(Exception):
    """A case ran longer than CASE_SECONDS."""


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    def expired(signum: int, frame: FrameType | None) -> None:
        raise CaseTimeout

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def stacks() -> list[tuple[Path, Path | None]]:
    """(services.yaml, one of its overlays or None) for every stack in the repository."""
    roots = [REPO, *sorted(p.parent for p in (REPO / "examples").glob("**/services.yaml"))]
    out: list[tuple[Path, Path | None]] = []
    for root in roots:
        out.append((root / "services.yaml", None))
        out.extend((root / "services.yaml", overlay) for overlay in sorted((root / "config").glob("*.yaml")))
    return out


def alias_bomb(rng: random.Random) -> bytes:
    width, levels = rng.randint(5, 12), rng.randint(6, 12)
    lines = ["x-b0: &b0 [" + ", ".join(["lol"] * width) + "]"]
    for i in range(1, levels):
        lines.append(f"x-b{i}: &b{i} [" + ", ".join([f"*b{i - 1}"] * width) + "]")
    lines.append(f"x-boom: *b{levels - 1}")
    return ("\n".join(lines) + "\n").encode()


def deep(rng: random.Random) -> bytes:
    depth = rng.choice([65, 100, 500, 5000, 50_000])
    if rng.random() < 0.5:
        return b"x-deep: " + b"[" * depth + b"]" * depth + b"\n"
    return b"x-deep:\n" + b"".join(b"  " * i + b"  k:\n" for i in range(min(depth, 400))) + b"  " * 401 + b"v\n"


def at_line(data: bytes, rng: random.Random, insert: bytes) -> bytes:
    lines = data.split(b"\n")
    i = rng.randrange(len(lines) + 1)
    return b"\n".join([*lines[:i], insert.rstrip(b"\n"), *lines[i:]])


MUTATIONS: dict[str, Callable[[bytes, random.Random], bytes]] = {
    "flip bits": lambda d, r: bytes(b ^ (1 << r.randrange(8)) if r.random() < 0.01 else b for b in d),
    "flip to yaml syntax": lambda d, r: bytes(r.choice(YAML_BYTES) if r.random() < 0.02 else b for b in d),
    "truncate": lambda d, r: d[: r.randrange(len(d) + 1)],
    "binary junk": lambda d, r: (lambda i: d[:i] + r.randbytes(r.randint(1, 64)) + d[i:])(r.randrange(len(d) + 1)),
    "huge key": lambda d, r: at_line(d, r, b"x-" + b"k" * r.choice([1000, 100_000, 1_000_000]) + b": 1"),
    "huge value": lambda d, r: at_line(d, r, b"x-big: " + b"9" * r.choice([5000, 100_000])),
    "deep nesting": lambda d, r: at_line(d, r, deep(r)) if r.random() < 0.5 else deep(r) + d,
    "python tag": lambda d, r: at_line(
        d, r, r.choice([b"x-p: !!python/object/apply:os.system [echo]", b"x-p: !!python/name:os.getcwd ''",
                        b"x-p: !!python/object:builtins.dict {a: 1}", b"x-p: !custom 1", b"x-p: !!set {a, b}"])
    ),
    "alias bomb": lambda d, r: alias_bomb(r) + d if r.random() < 0.5 else d + b"\n" + alias_bomb(r),
    "odd scalars": lambda d, r: at_line(
        d, r, r.choice([b"x-d: 2024-13-45", b"x-d: 1e99999", b"x-d: 0x" + b"f" * 5000, b"x-d: 1:2:3:4:5",
                        b"x-d: *missing", b"x-d: &a [*a]", b"--- \nx: 1", b"x-d: {<<: 3}", b"x-d: {<<: [1, 2]}"])
    ),
    "duplicate lines": lambda d, r: at_line(d, r, r.choice(d.split(b"\n"))),
}


def cases() -> list[tuple[str, Path, Path | None, int]]:
    rng = random.Random(SEED)
    pairs = stacks()
    names = sorted(MUTATIONS)
    return [(names[i % len(names)], *rng.choice(pairs), rng.randrange(2**32)) for i in range(CASES)]


def run_case(tmp: Path, mutation: str, base: Path, overlay: Path | None, seed: int) -> None:
    rng = random.Random(seed)
    target = base if overlay is None else overlay
    mutated = MUTATIONS[mutation](target.read_bytes(), rng)
    project = project_name(parse_file(base).data, base.parent)
    (tmp / "config").mkdir(parents=True, exist_ok=True)
    env = None
    if overlay is None:
        (tmp / "services.yaml").write_bytes(mutated)
    else:
        (tmp / "services.yaml").write_bytes(base.read_bytes())
        (tmp / "config" / overlay.name).write_bytes(mutated)
        if overlay.name.startswith(f"{project}."):
            env = overlay.name[len(project) + 1 : -len(".yaml")]
    loaded = load(tmp / "services.yaml", env, cwd=tmp, environ=ENVIRON)
    resolve(loaded, environ=ENVIRON)


def test_mutated_repository_yaml_loads_or_fails_cleanly(tmp_path: Path) -> None:
    unexpected: list[str] = []
    for index, (mutation, base, overlay, seed) in enumerate(cases()):
        folder = tmp_path / f"case-{index}"
        label = f"case {index} ({mutation} of {(overlay or base).relative_to(REPO)}, seed {seed})"
        try:
            with time_limit(CASE_SECONDS):
                run_case(folder, mutation, base, overlay, seed)
        except CaseTimeout:
            unexpected.append(f"{label}: still running after {CASE_SECONDS}s")
        except OrchestratorError as exc:
            if not str(exc).strip():
                unexpected.append(f"{label}: {type(exc).__name__} without a message")
        except Exception as exc:  # noqa: BLE001 - anything else is the failure this test looks for
            unexpected.append(f"{label}: {type(exc).__name__}: {str(exc)[:200]}")
    assert not unexpected, "\n".join(unexpected)


def test_every_mutation_is_exercised() -> None:
    assert {c[0] for c in cases()} == set(MUTATIONS)
    assert len(stacks()) >= 5


@pytest.mark.parametrize("mutation", ["alias bomb", "deep nesting", "python tag"])
def test_hostile_structure_is_a_config_error(tmp_path: Path, mutation: str) -> None:
    from dev_orchestrator.errors import ConfigError

    with time_limit(CASE_SECONDS), pytest.raises(ConfigError):
        run_case(tmp_path, mutation, REPO / "services.yaml", None, SEED)
