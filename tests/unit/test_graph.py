"""The dependency graph: order, layers, cycles, closures and the concurrent walk.

Property tests draw random graphs; the walk is checked with events, never with sleeps.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from collections.abc import Set as AbstractSet

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dev_orchestrator.errors import GraphError
from dev_orchestrator.graph import Graph, Outcome, Step, find_cycles, walk

Deps = dict[str, list[str]]
PROPERTY = settings(max_examples=60, deadline=None)


@st.composite
def dags(draw: st.DrawFn, max_nodes: int = 9) -> Deps:
    """A random DAG: node i may depend only on nodes drawn before it; names are shuffled."""
    n = draw(st.integers(0, max_nodes))
    names = draw(st.permutations([f"s{i}" for i in range(n)]))
    deps: Deps = {}
    for i, name in enumerate(names):
        deps[name] = draw(st.lists(st.sampled_from(names[:i]), unique=True)) if i else []
    return deps


@st.composite
def digraphs(draw: st.DrawFn, max_nodes: int = 7) -> Deps:
    """A random directed graph, cycles and self-loops allowed."""
    n = draw(st.integers(1, max_nodes))
    names = [f"s{i}" for i in range(n)]
    return {name: draw(st.lists(st.sampled_from(names), unique=True, max_size=3)) for name in names}


def reachable(deps: Mapping[str, list[str]], start: str) -> set[str]:
    """Nodes reachable from ``start`` by one or more edges (brute force, for checking)."""
    seen: set[str] = set()
    frontier = list(deps[start])
    while frontier:
        node = frontier.pop()
        if node not in seen:
            seen.add(node)
            frontier.extend(deps[node])
    return seen


# order and layers ---------------------------------------------------------------------------


@PROPERTY
@given(dags())
def test_order_honours_every_edge(deps: Deps) -> None:
    order = Graph(deps).order()
    assert sorted(order) == sorted(deps)
    position = {name: i for i, name in enumerate(order)}
    for name, needs in deps.items():
        for dep in needs:
            assert position[dep] < position[name]


@PROPERTY
@given(dags())
def test_layers_are_valid_and_tight(deps: Deps) -> None:
    layers = Graph(deps).layers()
    level = {name: i for i, layer in enumerate(layers) for name in layer}
    assert sorted(level) == sorted(deps)  # every node exactly once
    assert sum(len(layer) for layer in layers) == len(deps)
    assert all(layers), "no empty layer"
    for name, needs in deps.items():
        for dep in needs:
            assert level[dep] < level[name]
        # a node sits right after its deepest dependency, not later
        assert level[name] == (max((level[d] for d in needs), default=-1) + 1)


def test_order_is_deterministic() -> None:
    deps = {"web": ["api"], "api": ["db", "cache"], "db": [], "cache": [], "docs": []}
    assert Graph(deps).order() == ["cache", "db", "docs", "api", "web"]  # layer by layer
    assert Graph(deps).layers() == [["cache", "db", "docs"], ["api"], ["web"]]


def test_unknown_dependency_and_cycle_raise() -> None:
    with pytest.raises(GraphError, match='^api depends on unknown service "db"$'):
        Graph({"api": ["db"]})
    with pytest.raises(GraphError, match=r"^cycle: a -> b -> a$"):
        Graph({"a": ["b"], "b": ["a"]})
    with pytest.raises(GraphError, match=r"^cycle: a -> a$"):
        Graph({"a": ["a"]})


# cycles -------------------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(digraphs())
def test_every_cycle_is_reported_with_a_real_closed_path(deps: Deps) -> None:
    cycles = find_cycles(deps)
    on_a_cycle = {n for n in deps if n in reachable(deps, n)}
    # one reported cycle per strongly connected component that holds a cycle
    components = {frozenset({m for m in on_a_cycle if m in reachable(deps, n) and n in reachable(deps, m)})
                  for n in on_a_cycle}
    assert len(cycles) == len(components)
    covered = set()
    for path in cycles:
        assert len(path) >= 2
        assert path[0] == path[-1], "closed"
        inner = path[:-1]
        assert len(set(inner)) == len(inner), "simple: no node twice"
        for a, b in zip(path, path[1:], strict=False):
            assert b in deps[a], f"{a} -> {b} is not an edge"
        [component] = [c for c in components if path[0] in c]
        assert set(inner) <= component
        covered.add(component)
    assert covered == components
    if cycles:
        with pytest.raises(GraphError, match="^cycle: "):
            Graph(deps)
    else:
        Graph(deps)  # acyclic graphs are accepted


def test_cycle_message_follows_the_edges() -> None:
    deps = {"a": ["b"], "b": ["c"], "c": ["a"], "d": []}
    assert find_cycles(deps) == [["a", "b", "c", "a"]]


# closures -----------------------------------------------------------------------------------


@PROPERTY
@given(dags(), st.data())
def test_closure_is_complete_and_minimal(deps: Deps, data: st.DataObject) -> None:
    if not deps:
        return
    names = data.draw(st.lists(st.sampled_from(sorted(deps)), min_size=1, unique=True))
    closure = Graph(deps).closure(names)
    expected = set(names).union(*(reachable(deps, n) for n in names))
    assert closure == expected
    for member in closure:  # complete: closed under "depends on"
        assert set(deps[member]) <= closure


@PROPERTY
@given(dags(), st.data())
def test_reverse_closure_is_everything_that_depends_on_the_names(deps: Deps, data: st.DataObject) -> None:
    if not deps:
        return
    names = data.draw(st.lists(st.sampled_from(sorted(deps)), min_size=1, unique=True))
    reverse = Graph(deps).reverse_closure(names)
    expected = set(names) | {n for n in deps if reachable(deps, n) & set(names)}
    assert reverse == expected


def test_subgraph_keeps_only_inner_edges() -> None:
    graph = Graph({"a": [], "b": ["a"], "c": ["b", "a"]})
    sub = graph.subgraph({"b", "c"})
    assert sub.deps == {"b": (), "c": ("b",)}
    assert "a" not in sub
    assert len(sub) == 2


# the walk -----------------------------------------------------------------------------------


class Recorder:
    """An fn for walk() that logs start/finish events and checks nothing ran too early."""

    def __init__(self, preds: Mapping[str, tuple[str, ...]], failing: AbstractSet[str] = frozenset()) -> None:
        self.preds = preds
        self.failing = failing
        self.events: list[tuple[str, str]] = []
        self.finished: set[str] = set()
        self.running = 0
        self.most = 0

    async def __call__(self, name: str) -> bool:
        assert set(self.preds[name]) <= self.finished, f"{name} ran before its predecessors"
        self.events.append(("start", name))
        self.running += 1
        self.most = max(self.most, self.running)
        for _ in range(3):  # give every other ready task a turn
            await asyncio.sleep(0)
        self.running -= 1
        self.finished.add(name)
        self.events.append(("end", name))
        return name not in self.failing


@PROPERTY
@given(dags(), st.booleans())
def test_walk_honours_every_edge(deps: Deps, reverse: bool) -> None:
    graph = Graph(deps)
    preds = graph.dependents if reverse else graph.deps
    recorder = Recorder(preds)
    results = asyncio.run(walk(graph, recorder, reverse=reverse))
    assert results == {n: Step(Outcome.OK) for n in deps}
    assert sorted(n for kind, n in recorder.events if kind == "start") == sorted(deps)


@PROPERTY
@given(dags(), st.integers(1, 3))
def test_walk_honours_the_concurrency_limit(deps: Deps, limit: int) -> None:
    graph = Graph(deps)
    recorder = Recorder(graph.deps)
    asyncio.run(walk(graph, recorder, limit=limit))
    assert recorder.most <= limit


def test_walk_uses_the_whole_limit() -> None:
    graph = Graph({f"s{i}": [] for i in range(6)})
    recorder = Recorder(graph.deps)
    asyncio.run(walk(graph, recorder, limit=3))
    assert recorder.most == 3
    unlimited = Recorder(graph.deps)
    asyncio.run(walk(graph, unlimited))
    assert unlimited.most == 6


@PROPERTY
@given(dags(), st.data(), st.booleans())
def test_failure_skips_everything_after_it(deps: Deps, data: st.DataObject, reverse: bool) -> None:
    graph = Graph(deps)
    preds = graph.dependents if reverse else graph.deps
    failing = set(data.draw(st.lists(st.sampled_from(sorted(deps)), unique=True))) if deps else set()
    recorder = Recorder(preds, failing)
    results = asyncio.run(walk(graph, recorder, reverse=reverse))
    called = {n for kind, n in recorder.events if kind == "start"}
    for name in graph.order():
        step = results[name]
        bad_preds = [p for p in preds[name] if results[p].outcome is not Outcome.OK]
        if bad_preds:
            assert step.outcome is Outcome.SKIPPED
            assert step.blocked_by in bad_preds
            assert name not in called
        elif name in failing:
            assert step == Step(Outcome.FAILED)
        else:
            assert step == Step(Outcome.OK)
    # everything that depends (transitively) on a failed node is skipped
    failed = {n for n, s in results.items() if s.outcome is Outcome.FAILED}
    after = graph.reverse_closure(failed) if not reverse else graph.closure(failed)
    assert {n for n, s in results.items() if s.outcome is Outcome.SKIPPED} == after - failed


def test_a_node_starts_as_soon_as_its_own_dependencies_are_done() -> None:
    """`fast-child` must start while `slow` (same level as its parent) still runs."""
    graph = Graph({"slow": [], "fast": [], "fast-child": ["fast"], "slow-child": ["slow"]})
    child_started = asyncio.Event()
    events: list[str] = []

    async def fn(name: str) -> bool:
        events.append(f"start {name}")
        if name == "slow":
            # A level-by-level walk would wait for `slow` before starting `fast-child`,
            # and `slow` waits for `fast-child`: the timeout turns that deadlock into a failure.
            await asyncio.wait_for(child_started.wait(), timeout=5)
        if name == "fast-child":
            child_started.set()
        events.append(f"end {name}")
        return True

    results = asyncio.run(walk(graph, fn))
    assert all(step.outcome is Outcome.OK for step in results.values())
    assert events.index("start fast-child") < events.index("end slow")
    assert events.index("start slow-child") > events.index("end slow")


def test_reverse_walk_stops_dependents_first() -> None:
    graph = Graph({"db": [], "api": ["db"], "web": ["api"], "worker": ["db"]})
    order: list[str] = []

    async def fn(name: str) -> bool:
        order.append(name)
        return True

    asyncio.run(walk(graph, fn, reverse=True))
    assert order.index("web") < order.index("api") < order.index("db")
    assert order.index("worker") < order.index("db")


def test_an_exception_cancels_the_walk() -> None:
    graph = Graph({"a": [], "b": [], "c": ["a"]})
    blocker = asyncio.Event()
    cancelled: list[str] = []

    async def fn(name: str) -> bool:
        if name == "a":
            raise RuntimeError("boom")
        try:
            await blocker.wait()  # never set: only cancellation ends it
        except asyncio.CancelledError:
            cancelled.append(name)
            raise
        return True

    with pytest.raises(ExceptionGroup) as info:
        asyncio.run(walk(graph, fn))
    assert info.group_contains(RuntimeError, match="boom")
    assert cancelled == ["b"]


def test_empty_graph() -> None:
    async def fn(name: str) -> bool:
        raise AssertionError("not called")

    assert asyncio.run(walk(Graph({}), fn)) == {}
    assert Graph({}).layers() == []
    assert Graph({}).order() == []
