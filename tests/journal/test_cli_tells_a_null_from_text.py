"""`dita journal sql`: a NULL (venue_events.status, account_events.fee_charged) reads apart from
every text in each format: json `null`, csv a bare `\\N` as ClickHouse's own CSV writes it (a text
`\\N` quoted, an empty text an empty field), the table `ᴺᵁᴸᴸ`, which no text prints as."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from dita.cli import app
from dita.cli.journal import TABLE_NULL, _print
from dita.journal.clickhouse import ClickHouseJournal
from dita.journal.query import QueryResult

QUERY = (
    "SELECT '' AS empty, CAST(NULL AS Nullable(String)) AS missing, 'NULL' AS word, "
    "'\\\\N' AS escape, 'ᴺᵁᴸᴸ' AS marker"
)


@pytest.fixture(scope="module")
def dsn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    where = f"chdb://{tmp_path_factory.mktemp('j') / 'journal'}"
    journal = ClickHouseJournal(where, max_delay=0.02)
    journal.flush(30)
    journal.close()
    yield where


def _sql(dsn: str, fmt: str) -> str:
    done = CliRunner().invoke(app, ["journal", "sql", "--dsn", dsn, "--format", fmt, "--no-progress", QUERY])
    assert done.exit_code == 0, done.output
    return done.stdout


def test_json_tells_a_null_from_every_text(dsn: str) -> None:
    assert json.loads(_sql(dsn, "json")) == [
        {"empty": "", "missing": None, "word": "NULL", "escape": "\\N", "marker": "ᴺᵁᴸᴸ"}
    ]


def test_csv_writes_a_null_as_a_bare_backslash_n(dsn: str) -> None:
    out = _sql(dsn, "csv")
    assert out == 'empty,missing,word,escape,marker\n,\\N,NULL,"\\N",ᴺᵁᴸᴸ\n', out
    header, row = list(csv.reader(io.StringIO(out)))
    assert dict(zip(header, row, strict=True))["missing"] == "\\N"


def test_the_table_prints_a_null_as_no_text_prints(dsn: str) -> None:
    line = next(ln for ln in _sql(dsn, "table").splitlines() if "NULL" in ln)
    cells = [c.strip() for c in line.split("│")[1:-1]]
    assert cells == ["", TABLE_NULL, "NULL", "\\N", "\\u1d3aᵁᴸᴸ"], cells


def test_csv_quotes_a_text_backslash_n_wherever_it_is(capsys: pytest.CaptureFixture[str]) -> None:
    rows = [["\\N"], [""], [None], ["\\N", "", None, 1.5, "a,b"], ["x", "", None]]
    _print(QueryResult(["s", "t", "u", "v", "w"], ["String"] * 5, rows), "csv")
    assert capsys.readouterr().out.splitlines() == [
        "s,t,u,v,w",
        '"\\N"',
        '""',
        "\\N",
        '"\\N",,\\N,1.5,"a,b"',
        "x,,\\N",
    ]


def test_the_table_prints_null_on_an_output_that_cannot_take_its_marker() -> None:
    from dita.cli.journal import _null_marker

    assert _null_marker("utf-8") == TABLE_NULL
    assert _null_marker("ascii") == _null_marker("latin-1") == "NULL"
