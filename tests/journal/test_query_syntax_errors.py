"""A query that is not valid SQL fails naming its own fault and position, not the
` FORMAT Native` clause the client appends to run it (an unfinished `SELECT 1 +` took that
clause in and failed on an unknown column `FORMAT`)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from dita.cli import app
from dita.journal.clickhouse import ClickHouseJournal

runner = CliRunner()


class TestASyntaxError:
    @pytest.mark.parametrize(
        ("sql", "said"),
        [
            ("SELECT 1 +", "Syntax error: failed at position 11 (end of query)"),
            ("SELECT * FROM", "Syntax error: failed at position 14 (end of query)"),
            ("SELECT 1 AS", "Syntax error: failed at position 12 (end of query)"),
            ("SELECT * FROM fills WHERE", "Syntax error: failed at position 26 (end of query)"),
            ("SHOW TABLES FROM", "Syntax error: failed at position 17 (end of query)"),
            ("-- why\nSELECT (1;", "'(' at position 15 (line 2, col 8) is never closed"),
        ],
    )
    def test_names_the_query_as_written_not_the_appended_format_clause(
        self, class_journal: ClickHouseJournal, sql: str, said: str
    ) -> None:
        dsn = f"chdb://{class_journal.target.path}"
        out = runner.invoke(app, ["journal", "sql", "--dsn", dsn, "--", sql])
        assert out.exit_code == 1, out.output
        assert out.output.startswith(f"error: query failed on {dsn}?database=dita: Code: 62. "), out.output
        assert said in out.output and out.output.endswith(". (SYNTAX_ERROR)\n"), out.output
        assert "Native" not in out.output and "formatQuery" not in out.output, out.output

    def test_raised_by_the_journals_own_query_names_the_query_as_written(
        self, class_journal: ClickHouseJournal
    ) -> None:
        with pytest.raises(Exception, match="SYNTAX_ERROR") as failed:
            class_journal.query("SELECT 1 +")
        said = str(failed.value)
        assert "Syntax error: failed at position 11 (end of query)" in said, said
        assert "Native" not in said and "formatQuery" not in said, said

    def test_of_valid_sql_keeps_clickhouses_own_error(self, class_journal: ClickHouseJournal) -> None:
        with pytest.raises(Exception, match="UNKNOWN_IDENTIFIER") as failed:
            class_journal.query("SELECT no_such_column FROM fills")
        assert "Unknown expression identifier `no_such_column`" in str(failed.value)
