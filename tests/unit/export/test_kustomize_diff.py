"""The pure parts of the Kustomize export: JSON patches of what differs, image references."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from dev_orchestrator.export.kustomize import json_patch, split_image


def apply(document: Any, ops: list[dict[str, Any]]) -> Any:
    """A small JSON 6902 applier for add, remove and replace (what json_patch writes)."""
    document = copy.deepcopy(document)
    for op in ops:
        parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
        if not parts:
            document = op["value"]
            continue
        parent = document
        for part in parts[:-1]:
            parent = parent[int(part)] if isinstance(parent, list) else parent[part]
        last: Any = int(parts[-1]) if isinstance(parent, list) else parts[-1]
        if op["op"] == "remove":
            del parent[last]
        else:
            parent[last] = op["value"]
    return document


def test_only_what_differs_is_patched() -> None:
    old = {"spec": {"replicas": 1, "template": {"spec": {"containers": [
        {"name": "api", "image": "a:1", "ports": [{"containerPort": 80}]}]}}}}
    new = copy.deepcopy(old)
    new["spec"]["template"]["spec"]["containers"][0]["image"] = "a:2"
    new["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 30
    assert json_patch(old, new) == [
        {"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "a:2"},
        {"op": "add", "path": "/spec/template/spec/terminationGracePeriodSeconds", "value": 30},
    ]
    assert json_patch(old, old) == []


def test_keys_with_slashes_are_escaped() -> None:
    ops = json_patch({"labels": {"app.kubernetes.io/name": "a"}}, {"labels": {"app.kubernetes.io/name": "b"}})
    assert ops == [{"op": "replace", "path": "/labels/app.kubernetes.io~1name", "value": "b"}]


def test_lists_of_other_shapes_are_replaced_whole() -> None:
    assert json_patch({"args": ["a", "b"]}, {"args": ["a", "c"]}) == [
        {"op": "replace", "path": "/args", "value": ["a", "c"]}]
    assert json_patch({"c": [{"name": "x"}]}, {"c": [{"name": "y"}]}) == [
        {"op": "replace", "path": "/c", "value": [{"name": "y"}]}]


values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.sampled_from(["a", "b/c", "name", "d~e"]), inner, max_size=3),
    max_leaves=12,
)


@given(values, values)
def test_applying_the_patch_gives_the_new_document(old: Any, new: Any) -> None:
    assert apply(old, json_patch(old, new)) == new


def test_image_references() -> None:
    assert split_image("shop/api:1") == ("shop/api", "1", None)
    assert split_image("registry.example.com:5000/shop/api") == ("registry.example.com:5000/shop/api", None, None)
    assert split_image("registry.example.com:5000/shop/api:2") == ("registry.example.com:5000/shop/api", "2", None)
    assert split_image("busybox@sha256:abc") == ("busybox", None, "sha256:abc")
    assert split_image("busybox:1.36@sha256:abc") == ("busybox", "1.36", "sha256:abc")
