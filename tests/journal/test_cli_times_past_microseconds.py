"""A result column keeping time past the microsecond (DateTime64 or Time64 of precision 7 to 9)
is read into Python's datetime and timedelta, which keep microseconds: `dita journal sql` says
so on stderr for each such column, naming the column, its type and toString() to print every
digit. So it does for a column whose values
are of any type (Dynamic, JSON) holding a value that reads as a time: its precision is not in the
column's type, so the warning says it may have been cut."""

from __future__ import annotations

import json
from typing import Any

from typer.testing import CliRunner

from dita.cli import app
from dita.journal.clickhouse import ClickHouseJournal
from dita.journal.query import QueryResult

runner = CliRunner()

_AT = "'2026-01-02 03:04:05.123456789'"


def _warning(name: str, type_: str) -> str:
    return (
        f"warning: column {name!r} is {type_}: its times print to the microsecond, the digits after "
        f"the 6th left off; select toString({name}) to print every digit"
    )


def _csv(journal: ClickHouseJournal, sql: str) -> Any:
    """``dita journal sql -f csv`` of ``sql`` on ``journal``, which must succeed."""
    out = runner.invoke(app, ["journal", "sql", "--dsn", f"chdb://{journal.target.path}", "-f", "csv", sql])
    assert out.exit_code == 0, out.output
    return out


class TestATimePastTheMicrosecond:
    def test_is_named_in_a_warning_for_each_such_column(self, class_journal: ClickHouseJournal) -> None:
        sql = (
            f"SELECT toDateTime64({_AT}, 9) AS t, [toNullable(toDateTime64({_AT}, 7, 'UTC'))] AS u, "
            f"toTime64('03:04:05.123456789', 8) AS w, toDateTime64({_AT}, 6) AS v"
        )
        out = _csv(class_journal, sql)
        assert out.stderr.splitlines() == [
            _warning("t", "DateTime64(9)"),
            _warning("u", "Array(Nullable(DateTime64(7, 'UTC')))"),
            _warning("w", "Time64(8)"),
        ]
        assert out.stdout.splitlines()[1].startswith("2026-01-02T03:04:05.123456,"), out.stdout

    def test_prints_every_digit_through_to_string(self, class_journal: ClickHouseJournal) -> None:
        sql = f"SELECT toString(toDateTime64({_AT}, 9)) AS t"
        out = _csv(class_journal, sql)
        assert out.stdout.splitlines() == ["t", "2026-01-02 03:04:05.123456789"] and out.stderr == ""


def _maybe(name: str, type_: str) -> str:
    return (
        f"warning: column {name!r} is {type_}: a time it holds prints to the microsecond, any digits "
        f"after the 6th left off (its precision is not in the column's type); select toString({name}) "
        "to print every digit"
    )


class TestATimeInAColumnOfAnyType:
    def test_is_named_in_a_warning_for_each_such_column_holding_a_time(
        self, class_journal: ClickHouseJournal
    ) -> None:
        """A Dynamic or JSON column's values are of any type, their own not in the column's: one
        holding a DateTime64(9) (a JSON path's text is read as one) or a Time64(8) is cut to the
        microsecond, so each such column is warned of."""
        timed, untimed = json.dumps({"at": _AT.strip("'"), "n": 1}), json.dumps({"n": 1})
        sql = (
            f"SELECT toDateTime64({_AT}, 9)::Dynamic AS d, '{timed}'::JSON AS j, "
            "[toTime64('03:04:05.123456789', 8)::Dynamic] AS a, 'x'::Dynamic AS s, "
            f"'{untimed}'::JSON AS k"
        )
        out = _csv(class_journal, sql)
        assert out.stderr.splitlines() == [
            _maybe("d", "Dynamic"),
            _maybe("j", "JSON"),
            _maybe("a", "Array(Dynamic)"),
        ]
        assert out.stdout.splitlines()[1].startswith("2026-01-02T03:04:05.123456,"), out.stdout

    def test_prints_every_digit_through_to_string(self, class_journal: ClickHouseJournal) -> None:
        sql = f"SELECT toString(toDateTime64({_AT}, 9)::Dynamic) AS d"
        out = _csv(class_journal, sql)
        assert out.stdout.splitlines() == ["d", "2026-01-02 03:04:05.123456789"] and out.stderr == ""


def test_a_typed_json_path_is_warned_of_once_and_a_field_named_dynamic_is_no_dynamic() -> None:
    result = QueryResult(
        columns=["j", "q"],
        types=["JSON(`a` DateTime64(9))", "Tuple(`Dynamic` String)"],
        rows=[[{"a": "2026-01-02T03:04:05.123456"}, ["03:04:05"]]],
    )
    assert result.times_cut_to_microseconds() == [("j", "JSON(`a` DateTime64(9))")]
    assert result.times_maybe_cut() == []


def test_a_time_to_the_microsecond_or_a_quoted_type_name_is_not_warned_of() -> None:
    result = QueryResult(
        columns=["ts", "e", "z"],
        types=["DateTime64(6, 'UTC')", "Enum8('DateTime64(9)' = 1)", "DateTime64(9, 'Europe/Paris')"],
        rows=[],
    )
    assert result.times_cut_to_microseconds() == [("z", "DateTime64(9, 'Europe/Paris')")]
