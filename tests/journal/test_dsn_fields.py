"""A journal DSN whose host or text cannot be what was meant is refused at once, naming it.

Taken, `http://ho st:8123/db` would open a journal that warns ClickHouse is unreachable and
keeps trying for good while rows pile up and the outbox drops them; and a DSN read from a file
with CRLF line ends (`chdb://./j\\r`) would make and write a directory `j\\r` beside the
kernel's `j`, while urllib drops a tab or CR from an http DSN without a word."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dita.journal.clickhouse import ClickHouseJournal
from dita.journal.dsn import parse_dsn


@pytest.mark.parametrize(
    ("dsn", "message"),
    [
        ("http://ho st:8123/db", r"'http://ho st:8123/db' names host 'ho st'"),
        ("http://desk:s3cret@ho st/db", r"'http://desk:\*\*\*@ho st/db' names host 'ho st'"),
        ("http://ho%20st/db", r"names host 'ho%20st'"),
        ('https://h"st:8443/db', r"names host 'h\"st'"),
        ("http://ho<st/db", r"names host 'ho<st'"),
    ],
)
def test_a_host_no_server_can_have_is_refused_naming_it(dsn: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as refused:
        parse_dsn(dsn)
    assert "s3cret" not in str(refused.value)
    assert "letters, digits" in str(refused.value)


@pytest.mark.parametrize(
    "dsn",
    [
        "http://localhost:8123/db",
        "https://ch-1.example.com:8443/db",
        "http://clickhouse_server/db",  # a compose service name
        "http://10.0.0.7/db",
        "http://[::1]:8123/db",
        "http://[fe80::1%25eth0]:8123/db",
        "http://bücher.example/db",  # an internationalised name
    ],
)
def test_hosts_a_server_may_have_are_taken(dsn: str) -> None:
    assert parse_dsn(dsn).host


@pytest.mark.parametrize(
    ("dsn", "shown"),
    [
        ("chdb:///tmp/dita-j\r", r"'chdb:///tmp/dita-j\\r' holds a control character '\\r'"),
        ("chdb:///tmp/dita-j\n", r"holds a control character '\\n'"),
        ("chdb:///tmp/di\tta-j", r"holds a control character '\\t'"),
        ("chdb:///tmp/dita-j?database=dita\r", r"holds a control character '\\r'"),
        ("http://h:8123/db\r", r"'http://h:8123/db\\r' holds a control character '\\r'"),
        ("http://desk:s3\tcret@h:8123/db", r"'http://desk:\*\*\*@h:8123/db' holds a control character '\\t'"),
        ("http://h:8123/d\x7fb", r"holds a control character '\\x7f'"),
    ],
)
def test_a_dsn_holding_a_control_character_is_refused_naming_it(dsn: str, shown: str) -> None:
    with pytest.raises(ValueError, match=shown) as refused:
        parse_dsn(dsn)
    assert "s3" not in str(refused.value) and "cret" not in str(refused.value)


def test_a_chdb_dsn_with_a_cr_makes_no_directory(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="control character"):
        ClickHouseJournal(f"chdb://{tmp_path}/j\r")
    assert list(tmp_path.iterdir()) == []


def test_the_cli_refuses_a_bad_host_with_exit_2_naming_it() -> None:
    """Before: exit 3, "cannot reach the journal", as for a server that is down."""
    done = subprocess.run(
        [sys.executable, "-m", "dita.cli", "journal", "sql", "--dsn", "http://ho st:8123/db", "SELECT 1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert "--dsn: journal dsn 'http://ho st:8123/db' names host 'ho st'" in done.stderr
