"""The first fence of a journal query: :func:`check_read_only` lets through one read-only
query statement and refuses the rest, naming what it refuses.

It reads SQL with a lexer of its own (:func:`_lex`) that splits text as ClickHouse's does
where it matters: strings, quoted names, comments and heredocs, so a word inside any of them
is never taken for a statement, a clause or a function call.
"""

from __future__ import annotations

__all__ = ["ALLOWED_STATEMENTS", "REFUSED_FUNCTIONS", "ReadOnlyViolation", "check_read_only"]


ALLOWED_STATEMENTS = ("SELECT", "WITH", "SHOW", "DESCRIBE", "DESC", "EXISTS")


class ReadOnlyViolation(ValueError):
    """A statement that is not a single read-only query."""


# Functions that reach beyond the journal's tables from the process running the query (the
# kernel's, for an embedded journal): files, the network, other programs, the host's Python
# objects. Table functions among them are refused by readonly=1 too, except cluster(),
# clusterAllReplicas() and eval(); the scalar ones (file() above all) are not. Compared
# case-insensitively; tests check every table function of the installed chDB is here or in
# their list of local ones, and every AI function is here.
REFUSED_FUNCTIONS = frozenset(
    name.lower()
    for name in (
        # scalar
        "file",
        "hasColumnInTable",
        "catboostEvaluate",
        "modelEvaluate",
        "aiClassify",
        "aiEmbed",
        "aiExtract",
        "aiFilter",
        "aiGenerate",
        "aiRedact",
        "aiSimilarity",
        "aiTranslate",
        # table
        "arrowFlight",
        "arrowstream",
        "azureBlobStorage",
        "azureBlobStorageCluster",
        "bigquery",
        "cluster",
        "clusterAllReplicas",
        "cosn",
        "deltaLake",
        "deltaLakeAzure",
        "deltaLakeAzureCluster",
        "deltaLakeCluster",
        "deltaLakeLocal",
        "deltaLakeS3",
        "deltaLakeS3Cluster",
        "eval",
        "executable",
        "fileCluster",
        "filesystem",
        "gcs",
        "hdfs",
        "hdfsCluster",
        "hudi",
        "hudiCluster",
        "iceberg",
        "icebergAzure",
        "icebergAzureCluster",
        "icebergCluster",
        "icebergHDFS",
        "icebergHDFSCluster",
        "icebergLocal",
        "icebergLocalCluster",
        "icebergS3",
        "icebergS3Cluster",
        "jdbc",
        "mongodb",
        "mysql",
        "odbc",
        "oss",
        "paimon",
        "paimonAzure",
        "paimonAzureCluster",
        "paimonCluster",
        "paimonHDFS",
        "paimonHDFSCluster",
        "paimonLocal",
        "paimonS3",
        "paimonS3Cluster",
        "postgresql",
        "python",
        "redis",
        "remote",
        "remoteSecure",
        "s3",
        "s3Cluster",
        "sqlite",
        "url",
        "urlCluster",
        "ytsaurus",
    )
)


_WORD_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


# The last two open a string and a name closed by U+2019 and U+201D (ClickHouse 23.x on).
_QUOTES = "'\"`\u2018\u201c"


def _lex(sql: str) -> list[tuple[str, str]]:
    """Split ``sql`` into (kind, text) tokens the way ClickHouse's lexer does where it matters:
    kind is "space", "comment", "string" (quoted or heredoc), "ident" (quoted), "word" or
    "punct" (one character).

    Comments nest (``/* /* */ */``); ``--``, ``//``, ``# `` and ``#!`` run to the end of the
    line; strings end at an unescaped quote (``\\`` escapes, a doubled quote continues them);
    curly quotes (U+2018 to U+2019, U+201C to U+201D) hold a string and a name, without
    escapes; ``$tag$ ... $tag$`` is a string. A string or comment left open runs to the end
    (ClickHouse refuses such a query). Other characters outside ASCII count as space:
    ClickHouse takes them for space or refuses the query. Raises :class:`ReadOnlyViolation`
    for a heredoc whose tag is not letters, digits and _ (``$q'$ ... $q'$``): ClickHouse
    versions read that either way.
    """
    out: list[tuple[str, str]] = []
    i, n = 0, len(sql)
    while i < n:
        c = sql[i]
        if c in _QUOTES:
            j = i + 1
            if c in "\u2018\u201c":
                j = sql.find("\u2019" if c == "\u2018" else "\u201d", j)
                j = n if j < 0 else j + 1
            else:
                while j < n:
                    if sql[j] == "\\":
                        j += 2
                    elif sql[j] == c:
                        if not sql.startswith(c, j + 1):
                            break
                        j += 2  # a doubled quote
                    else:
                        j += 1
                j = min(j + 1, n)
            out.append(("string" if c in "'\u2018" else "ident", sql[i:j]))
        elif c.isspace() or not c.isascii():
            j = i + 1
            while j < n and (sql[j].isspace() or not sql[j].isascii()) and sql[j] not in _QUOTES:
                j += 1
            out.append(("space", sql[i:j]))
        elif sql.startswith(("--", "//", "# ", "#!"), i):
            j = sql.find("\n", i)
            j = n if j < 0 else j
            out.append(("comment", sql[i:j]))
        elif sql.startswith("/*", i):
            depth, j = 1, i + 2
            while depth and j < n:
                if sql.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif sql.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append(("comment", sql[i:j]))
        elif c == "$" and (heredoc := _heredoc(sql, i)):
            j = i + len(heredoc)
            out.append(("string", heredoc))
        elif c in _WORD_CHARS or (c == "$" and i + 1 < n and sql[i + 1] in _WORD_CHARS):
            # A word may hold '$' after its start; one that starts as a number may hold '.' and
            # not '$' (ClickHouse ends the number there, and a '$' may open a heredoc).
            more = _WORD_CHARS | ({"."} if c.isdigit() else {"$"})
            j = i + 1
            while j < n and sql[j] in more:
                j += 1
            out.append(("word", sql[i:j]))
        else:
            j = i + 1
            out.append(("punct", c))
        i = j
    return out


def _heredoc(sql: str, i: int) -> str:
    """The heredoc string starting at ``sql[i] == "$"``, or "" when there is none: ``$tag$``
    up to the next ``$tag$``, as ClickHouse reads it."""
    close = sql.find("$", i + 1)
    if close < 0:
        return ""
    tag = sql[i : close + 1]
    end = sql.find(tag, close + 1)
    if end < 0:
        return ""
    if not set(tag[1:-1]) <= _WORD_CHARS:
        # Older ClickHouse takes any tag, chDB 26.9 letters, digits and _ only: the text
        # would be a string to one and code to the other.
        raise ReadOnlyViolation(
            f"the heredoc tag {tag!r} is refused: use $$ or a tag of letters, digits and _ only"
        )
    return sql[i : end + len(tag)]


def _significant(tokens: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [t for t in tokens if t[0] not in ("space", "comment")]


def check_read_only(sql: str) -> str:
    """Return ``sql`` without comments or a trailing ';' if it is one read-only query.

    Raises :class:`ReadOnlyViolation` naming what is refused otherwise: another statement
    kind, a second statement, ``INTO OUTFILE``, a ``FORMAT`` clause (the client picks the
    format), or a call of a function that reaches files, the network or other processes
    (:data:`REFUSED_FUNCTIONS`).
    """
    if not isinstance(sql, str):
        raise ReadOnlyViolation(f"the journal query must be SQL text, got {type(sql).__name__}")
    tokens = _lex(sql)
    end = next((k for k, t in enumerate(tokens) if t == ("punct", ";")), len(tokens))
    if any(t != ("punct", ";") for t in _significant(tokens[end:])):
        raise ReadOnlyViolation("the journal runs one statement at a time; remove everything after the ';'")
    statement = tokens[:end]
    # Comments go: what runs is exactly what was checked.
    body = "".join(" " if kind == "comment" else text for kind, text in statement).strip()
    words = _significant(statement)
    if not words:
        raise ReadOnlyViolation("the journal query is empty")
    first = _statement_kind(words)
    if first not in ALLOWED_STATEMENTS:
        raise ReadOnlyViolation(
            f"the journal is read-only here: {first} statements are refused; "
            "only SELECT (or WITH ... SELECT, SHOW, DESCRIBE, EXISTS) queries run"
        )
    _check_clauses(words)
    _check_closed(words)
    return body


def _check_closed(words: list[tuple[str, str]]) -> None:
    """Refuse a string or quoted name left open at the end of the query. It would take in the
    FORMAT clause the client appends, and ClickHouse's error would quote that clause as the
    operator's ("Single quoted string is not closed: ... 'a FORMAT Native")."""
    for kind, text in words:
        if kind in ("string", "ident") and text[0] in _QUOTES and _left_open(text):
            what = "a string" if kind == "string" else "a quoted name"
            shown = text if len(text) <= 40 else text[:40] + "..."
            closing = {"\u2018": "\u2019", "\u201c": "\u201d"}.get(text[0], text[0])
            raise ReadOnlyViolation(
                f"the query ends inside {what} left open, {shown!r}: close it with {closing}"
            )


def _left_open(text: str) -> bool:
    """Whether the quoted token ``text`` of :func:`_lex` ran to the end of the query without its
    closing quote (a token ends at its closing quote, read as _lex reads it)."""
    quote = text[0]
    if quote in "\u2018\u201c":
        return not text.endswith("\u2019" if quote == "\u2018" else "\u201d")
    j = 1
    while j < len(text):
        if text[j] == "\\":
            j += 2
        elif text[j] == quote and not text.startswith(quote, j + 1):
            return False
        else:
            j += 2 if text[j] == quote else 1
    return True


def _statement_kind(words: list[tuple[str, str]]) -> str:
    """The statement's first word, upper case (SELECT, WITH, SHOW, ...), past any '('."""
    return next((t for t in words if t != ("punct", "(")), words[-1])[1].upper()


def _check_clauses(words: list[tuple[str, str]]) -> None:
    """Refuse INTO OUTFILE, a FORMAT clause and calls of :data:`REFUSED_FUNCTIONS` among the
    statement's significant tokens (a string is one token, so its text never counts)."""
    depth = 0
    for k, (kind, text) in enumerate(words):
        after = words[k + 1] if k + 1 < len(words) else ("", "")
        if kind == "punct":
            depth += {"(": 1, ")": -1}.get(text, 0)
            continue
        if kind == "word" and text.upper() == "OUTFILE":
            # chDB writes the file itself, in the owner's process, whatever readonly says.
            raise ReadOnlyViolation(
                "INTO OUTFILE is refused: a journal query writes no files; print the rows with "
                "dita journal sql --format csv (or json) and redirect its output"
            )
        if (
            kind == "word"
            and text.upper() == "FORMAT"
            and depth == 0
            and after[0] in ("word", "ident")
            and (k == 0 or words[k - 1][1].upper() != "AS")
        ):
            # The client asks for its own format (Native) after the query: a second one is a
            # syntax error that would quote a FORMAT clause the operator never wrote.
            raise ReadOnlyViolation(
                f"FORMAT {after[1]} is refused: the journal picks the format results travel in; "
                "choose how they print with dita journal sql --format table, csv or json "
                "(a column named format: write it `format`)"
            )
        if kind not in ("word", "ident"):
            continue
        # A name calls a function without a '(' after it too (`* APPLY file`), and a quoted
        # name is a name (`file`('x')), whose escapes ClickHouse decodes (`fi\x6ce` is file):
        # a refused name is refused wherever it stands, and so is any quoted name with an escape.
        if kind == "ident" and text[0] in '"`' and "\\" in text:  # curly-quoted names have no escapes
            raise ReadOnlyViolation(
                f"{text} is refused: a quoted name with escapes may name any function; write the name plainly"
            )
        name = text if kind == "word" else text[1:-1].replace(text[0], "")
        # Each part of a dotted name too (`1x.file` lexes as one word here).
        if any(part.lower() in REFUSED_FUNCTIONS for part in name.split(".")):
            call = "()" if after == ("punct", "(") else ""
            raise ReadOnlyViolation(
                f"{name}{call} is refused: it reaches files, the network or other processes from "
                "the journal owner's process; journal queries read the journal's tables only "
                "(a column or alias of that name: rename it)"
            )
