"""`dita journal sql --param` holds each value inside a Tuple, a Map or a nested Array to what
its own type takes, as it holds a placeholder's value: ClickHouse reads one its type cannot
hold, digits past a Decimal's scale, NULL where the type is not Nullable or a time that names
no real time as another value without a word, and the query answers for that."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from dita.cli import app
from dita.journal.clickhouse import ClickHouseJournal

runner = CliRunner()


def _sql(*args: str) -> Any:
    return runner.invoke(app, ["journal", "sql", *args])


def _refused(where: Path, type_: str, value: str) -> str:
    """The error a --param x=value for a {x:type_} placeholder gets, with nothing opened."""
    out = _sql("--dsn", f"chdb://{where}", "-p", f"x={value}", f"SELECT {{x:{type_}}} AS x")
    assert out.exit_code == 2, out.output
    assert not where.exists()
    return str(out.output)


@pytest.mark.parametrize(
    ("type_", "value", "said"),
    [
        # ClickHouse read (44, 'a'), (0), (7766279631452241919, 'a'), {'a': 44}, {44: 'a'}, [[1], [1, 44]],
        # [(1, 'x'), (44, 'y')] and {'a': [127]}.
        ("Tuple(UInt8, String)", "(300, 'a')", "300 is outside what a UInt8 holds (0 to 255)"),
        ("Tuple(a INT UNSIGNED)", "(4294967296)", "4294967296 is outside what a INT UNSIGNED holds"),
        (
            "Tuple(Int64, String)",
            "(99999999999999999999, 'a')",
            "99999999999999999999 is outside what a Int64",
        ),
        ("Map(String, UInt8)", "{'a': 300}", "300 is outside what a UInt8 holds (0 to 255)"),
        ("Map(UInt8, String)", "{300: 'a'}", "300 is outside what a UInt8 holds (0 to 255)"),
        ("Array(Array(UInt8))", "[[1], [1, 300]]", "300 is outside what a UInt8 holds (0 to 255)"),
        ("Array(Tuple(UInt8, String))", "[(1, 'x'), (300, 'y')]", "300 is outside what a UInt8 holds"),
        ("Map(String, Array(Int8))", "{'a': [-129]}", "-129 is outside what a Int8 holds (-128 to 127)"),
    ],
)
def test_an_integer_in_a_tuple_map_or_nested_array_param_its_type_cannot_hold_is_refused(
    tmp_path: Path, type_: str, value: str, said: str
) -> None:
    """ClickHouse wrapped the number round and the query answered for that one."""
    out = _refused(tmp_path / "none", type_, value)
    assert out.startswith(f"error: --param x={value!r}: {said}"), out
    assert "ClickHouse would read it as another number without saying so" in out


@pytest.mark.parametrize(
    ("type_", "value", "element", "scale"),
    [
        ("Tuple(Decimal(9, 2), UInt8)", "(1.239, 1)", "1.239", 2),
        ("Map(String, Decimal(9,2))", "{'a': -1.239}", "-1.239", 2),
        ("Array(Array(Decimal(9,2)))", "[[1.2], [1.239]]", "1.239", 2),
        ("Map(String, Tuple(UInt8, Decimal32(1)))", "{'k': (3, 1.55)}", "1.55", 1),
    ],
)
def test_a_decimal_in_a_tuple_map_or_nested_array_param_with_digits_past_its_scale_is_refused(
    tmp_path: Path, type_: str, value: str, element: str, scale: int
) -> None:
    """ClickHouse cut the digits off (1.239 as a Decimal(9, 2) is 1.23)."""
    out = _refused(tmp_path / "none", type_, value)
    said = f"error: --param x={value!r}: {element} has more digits after the point than a"
    assert out.startswith(said), out
    assert f"keeps ({scale}); ClickHouse would cut them off without saying so" in out


@pytest.mark.parametrize(
    ("type_", "value", "in_", "reads_as"),
    [
        ("Tuple(UInt8, UInt8)", "(NULL, 1)", "a Tuple(UInt8, UInt8), whose element 1 (UInt8) is", "0"),
        (
            "Tuple(a UInt8, b String)",
            "(1, null)",
            "a Tuple(a UInt8, b String), whose element b (String) is",
            "''",
        ),
        ("Map(String, UInt8)", "{'a': NULL}", "a Map(String, UInt8), whose values are", "0"),
        ("Map(String, String)", "{NULL: 'a'}", "a Map(String, String), whose keys are", "''"),
        ("Array(Array(UInt8))", "[[NULL]]", "an Array(UInt8), whose elements are", "0"),
        ("Array(Array(UInt8))", "[NULL]", "an Array(Array(UInt8)), whose elements are", "[]"),
        ("Array(String)", "['a', NULL]", "an Array(String), whose elements are", "''"),
        ("Array(Date)", "['2025-11-30', NULL]", "an Array(Date), whose elements are", "1970-01-01"),
        (
            "Array(Tuple(UInt8, String))",
            "[NULL]",
            "an Array(Tuple(UInt8, String)), whose elements are",
            "(0, '')",
        ),
    ],
)
def test_a_null_in_a_tuple_map_or_array_param_where_its_type_is_not_nullable_is_refused(
    tmp_path: Path, type_: str, value: str, in_: str, reads_as: str
) -> None:
    """ClickHouse read the NULL as its type's default (``reads_as``) and the query answered for
    that."""
    out = _refused(tmp_path / "none", type_, value)
    assert out == (
        f"error: --param x={value!r}: NULL in {in_} not Nullable; ClickHouse would read it as {reads_as} "
        "without saying so\n"
    )


@pytest.mark.parametrize(
    ("type_", "value", "element", "said"),
    [
        ("Tuple(Date, UInt8)", "('2025-11-31', 1)", "2025-11-31", "not a real time"),
        ("Tuple(DateTime, UInt8)", "('2025-11-20 25:00:00', 1)", "2025-11-20 25:00:00", "not a real time"),
        ("Map(String, Date)", "{'a': '2025-13-01'}", "2025-13-01", "not a real time"),
        ("Map(Date, UInt8)", "{'2025-02-29': 1}", "2025-02-29", "not a real time"),
        ("Array(Array(Date))", "[['2025-11-30'], ['2025-11-31']]", "2025-11-31", "not a real time"),
        ("Array(DateTime)", "[1763635267000]", "1763635267000", "13 digits, more than epoch seconds have"),
        ("Array(DateTime)", "[20260921]", "20260921", "read as epoch seconds, 1970-08-23 12:02:01 UTC"),
    ],
)
def test_a_time_in_a_tuple_map_or_nested_array_param_clickhouse_would_read_as_another_is_refused(
    tmp_path: Path, type_: str, value: str, element: str, said: str
) -> None:
    """ClickHouse read 2025-11-31 as 2025-12-01, month 13 as 1970-01-01, epoch milliseconds
    in a DateTime as its last second and 20260921 as 1970-08-23."""
    out = _refused(tmp_path / "none", type_, value)
    assert out.startswith(f"error: --param x={element!r}: {said}"), out


@pytest.fixture(scope="module")
def journal_dsn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    dsn = f"chdb://{tmp_path_factory.mktemp('nested') / 'journal'}"
    ClickHouseJournal(dsn, max_delay=0.02).close()
    yield dsn


def test_tuple_map_and_nested_array_params_their_types_hold_answer(journal_dsn: str) -> None:
    """The checks read a value as ClickHouse does: quotes in strings, names of a Tuple's
    elements, Nullable, a comma after the last element, a number that is text in a string."""
    out = _sql(
        "--dsn", journal_dsn, "-f", "json", "--no-progress",
        "-p", "a=(255, 'it''s (300)')", "-p", "b={'x': NULL, 'y': 255}", "-p", "c=[[1.23], [], [-7]]",
        "-p", "d=(4294967295, '2025-11-30')", "-p", "e=[NULL, 'NULL']", "-p", "f={'k': [0, 255,]}",
        "-p", r"g=[('a\'b', -128)]",
        "SELECT {a:Tuple(UInt8, String)} AS a, {b:Map(String, Nullable(UInt8))} AS b, "
        "{c:Array(Array(Decimal(9, 2)))} AS c, {d:Tuple(n INT UNSIGNED, day Date)} AS d, "
        "{e:Array(Nullable(String))} AS e, {f:Map(String, Array(UInt8))} AS f, "
        "{g:Array(Tuple(String, Int8))} AS g",
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    assert json.loads(out.output) == [
        {
            "a": [255, "it's (300)"],
            "b": {"x": None, "y": 255},
            "c": [["1.23"], [], ["-7.00"]],
            "d": {"n": 4294967295, "day": "2025-11-30"},
            "e": [None, "NULL"],
            "f": {"k": [0, 255]},
            "g": [["a'b", -128]],
        }
    ]
