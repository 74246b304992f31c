"""The log pane's model: interleaving, one service, filter with exclusion and context,
search positions for n/N, and JSON lines pretty-printed."""

from __future__ import annotations

from dev_orchestrator.logs.reader import LogLine, parse
from dev_orchestrator.ui.logmodel import Filter, LogModel, pretty_json, spans


def line(second: int, service: str, text: str) -> LogLine:
    return parse(service, f"2026-11-26T12:01:{second:02d}.000 {text}")


def sample() -> LogModel:
    model = LogModel(["backend", "redis"])
    model.add([
        line(1, "redis", "ready to accept connections"),
        line(2, "backend", "GET /health 200"),
        line(3, "backend", "ERROR database timeout"),
        line(4, "redis", "client connected"),
        line(5, "backend", "GET /api 200"),
        line(6, "backend", "retrying"),
    ])
    return model


def texts(model: LogModel) -> list[str]:
    return [model.plain(r) for r in model.rows()]


def test_all_services_interleaved_with_aligned_prefixes() -> None:
    model = sample()
    assert texts(model)[:2] == [
        "12:01:01.000 redis   | ready to accept connections",
        "12:01:02.000 backend | GET /health 200",
    ]
    model.toggle_timestamps()
    assert texts(model)[0] == "redis   | ready to accept connections"


def test_one_service_view_and_back() -> None:
    model = sample()
    model.show_only("redis")
    assert [r.text for r in model.rows()] == ["ready to accept connections", "client connected"]
    assert model.describe().startswith("redis")
    model.show_only(None)
    assert len(model.rows()) == 6


def test_filter_keeps_matches_smart_case() -> None:
    model = sample()
    model.set_filter(Filter.parse("get"))
    assert [r.text for r in model.rows()] == ["GET /health 200", "GET /api 200"]
    model.set_filter(Filter.parse("Get"))  # a capital letter: case matters
    assert model.rows() == []


def test_filter_exclude() -> None:
    model = sample()
    model.set_filter(Filter.parse("!GET"))
    assert [r.text for r in model.rows()] == [
        "ready to accept connections", "ERROR database timeout", "client connected", "retrying"]


def test_filter_with_context_marks_context_rows() -> None:
    model = sample()
    model.set_filter(Filter.parse("timeout +1"))
    rows = model.rows()
    assert [(r.text, r.context) for r in rows] == [
        ("GET /health 200", True), ("ERROR database timeout", False), ("client connected", True)]
    model.show_only("backend")  # context counts within the view
    assert [r.text for r in model.rows()] == ["GET /health 200", "ERROR database timeout", "GET /api 200"]


def test_filter_parse() -> None:
    assert Filter.parse("") is None
    assert Filter.parse("!") is None
    assert Filter.parse("error +3") == Filter("error", False, 3)
    assert Filter.parse("!noise +3") == Filter("noise", True, 0)
    assert Filter.parse("a +b") == Filter("a +b")
    assert Filter.parse("x +2 +0") == Filter("x +2", False, 0)


def test_search_positions_move_with_n_and_wrap() -> None:
    model = sample()
    model.set_search("get")
    assert model.hits() == [1, 4]
    assert model.next_hit() == 1
    assert model.next_hit() == 4
    assert model.next_hit() == 1  # wraps
    assert model.prev_hit() == 4  # N wraps the other way
    assert model.prev_hit() == 1
    assert "search 'get' 1/2" in model.describe()
    assert model.next_hit(after=2) == 4  # from where the view is
    model.set_search("nowhere")
    assert model.next_hit() is None and model.current_row() is None


def test_search_follows_the_filter() -> None:
    model = sample()
    model.set_filter(Filter.parse("200"))
    model.set_search("api")
    assert model.hits() == [1]


def test_spans_smart_case() -> None:
    assert spans("Error error ERROR", "error") == [(0, 5), (6, 11), (12, 17)]
    assert spans("Error error ERROR", "Error") == [(0, 5)]
    assert spans("aaa", "") == []


def test_pretty_json_lines() -> None:
    assert pretty_json('{"level": "info", "n": [1, 2]}') == [
        "{", '  "level": "info",', '  "n": [', "    1,", "    2", "  ]", "}"]
    assert pretty_json('INFO {"a": 1}') == ["INFO", "{", '  "a": 1', "}"]
    assert pretty_json("plain text {not json") is None
    assert pretty_json("42") is None


def test_pretty_rows_keep_the_prefix_and_one_clock() -> None:
    model = LogModel()
    model.add([line(1, "api", '{"msg": "hi"}'), line(2, "api", "plain")])
    model.toggle_pretty()
    rows = model.rows()
    assert [r.text for r in rows] == ["{", '  "msg": "hi"', "}", "plain"]
    assert [r.first for r in rows] == [True, False, False, True]
    assert texts(model)[1] == '             api | ' + '  "msg": "hi"'
    model.set_search("hi")
    assert model.hits() == [1]


def test_limit_drops_the_oldest_lines() -> None:
    model = LogModel(limit=3)
    model.add([line(i, "a", f"n{i}") for i in range(5)])
    assert [r.text for r in model.rows()] == ["n2", "n3", "n4"]


def test_new_service_widens_the_prefix_and_gets_a_colour() -> None:
    model = LogModel(["a"])
    model.add([line(1, "longer-name", "x")])
    assert model.width == len("longer-name")
    assert model.color_index("longer-name") == 1 and model.color_index("a") == 0


def test_version_moves_on_every_change() -> None:
    model = LogModel()
    before = model.version
    model.add([])
    assert model.version == before
    model.add([line(1, "a", "x")])
    model.set_search("x")
    assert model.version == before + 2


def test_new_lines_extend_the_rows_and_hits_without_a_rebuild() -> None:
    model = sample()
    model.set_search("get")
    assert model.hits() == [1, 4]
    epoch = model.epoch
    model.add([line(7, "backend", "GET /late 200")])
    assert [r.text for r in model.rows()][-1] == "GET /late 200"
    assert model.hits() == [1, 4, 6]
    assert model.epoch == epoch  # grown, not rebuilt
    model.set_filter(Filter.parse("GET"))
    assert model.epoch == epoch  # rebuilt lazily, on the next look
    assert model.hits() == [0, 1, 2] and model.epoch == epoch + 1


def test_a_context_filter_takes_earlier_lines_in_when_a_match_comes() -> None:
    model = sample()
    model.set_filter(Filter.parse("late +1"))
    assert model.rows() == []
    model.add([line(7, "backend", "late one")])
    assert [(r.text, r.context) for r in model.rows()] == [("retrying", True), ("late one", False)]


def test_a_new_service_rebuilds_with_the_wider_prefix() -> None:
    model = sample()
    model.rows()
    model.add([line(7, "visual-brain", "up")])
    assert model.plain(model.rows()[0]).startswith("12:01:01.000 redis        | ")


def test_old_lines_leave_in_batches() -> None:
    model = LogModel(limit=100)
    model.add([line(i % 60, "a", f"n{i}") for i in range(110)])
    assert len(model.lines) == 110  # within the slack (a tenth of the limit)
    model.add([line(0, "a", "n110")])
    assert len(model.lines) == 100 and model.rows()[0].text == "n11"
