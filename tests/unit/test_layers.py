"""Imports flow one way through the layers of src/dev_orchestrator (DESIGN.md, section 2).

    errors -> config + graph -> runtime states/events, state, ports -> plan
           -> backends, health, logs, net, watch, gpu, export
           -> runtime (units, engine, supervisor) -> control -> ui -> cli

A module may import its own layer and the layers before it, never one after it.
The rules, in words:

- config and graph share a layer: the loader and resolve use the graph to check and
  order the stack, while graph imports only errors when it runs (config's models only
  for type annotations). So config and graph never import runtime, backends, health,
  logs or control.
- runtime/states.py and runtime/events.py are plain values that backends and probes
  may use; the rest of runtime/ (units, engine, supervisor) sits above backends, health
  and logs, so backends never import the supervisor.
- plan.py (the reconcile planner) is pure: it reads the resolved config, the graph and
  the state values, and everything that carries a plan out (backends, the engine,
  control, cli) sits above it.
- gpu.py and export/ may use config, never runtime or control.
- nothing imports cli.

Imports inside functions and under ``if TYPE_CHECKING:`` count too: a type-only import
upward is still a dependency upward. A module that fits no rule fails the test, so
that a new module is placed on purpose (add it to ``layer_of``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = "dev_orchestrator"
ROOT = Path(__file__).resolve().parents[2] / "src" / PACKAGE

LAYERS = [
    "errors",
    "config + graph",
    "runtime states/events, state, ports",
    "plan",
    "backends, health, logs, net, watch, gpu, export",
    "runtime (units, engine, supervisor)",
    "control",
    "ui",
    "cli",
]


def layer_of(module: str) -> int | None:
    """The layer index of a module named relative to the package (``config.loader``)."""
    parts = module.split(".")
    top = parts[0]
    if module in ("", "errors"):
        return 0
    if top in ("config", "graph"):
        return 1
    if module in ("runtime.states", "runtime.events") or top in ("state", "ports"):
        return 2
    if top == "plan":
        return 3
    if top in ("backends", "health", "logs", "net", "watch", "gpu", "export"):
        return 4
    if top == "runtime":
        return 5
    if top == "control":
        return 6
    if top == "ui":
        return 7
    if top == "cli":
        return 8
    return None


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def exists(module: str) -> bool:
    base = ROOT.joinpath(*module.split(".")) if module else ROOT
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def imports_of(module: str, path: Path) -> list[tuple[int, str]]:
    """(line, imported module relative to the package) for every import of the package."""
    is_package = path.name == "__init__.py"
    package = module if is_package else module.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == PACKAGE or alias.name.startswith(PACKAGE + "."):
                    found.append((node.lineno, alias.name[len(PACKAGE) + 1 :]))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".") if package else []
                keep = len(parts) - (node.level - 1)
                assert keep >= 0, f"{path}:{node.lineno}: relative import above the package"
                target = ".".join(parts[:keep] + ([node.module] if node.module else []))
            elif node.module and (node.module == PACKAGE or node.module.startswith(PACKAGE + ".")):
                target = node.module[len(PACKAGE) + 1 :]
            else:
                continue
            # `from . import events` imports the submodule `events`
            for alias in node.names:
                sub = f"{target}.{alias.name}" if target else alias.name
                found.append((node.lineno, sub if exists(sub) else target))
    return found


def test_every_module_has_a_layer() -> None:
    unplaced = [m or PACKAGE for m in modules() if layer_of(m) is None]
    assert not unplaced, (
        f"modules without a layer: {', '.join(unplaced)}; place them in layer_of() "
        "in tests/unit/test_layers.py, following DESIGN.md"
    )


def test_no_layer_imports_upward() -> None:
    violations = []
    for module, path in modules().items():
        own = layer_of(module)
        if own is None:
            continue
        for line, target in imports_of(module, path):
            theirs = layer_of(target)
            if theirs is not None and theirs > own:
                violations.append(
                    f"src/{PACKAGE}/{path.relative_to(ROOT)}:{line}: {module or PACKAGE} "
                    f"({LAYERS[own]}) imports {target} ({LAYERS[theirs]})"
                )
    assert not violations, "imports that go up a layer:\n" + "\n".join(violations)


def test_nothing_imports_cli() -> None:
    offenders = [
        f"{module}:{line}"
        for module, path in modules().items()
        if not module.startswith("cli")
        for line, target in imports_of(module, path)
        if target == "cli" or target.startswith("cli.")
    ]
    assert not offenders


def test_graph_imports_only_errors_when_it_runs() -> None:
    path = ROOT / "graph.py"
    tree = ast.parse(path.read_text(encoding="utf-8"))
    type_only = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")
        for inner in ast.walk(node)
    }
    runtime_imports = {
        node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.level and id(node) not in type_only
    }
    assert runtime_imports <= {"errors"}


def test_plan_imports_only_what_it_decides_from() -> None:
    allowed = ("errors", "graph", "runtime.states", "config")
    found = {target for _, target in imports_of("plan", ROOT / "plan.py")}
    assert found, "plan.py imports nothing of the package?"
    assert all(t in allowed or t.startswith("config.") for t in found), sorted(found)


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        ("config.loader", "from ..runtime.engine import Engine", ["runtime.engine"]),
        ("config.loader", "from ..graph import Graph", ["graph"]),
        ("runtime", "from . import events", ["runtime.events"]),
        ("backends.process", "from ..runtime import states", ["runtime.states"]),
        ("cli", "import dev_orchestrator.control.daemon", ["control.daemon"]),
        ("gpu", "from dev_orchestrator.config import load", ["config"]),
    ],
)
def test_imports_are_resolved(tmp_path: Path, module: str, source: str, expected: list[str]) -> None:
    name = "__init__.py" if module in ("runtime", "cli") else "mod.py"
    path = tmp_path / name
    path.write_text(source + "\n")
    assert [target for _, target in imports_of(module, path)] == expected


@pytest.mark.parametrize(
    ("importer", "imported", "allowed"),
    [
        ("config.resolve", "graph", True),
        ("graph", "config.models", True),
        ("config.loader", "runtime.states", False),
        ("graph", "health.prober", False),
        ("backends.process", "runtime.events", True),
        ("backends.process", "runtime.engine", False),
        ("backends.docker", "runtime.supervisor", False),
        ("health.probes", "backends.base", True),
        ("runtime.unit", "health.prober", True),
        ("gpu", "config", True),
        ("gpu", "runtime.engine", False),
        ("export.compose", "config.resolve", True),
        ("export.compose", "control.client", False),
        ("control.daemon", "runtime.engine", True),
        ("runtime.engine", "control.server", False),
        ("control.daemon", "cli.common", False),
        ("plan", "config.resolve", True),
        ("plan", "graph", True),
        ("plan", "runtime.states", True),
        ("plan", "backends.process", False),
        ("plan", "runtime.engine", False),
        ("plan", "control.client", False),
        ("runtime.engine", "plan", True),
        ("control.daemon", "plan", True),
        ("config.resolve", "plan", False),
        ("runtime.states", "plan", False),
    ],
)
def test_the_rules(importer: str, imported: str, allowed: bool) -> None:
    own, theirs = layer_of(importer), layer_of(imported)
    assert own is not None and theirs is not None
    assert (theirs <= own) is allowed
