"""``dita journal sql --param`` for a float placeholder: a number ClickHouse would read as inf,
-inf or 0 without a word (past the type's range, or nearer 0 than its smallest) is refused
naming the parameter, the type and the value, before anything is opened."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dita.cli import app
from dita.journal.clickhouse import ClickHouseJournal

runner = CliRunner()

_FLOAT64 = "(-1.7976931348623157e308 to 1.7976931348623157e308)"
_FLOAT32 = "(-3.4028235e38 to 3.4028235e38)"


_NEAREST_64 = "nearer 0 than any Float64 but 0 (5e-324 the nearest)"


@pytest.mark.parametrize(
    ("type_", "value", "said", "read_as"),
    [
        ("Float64", "1e999", f"outside what a Float64 holds {_FLOAT64}", "inf"),
        ("Float32", "1e39", f"outside what a Float32 holds {_FLOAT32}", "inf"),
        ("Nullable(Float32)", "-3.5e38", f"outside what a Nullable(Float32) holds {_FLOAT32}", "-inf"),
        ("FLOAT", "3.40282357e38", f"outside what a FLOAT holds {_FLOAT32}", "inf"),
        ("BFloat16", "3.5e38", "outside what a BFloat16 holds (-3.3895314e38 to 3.3895314e38)", "inf"),
        ("Float64", "1e99999999999999999999", f"outside what a Float64 holds {_FLOAT64}", "inf"),
        ("DOUBLE", "1e-400", "nearer 0 than any DOUBLE but 0 (5e-324 the nearest)", "0"),
        ("Float32", "-7e-46", "nearer 0 than any Float32 but 0 (1e-45 the nearest)", "0"),
        ("Array(Float32)", "[1, 1e39]", f"1e39 is outside what a Float32 holds {_FLOAT32}", "inf"),
        ("Map(String, Float64)", "{'a': 1e-400}", f"1e-400 is {_NEAREST_64}", "0"),
    ],
)
def test_a_float_param_clickhouse_would_read_as_inf_or_0_is_refused_before_anything_starts(
    tmp_path: Path, type_: str, value: str, said: str, read_as: str
) -> None:
    """ClickHouse read 1e999 for a Float64 and 1e39 for a Float32 as inf, 1e-400 as 0, and the
    query answered for those."""
    where = tmp_path / "none"
    out = runner.invoke(
        app, ["journal", "sql", "--dsn", f"chdb://{where}", "-p", f"x={value}", f"SELECT {{x:{type_}}} AS x"]
    )
    assert out.exit_code == 2, out.output
    assert out.output == (
        f"error: --param x={value!r}: {said}; ClickHouse would read it as {read_as} without saying so\n"
    )
    assert not where.exists()


def test_a_float_param_its_type_holds_answers_as_given(journal: ClickHouseJournal, journal_dsn: str) -> None:
    """The ends of each range, and inf written as such, are taken."""
    journal.flush(30)
    sql = (
        "SELECT {a:Float32} AS a, {b:Float64} AS b, {c:Float64} AS c, {d:Float32} AS d, "
        "{e:Float64} AS e, {f:Array(Float32)} AS f, {g:Float64} AS g"
    )
    values = ["3.4e38", "1.7976931348623157e308", "5e-324", "1e-45", "inf", "[-3.4e38]", "0e999"]
    args = [arg for name, v in zip("abcdefg", values, strict=True) for arg in ("-p", f"{name}={v}")]
    out = runner.invoke(app, ["journal", "sql", "--dsn", journal_dsn, "-f", "csv", *args, sql])
    assert out.exit_code == 0, out.output
    row = next(r for r in csv.reader(io.StringIO(out.output)) if r[0] != "a")
    a, b, c, d, e, f, g = row
    assert math.isclose(float(a), 3.4e38, rel_tol=1e-7) and float(b) == 1.7976931348623157e308
    assert float(c) == 5e-324 and math.isclose(float(d), 1.4e-45, rel_tol=0.01)
    assert e == "inf" and f.startswith("[-3.39999") and g == "0.0"
