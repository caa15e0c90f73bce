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
        # Upper-cased as Unicode, a long s reads as S: SELL and SLOTS nobody typed.
        ("ORDER \u017fell BTC 1 100 c1", "INVALID_FIELD", "side", "\u017fell"),
        (
            _ORDER.replace('"BUY"', '"\u017fell"') + '"qty":1,"client_id":"c"}',
            "INVALID_FIELD",
            "side",
            "\u017fell",
        ),
        ('{"cmd":"QUERY","what":"\u017flots"}', "INVALID_FIELD", "what", "\u017flots"),
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
        # A short copy of the line, as INVALID_ENCODING gives: null said nothing of it.
        ("{not json", "INVALID_JSON", "line", "{not json"),
        ("[1, 2]", "INVALID_JSON", "line", "[1, 2]"),
        ('"ORDER"', "UNKNOWN_COMMAND", "command", '"ORDER"'),
        ("{" + "x" * 100, "INVALID_JSON", "line", "{" + "x" * 60 + "..."),
        # The value given, not null: null read as a field sent as null.
        (_ORDER + '"qty":1,"qty":2,"client_id":"c"}', "INVALID_JSON", "qty", 2),
        ('{"side":"BUY"}', "MISSING_FIELD", "cmd", None),
        ('{"cmd":7}', "INVALID_FIELD", "cmd", 7),
        ('{"cmd":"DANCE"}', "UNKNOWN_COMMAND", "cmd", "DANCE"),
        (_ORDER + '"qty":1,"client_id":"c","tif":"GTC"}', "UNKNOWN_FIELD", "tif", "GTC"),
        (_ORDER + '"qty":1,"client_id":"c","tif":null}', "UNKNOWN_FIELD", "tif", None),
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
        ('{"cmd":"QUERY","what":"SLOTS","client_id":"c"}', "INVALID_FIELD", "client_id", "c"),
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


@pytest.mark.parametrize("blank", ["\u3000", "\x1f", "\xa0", "\u2028", "\x1c"])
def test_words_are_separated_by_ascii_spaces_and_tabs_only(blank: str) -> None:
    """str.split() took a no-break space, U+3000 or a control character for a separator, where
    every other part of a line is ASCII: such a line was taken as an order."""
    with pytest.raises(ProtocolError) as info:
        parse_line(f"ORDER{blank}BUY BTCUSDT 1 100 u1")
    assert (info.value.code, info.value.field) == ("UNKNOWN_COMMAND", "command")
    assert parse_line("ORDER\tBUY  BTCUSDT 1\t100 u1\r") == OrderCommand("BUY", "BTCUSDT", 1.0, 100.0, "u1")


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


def _refused(line: str) -> ProtocolError:
    with pytest.raises(ProtocolError) as info:
        parse_line(line)
    return info.value


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ('{"cmd":"ORDER","side":"BUY","symbol":"ETH\\n","qty":1,"price":100,"client_id":"x"}', "symbol"),
        ('{"cmd":"ORDER","side":"BUY","symbol":"ETH","qty":1,"price":100,"client_id":"x\\n"}', "client_id"),
        ('{"cmd":"MARK","symbol":"ETH\\n","price":100}', "symbol"),
        ('{"cmd":"CANCEL","client_id":"nl\\n"}', "client_id"),
        ('{"cmd":"QUERY","client_id":"nl\\n"}', "client_id"),
    ],
)
def test_a_trailing_newline_is_not_part_of_a_symbol_or_client_id(line: str, field: str) -> None:
    # A `$` pattern matches before a final newline: "ETH\n" traded as a symbol of its own.
    err = _refused(line)
    assert (err.code, err.field, err.value) == ("INVALID_FIELD", field, json.loads(line)[field])


@pytest.mark.parametrize(
    "line",
    [
        "QUERY " + "€" * 1400,  # 1406 characters, 4206 bytes
        "#" + "€" * 1400,  # a comment is held to the limit too
        "   # " + "é" * 2100,
    ],
)
def test_the_line_limit_is_in_bytes_comments_included(line: str) -> None:
    assert len(line) <= MAX_LINE_BYTES < len(line.encode())
    err = _refused(line)
    assert (err.code, err.field) == ("LINE_TOO_LONG", "line")
    assert err.message == f"line is {len(line.encode())} bytes; the limit is {MAX_LINE_BYTES}"


@pytest.mark.parametrize(
    ("line", "field", "value"),
    [
        ("ORDER BUY BTCUSDT 1_000 50000 a10", "qty", "1_000"),
        ("ORDER BUY BTCUSDT 1 50_000 a10", "price", "50_000"),
        ("ORDER BUY BTCUSDT \u0661 50000 a10", "qty", "\u0661"),  # Arabic-Indic one
        ("ORDER BUY BTCUSDT \uff11 50000 a10", "qty", "\uff11"),  # full-width one
        ("ORDER BUY BTCUSDT 0x10 50000 a10", "qty", "0x10"),
        # Letters that match "inf" only case-folded as Unicode: float() cannot read them.
        ("MARK BTC \u0131nf", "price", "\u0131nf"),  # dotless i
        ("ORDER BUY BTCUSDT 1 \u0130nfinity a10", "price", "\u0130nfinity"),  # dotted capital I
        (_ORDER + '"qty":"\u0131nf","client_id":"c"}', "qty", "\u0131nf"),
        ("MARK BTC 1_0", "price", "1_0"),
        (_ORDER + '"qty":"1_0","client_id":"c"}', "qty", "1_0"),
        (_ORDER + '"qty":" 2","client_id":"c"}', "qty", " 2"),
        (_ORDER + '"qty":1,"price":"\uff11\uff10\uff10","client_id":"c"}', "price", "\uff11\uff10\uff10"),
    ],
)
def test_numbers_are_ascii_decimal_only(line: str, field: str, value: str) -> None:
    err = _refused(line)
    assert (err.code, err.field, err.value) == ("INVALID_FIELD", field, value)
    assert err.message.startswith(f"{field} must be a finite number greater than 0")
    assert err.message.endswith(f", got {value!r}")


@pytest.mark.parametrize(
    ("text", "number"), [("+1", 1.0), (".5", 0.5), ("5.", 5.0), ("1E3", 1000.0), ("2e-1", 0.2)]
)
def test_plain_decimal_spellings_are_taken(text: str, number: float) -> None:
    assert parse_line(f"MARK BTC {text}") == MarkCommand("BTC", number)


@pytest.mark.parametrize("key", ["client_id", "cmd", "qty"])
def test_a_key_given_twice_is_refused_naming_it(key: str) -> None:
    fields = {"cmd": "ORDER", "side": "BUY", "symbol": "B", "qty": 1, "price": 1, "client_id": "a"}
    pairs = [*fields.items(), (key, fields[key])]
    line = "{" + ",".join(f"{json.dumps(k)}:{json.dumps(v)}" for k, v in pairs) + "}"
    err = _refused(line)
    assert (err.code, err.field) == ("INVALID_JSON", key)
    assert repr(key) in err.message


@pytest.mark.parametrize(
    ("inner", "field", "value"),
    [
        ('{"side":1,"side":2}', "tag.side", 2),
        ('{"legs":[{"side":3},{"side":4,"side":5}]}', "tag.legs.1.side", 5),
    ],
)
def test_a_key_given_twice_inside_an_object_is_named_at_its_path(inner: str, field: str, value: int) -> None:
    """The command's own "side" was given once: the key twice is named where it is, as HTTP names
    one inside metadata, not as the order's side with a value the client never gave it."""
    err = _refused(
        '{"cmd":"ORDER","side":"BUY","symbol":"B","qty":1,"price":1,"client_id":"a","tag":' + inner + "}"
    )
    assert (err.code, err.field, err.value) == ("INVALID_JSON", field, value)
    assert err.message == f"line gives the key 'side' more than once inside {field.rsplit('.', 1)[0]!r}"


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ("X" * 4000, "command"),
        ('{"cmd":"' + "X" * 4000 + '"}', "cmd"),
        ("ORDER BUY " + "S" * 4000 + " 1 1 c", "symbol"),
        ('{"cmd":"QUERY","what":"' + "W" * 4000 + '"}', "what"),
        ('{"cmd":"CANCEL","' + "k" * 4000 + '":1}', None),
    ],
)
def test_a_message_quotes_a_long_value_cut_as_the_value_is(line: str, field: str | None) -> None:
    err = _refused(line)
    assert len(err.message) < 200
    if field is not None:
        assert err.field == field and len(str(err.value)) == 64
        assert repr(err.value) in err.message


@pytest.mark.parametrize(
    "line",
    [
        "ORDER BUY BTC 1 100 orders",
        "ORDER BUY BTC 1 100 SLOTS",
        "ORDER SELL BTC 1 MKT Account",
        "CANCEL ORDERS",
        '{"cmd":"ORDER","side":"BUY","symbol":"B","qty":1,"client_id":"orders"}',
        '{"cmd":"QUERY","client_id":"slots"}',
    ],
)
def test_the_query_words_are_not_client_ids(line: str) -> None:
    err = _refused(line)
    assert (err.code, err.field) == ("INVALID_FIELD", "client_id")
    assert "reserved" in err.message


@pytest.mark.parametrize(
    "line", ["QUERY \u017flots", "CANCEL \u017flots", '{"cmd":"QUERY","client_id":"\u017flots"}']
)
def test_a_word_that_upper_cases_to_a_query_word_is_no_client_id_not_a_reserved_one(line: str) -> None:
    # Upper-cased as Unicode, "\u017flots" (long s) read as SLOTS: refused as reserved, naming a
    # QUERY SLOTS nobody typed, where it is refused as any id outside the client id's letters.
    err = _refused(line)
    assert (err.code, err.field, err.value) == ("INVALID_FIELD", "client_id", "\u017flots")
    assert "reserved" not in err.message
    assert err.message.startswith("client_id must be 1-64 characters")
