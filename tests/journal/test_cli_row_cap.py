"""``dita journal sql`` holds a result to the row cap: a longer one is its first rows and said to
be cut, one of the cap's length is whole. Run against a journal whose owner opened its query
client with a cap of 10,000 rows, so each case reads thousands of rows rather than a million;
the default cap is checked on a real client."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from typer.testing import CliRunner

from dita.cli import app
from dita.journal import query
from dita.journal.clickhouse import ClickHouseJournal
from dita.journal.dsn import parse_dsn
from dita.journal.query import STREAM_BLOCK_ROWS, open_read_only_client, row_cap_settings

runner = CliRunner()
CAP = 10_000


@pytest.fixture(scope="module")
def capped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, ClickHouseJournal]]:
    """A journal whose owner serves queries with the row cap at :data:`CAP`."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(query, "RESULT_ROWS_CAP", CAP)
        dsn = f"chdb://{tmp_path_factory.mktemp('row-cap') / 'journal'}"
        journal = ClickHouseJournal(dsn, max_delay=0.02)
        try:
            yield dsn, journal
        finally:
            journal.close()


def _sql(*args: str) -> Any:
    return runner.invoke(app, ["journal", "sql", *args])


def test_the_default_cap_is_a_million_rows_and_a_client_opens_with_it() -> None:
    assert query.RESULT_ROWS_CAP == 1_000_000
    assert row_cap_settings() == {"limit": 1_000_001, "max_result_rows": 1_000_001}


def test_a_client_opens_with_the_cap_in_force(capped: tuple[str, ClickHouseJournal]) -> None:
    """The client reads one row past the cap and stops: that row says the result is longer."""
    dsn, _ = capped
    client = open_read_only_client(parse_dsn(dsn))
    try:
        rows = client.query(f"SELECT number FROM numbers({3 * CAP})").result_rows
        (setting,) = client.query("SELECT getSetting('max_result_rows')").result_rows
    finally:
        client.close()
    assert [n for (n,) in rows] == list(range(CAP + 1))
    assert list(setting) == [CAP + 1]


# One row past the cap; past it within the block that reaches it (ClickHouse's "break" alone
# would let that block through whole); and blocks past it.
@pytest.mark.parametrize("rows", [CAP + 1, CAP + STREAM_BLOCK_ROWS // 2, CAP + 4 * STREAM_BLOCK_ROWS])
def test_a_result_cut_at_the_row_cap_is_reported(capped: tuple[str, ClickHouseJournal], rows: int) -> None:
    dsn, _ = capped
    # No progress lines: on a loaded machine a long query says it is still running.
    cut = _sql("--dsn", dsn, "-f", "csv", "--no-progress", f"SELECT number FROM system.numbers LIMIT {rows}")
    assert cut.exit_code == 0, cut.output
    assert cut.stdout.splitlines()[1:] == [str(n) for n in range(CAP)]
    assert cut.stderr == (
        f"warning: the result has more than {CAP:,} rows (the cap of a journal query): only the first "
        "are here; narrow the query (WHERE, LIMIT or an aggregate)\n"
    )


def test_a_result_of_the_caps_length_is_whole(capped: tuple[str, ClickHouseJournal]) -> None:
    dsn, journal = capped
    whole = _sql("--dsn", dsn, "-f", "csv", "--no-progress", f"SELECT number FROM system.numbers LIMIT {CAP}")
    assert whole.exit_code == 0, whole.output
    assert whole.stdout.splitlines()[1:] == [str(n) for n in range(CAP)]
    assert whole.stderr == ""
    # The cap bounds the result, not the rows a query reads or its subqueries return.
    (count,) = journal.query(f"SELECT count() FROM (SELECT number FROM numbers({2 * CAP}))").rows
    assert count == [2 * CAP]
