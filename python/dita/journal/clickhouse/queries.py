"""Read-only queries on the journal: through the SQL server an embedded journal serves on a
Unix socket (so `dita journal sql` can query while this process holds chDB's lock), or a
reader client of the journal's own; and the two questions the journal asks of its rows,
the highest seq stored under a kernel_id and where its missing rows start."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from dita.journal.dsn import JournalTarget
from dita.journal.query import (
    QueryResult,
    QueryServer,
    ServerClosed,
    execute,
    open_read_only_client,
    run_query,
)
from dita.journal.schema import PROGRESS_TABLE, TABLE_COLUMNS, quote_ident

__all__ = ["Queries", "stored_seq_sql"]

log = logging.getLogger(__package__)


def stored_seq_sql() -> str:
    """The highest seq stored for the kernel_id ``{k:String}`` over every journal table."""
    union = " UNION ALL ".join(
        f"SELECT max(seq) AS s FROM {quote_ident(t)} WHERE kernel_id = {{k:String}}" for t in TABLE_COLUMNS
    )
    return f"SELECT max(s) FROM ({union})"


class Queries:
    """The journal's read side. ``closed()`` says whether the journal is closed: from then on a
    query gets a reader of its own, as nothing would close one kept."""

    def __init__(self, target: JournalTarget, server: QueryServer | None, closed: Callable[[], bool]) -> None:
        self.target = target
        self.server = server
        self.reader: Any = None
        self.reader_lock = threading.Lock()
        self._closed = closed

    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> QueryResult:
        """Run one read-only query (SELECT/WITH/SHOW/DESCRIBE/EXISTS) on this journal."""
        server = self.server
        if server is not None:
            try:
                return server.run(self.target.database, sql, parameters or {})
            except ServerClosed:
                pass  # this journal closed meanwhile: a reader of the query's own, below
        with self.reader_lock:
            if not self._closed():
                if self.reader is None:
                    self.reader = open_read_only_client(self.target)
                return execute(self.reader, sql, parameters)
        # Closed: nothing would close a reader kept now (an embedded engine left open keeps the
        # process from opening another directory), so one lives for this query only.
        return run_query(self.target, sql, parameters)

    @property
    def address(self) -> str | None:
        """The Unix socket serving read-only SQL, when this journal serves one."""
        return self.server.address if self.server is not None else None

    def release(self, timeout: float) -> None:
        """At close: stop serving SQL (a query still running after ``timeout`` seconds is
        stopped) and close the reader. Taken under the reader's lock: a query that got in first
        has stored its reader by now, and one that comes later sees the journal closed and opens
        its own."""
        with self.reader_lock:
            server, self.server = self.server, None
            reader, self.reader = self.reader, None
        if server is not None:
            server.release(timeout)
        if reader is not None:
            reader.close()

    def read_stored_seq(self, kernel_id: str) -> int:
        """The highest seq stored for ``kernel_id`` (0: none); raises while ClickHouse cannot be read."""
        return int(self.query(stored_seq_sql(), {"k": kernel_id}).rows[0][0] or 0)

    def stored_seq(self, kernel_id: str) -> int | None:
        """The highest seq stored for ``kernel_id`` (0: none), or None when it cannot be read."""
        try:
            return self.read_stored_seq(kernel_id)
        except Exception as exc:  # unreachable now: the writer checks once it can read it
            log.warning(
                "could not check the journal for rows of kernel_id %r before attaching it: %s; it is "
                "checked before any of its rows is written",
                kernel_id,
                exc,
            )
            return None

    def gap_start(self, kernel_id: str) -> int:
        """The first seq whose rows may be missing for ``kernel_id`` (see
        ``ClickHouseJournal.gap_start``)."""
        res = self.query(
            f"SELECT max(settled_seq) FROM {PROGRESS_TABLE} WHERE kernel_id = {{k:String}}", {"k": kernel_id}
        )
        return int(res.rows[0][0] or 0) + 1
