"""The read-only fence in front of journal SQL, and DSN parsing: refusals name what was wrong."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dita.journal.dsn import parse_dsn
from dita.journal.query import ReadOnlyViolation, check_read_only

WRITES = (
    "INSERT",
    "ALTER",
    "DROP",
    "CREATE",
    "TRUNCATE",
    "DELETE",
    "UPDATE",
    "OPTIMIZE",
    "SET",
    "SYSTEM",
    "RENAME",
    "ATTACH",
    "DETACH",
    "GRANT",
    "KILL",
    "USE",
    "EXCHANGE",
    "BACKUP",
)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 1",
        "  select count() FROM transitions FINAL;  ",
        "-- why did slot 3 move\nSELECT * FROM transitions",
        "/* note */ WITH x AS (SELECT 1) SELECT * FROM x",
        "(SELECT 1) UNION ALL (SELECT 2)",
        "SHOW TABLES",
        "DESCRIBE TABLE fills",
        "EXISTS TABLE fills",
        "SELECT 'a;b' AS s",
        "SELECT `weird;name` FROM t",
    ],
)
def test_read_queries_pass(sql: str) -> None:
    body = check_read_only(sql)
    assert body and not body.endswith(";")


@pytest.mark.parametrize("keyword", WRITES)
def test_every_write_statement_is_refused_by_name(keyword: str) -> None:
    with pytest.raises(ReadOnlyViolation, match=f"{keyword} statements are refused"):
        check_read_only(f"{keyword.lower()} something")


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 1; DROP TABLE fills",
        "SELECT 1;INSERT INTO fills SELECT * FROM fills",
        "SELECT ';' ; SELECT 2",
    ],
)
def test_a_second_statement_is_refused(sql: str) -> None:
    with pytest.raises(ReadOnlyViolation, match="one statement at a time"):
        check_read_only(sql)


@pytest.mark.parametrize("sql", ["", "   ", "-- only a comment", "/* nothing */ ;"])
def test_empty_query_is_refused(sql: str) -> None:
    with pytest.raises(ReadOnlyViolation, match="empty"):
        check_read_only(sql)


def test_comments_do_not_hide_a_write() -> None:
    with pytest.raises(ReadOnlyViolation, match="DROP"):
        check_read_only("/* SELECT */ DROP TABLE fills")
    with pytest.raises(ReadOnlyViolation, match="DROP"):
        check_read_only("-- SELECT\nDROP TABLE fills")


@given(st.sampled_from(WRITES), st.text(max_size=40), st.sampled_from(["", " ", "\n", "/* c */ ", "-- c\n"]))
def test_refused_whatever_follows(keyword: str, tail: str, prefix: str) -> None:
    with pytest.raises(ReadOnlyViolation):
        check_read_only(f"{prefix}{keyword} {tail}")


def test_chdb_dsn_takes_the_whole_rest_as_directory(tmp_path: Path) -> None:
    t = parse_dsn(f"chdb://{tmp_path}/journal")
    assert t.kind == "chdb" and t.path == tmp_path / "journal" and t.database == "dita"
    t = parse_dsn(f"chdb://{tmp_path}/j?database=desk_a")
    assert t.database == "desk_a"
    assert "query.sock" in t.socket_address


def test_long_chdb_directory_gets_an_abstract_socket(tmp_path: Path) -> None:
    deep = tmp_path / ("x" * 60) / ("y" * 60)
    a = parse_dsn(f"chdb://{deep}").socket_address
    assert a.startswith("\0dita-journal-")
    assert a == parse_dsn(f"chdb://{deep}/").socket_address  # same directory, same socket


def test_http_dsn_parts() -> None:
    t = parse_dsn("https://desk:s3cret@ch.internal:8443/journal_db")
    assert (t.kind, t.scheme, t.host, t.port, t.username, t.password, t.database) == (
        "http",
        "https",
        "ch.internal",
        8443,
        "desk",
        "s3cret",
        "journal_db",
    )
    assert "s3cret" not in t.display
    assert parse_dsn("http://localhost:8123").database == "dita"


@pytest.mark.parametrize(
    ("dsn", "message"),
    [
        ("", "non-empty"),
        ("chdb://", "names no directory"),
        ("chdb://memory", "names no directory"),
        ("chdb:///tmp/x?db=1", "unknown parameter"),
        ("chdb:///tmp/x?database=a-b", "database 'a-b'"),
        ("mysql://h/db", "scheme 'mysql'"),
        ("http:///db", "names no host"),
        ("http://h:notaport/db", "invalid port"),
        ("http://h:8123/bad.name", "database 'bad.name'"),
        ("http://h:8123/db;x", "parameters after the database"),
        ("http://h:8123/db?compress=1", "parameters after the database"),
    ],
)
def test_bad_dsns_are_refused_naming_the_value(dsn: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_dsn(dsn)


@pytest.mark.parametrize(
    ("dsn", "message"),
    [
        ("ftp://desk:s3cret@h/db", r"'ftp://desk:\*\*\*@h/db' has scheme 'ftp'"),
        ("http://desk:s3cret@h:notaport/db", r"'http://desk:\*\*\*@h:notaport/db' has an invalid port"),
        ("http://desk:s3cret@h:8123/bad.name", r"'http://desk:\*\*\*@h:8123/bad.name' names database"),
        ("https://desk:s3cret@h:8443/db?x=1", r"'https://desk:\*\*\*@h:8443/db\?x=1' has parameters"),
        ("http://desk@h:notaport/db", r"'http://desk@h:notaport/db' has an invalid port"),
        # A '/' in the password ends the host for a URL parser; the mask still covers it.
        ("http://desk:pa/ss@h:8123/db", r"'http://desk:\*\*\*@h:8123/db' has an invalid port"),
    ],
)
def test_a_refused_dsn_never_shows_its_password(dsn: str, message: str) -> None:
    """Errors end up in logs and terminals: the password is masked, the rest shown."""
    with pytest.raises(ValueError, match=message) as refused:
        parse_dsn(dsn)
    assert "s3cret" not in str(refused.value) and "pa/ss" not in str(refused.value)
