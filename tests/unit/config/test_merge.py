"""Layered merge: mappings merge recursively, lists and scalars replace; positions follow."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from dev_orchestrator.config.merge import merge, merge_positions
from dev_orchestrator.config.source import parse_text
from dev_orchestrator.errors import Location


def test_mappings_merge_recursively() -> None:
    base = {"a": {"x": 1, "y": {"deep": 1, "keep": 2}}, "b": 1}
    overlay = {"a": {"y": {"deep": 9}, "z": 3}}
    assert merge(base, overlay) == {"a": {"x": 1, "y": {"deep": 9, "keep": 2}, "z": 3}, "b": 1}


def test_lists_replace() -> None:
    assert merge({"ports": [1, 2, 3]}, {"ports": [4]}) == {"ports": [4]}
    assert merge({"cmd": ["a", "b"]}, {"cmd": []}) == {"cmd": []}


def test_scalars_replace_and_types_may_change() -> None:
    assert merge({"a": 1}, {"a": "x"}) == {"a": "x"}
    assert merge({"a": {"x": 1}}, {"a": "flat"}) == {"a": "flat"}
    assert merge({"a": "flat"}, {"a": {"x": 1}}) == {"a": {"x": 1}}
    assert merge({"a": [1]}, {"a": {"k": 1}}) == {"a": {"k": 1}}


def test_null_in_overlay_replaces() -> None:
    assert merge({"a": {"x": 1}}, {"a": None}) == {"a": None}


def test_inputs_are_not_changed() -> None:
    base = {"a": {"x": 1}}
    overlay = {"a": {"y": 2}}
    merge(base, overlay)
    assert base == {"a": {"x": 1}}
    assert overlay == {"a": {"y": 2}}


def test_positions_follow_the_file_that_wrote_the_value() -> None:
    base = parse_text("a:\n  x: 1\n  list: [1, 2]\nb: 2\n", "base.yaml")
    over = parse_text("a:\n  x: 5\n  list: [9]\n", "over.yaml")
    positions = merge_positions(base.values, over.values, over.data)
    assert positions[("a", "x")] == Location("over.yaml", 2, 6)
    assert positions[("b",)] == Location("base.yaml", 4, 4)
    assert positions[("a", "list", 0)] == Location("over.yaml", 3, 10)
    # the base's second item is gone with the list it belonged to
    assert ("a", "list", 1) not in positions


def test_replacing_a_mapping_with_a_scalar_drops_positions_below() -> None:
    base = parse_text("a:\n  x: 1\n  y: 2\n", "base.yaml")
    over = parse_text("a: flat\n", "over.yaml")
    positions = merge_positions(base.values, over.values, over.data)
    assert positions[("a",)] == Location("over.yaml", 1, 4)
    assert ("a", "x") not in positions
    assert ("a", "y") not in positions


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.sampled_from("abc"), inner, max_size=3),
    max_leaves=8,
)
documents = st.dictionaries(st.sampled_from("abcd"), json_values, max_size=4)


@settings(max_examples=60, deadline=None)
@given(documents)
def test_empty_documents_change_nothing(a: dict[str, Any]) -> None:
    assert merge(a, {}) == a
    assert merge({}, a) == a
    assert merge(a, a) == a


@settings(max_examples=60, deadline=None)
@given(documents, documents)
def test_overlay_keys_win_and_base_keys_stay(a: dict[str, Any], b: dict[str, Any]) -> None:
    merged = merge(a, b)
    assert set(merged) == set(a) | set(b)
    for key, value in b.items():
        if not (isinstance(value, dict) and isinstance(a.get(key), dict)):
            assert merged[key] == value
    assert merge(merged, b) == merged  # applying the same overlay twice changes nothing
