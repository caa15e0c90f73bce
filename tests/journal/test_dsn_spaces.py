"""An embedded journal's DSN whose directory starts or ends with white space is refused, naming
it, as one holding a control character is.

Taken, `chdb://./j ` (a space left at the end of DITA_JOURNAL_DSN in an env file, or pasted
with the command) would make and write a journal in a directory `j ` beside the kernel's `j`,
and chDB make a `tmp/` in `j` too: `dita journal sql --dsn chdb://./j` would then find no
journal there, the kernel's rows out of sight. A space inside a directory's name is taken as
it is."""

from __future__ import annotations

from pathlib import Path

import pytest

from dita.journal.clickhouse import ClickHouseJournal
from dita.journal.dsn import parse_dsn


@pytest.mark.parametrize(
    ("directory", "query"),
    [("{}/j ", ""), ("{}/j\u00a0", ""), (" {}/j", ""), ("{}/j ", "?database=dita"), ("{}/j\u3000", "")],
    ids=["trailing-space", "trailing-nbsp", "leading-space", "before-the-query", "ideographic-space"],
)
def test_a_directory_starting_or_ending_with_white_space_is_refused(
    tmp_path: Path, directory: str, query: str
) -> None:
    dsn = f"chdb://{directory.format(tmp_path)}{query}"
    with pytest.raises(ValueError, match=r"starts or ends with white space") as refused:
        parse_dsn(dsn)
    assert repr(dsn) in str(refused.value)
    with pytest.raises(ValueError, match=r"starts or ends with white space"):
        ClickHouseJournal(dsn, serve_sql=False)
    assert list(tmp_path.iterdir()) == []  # no journal made beside the meant one, nor in it


def test_a_space_inside_a_directory_name_is_taken(tmp_path: Path) -> None:
    target = parse_dsn(f"chdb://{tmp_path}/my journal")
    assert target.path == tmp_path / "my journal"
