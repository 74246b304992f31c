"""The web dashboard's pure parts (control/dashboard_views.py): request checks, the graph's
layout and the start-up waterfall, as data."""

from __future__ import annotations

import pytest

from dev_orchestrator.control.dashboard_views import (
    Waterfall,
    cookie_value,
    graph_layout,
    host_allowed,
    same_origin,
    token_matches,
)


@pytest.mark.parametrize(("host", "ok"), [
    ("127.0.0.1:8100", True), ("localhost:8100", True), ("[::1]:8100", True), ("LOCALHOST:8100", True),
    ("127.0.0.1", True), ("localhost", True), ("[::1]", True),
    ("127.0.0.1:8101", False), ("localhost:81000", False), ("[::1]:80", False), ("[::1]x", False),
    ("evil.example:8100", False), ("localhost.evil.example:8100", False), ("127.0.0.2:8100", False),
    ("0.0.0.0:8100", False), ("", False), (None, False), ("::1:8100", False),
])
def test_host_allowed(host: str | None, ok: bool) -> None:
    assert host_allowed(host, 8100) is ok


@pytest.mark.parametrize(("headers", "ok"), [
    ({"origin": "http://127.0.0.1:8100", "sec-fetch-site": "same-origin"}, True),
    ({"origin": "http://127.0.0.1:8100"}, True),
    ({"sec-fetch-site": "same-origin"}, True),
    ({"origin": "http://localhost:8100", "sec-fetch-site": "same-site"}, False),
    ({"origin": "http://evil.example"}, False),
    ({"sec-fetch-site": "cross-site"}, False),
    ({"sec-fetch-site": "none"}, False),  # typed into the address bar: never a POST of the page
    ({"origin": "null", "sec-fetch-site": "same-origin"}, False),
    ({}, False),
])
def test_same_origin(headers: dict[str, str], ok: bool) -> None:
    assert same_origin(headers, "127.0.0.1:8100") is ok


def test_token_matches() -> None:
    assert token_matches("abc", "abc")
    assert not token_matches("abd", "abc")
    assert not token_matches("", "abc")
    assert not token_matches(None, "abc")
    assert not token_matches("ab", "abc")


def test_cookie_value() -> None:
    header = "theme=dark; dev_orchestrator_8100=t0k; other=x"
    assert cookie_value(header, "dev_orchestrator_8100") == "t0k"
    assert cookie_value(header, "dev_orchestrator_8101") is None
    assert cookie_value("dev_orchestrator_8100", "dev_orchestrator_8100") is None
    assert cookie_value(None, "x") is None


def test_graph_layout_puts_a_dependent_right_of_what_it_needs() -> None:
    deps = {"db": (), "cache": (), "api": ("cache", "db"), "web": ("api",)}
    layers = [["cache", "db"], ["api"], ["web"]]
    out = graph_layout(deps, layers, extra=["old"])
    at = {n["name"]: n for n in out["nodes"]}
    assert at["cache"]["x"] == at["db"]["x"] < at["api"]["x"] < at["web"]["x"] < at["old"]["x"]
    assert at["cache"]["y"] < at["db"]["y"]
    assert at["api"]["y"] == (at["cache"]["y"] + at["db"]["y"]) / 2  # a short column is centred
    assert sorted((e["from"], e["to"]) for e in out["edges"]) == [("api", "web"), ("cache", "api"), ("db", "api")]
    assert all(n["x"] + n["w"] <= out["width"] and n["y"] + n["h"] <= out["height"] for n in out["nodes"])


def test_graph_layout_of_nothing() -> None:
    assert graph_layout({}, []) == {"nodes": [], "edges": [], "width": 24, "height": 24}


def start(w: Waterfall, key: str, at: float, *, op: bool = True, check: bool = True, one_shot: bool = False) -> None:
    w.event(key, "Starting", at, in_operation=op, has_healthcheck=check, one_shot=one_shot)


def test_waterfall_of_one_start() -> None:
    w = Waterfall()
    kw = {"in_operation": True, "has_healthcheck": True, "one_shot": False}
    start(w, "db", 100.0)
    w.event("db", "Spawned", 100.1, **kw)
    w.event("db", "Healthy", 100.5, **kw)
    start(w, "migrate", 100.5, check=False, one_shot=True)
    w.event("migrate", "Spawned", 100.6, in_operation=True, has_healthcheck=False, one_shot=True)
    w.event("migrate", "Exited", 101.0, in_operation=True, has_healthcheck=False, one_shot=True, code=0)
    start(w, "worker", 100.5, check=False)
    w.event("worker", "Spawned", 100.7, in_operation=True, has_healthcheck=False, one_shot=False)
    start(w, "api", 101.0)
    w.event("api", "Spawned", 101.1, **kw)
    w.event("api", "ProbeProgress", 101.2, **kw)
    assert w.to_json()["total"] is None  # api is not ready yet
    w.event("api", "Healthy", 102.0, **kw)
    out = w.to_json(order=["db", "worker", "migrate", "api"])
    assert out["began"] == 100.0 and out["total"] == 2.0
    assert [(b["service"], b["launched"], b["spawned"], b["ended"], b["outcome"]) for b in out["bars"]] == [
        ("db", 0.0, 0.1, 0.5, "healthy"),
        ("worker", 0.5, 0.7, 0.7, "running"),
        ("migrate", 0.5, 0.6, 1.0, "completed"),
        ("api", 1.0, 1.1, 2.0, "healthy"),
    ]


def test_a_new_operation_starts_a_new_picture() -> None:
    w = Waterfall()
    start(w, "db", 10.0)
    w.event("db", "Healthy", 10.2, in_operation=True, has_healthcheck=True, one_shot=False)
    w.tick(in_operation=False)  # the start is over
    start(w, "api", 20.0)
    w.event("api", "Failed", 20.3, in_operation=True, has_healthcheck=True, one_shot=False)
    out = w.to_json()
    assert out["began"] == 20.0
    assert [(b["service"], b["ended"], b["outcome"]) for b in out["bars"]] == [("api", 0.3, "failed")]


def test_close_before_an_action_starts_a_new_picture_even_inside_operations() -> None:
    w = Waterfall()
    start(w, "db", 10.0)
    w.event("db", "Healthy", 10.2, in_operation=True, has_healthcheck=True, one_shot=False)
    w.close()
    start(w, "db", 11.0)
    assert [b["launched"] for b in w.to_json()["bars"]] == [0.0]


def test_a_crash_restart_outside_operations_joins_one_still_under_way() -> None:
    w = Waterfall()
    start(w, "a", 5.0, op=False)
    start(w, "b", 5.5, op=False)  # a is still starting: same picture
    w.event("a", "Healthy", 6.0, in_operation=False, has_healthcheck=True, one_shot=False)
    w.event("b", "Healthy", 6.0, in_operation=False, has_healthcheck=True, one_shot=False)
    start(w, "a", 9.0, op=False)  # all were ready: a new picture
    out = w.to_json()
    assert out["began"] == 9.0 and [b["service"] for b in out["bars"]] == ["a"]


def test_events_of_a_bar_that_ended_change_nothing() -> None:
    w = Waterfall()
    start(w, "db", 1.0)
    w.event("db", "Healthy", 1.5, in_operation=True, has_healthcheck=True, one_shot=False)
    version = w.version
    w.event("db", "Unhealthy", 3.0, in_operation=True, has_healthcheck=True, one_shot=False)
    w.event("db", "Stopped", 4.0, in_operation=True, has_healthcheck=True, one_shot=False)
    w.event("other", "Healthy", 4.0, in_operation=True, has_healthcheck=True, one_shot=False)
    assert w.version == version
    assert w.to_json()["bars"][0]["outcome"] == "healthy"
