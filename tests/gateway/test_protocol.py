"""The stdio command parser: every command in both forms, and every way a line can be wrong."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dita.gateway.protocol import (
    MAX_LINE_BYTES,
    CancelCommand,
    MarkCommand,
    OrderCommand,
    ProtocolError,
    QueryCommand,
    parse_line,
)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("ORDER BUY BTCUSDT 0.5 50000 c1", OrderCommand("BUY", "BTCUSDT", 0.5, 50000.0, "c1")),
        ("order sell eth 2 mkt c-2", OrderCommand("SELL", "ETH", 2.0, None, "c-2")),
        ("  ORDER  BUY  X  1e-3  1e4  a.b:c_d  \r\n", OrderCommand("BUY", "X", 0.001, 10000.0, "a.b:c_d")),
        ("CANCEL c1", CancelCommand("c1")),
        ("QUERY ORDERS", QueryCommand("ORDERS")),
        ("query account", QueryCommand("ACCOUNT")),
        ("QUERY SLOTS", QueryCommand("SLOTS")),
        ("QUERY c1", QueryCommand("ORDER", "c1")),
        ("MARK BTCUSDT 50100", MarkCommand("BTCUSDT", 50100.0)),
        (
            '{"cmd":"ORDER","side":"BUY","symbol":"btc","qty":1,"price":100,"client_id":"j1"}',
            OrderCommand("BUY", "BTC", 1.0, 100.0, "j1"),
        ),
        (
            '{"cmd":"order","side":"sell","symbol":"BTC","qty":"1.5","client_id":"j2"}',
            OrderCommand("SELL", "BTC", 1.5, None, "j2"),
        ),
        (
            '{"cmd":"ORDER","side":"SELL","symbol":"BTC","qty":1,"price":"MKT","client_id":"j3"}',
            OrderCommand("SELL", "BTC", 1.0, None, "j3"),
        ),
        ('{"cmd":"CANCEL","client_id":"j1"}', CancelCommand("j1")),
        ('{"cmd":"QUERY","what":"slots"}', QueryCommand("SLOTS")),
        ('{"cmd":"QUERY","client_id":"j1"}', QueryCommand("ORDER", "j1")),
        ('{"cmd":"MARK","symbol":"BTC","price":101.5}', MarkCommand("BTC", 101.5)),
    ],
)
def test_commands_parse(line: str, expected: object) -> None:
    assert parse_line(line) == expected


@pytest.mark.parametrize("line", ["", "   ", "\n", "# a comment", "   # indented comment"])
def test_blank_and_comment_lines_are_skipped(line: str) -> None:
    assert parse_line(line) is None


_ORDER = '{"cmd":"ORDER","side":"BUY","symbol":"B",'
_CUT_1E400 = "1" + "0" * 60 + "..."
_CUT_MINUS_9S = "-" + "9" * 60 + "..."


@pytest.mark.parametrize(
    ("line", "code", "field", "value"),
    [
        ("HELLO world", "UNKNOWN_COMMAND", "command", "HELLO"),
        ("ORDER BUY BTC 1 100", "WRONG_ARITY", "arguments", 4),
        ("ORDER BUY BTC 1 100 c1 extra", "WRONG_ARITY", "arguments", 6),
        ("CANCEL", "WRONG_ARITY", "arguments", 0),
        ("QUERY", "WRONG_ARITY", "arguments", 0),
        ("ORDER HOLD BTC 1 100 c1", "INVALID_FIELD", "side", "HOLD"),
        ("ORDER BUY BTC -1 100 c1", "INVALID_FIELD", "qty", "-1"),
        ("ORDER BUY BTC 0 100 c1", "INVALID_FIELD", "qty", "0"),
        ("ORDER BUY BTC nan 100 c1", "INVALID_FIELD", "qty", "nan"),
        ("ORDER BUY BTC inf 100 c1", "INVALID_FIELD", "qty", "inf"),
        ("ORDER BUY BTC one 100 c1", "INVALID_FIELD", "qty", "one"),
        ("ORDER BUY BTC 1 cheap c1", "INVALID_FIELD", "price", "cheap"),
        ("ORDER BUY BTC 1 -5 c1", "INVALID_FIELD", "price", "-5"),
        ("ORDER BUY BT$C 1 100 c1", "INVALID_FIELD", "symbol", "BT$C"),
        ("ORDER BUY BTC 1 100 c/1", "INVALID_FIELD", "client_id", "c/1"),
        ("CANCEL " + "x" * 65, "INVALID_FIELD", "client_id", "x" * 61 + "..."),
        ("MARK BTC 0", "INVALID_FIELD", "price", "0"),
        ("{not json", "INVALID_JSON", "line", None),
        ("[1, 2]", "INVALID_JSON", "line", None),
        ('{"side":"BUY"}', "MISSING_FIELD", "cmd", None),
        ('{"cmd":7}', "INVALID_FIELD", "cmd", 7),
        ('{"cmd":"DANCE"}', "UNKNOWN_COMMAND", "cmd", "DANCE"),
        (_ORDER + '"qty":1,"client_id":"c","tif":"GTC"}', "UNKNOWN_FIELD", "tif", None),
        (_ORDER + '"client_id":"c"}', "MISSING_FIELD", "qty", None),
        (_ORDER + '"qty":true,"client_id":"c"}', "INVALID_FIELD", "qty", True),
        (_ORDER + '"qty":NaN,"client_id":"c"}', "INVALID_FIELD", "qty", "nan"),
        # Past float's range: float(int) raises OverflowError, which must not end the session.
        (_ORDER + '"qty":1' + "0" * 400 + ',"client_id":"c"}', "INVALID_FIELD", "qty", _CUT_1E400),
        ('{"cmd":"MARK","symbol":"B","price":-' + "9" * 400 + "}", "INVALID_FIELD", "price", _CUT_MINUS_9S),
        # Just under 2**1024 still rounds up to it: float() overflows there too.
        (
            _ORDER + f'"qty":{2**1024 - 1},"client_id":"c"}}',
            "INVALID_FIELD",
            "qty",
            str(2**1024 - 1)[:61] + "...",
        ),
        (_ORDER + '"qty":1,"price":[1],"client_id":"c"}', "INVALID_FIELD", "price", "[1]"),
        (_ORDER + '"qty":1,"client_id":5}', "INVALID_FIELD", "client_id", 5),
        ('{"cmd":"QUERY"}', "MISSING_FIELD", "what", None),
        ('{"cmd":"QUERY","what":"FILLS"}', "INVALID_FIELD", "what", "FILLS"),
        ('{"cmd":"QUERY","what":"SLOTS","client_id":"c"}', "INVALID_FIELD", "client_id", None),
    ],
)
def test_bad_lines_name_the_field_and_value(line: str, code: str, field: str, value: object) -> None:
    with pytest.raises(ProtocolError) as info:
        parse_line(line)
    err = info.value
    assert err.code == code
    assert err.field == field
    assert err.value == value
    event = err.to_event()
    assert event["code"] == code and event["field"] == field
    json.dumps(event, allow_nan=False)  # always strict JSON


def test_overlong_line_is_refused() -> None:
    with pytest.raises(ProtocolError) as info:
        parse_line("QUERY " + "A" * MAX_LINE_BYTES)
    assert info.value.code == "LINE_TOO_LONG"


def test_deeply_nested_json_is_an_error_not_a_crash() -> None:
    with pytest.raises(ProtocolError) as info:
        parse_line('{"cmd":' + "[" * 2040 + "]" * 2040 + "}")  # deeper than json's recursion limit
    assert info.value.code == "INVALID_JSON"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_any_text_parses_or_fails_cleanly(line: str) -> None:
    try:
        parse_line(line)
    except ProtocolError as err:
        assert err.code and err.message
        json.dumps(err.to_event(), allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["cmd", "side", "symbol", "qty", "price", "client_id", "what", "x"]),
        st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=10)),
    )
)
def test_any_json_object_parses_or_fails_cleanly(obj: dict[str, object]) -> None:
    try:
        cmd = parse_line(json.dumps(obj))
    except ProtocolError as err:
        json.dumps(err.to_event(), allow_nan=False)
        return
    if isinstance(cmd, OrderCommand):
        assert cmd.qty > 0 and (cmd.price is None or cmd.price > 0)
