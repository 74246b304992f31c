"""`logs` output: whole blocks formatted at once read exactly as line by line."""

from __future__ import annotations

import io

import pytest

from dev_orchestrator.cli.views import LogLines
from dev_orchestrator.logs import reader
from dev_orchestrator.logs.reader import parse

STAMPED = [
    "2026-12-04T10:00:00.123 hello",
    "2026-12-04T10:00:00.124 ",  # empty text
    "2026-12-04T10:00:00.125",  # the stamp alone
    "2026-12-04T10:00:00.126 two  spaces and a tab\there",
    "2026-12-04T10:00:00.127 ünïcode ✓ \ufffd and \x1b[31mcolour\x1b[0m",
    "2026-12-04T10:00:00.128 a \\1 and \\g<0> that is not a group",
    "abcd-efghiTjklmnopqrstuv and the rest",  # what parse takes for a stamp, by its places
]
OTHERS = [
    "no stamp at all",
    "",
    "2026-12-04T10:00:00.129 ends with a carriage return\r",
    "2026-12-04T10:00:0\r",  # 22 characters and a carriage return: no stamp once it goes
    "2026-12-04T10:00:00.130 a progress\r bar\r",
]


def _both(service: str, blocks: list[str]) -> tuple[str, str]:
    fast, slow = LogLines([service, "other-service"]), LogLines([service, "other-service"])
    fast.out, slow.out = io.StringIO(), io.StringIO()
    fast.show_text(service, blocks)
    slow.show_all([parse(service, raw) for block in blocks for raw in block.split("\n")])
    return fast.out.getvalue(), slow.out.getvalue()


@pytest.mark.parametrize("odd", [None, *OTHERS])
def test_a_block_reads_as_its_lines_one_by_one(odd: str | None) -> None:
    lines = STAMPED + ([odd] if odd is not None else [])
    fast, slow = _both("web", ["\n".join(lines), "2026-12-04T10:00:01.000 the next block"])
    assert fast == slow
    assert fast.splitlines()[0] == "10:00:00.123 web           | hello"


def test_a_block_of_stamped_lines_is_not_parsed_line_by_line(monkeypatch: pytest.MonkeyPatch) -> None:
    block = "\n".join(f"2026-12-04T10:00:00.{i % 1000:03d} line {i}" for i in range(50_000))

    def no_parse(*_args: object) -> None:
        raise AssertionError("a block of stamped lines was parsed line by line")

    printer = LogLines(["web"])
    printer.out = io.StringIO()
    monkeypatch.setattr(reader, "parse", no_parse)
    printer.show_text("web", [block])
    out = printer.out.getvalue().splitlines()
    assert len(out) == 50_000 and out[-1] == "10:00:00.999 web | line 49999"


def test_a_coloured_prefix_reads_the_same_both_ways() -> None:
    fast, slow = LogLines(["web"]), LogLines(["web"])
    for printer in (fast, slow):
        printer.prefixes = {"web": "\x1b[36mweb |\x1b[0m"}
        printer.out = io.StringIO()
    block = "\n".join(STAMPED)
    fast.show_text("web", [block])
    slow.show_all([parse("web", raw) for raw in block.split("\n")])
    assert fast.out.getvalue() == slow.out.getvalue()
    assert fast.out.getvalue().startswith("10:00:00.123 \x1b[36mweb |\x1b[0m hello\n")
