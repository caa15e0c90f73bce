"""The read-only fence in front of journal SQL, and DSN parsing: refusals name what was wrong."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dita.journal.clickhouse import ClickHouseJournal
from dita.journal.dsn import parse_dsn
from dita.journal.query import (
    REFUSED_FUNCTIONS,
    ReadOnlyViolation,
    check_bound,
    check_read_only,
    open_read_only_client,
    placeholders,
    spaced_placeholders,
)

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


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 'x' INTO OUTFILE '/tmp/wal/seg-1.wal' TRUNCATE",
        "SELECT 'x' INTO OUTFILE '/tmp/x' APPEND",
        "select 1 into /* c */ outfile '/tmp/x'",
        "WITH t AS (SELECT 1) SELECT * FROM t INTO OUTFILE '/tmp/x' AND STDOUT",
        "SHOW TABLES INTO OUTFILE '/tmp/x'",
    ],
)
def test_into_outfile_is_refused(sql: str) -> None:
    """chDB writes an OUTFILE itself, in the journal owner's process: readonly=1 lets it."""
    with pytest.raises(ReadOnlyViolation, match="INTO OUTFILE is refused: a journal query writes no files"):
        check_read_only(sql)


@pytest.mark.parametrize(
    ("sql", "name"),
    [
        ("SELECT substring(file('/etc/shadow'), 1, 5)", "file"),
        ("SELECT `file`('/etc/shadow')", "file"),
        ("SELECT FILE ('/etc/shadow')", "FILE"),
        ("SELECT file /* c */ ('/etc/shadow')", "file"),
        ("SELECT file\u00a0('/etc/shadow')", "file"),  # ClickHouse takes U+00A0 for space
        ("SELECT arrayMap(p -> file(p), ['/etc/shadow'])", "file"),
        # What ClickHouse reads as a string or comment is read as one here too, and nothing more.
        ("SELECT $$'$$, file('/etc/shadow'), $$'$$", "file"),
        ("SELECT 1$$'$$, file('/etc/shadow'), $$'$$", "file"),
        ("SELECT 1 /* /* */ ' */ , file('/etc/shadow') --'", "file"),
        ("SELECT 1 // '\n, file('/etc/shadow') --'", "file"),
        ("SELECT \u2018'\u2019, file('/etc/shadow'), \u2018'\u2019", "file"),
        ("SELECT 1 AS \u201c\"\u201d, file('/etc/shadow'), '\"'", "file"),
        ("SELECT * FROM url('http://10.0.0.1/x', 'CSV', 'a String')", "url"),
        ("SELECT * FROM s3('http://10.0.0.1/b/x.csv')", "s3"),
        ("SELECT * FROM remote('10.0.0.1', system.one)", "remote"),
        ("SELECT * FROM cluster('c', system.one)", "cluster"),
        ("SELECT * FROM Python(df)", "Python"),
        ("SELECT * FROM eval('SELECT 1')", "eval"),
        ("SELECT aiGenerate('say hi')", "aiGenerate"),
        (
            "SELECT * FROM numbers(1) WHERE 1 IN (SELECT 1 FROM executable('id', 'CSV', 'a String'))",
            "executable",
        ),
    ],
)
def test_functions_that_reach_files_the_network_or_programs_are_refused(sql: str, name: str) -> None:
    with pytest.raises(ReadOnlyViolation, match=f"^{name}\\(\\) is refused: it reaches files, the network"):
        check_read_only(sql)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 'into outfile' AS s",
        "SELECT reason FROM intents WHERE reason = 'file(x) INTO OUTFILE y'",
        'SELECT `into outfile`, "file(" FROM t',
        "SELECT $$ file('/etc/shadow') $$ AS s",
        "SELECT $tag$ INTO OUTFILE $tag$ AS s",
        "SELECT 1 -- INTO OUTFILE '/tmp/x'",
        "SELECT 1 # file('/etc/shadow')",
        "SELECT 1 /* file('/etc/shadow') /* nested */ */",
        "SELECT 'it''s file(1)', 'a\\'file(2)'",
        "SELECT \u2018file('/etc/shadow')\u2019 AS s",
        "SELECT files, file_count, profile(1) FROM t",
        "SELECT count() FROM numbers(10)",
    ],
)
def test_strings_comments_and_other_names_may_say_anything(sql: str) -> None:
    assert check_read_only(sql)


@pytest.mark.parametrize(
    ("sql", "said"),
    [
        ("SELECT 'a", "a string left open, \"'a\": close it with '"),
        ("SELECT 'it''s", "a string left open, \"'it''s\": close it with '"),
        ("SELECT 'a\\'", "a string left open, \"'a\\\\'\": close it with '"),
        ("SELECT 1 AS `x", "a quoted name left open, '`x': close it with `"),
        ("SELECT \u2018a", "a string left open, '\u2018a': close it with \u2019"),
    ],
)
def test_a_string_or_quoted_name_left_open_is_refused_naming_it(sql: str, said: str) -> None:
    """It took in the FORMAT clause the client appends, and ClickHouse's error quoted that
    clause as the operator's ("Single quoted string is not closed: ... 'a FORMAT Native")."""
    with pytest.raises(ReadOnlyViolation) as refused:
        check_read_only(sql)
    assert str(refused.value) == f"the query ends inside {said}"


def test_a_heredoc_tag_clickhouse_versions_read_differently_is_refused() -> None:
    """Older ClickHouse takes $q'$ ... $q'$ for a string, chDB 26.9 for code and a string."""
    with pytest.raises(ReadOnlyViolation, match=r"the heredoc tag \"\$q'\$\" is refused"):
        check_read_only("SELECT $q'$'$q'$, file('/etc/shadow')")
    assert check_read_only("SELECT $q_1$'$q_1$ AS s")


@pytest.mark.parametrize(
    ("sql", "clause"),
    [
        ("SELECT 1 FORMAT CSV", "CSV"),
        ("select 1 format JSONEachRow;", "JSONEachRow"),
        ("(SELECT 1) UNION ALL (SELECT 2) FORMAT /* c */ `TSV`", "`TSV`"),
        ("SHOW TABLES FORMAT Vertical", "Vertical"),
    ],
)
def test_a_format_clause_is_refused_naming_the_option_to_use(sql: str, clause: str) -> None:
    """The client asks for its own format after the query: a second one would fail with an
    error quoting a FORMAT Native nobody wrote."""
    with pytest.raises(
        ReadOnlyViolation, match=f"^FORMAT {clause} is refused: .*--format table, csv or json"
    ):
        check_read_only(sql)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT format('{} {}', 'a', 'b') AS f",
        "SELECT 1 AS format",
        "SELECT `format` FROM (SELECT 1 AS format)",
        "SELECT * FROM (SELECT 1 AS x) WHERE x IN (SELECT 1)",
    ],
)
def test_format_as_a_function_or_a_name_runs(marked_engine: tuple[Any, str], sql: str) -> None:
    client, _ = marked_engine
    assert client.query(check_read_only(sql)).result_rows


def test_comments_are_not_run() -> None:
    """What runs is what was checked: the query without its comments."""
    assert check_read_only("SELECT 1 /* a /* b */ c */ + 2 -- d\n") == "SELECT 1   + 2"


@pytest.fixture(scope="module")
def marked_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, str]]:
    """A read-only client on a real chDB engine, and a file whose text must never come back."""
    root = tmp_path_factory.mktemp("guard")
    marker = root / "marker"
    marker.write_text("dita-marker-7f3a")
    journal = ClickHouseJournal(f"chdb://{root / 'journal'}", serve_sql=False)
    client = open_read_only_client(journal.target)
    try:
        yield client, str(marker)
    finally:
        client.close()
        journal.close()


# Table functions that read only what the server already holds, or make rows up.
_LOCAL_TABLE_FUNCTIONS = {
    "dictionary",
    "format",
    "fuzzJSON",
    "fuzzQuery",
    "generateRandom",
    "generateSeries",
    "generate_series",
    "input",
    "loop",
    "merge",
    "null",
    "numbers",
    "numbers_mt",
    "primes",
    "values",
    "view",
    "viewExplain",
    "viewIfPermitted",
    "zeros",
    "zeros_mt",
    "SQLStandardValues",
}
_LOCAL_TABLE_FUNCTION_FAMILIES = ("mergeTree", "prometheusQuery", "timeSeries")


def test_every_table_function_of_the_installed_chdb_is_known(marked_engine: tuple[Any, str]) -> None:
    """A chDB upgrade that brings a table function goes through this list first."""
    client, _ = marked_engine
    names = [r[0] for r in client.query("SELECT name FROM system.table_functions").result_rows]
    unknown = [
        n
        for n in names
        if n.lower() not in REFUSED_FUNCTIONS
        and n not in _LOCAL_TABLE_FUNCTIONS
        and not n.startswith(_LOCAL_TABLE_FUNCTION_FAMILIES)
    ]
    assert not unknown, f"classify these table functions as local or refused: {unknown}"
    assert {"file", "url", "s3", "remote", "python"} <= {n.lower() for n in names}


def test_every_ai_function_is_refused(marked_engine: tuple[Any, str]) -> None:
    """They call out to a model provider over the network."""
    client, _ = marked_engine
    names = client.query(
        "SELECT name FROM system.functions WHERE categories = 'AI' OR lower(alias_to) LIKE 'ai%'"
    ).result_rows
    assert names and all(n.lower() in REFUSED_FUNCTIONS for (n,) in names), names


@st.composite
def _select(draw: st.DrawFn, call: str, made: bool) -> str:
    """A SELECT ClickHouse runs: numbers, strings, heredocs, quoted aliases and comments, each
    holding a little of anything (quotes, dollars, comment marks, ``call``); with ``made``,
    ``call`` is made among them too."""

    def text() -> str:
        pieces = ["'", '"', "`", "\u2018", "\u2019", "\u201c", "$$", "$", "$a$", "--", "/*", "*/", "//", "#"]
        pieces += ["\\", "\n", " ", "a", call]
        return "".join(draw(st.lists(st.sampled_from(pieces), min_size=1, max_size=4)))

    def element() -> str:
        kind = draw(st.sampled_from(["heredoc", "string", "curly", "alias", "comment", "number"]))
        if kind == "heredoc":
            tag = draw(st.sampled_from(["$$", "$a$", "$_1$"]))
            body = text().replace("$", "")  # no '$' inside: the heredoc ends at its tag
            return tag + body + tag
        if kind == "string":
            escaped = draw(st.sampled_from(["\\'", "''"]))
            return "'" + text().replace("\\", "\\\\").replace("'", escaped) + "'"
        if kind == "curly":  # no escapes: it ends at the first closing quote
            return "\u2018n" + text().replace("\u2019", "") + "\u2019"
        if kind == "alias":  # a name: never empty
            quoted = "`n" + text().replace("`", "").replace("\\", "") + "`"
            curly = "\u201cn" + text().replace("\u201d", "") + "\u201d"
            return "1 AS " + draw(st.sampled_from(["a$$", quoted, curly]))
        if kind == "comment":
            lead = draw(st.sampled_from(["/*", "--", "//", "# ", "#!"]))
            if lead == "/*":  # nested once
                inner = text().replace("/*", "").replace("*/", "").rstrip("/*")
                return f"/*{inner}/*{inner}*/ */ 1"
            return f"{lead}{text().replace(chr(10), '')}\n1"
        return "1"

    exprs = draw(st.lists(st.builds(element), min_size=1, max_size=4))
    if made:
        exprs.insert(draw(st.integers(0, len(exprs))), call)
    return "SELECT " + ", ".join(exprs)


@settings(max_examples=400)
@given(_select("file('/etc/shadow')", made=True))
def test_a_call_among_strings_heredocs_and_comments_is_found(sql: str) -> None:
    """Quotes, dollars and comment marks inside the text around it never hide the call."""
    with pytest.raises(ReadOnlyViolation, match=r"^file\(\) is refused"):
        check_read_only(sql)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_a_call_inside_text_is_let_through_and_stays_text(
    marked_engine: tuple[Any, str], data: st.DataObject
) -> None:
    """What the check takes for text ClickHouse takes for text too: the query runs, and the
    file named in its strings, heredocs and comments is never read."""
    client, marker = marked_engine
    body = check_read_only(data.draw(_select(f"file('{marker}')", made=False)))
    assert "dita-marker" not in repr(client.query(body).result_rows)


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


def test_a_parsed_dsn_printed_or_logged_shows_no_password() -> None:
    """A JournalTarget's repr (what a log line's %r, a debugger or an f-string's {!r} shows)
    held the password in clear, though display and every refusal mask it."""
    t = parse_dsn("https://desk:s3cret@ch.internal:8443/journal_db")
    assert "s3cret" not in repr(t) and "s3cret" not in str(t) and "s3cret" not in f"{t!r}"
    assert "desk" in repr(t) and "ch.internal" in repr(t)


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
        ("http://h:0/db", r"'http://h:0/db' has port 0; name the server's port"),
        ("https://h:00/db", r"'https://h:00/db' has port 0"),
        ("http://h:8123/bad.name", "database 'bad.name'"),
        # ClickHouse's own: chDB keeps no journal table made there past its close.
        ("chdb:///tmp/x?database=system", r"names database 'system', one ClickHouse keeps for itself"),
        ("chdb:///tmp/x?database=INFORMATION_schema", r"database 'INFORMATION_schema', one ClickHouse keeps"),
        ("http://h:8123/information_schema", r"database 'information_schema', one ClickHouse keeps"),
        ("http://h:8123/_temporary_and_external_tables", r"'_temporary_and_external_tables', one ClickHouse"),
        ("http://h:8123/db;x", "parameters after the database"),
        ("http://h:8123/db?compress=1", "parameters after the database"),
        ("chdb:///tmp/x?database=a&database=b", r"names database more than once \['a', 'b'\]"),
        ("chdb:///tmp/x\0y", r"'chdb:///tmp/x\\x00y' names a directory with a NUL character"),
        ("http://[::1/db", r"'http://\[::1/db' is not a valid URL \(Invalid IPv6 URL\)"),
    ],
)
def test_bad_dsns_are_refused_naming_the_value(dsn: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_dsn(dsn)


def test_the_chdb_scheme_is_read_in_any_case_and_a_malformed_one_says_what_is_wrong() -> None:
    """`HTTP://` was taken as http (a URL's scheme has no case) while `CHDB://./j` was refused
    with "has scheme 'chdb'; use chdb://<dir>", which names the very scheme it refuses; and
    `chdb:/./j` (one slash) got the same contradictory message."""
    assert parse_dsn("CHDB:///tmp/x?database=a") == parse_dsn("chdb:///tmp/x?database=a")
    assert parse_dsn("Chdb://./j").path == parse_dsn("chdb://./j").path
    for dsn in ("chdb:/tmp/x", "chdb:tmp/x", "CHDB:/tmp/x"):
        said = rf"'{dsn}' is not chdb://<dir>: .*chdb:// and then the directory"
        with pytest.raises(ValueError, match=said):
            parse_dsn(dsn)


@pytest.mark.parametrize(
    ("dsn", "message"),
    [
        ("ftp://desk:s3cret@h/db", r"'ftp://desk:\*\*\*@h/db' has scheme 'ftp'"),
        ("http://desk:s3cret@h:notaport/db", r"'http://desk:\*\*\*@h:notaport/db' has an invalid port"),
        ("http://desk:s3cret@h:8123/bad.name", r"'http://desk:\*\*\*@h:8123/bad.name' names database"),
        ("https://desk:s3cret@h:8443/db?x=1", r"'https://desk:\*\*\*@h:8443/db\?x=1' has parameters"),
        ("http://desk@h:notaport/db", r"'http://desk@h:notaport/db' has an invalid port"),
        ("http://desk:s3cret@h:0/db", r"'http://desk:\*\*\*@h:0/db' has port 0"),
        # A '/' in the password would end the host for a URL parser: refused as such.
        ("http://desk:pa/ss@h:8123/db", r"'http://desk:\*\*\*@h:8123/db' has '/', '\?', '#', '\[' or '\]'"),
        ("http://desk:s3cret@[::1/db", r"'http://desk:\*\*\*@\[::1/db' is not a valid URL"),
    ],
)
def test_a_refused_dsn_never_shows_its_password(dsn: str, message: str) -> None:
    """Errors end up in logs and terminals: the password is masked, the rest shown."""
    with pytest.raises(ValueError, match=message) as refused:
        parse_dsn(dsn)
    assert "s3cret" not in str(refused.value) and "pa/ss" not in str(refused.value)


@pytest.mark.parametrize(
    "password", ["12/s3cret", "s3cret/12", "12?s3cret", "12#s3cret", "12[s3cret", "s3cret]"]
)
def test_a_password_with_a_character_that_ends_the_host_is_refused_unseen(password: str) -> None:
    """Such a password would be cut into a host, port and database, its rest shown in the
    error as the database: refused as it is, naming the percent-encoding to use instead."""
    with pytest.raises(ValueError, match=r"percent-encoded \(%2F, %3F, %23, %5B, %5D\)") as refused:
        parse_dsn(f"http://desk:{password}@h:8123/db")
    assert "s3cret" not in str(refused.value)
    assert "'http://desk:***@h:8123/db'" in str(refused.value)


def test_a_percent_encoded_password_is_decoded() -> None:
    t = parse_dsn("http://desk:12%2Fs3%3Fc%23r%5Be%5Dt@h:8123/db")
    assert (t.username, t.password, t.host, t.port, t.database) == ("desk", "12/s3?c#r[e]t", "h", 8123, "db")


def test_a_quoted_name_with_escapes_is_refused() -> None:
    """ClickHouse decodes escapes in quoted names: `fi\\x6ce` is file(), with or without a '('
    after it (APPLY takes a bare name)."""
    for sql in (
        "SELECT \"fi\\x6ce\"('/etc/hostname')",
        "SELECT `fi\\x6ce`('/etc/hostname')",
        "SELECT \"fi\\le\" ('/etc/shadow')",
        "SELECT * APPLY(`fi\\x6ce`) FROM (SELECT '/etc/hostname' AS p)",
    ):
        with pytest.raises(ReadOnlyViolation, match="a quoted name with escapes may name any function"):
            check_read_only(sql)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * APPLY(file) FROM (SELECT '/etc/hostname' AS p)",
        "SELECT * APPLY file FROM (SELECT {p:String} AS p)",
        "SELECT COLUMNS('p') APPLY(`file`) FROM (SELECT '/etc/hostname' AS p)",
        "SELECT 1 AS url",
        "SELECT 1x.file('/etc/hostname')",
    ],
)
def test_a_refused_name_is_refused_without_a_call(sql: str) -> None:
    """`* APPLY file` calls file() on each column with no '(' after the name: a refused name
    is refused wherever it stands (a column or alias of that name too)."""
    with pytest.raises(ReadOnlyViolation, match=r"^(file|url|1x\.file)(\(\))? is refused: it reaches files"):
        check_read_only(sql)


def test_parameters_bind_only_through_placeholders() -> None:
    """Without a placeholder clickhouse-connect %-formats values into the text: a value could
    close a string the check read as inert (here: to read a file)."""
    sneaky = "SELECT 'a%(q).1s, file($$/etc/hostname$$) AS leak, %(q).1s' AS s"
    with pytest.raises(ReadOnlyViolation, match=r"only through \{name:Type\} placeholders"):
        check_bound(check_read_only(sneaky), {"q": "z"})
    with pytest.raises(ReadOnlyViolation, match="must not be bytes"):
        check_bound("SELECT {k:String}", {"k": b"x"})
    check_bound("SELECT count() FROM intents WHERE kernel_id = {k:String} AND reason LIKE 'x%'", {"k": "a"})


def test_placeholders_are_only_those_clickhouse_substitutes() -> None:
    """One in a comment, a string or a quoted name is text to ClickHouse, and a brace opened
    in a comment does not hide a real placeholder after it."""
    sql = (
        "SELECT {a:Int64}, '{b:String}', `{c:String}` -- {d:String}\n"
        "/* {e: */ {f:DateTime64(6, 'UTC')} $$ {g:Int64} $$"
    )
    assert placeholders(sql) == [("a", "Int64"), ("f", "DateTime64(6, 'UTC')")]


@pytest.mark.parametrize("spelt", ["{ n : Int64 }", "{n :Int64}", "{ n:Int64}"])
def test_a_placeholder_spelt_with_spaces_is_found_but_not_read_as_one(spelt: str) -> None:
    """The client reads only {n:Int64} (the CLI refuses the others, naming them); queries run
    through the library are left as they were: ClickHouse reads the spaced form when the
    client binds on the server, as it does once the query has another placeholder."""
    sql = f"SELECT {spelt} AS x, {{m:Int64}} AS y, '{spelt}' AS s -- {spelt}"
    assert spaced_placeholders(sql) == [(spelt, "n", "Int64")]
    assert placeholders(sql) == [("m", "Int64")]
    assert spaced_placeholders("SELECT {m:Int64}") == []


@pytest.mark.parametrize(
    ("dsn", "port"),
    [
        ("http://h:99999/db", "99999"),
        ("http://desk:s3cret@h:8o23/db", "8o23"),
        ("http://[::1]:65536/db", "65536"),
        # urllib reads all after the host's first colon as the port, not after its last.
        ("http://h:1:2/db", "1:2"),
    ],
)
def test_an_invalid_port_is_named(dsn: str, port: str) -> None:
    with pytest.raises(
        ValueError, match=rf"has an invalid port '{port}': a port is a number from 1 to 65535"
    ):
        parse_dsn(dsn)


def test_the_query_socket_reads_a_uid_above_two_to_the_31_as_unsigned(tmp_path: Path) -> None:
    """uid_t is unsigned: read as a signed int, an owner of uid 3000000000 was refused its own
    socket as uid -1294967296."""
    import os
    import socket

    from dita.journal.query import _refused_peer

    if os.geteuid() != 0:
        pytest.skip("needs root to take a uid above 2**31 in a child process")
    pid = os.fork()
    if pid == 0:  # the child: become the high uid, ask about a socket to itself
        code = 1
        try:
            os.setuid(3_000_000_000)
            a, _b = socket.socketpair(socket.AF_UNIX)
            code = 0 if _refused_peer(a) is None else 3
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_a_chdb_directory_under_home_is_the_home_directorys(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`chdb://~/journal` made a directory literally named `~` under the current one: a kernel
    wrote its journal there, and `dita journal sql` run from anywhere else found none."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    assert parse_dsn("chdb://~/journal").path == tmp_path / "home" / "journal"
    assert parse_dsn("chdb://./~x").path == tmp_path / "~x"  # only a leading ~ is the home
