"""Reading one YAML file: hostile structure (alias bombs, deep nesting, tags) and merge keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from dev_orchestrator.config.source import parse_file, parse_text
from dev_orchestrator.config.yaml_tree import MAX_DEPTH, MAX_NODES
from dev_orchestrator.errors import ConfigError, Location


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_text(text, "services.yaml")
    return [str(d) for d in info.value.diagnostics]


def alias_bomb(levels: int = 9) -> str:
    """The "billion laughs": each anchor holds nine aliases of the one before."""
    lines = ["name: bomb", "x-0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, levels + 1):
        lines.append(f"x-{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    lines.append("services: {}")
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_one_error_at_the_alias() -> None:
    found = problems(alias_bomb())
    assert len(found) == 1
    # *a4 is the first alias whose expansion crosses the budget (9**5 values and more)
    assert found[0].startswith("services.yaml:7:11: too many aliases (*a4 would make the document more than")
    assert "use fewer nested aliases" in found[0]


def test_a_few_aliases_are_fine() -> None:
    data = parse_text(alias_bomb(levels=2), "services.yaml").data
    assert len(data["x-2"]) == 9 and data["x-2"][0][0] == ["lol"] * 9


def test_deep_nesting_is_one_error() -> None:
    assert problems("services: " + "[" * 500 + "]" * 500 + "\n") == [
        f"services.yaml:1:{11 + MAX_DEPTH - 1}: nesting deeper than {MAX_DEPTH} levels; flatten the document"
    ]
    deep_maps = "services:\n" + "".join("  " * i + f"  k{i}:\n" for i in range(300)) + "  " * 301 + "v\n"
    assert "nesting deeper than" in problems(deep_maps)[0]


def test_nesting_at_the_limit_loads() -> None:
    levels = MAX_DEPTH - 1  # the top-level mapping is one level
    data = parse_text("a: " + "[" * levels + "]" * levels + "\n", "f").data
    node = data["a"]
    for _ in range(levels - 1):
        node = node[0]
    assert node == []


def test_aliases_cannot_nest_deeper_than_the_limit() -> None:
    half = MAX_DEPTH // 2 + 1
    text = "a: &a " + "[" * half + "]" * half + "\nb: &b " + "[" * (half - 2) + "*a" + "]" * (half - 2) + "\n"
    assert "nesting deeper than" in problems(text)[0] and "alias *a" in problems(text)[0]


def test_too_many_plain_values() -> None:
    text = "a: [" + ", ".join(["1"] * (MAX_NODES + 1)) + "]\n"
    assert "too many values" in problems(text)[0]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: &a [*a]\n", "services.yaml:1:8: recursive alias *a (it is used inside its own anchor &a)"),
        ("a: &a {b: *a}\n", "services.yaml:1:11: recursive alias *a (it is used inside its own anchor &a)"),
        ("a: *nowhere\n", "services.yaml:1:4: unknown alias *nowhere (define &nowhere before using it)"),
        ("a: 1\n---\nb: 2\n", "services.yaml:2:1: more than one YAML document (a line with --- starts another); keep one"),
        ("a: 1\x00\n", "services.yaml:1:5: YAML error: unacceptable character #x0000 (remove it)"),
        ("a: 2024-13-45\n",
         'services.yaml:1:4: a: cannot read "2024-13-45": month must be in 1..12 (quote it to keep it as text)'),
    ],
)
def test_structural_errors_name_the_place(text: str, expected: str) -> None:
    assert problems(text) == [expected]


@pytest.mark.parametrize(
    ("text", "tag", "place"),
    [
        ("a: 1\nb: !!python/object/apply:os.system [id]\n", "!!python/object/apply:os.system", "2:4: b"),
        ("a: !!python/object:os.system {x: 1}\n", "!!python/object:os.system", "1:4: a"),
        ("a: !!python/name:os.system ''\n", "!!python/name:os.system", "1:4: a"),
        ("a:\n  b: !custom value\n", "!custom", "2:6: a.b"),
        ("a: !!set {x, y}\n", "!!set", "1:4: a"),
    ],
)
def test_tags_are_rejected_at_their_place(text: str, tag: str, place: str) -> None:
    assert problems(text) == [
        f"services.yaml:{place}: unsupported YAML tag {tag} (only plain values, lists and mappings "
        "are allowed; remove the tag)"
    ]


def test_plain_tags_are_fine() -> None:
    assert parse_text("a: !!str 8080\nb: !!int '3'\n", "f").data == {"a": "8080", "b": 3}


def test_keys_are_kept_as_written() -> None:
    assert parse_text("yes: 1\nnull: 2\n1.5: 3\n8080: 4\n'<<': 5\n", "f").data == {
        "yes": 1, "null": 2, "1.5": 3, 8080: 4, "<<": 5,
    }


MERGES = """
x-common: &common
  restart: always
  command: run
  env: {A: "1"}
x-other: &other
  restart: on-failure
  extra: other
svc:
  <<: *common
  restart: "no"
both:
  <<: [*common, *other]
  command: mine
"""


def test_merge_keys_let_the_mapping_override() -> None:
    source = parse_text(MERGES, "services.yaml")
    assert source.data["svc"] == {"restart": "no", "command": "run", "env": {"A": "1"}}
    # the first merged mapping wins over a later one; the mapping's own keys over both
    assert source.data["both"] == {"restart": "always", "command": "mine", "env": {"A": "1"}, "extra": "other"}
    assert source.keys[("svc", "restart")] == Location("services.yaml", 11, 3)
    assert source.values[("svc", "command")] == Location("services.yaml", 4, 12)  # where the anchor wrote it


def test_merged_keys_take_the_place_of_the_merge_key() -> None:
    data = parse_text("x: &x {b: 2, c: 3}\ny: {a: 1, <<: *x, d: 4, c: 5}\n", "f").data
    assert list(data["y"]) == ["a", "b", "d", "c"] and data["y"]["c"] == 5  # an own key keeps its place


def test_nested_merges() -> None:
    data = parse_text("a: &a {x: 1}\nb: &b {<<: *a, y: 2}\nc: {<<: *b, x: 3}\n", "f").data
    assert data["c"] == {"x": 3, "y": 2}


def test_duplicates_among_the_own_keys_are_still_errors() -> None:
    assert problems("x: &x {a: 1}\ny: {<<: *x, b: 1, b: 2}\n") == [
        'services.yaml:2:19: y.b: duplicate key "b" (the key already appears at line 2; keep one)'
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: {<<: 3}\n", 'services.yaml:1:9: a: a merge key "<<" needs a mapping or a list of mappings (<<: *anchor)'),
        ("a: {<<: {b: 1}, <<: {c: 2}}\n",
         'services.yaml:1:17: a: duplicate merge key "<<" (list the mappings: <<: [*a, *b])'),
    ],
)
def test_bad_merge_keys(text: str, expected: str) -> None:
    assert problems(text) == [expected]


def test_a_file_that_is_not_utf8_names_the_place(tmp_path: Path) -> None:
    path = tmp_path / "services.yaml"
    path.write_bytes(b"name: app\nservices:\n  a: {command: \xff}\n")
    with pytest.raises(ConfigError) as info:
        parse_file(path, "services.yaml")
    assert str(info.value) == (
        "services.yaml:3:16: not UTF-8 text (byte 35: 0xff); save the file as UTF-8"
    )
