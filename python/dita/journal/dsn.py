"""Where a journal lives: parsing ``chdb://<dir>`` and ``http(s)://...`` DSNs into clients.

Both kinds go through clickhouse-connect. In the installed clickhouse-connect (1.12) chDB is
a built-in backend: ``get_client(interface="chdb", path=DIR)`` returns a client whose
transport is chDB's in-process engine (``chdb.connect``) while the query/insert API, type
system and errors are the same as for an HTTP server. So one writer serves both.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

__all__ = [
    "CONNECT_TIMEOUT_SECONDS",
    "DEFAULT_DATABASE",
    "DEFAULT_DSN",
    "FIRST_OPEN_TIMEOUT_SECONDS",
    "READ_TIMEOUT_SECONDS",
    "JournalTarget",
    "default_dsn",
    "parse_dsn",
    "without_password",
]

DEFAULT_DSN = "chdb://./dita-journal"
DEFAULT_DATABASE = "dita"
DSN_ENV = "DITA_JOURNAL_DSN"

CONNECT_TIMEOUT_SECONDS = 5
"""How long a server's client waits to connect."""

READ_TIMEOUT_SECONDS = 30
"""How long a server's client waits for an answer: a large insert or query takes its time."""

FIRST_OPEN_TIMEOUT_SECONDS = 5
"""How long the journal's first open waits for a server's answer: a server that takes the
connection and never answers must not hold the kernel's start (the writer keeps trying)."""

# sun_path holds 108 bytes on Linux; leave room for the terminator.
_MAX_SOCKET_PATH = 100


def default_dsn() -> str:
    """``$DITA_JOURNAL_DSN`` when set, else an embedded journal in ./dita-journal."""
    return os.environ.get(DSN_ENV) or DEFAULT_DSN


@dataclass(frozen=True)
class JournalTarget:
    """A parsed journal DSN."""

    kind: str  # "chdb" or "http"
    database: str
    path: Path | None = None  # the chDB directory
    scheme: str = ""
    host: str = ""
    port: int | None = None
    username: str = ""
    password: str = field(default="", repr=False)  # a repr ends up in logs too

    @property
    def display(self) -> str:
        """The DSN without its password, for messages and logs."""
        if self.kind == "chdb":
            return f"chdb://{self.path}?database={self.database}"
        user = f"{self.username}@" if self.username else ""
        port = f":{self.port}" if self.port is not None else ""
        return f"{self.scheme}://{user}{self.host}{port}/{self.database}"

    @property
    def socket_address(self) -> str:
        """Where the owner of an embedded journal serves read-only SQL (a Unix socket).

        Inside the chDB directory when the path fits in sun_path, else a Linux abstract
        socket named after the directory, so owner and CLI always agree on it. An abstract
        socket has no file permissions: the owner answers only its own uid and root.
        """
        if self.path is None:
            raise ValueError(f"journal {self.display} is a server; it has no local query socket")
        path = str(self.path / "query.sock")
        if len(path.encode()) <= _MAX_SOCKET_PATH:
            return path
        digest = hashlib.sha1(str(self.path).encode()).hexdigest()[:20]
        return f"\0dita-journal-{digest}"

    def connect(
        self,
        *,
        settings: dict[str, Any] | None = None,
        chdb_options: dict[str, Any] | None = None,
        read_timeout: int = READ_TIMEOUT_SECONDS,
    ) -> Any:
        """A new clickhouse-connect client (no database selected: it may not exist yet).

        ``chdb_options``: server settings for an embedded engine, taken by the first client
        that opens it in this process (later ones share that engine as it is).
        ``read_timeout``: how long a server's client waits for an answer (seconds).
        """
        import clickhouse_connect

        if self.kind == "chdb":
            return clickhouse_connect.get_client(
                interface="chdb", path=str(self.path), settings=settings, chdb_options=chdb_options
            )
        return clickhouse_connect.get_client(
            interface=self.scheme,
            host=self.host,
            port=self.port if self.port is not None else (8443 if self.scheme == "https" else 8123),
            username=self.username or "default",
            password=self.password,
            settings=settings,
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            send_receive_timeout=read_timeout,
        )


def parse_dsn(dsn: str) -> JournalTarget:
    """Parse a journal DSN, refusing anything else with a message naming the value.

    ``chdb://<dir>`` takes everything after ``chdb://`` as the directory (relative to the
    current directory unless absolute, a leading ``~`` the home directory), with an optional
    ``?database=NAME``;
    ``http(s)://user:password@host:port/database`` names a server.
    """
    if not isinstance(dsn, str) or not dsn.strip():
        raise ValueError(f"journal dsn must be a non-empty string like 'chdb://./dita-journal', got {dsn!r}")
    control = next((c for c in dsn if c != "\0" and (c < " " or c == "\x7f")), None)
    if control is not None:
        # A line end from a file with CRLF lines, say: a chdb directory would take it into its
        # name (another journal than the kernel's), and urllib drops it from an http DSN unsaid.
        raise ValueError(
            f"journal dsn {without_password(dsn)!r} holds a control character {control!r}; "
            "remove it (a line end or tab read from a file or variable?)"
        )
    if dsn[: len("chdb://")].lower() == "chdb://":  # a scheme has no case, as for http(s)
        rest = dsn[len("chdb://") :]
        location, _, query = rest.partition("?")
        if not location or location in ("memory", ":memory:"):
            raise ValueError(
                f"journal dsn {dsn!r} names no directory; an embedded journal needs one, e.g. chdb://./dita-journal"
            )
        params = parse_qs(query, keep_blank_values=True)
        unknown = set(params) - {"database"}
        if unknown:
            raise ValueError(
                f"journal dsn {dsn!r} has unknown parameter(s) {sorted(unknown)}; only 'database'"
            )
        if len(params.get("database", ())) > 1:  # which one was meant? not the first by chance
            raise ValueError(f"journal dsn {dsn!r} names database more than once {params['database']}")
        database = params.get("database", [DEFAULT_DATABASE])[0]
        _check_database(dsn, database)
        directory = unquote(location)
        if "\0" in directory:
            raise ValueError(f"journal dsn {dsn!r} names a directory with a NUL character")
        if directory != directory.strip():
            # A space left at the end of an env file's line, say: as a control character did, it
            # made a journal in `j ` beside the kernel's `j`, which queries of `j` never found.
            raise ValueError(
                f"journal dsn {dsn!r} names a directory that starts or ends with white space "
                f"({directory!r}); remove it (read from a file or variable with a space left over?)"
            )
        # `~` is the home directory, as a shell reads it: as written it would be a directory named
        # `~` under the current one, and a command run from elsewhere would find no journal there.
        path = Path(os.path.realpath(os.path.expanduser(directory)))
        return JournalTarget(kind="chdb", database=database, path=path)
    shown = without_password(dsn)  # errors can end up in logs: never the password
    if any(c in _userinfo(dsn) for c in _ENDS_HOST):
        # A URL parser ends the host part there and reads the rest of the password as the
        # port and database, which an error would then show.
        raise ValueError(
            f"journal dsn {shown!r} has '/', '?', '#', '[' or ']' before its last '@' (the end of "
            "user:password): in a user or password, write them percent-encoded (%2F, %3F, %23, %5B, %5D)"
        )
    try:
        parsed = urlparse(dsn)
    except ValueError as exc:  # an unclosed '[' of an IPv6 host, say: name the DSN
        raise ValueError(f"journal dsn {shown!r} is not a valid URL ({exc})") from None
    if parsed.scheme == "chdb":  # chdb:/dir or chdb:dir: not "scheme 'chdb'; use chdb://<dir>"
        raise ValueError(
            f"journal dsn {shown!r} is not chdb://<dir>: an embedded journal's DSN is chdb:// and then the "
            "directory (chdb://./dita-journal, chdb:///var/lib/dita/journal)"
        )
    if parsed.scheme not in ("http", "https"):
        raise ValueError(
            f"journal dsn {shown!r} has scheme {parsed.scheme!r}; use chdb://<dir> or http(s)://user:pw@host:port/db"
        )
    if not parsed.hostname:
        raise ValueError(f"journal dsn {shown!r} names no host")
    host = parsed.netloc.rpartition("@")[2]
    if not host.startswith("["):  # an IPv6 address in brackets: urllib checked it
        host = host.partition(":")[0]
        if not all(c.isalnum() or c in "-._" for c in host):
            # No server has such a name: the journal would keep trying to reach it for good.
            raise ValueError(
                f"journal dsn {shown!r} names host {host!r}; a host name holds letters, digits, "
                "'-', '.' and '_' only (an IPv6 address goes in brackets)"
            )
    if parsed.params or parsed.query or parsed.fragment:
        raise ValueError(f"journal dsn {shown!r} has parameters after the database; none are supported")
    try:
        port = parsed.port
    except ValueError:
        # What urllib read as the port: all after the host's first colon (an IPv6 host's
        # after its bracket).
        host_port = parsed.netloc.rpartition("@")[2]
        written = host_port.rpartition("]")[2].partition(":")[2]
        raise ValueError(
            f"journal dsn {shown!r} has an invalid port {written!r}: a port is a number from 1 to 65535"
        ) from None
    if port == 0:  # no server listens there; taken for "no port" it would reach 8123
        raise ValueError(
            f"journal dsn {shown!r} has port 0; name the server's port, or leave it out for "
            "8123 (http) or 8443 (https)"
        )
    database = unquote(parsed.path.strip("/")) or DEFAULT_DATABASE
    _check_database(shown, database)
    return JournalTarget(
        kind="http",
        database=database,
        scheme=parsed.scheme,
        host=parsed.hostname,
        port=port,
        username=unquote(parsed.username or ""),
        password=unquote(parsed.password or ""),
    )


# Characters that end (or, for brackets, change) a URL's host part.
_ENDS_HOST = "/?#[]"


def _userinfo(dsn: str) -> str:
    """The ``user:password`` part of ``dsn``: up to its last ``@`` (a database holds none)."""
    _, sep, rest = dsn.partition("://")
    at = rest.rfind("@")
    return rest[:at] if sep and at >= 0 else ""


def without_password(dsn: str) -> str:
    """``dsn`` with the password of its ``user:password@`` part (if any) replaced by ***.

    The userinfo ends at the last ``@``: a password may hold characters (``/``, ``?``) that
    would end the host part for a URL parser."""
    scheme, sep, rest = dsn.partition("://")
    at = rest.rfind("@")
    if not sep or at < 0:
        return dsn
    user, colon, _ = rest[:at].partition(":")
    return f"{scheme}://{user}{':***' if colon else ''}@{rest[at + 1 :]}"


_SERVER_DATABASES = frozenset({"system", "information_schema", "_temporary_and_external_tables"})
"""ClickHouse's own databases (in any case): chDB keeps no table made in the first two past its
close and refuses the third; a server's are its own, not a journal's."""


def _check_database(dsn: str, database: str) -> None:
    if not database or "/" in database or not database.replace("_", "").isalnum():
        raise ValueError(
            f"journal dsn {dsn!r} names database {database!r}; use letters, digits and underscores only"
        )
    if database.lower() in _SERVER_DATABASES:
        raise ValueError(
            f"journal dsn {dsn!r} names database {database!r}, one ClickHouse keeps for itself: a "
            "journal's rows there are not kept; name another (the default is dita)"
        )
