"""Interpolation with Docker Compose's meaning: every form, escapes, nesting, malformed input."""

from __future__ import annotations

import pytest

from dev_orchestrator.config.interpolate import InterpolationError, Interpolator, walk_strings

ENV = {"SET": "value", "EMPTY": "", "PORT": "8080", "HOST": "db"}


class Recorder:
    """on_missing that records what was asked for and substitutes an empty string."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def __call__(self, name: str) -> str:
        self.asked.append(name)
        return ""


def expand(text: str, env: dict[str, str] | None = None) -> str:
    return Interpolator(ENV if env is None else env, Recorder()).expand(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain text", "plain text"),
        ("${SET}", "value"),
        ("$SET", "value"),
        ("a-$SET-b", "a-value-b"),
        ("$SET.suffix", "value.suffix"),
        ("${HOST}:${PORT}", "db:8080"),
        ("$HOST:$PORT", "db:8080"),
        # ${VAR:-default}: default when unset or empty
        ("${SET:-d}", "value"),
        ("${EMPTY:-d}", "d"),
        ("${UNSET:-d}", "d"),
        ("${UNSET:-}", ""),
        ("${UNSET:-with spaces and : colons}", "with spaces and : colons"),
        # ${VAR-default}: default only when unset
        ("${SET-d}", "value"),
        ("${EMPTY-d}", ""),
        ("${UNSET-d}", "d"),
        # ${VAR:?message} / ${VAR?message}: the value when set
        ("${SET:?needed}", "value"),
        ("${SET?needed}", "value"),
        ("${EMPTY?needed}", ""),
        # ${VAR:+alt}: alt when set and non-empty; ${VAR+alt}: alt when set
        ("${SET:+alt}", "alt"),
        ("${EMPTY:+alt}", ""),
        ("${UNSET:+alt}", ""),
        ("${SET+alt}", "alt"),
        ("${EMPTY+alt}", "alt"),
        ("${UNSET+alt}", ""),
    ],
)
def test_forms(text: str, expected: str) -> None:
    assert expand(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$$", "$"),
        ("$$SET", "$SET"),
        ("$${SET}", "${SET}"),
        ("$$$SET", "$value"),
        ("cost: $$5", "cost: $5"),
        ("${UNSET:-$$}", "$"),
        ("${UNSET:-a$${b}}", "a${b}"),
    ],
)
def test_dollar_dollar_is_a_literal_dollar(text: str, expected: str) -> None:
    assert expand(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("${UNSET:-${SET}}", "value"),
        ("${UNSET:-${ALSO_UNSET:-deep}}", "deep"),
        ("${UNSET:-http://${HOST}:${PORT:-1}/x}", "http://db:8080/x"),
        ("${SET:+${HOST}-${PORT}}", "db-8080"),
        ("${UNSET:-$HOST}", "db"),
        ("${UNSET-${EMPTY:-e}}", "e"),
    ],
)
def test_nested_words_are_expanded(text: str, expected: str) -> None:
    assert expand(text) == expected


def test_unset_plain_variable_goes_to_on_missing() -> None:
    recorder = Recorder()
    assert Interpolator(ENV, recorder).expand("a${UNSET}b$OTHER") == "ab"
    assert recorder.asked == ["UNSET", "OTHER"]


def test_on_missing_may_substitute_or_raise() -> None:
    assert Interpolator({}, lambda name: f"<{name}>").expand("${X}") == "<X>"

    def strict(name: str) -> str:
        raise InterpolationError(f"{name} is not set")

    with pytest.raises(InterpolationError, match="^X is not set$"):
        Interpolator({}, strict).expand("${X}")


@pytest.mark.parametrize(
    "text",
    ["${SET:-${UNSET}}", "${UNSET:+${ALSO}}", "${SET:-${UNSET:?needed}}", "${SET-$UNSET}"],
)
def test_branch_not_taken_is_not_evaluated(text: str) -> None:
    recorder = Recorder()
    Interpolator(ENV, recorder).expand(text)
    assert recorder.asked == []


def test_empty_value_counts_as_set_for_plain_reference() -> None:
    recorder = Recorder()
    assert Interpolator(ENV, recorder).expand("[${EMPTY}]") == "[]"
    assert recorder.asked == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("${UNSET:?set UNSET first}", "required variable UNSET is unset or empty: set UNSET first"),
        ("${EMPTY:?no empties}", "required variable EMPTY is unset or empty: no empties"),
        ("${UNSET?needed}", "required variable UNSET is unset: needed"),
        (
            "${UNSET:?}",
            "required variable UNSET is unset or empty: set it in the environment or .env",
        ),
        ("${UNSET:?need ${HOST}}", "required variable UNSET is unset or empty: need db"),
        ("${UNSET:-${INNER:?inner}}", "required variable INNER is unset or empty: inner"),
    ],
)
def test_required_variables(text: str, message: str) -> None:
    with pytest.raises(InterpolationError) as info:
        expand(text)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("$", 'invalid interpolation in "$": a lone "$" (write "$$" for a literal $)'),
        ("a $ b", 'invalid interpolation in "a $ b": a lone "$" (write "$$" for a literal $)'),
        ("$1", 'invalid interpolation in "$1": a lone "$" (write "$$" for a literal $)'),
        ("${", 'invalid interpolation in "${": expected a variable name after "${"'),
        ("${}", 'invalid interpolation in "${}": expected a variable name after "${"'),
        ("${1A}", 'invalid interpolation in "${1A}": expected a variable name after "${"'),
        ("${A", 'invalid interpolation in "${A": missing closing "}"'),
        ("${A:-x", 'invalid interpolation in "${A:-x": missing closing "}"'),
        ("${A:-${B}", 'invalid interpolation in "${A:-${B}": missing closing "}"'),
        (
            "${A!}",
            'invalid interpolation in "${A!}": unexpected "!" after "${A" '
            "(use ${A}, ${A:-default} or ${A:?message})",
        ),
        (
            "${A B}",
            'invalid interpolation in "${A B}": unexpected " " after "${A" '
            "(use ${A}, ${A:-default} or ${A:?message})",
        ),
        # a malformed branch is reported even when it is not taken
        ("${SET:-${}}", 'invalid interpolation in "${SET:-${}}": expected a variable name after "${"'),
        ("${SET:-$}", 'invalid interpolation in "${SET:-$}": a lone "$" (write "$$" for a literal $)'),
    ],
)
def test_malformed_expressions(text: str, message: str) -> None:
    with pytest.raises(InterpolationError) as info:
        expand(text)
    assert str(info.value) == message


def test_no_shell_and_no_code() -> None:
    with pytest.raises(InterpolationError):
        expand("$(echo hi)")
    assert expand("`id` ; rm -rf /") == "`id` ; rm -rf /"
    assert expand("${UNSET:-$$(id)}") == "$(id)"


def test_walk_strings_applies_to_every_string_with_its_path() -> None:
    seen: list[tuple[str | int, ...]] = []

    def fn(value: str, path: tuple[str | int, ...]) -> str:
        seen.append(path)
        return value.upper()

    data = {"a": "x", "b": [1, "y", {"c": "z"}], "d": None, "e": True}
    assert walk_strings(data, fn) == {"a": "X", "b": [1, "Y", {"c": "Z"}], "d": None, "e": True}
    assert seen == [("a",), ("b", 1), ("b", 2, "c")]
    assert data["a"] == "x"  # the input is not changed


@pytest.mark.parametrize(
    ("text", "read"),
    [
        ("plain", set()),
        ("$SET and ${PORT}", {"SET", "PORT"}),
        ("${UNSET:-${SET}}", {"UNSET", "SET"}),  # the default is taken: SET is read
        ("${SET:-${PORT}}", {"SET"}),  # the default is not taken: PORT is not read
        ("${SET:+${PORT}}", {"SET", "PORT"}),
        ("${UNSET:+${PORT}}", {"UNSET"}),
        ("$$SET", set()),  # an escaped dollar names nothing
    ],
)
def test_expand_tracked_reports_the_variables_read(text: str, read: set[str]) -> None:
    interpolator = Interpolator(ENV, Recorder())
    value, names = interpolator.expand_tracked(text)
    assert value == interpolator.expand(text)
    assert names == read


def test_referenced_names_lists_every_branch() -> None:
    from dev_orchestrator.config.interpolate import referenced_names

    assert referenced_names("postgresql://${U:-app}:${PW:?x}@$HOST/${DB:-${U}} $$NOT") == ["U", "PW", "HOST", "DB"]


def test_every_required_variable_of_one_value_is_reported() -> None:
    interpolator = Interpolator({"SET": "x"}, lambda name: "")
    with pytest.raises(InterpolationError) as caught:
        interpolator.expand("${A:?}@${SET}/${B?need B}")
    assert caught.value.messages == [
        "required variable A is unset or empty: set it in the environment or .env",
        "required variable B is unset: need B",
    ]


def test_unset_names_are_the_variables_without_a_default() -> None:
    from dev_orchestrator.config.interpolate import unset_names

    document = {"services": {"db": {"environment": {
        "A": "${PASSWORD:-fallback}", "B": "${TOKEN}", "C": "x${HOST:?set HOST}", "D": "$$LITERAL",
        "E": ["${SET}", "${OTHER-}"], "F": "${NESTED:-${INNER}}"}}}}
    assert unset_names(document, {"SET": "1"}) == ["TOKEN", "HOST", "INNER"]
    assert unset_names(document, {"SET": "", "TOKEN": "t", "HOST": "h", "INNER": "i"}) == []
