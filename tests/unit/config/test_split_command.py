"""A command string splits exactly as shlex.split splits it, on the fast path too."""

from __future__ import annotations

import shlex

from hypothesis import given, settings
from hypothesis import strategies as st

from dev_orchestrator.config.models import split_command

TEXT = st.text(alphabet=st.sampled_from(list("ab-=./$|;&() \t\r\n\x0b\x0c\xa0\u2003'\"\\#")), max_size=40)


@settings(max_examples=2000, deadline=None)
@given(TEXT)
def test_split_command_is_shlex_split(text: str) -> None:
    try:
        expected = shlex.split(text)
    except ValueError:
        try:
            split_command(text)
        except ValueError:
            return
        raise AssertionError(f"{text!r} should not split") from None
    assert split_command(text) == expected


def test_the_usual_commands() -> None:
    assert split_command("python -m app --port 8000") == ["python", "-m", "app", "--port", "8000"]
    assert split_command("echo 'a b' c") == ["echo", "a b", "c"]
    assert split_command("a\x0cb c") == ["a\x0cb", "c"]  # only shlex's whitespace separates
