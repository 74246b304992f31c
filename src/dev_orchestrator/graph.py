"""The dependency graph: validation, closures, layers and a concurrent walk in (reverse) order.

The walk is backend-agnostic (a callback, a direction, an optional concurrency limit, as
compose's InDependencyOrder): a node runs the moment its own predecessors are done, never
level by level.
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from .errors import Diagnostic, GraphError, Location

if TYPE_CHECKING:
    from .config.models import StackFile


class Graph:
    """Services and their dependencies (``deps[a]`` = what ``a`` needs first)."""

    def __init__(self, deps: Mapping[str, Iterable[str]]) -> None:
        self.deps: dict[str, tuple[str, ...]] = {n: tuple(sorted(set(d))) for n, d in deps.items()}
        for name, needs in self.deps.items():
            for dep in needs:
                if dep not in self.deps:
                    raise GraphError(f'{name} depends on unknown service "{dep}"')
        dependents: dict[str, set[str]] = {n: set() for n in self.deps}
        for name, needs in self.deps.items():
            for dep in needs:
                dependents[dep].add(name)
        self.dependents: dict[str, tuple[str, ...]] = {n: tuple(sorted(d)) for n, d in dependents.items()}
        cycle = find_cycle(self.deps)
        if cycle:
            raise GraphError("cycle: " + " -> ".join(cycle))

    @classmethod
    def from_spec(cls, spec: StackFile) -> Graph:
        """The graph of the enabled services (dependencies on disabled optional ones dropped)."""
        enabled = {n for n, s in spec.services.items() if s.enabled}
        return cls({n: [d for d in spec.services[n].depends_on if d in enabled] for n in sorted(enabled)})

    def __contains__(self, name: object) -> bool:
        return name in self.deps

    def __len__(self) -> int:
        return len(self.deps)

    def closure(self, names: Iterable[str]) -> set[str]:
        """The named services plus everything they depend on, transitively."""
        return _reach(names, self.deps)

    def reverse_closure(self, names: Iterable[str]) -> set[str]:
        """The named services plus everything that depends on them, transitively."""
        return _reach(names, self.dependents)

    def subgraph(self, names: Iterable[str]) -> Graph:
        keep = set(names)
        return Graph({n: [d for d in self.deps[n] if d in keep] for n in sorted(keep)})

    def layers(self) -> list[list[str]]:
        """Groups that can start together: a service sits one layer after its deepest dependency."""
        depth = self._depths()
        out: list[list[str]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
        for name, level in depth.items():
            out[level].append(name)
        return [sorted(layer) for layer in out]

    def order(self) -> list[str]:
        """A deterministic start order: layer by layer, names sorted within a layer."""
        return [name for layer in self.layers() for name in layer]

    def _depths(self) -> dict[str, int]:
        # Kahn's algorithm; a node's depth is one more than its deepest dependency.
        remaining = {n: len(d) for n, d in self.deps.items()}
        ready = [n for n, c in remaining.items() if c == 0]
        depth = dict.fromkeys(ready, 0)
        while ready:
            name = ready.pop()
            for dependent in self.dependents[name]:
                depth[dependent] = max(depth.get(dependent, 0), depth[name] + 1)
                remaining[dependent] -= 1
                if remaining[dependent] == 0:
                    ready.append(dependent)
        return depth


def _reach(names: Iterable[str], edges: Mapping[str, Iterable[str]]) -> set[str]:
    seen: set[str] = set()
    stack = list(names)
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        stack.extend(edges.get(name, ()))
    return seen


def find_cycle(deps: Mapping[str, Iterable[str]]) -> list[str] | None:
    """One cycle as a closed path ``[a, b, c, a]``, or None."""
    cycles = find_cycles(deps)
    return cycles[0] if cycles else None


def find_cycles(deps: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """One closed path per strongly connected component that holds a cycle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0

    # Iterative Tarjan so deep chains do not hit the recursion limit.
    for root in sorted(deps):
        if root in index:
            continue
        work: list[tuple[str, Iterable[str]]] = [(root, iter(sorted(deps.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)  # type: ignore[call-overload]
            if child is not None:
                if child not in deps:
                    continue
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(deps.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in deps.get(node, ()):
                    components.append(sorted(component))
    return [_cycle_in(sorted(c), deps) for c in sorted(components)]


def _cycle_in(component: list[str], deps: Mapping[str, Iterable[str]]) -> list[str]:
    """A concrete closed path inside one strongly connected component (BFS back to start)."""
    members = set(component)
    start = component[0]
    parents: dict[str, str] = {}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for nxt in sorted(deps.get(node, ())):
            if nxt == start:
                path = [start]
                while node != start:
                    path.append(node)
                    node = parents[node]
                path.append(start)
                return [path[0], *reversed(path[1:-1]), start] if len(path) > 2 else [start, start]
            if nxt in members and nxt not in parents:
                parents[nxt] = node
                queue.append(nxt)
    return [start, start]


def graph_diagnostics(
    dependencies: Mapping[str, Mapping[str, bool]],
    enabled: Mapping[str, bool],
    dep_locations: Mapping[tuple[str, str], Location],
) -> list[Diagnostic]:
    """Unknown or disabled dependencies (with did-you-mean) and cycles, located in the files.

    ``dependencies[service][dependency]`` says whether the dependency is required;
    ``dep_locations[(service, dependency)]`` is where that dependency is written. Plain
    mappings, so the check also runs on a document that failed validation elsewhere.
    """
    out: list[Diagnostic] = []
    names = sorted(dependencies)
    edges: dict[str, list[str]] = {}
    for name, needs in dependencies.items():
        edges[name] = []
        path = f"services.{name}.depends_on"
        for dep, required in needs.items():
            loc = dep_locations.get((name, dep))
            if dep not in dependencies:
                close = difflib.get_close_matches(dep, [n for n in names if n != name], n=1)
                hint = f' (did you mean "{close[0]}"?)' if close else f" (services: {', '.join(names)})"
                out.append(Diagnostic(f'unknown service "{dep}"{hint}', path, loc))
                continue
            if enabled.get(name, True) and not enabled.get(dep, True) and required:
                out.append(
                    Diagnostic(
                        f'"{dep}" is disabled (enabled: false); enable it or mark the '
                        "dependency required: false",
                        path,
                        loc,
                    )
                )
            edges[name].append(dep)
    for cycle in find_cycles(edges):
        loc = dep_locations.get((cycle[0], cycle[1]))
        out.append(Diagnostic("cycle: " + " -> ".join(cycle), f"services.{cycle[0]}.depends_on", loc))
    return out


class Outcome(StrEnum):
    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class Step:
    """What happened to one node in a walk; ``blocked_by`` names a failed predecessor."""

    outcome: Outcome
    blocked_by: str | None = None


async def walk(
    graph: Graph,
    fn: Callable[[str], Awaitable[bool]],
    *,
    reverse: bool = False,
    limit: int | None = None,
) -> dict[str, Step]:
    """Run ``fn(node)`` for every node, each as soon as its predecessors are done.

    Forward: predecessors are dependencies (start order). Reverse: dependents (stop order).
    ``fn`` returns True when the node is satisfied; False marks it failed and every node
    after it is skipped. An exception cancels the whole walk (TaskGroup semantics).
    """
    preds = graph.dependents if reverse else graph.deps
    done = {name: asyncio.Event() for name in graph.deps}
    results: dict[str, Step] = {}
    gate: contextlib.AbstractAsyncContextManager[object] = (
        asyncio.Semaphore(limit) if limit else contextlib.nullcontext()
    )

    async def run(name: str) -> None:
        try:
            for pred in preds[name]:
                await done[pred].wait()
            blocked = next((p for p in preds[name] if results[p].outcome is not Outcome.OK), None)
            if blocked is not None:
                results[name] = Step(Outcome.SKIPPED, blocked)
                return
            async with gate:
                ok = await fn(name)
            results[name] = Step(Outcome.OK if ok else Outcome.FAILED)
        finally:
            done[name].set()

    async with asyncio.TaskGroup() as group:
        for name in graph.order():
            group.create_task(run(name), name=f"walk:{name}")
    return results
