"""A journal query wherever the journal is (:func:`run_query`): through the owner's socket
when a kernel holds an embedded journal's directory, in the directory itself when nobody
does, waiting for another `dita journal` query that opened it; and who holds a directory
(:func:`chdb_holder`), which a kernel starting on the journal asks too.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dita.journal.dsn import JournalTarget
from dita.journal.query import READ_ONLY_SETTINGS, QueryResult, execute, open_read_only_client
from dita.journal.query.guard import check_read_only
from dita.journal.query.server import query_via_socket
from dita.services import process_start

__all__ = [
    "QUERY_WAIT_SECONDS",
    "JournalUnavailable",
    "chdb_holder",
    "held_by_a_query",
    "refused_as_held",
    "run_query",
]


class JournalUnavailable(RuntimeError):
    """An embedded journal that cannot be opened for a query here (held by another process, or
    a directory the engine cannot write to): no query ran."""


def chdb_holder(directory: Path | None) -> str | None:
    """Who holds chDB's lock on ``directory`` (its ``status`` file, flock'ed by the engine
    that opened it): ``"pid N"`` (``""`` when the file names none), or None when nobody does.

    chDB's own error for a held directory says only "Error initializing EmbeddedServer" (the
    lock is named on stderr), so it is asked of the file itself."""
    import fcntl

    if directory is None:
        return None
    try:
        with open(directory / "status", "rb") as status:
            try:
                fcntl.flock(status, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                text = status.read(256).decode("utf-8", "replace")
                first = text.splitlines()[0] if text else ""
                pid = first.split(":", 1)[1].strip() if first.startswith("PID:") else ""
                if pid == str(os.getpid()):
                    return None  # this process's own engine: not another process
                return f"pid {pid}" if pid else ""
            fcntl.flock(status, fcntl.LOCK_UN)
    except OSError:
        return None
    return None


# The engine's refusal of a held directory ("Cannot lock file <dir>/status. Another ...");
# some builds say only "Error initializing EmbeddedServer", hence chdb_holder first.
_CHDB_HELD_ERROR = "Another server instance in same directory is already running"


def refused_as_held(exc: BaseException) -> bool:
    """Whether ``exc`` is the engine's refusal of a directory another process holds."""
    return _CHDB_HELD_ERROR in str(exc)


QUERY_WAIT_SECONDS = READ_ONLY_SETTINGS["max_execution_time"] + 10
"""How long a kernel starting on a journal waits for a `dita journal` query holding its
directory to end: a query is stopped after ``max_execution_time``."""


def _query_mark(directory: Path, pid: int | str) -> Path:
    return directory / f".dita-query-{pid}"


def held_by_a_query(directory: Path, holder: str) -> bool:
    """Whether ``holder`` (:func:`chdb_holder`'s ``"pid N"``) is a query that opened the
    directory itself (:func:`run_query` marks it while it does): it ends within
    :data:`QUERY_WAIT_SECONDS`, so a kernel starting on the journal waits for it. A mark a
    query left behind (killed) names a pid another process may have now: the mark holds its
    process's start, and only the same process counts."""
    pid = holder.removeprefix("pid ").strip()
    if not pid.isdigit():
        return False
    try:
        token = _query_mark(directory, pid).read_text().strip()
    except OSError:
        return False
    return bool(token) and token == process_start(pid)


def run_query(
    target: JournalTarget,
    sql: str,
    parameters: dict[str, Any] | None = None,
    *,
    on_wait: Callable[[str], None] | None = None,
    wait: float = QUERY_WAIT_SECONDS,
) -> QueryResult:
    """Run one read-only query on a journal wherever it is.

    Embedded journals: through the owner's socket when a kernel holds the directory, else by
    opening the directory read-only here. One that another `dita journal` query opened
    itself (:func:`held_by_a_query`) is waited for, up to ``wait`` seconds (it ends within
    :data:`QUERY_WAIT_SECONDS`), as a starting kernel waits; ``on_wait`` is told why once,
    with the message, when a wait begins. Servers: directly, with a read-only client.
    """
    check_read_only(sql)  # refuse before touching anything
    if target.kind != "chdb":
        return _run_on_a_client(target, sql, parameters)
    deadline: float | None = None
    while True:
        try:
            return query_via_socket(target.socket_address, target.database, sql, parameters)
        except ConnectionError:
            pass
        try:
            return _run_in_the_directory(target, sql, parameters)
        except _HeldByAQuery as held:
            now = time.monotonic()
            if deadline is None:
                deadline = now + wait
                if on_wait is not None:
                    on_wait(
                        f"journal {target.path} is held by another `dita journal` query ({held.holder}): "
                        f"waiting up to {wait:g} s for it to end"
                    )
            if now >= deadline:
                raise JournalUnavailable(
                    f"journal {target.path} is held by another `dita journal` query ({held.holder}) "
                    f"still running after {wait:g} s; retry when it has ended"
                ) from None
            time.sleep(min(_HELD_POLL_S, max(deadline - now, 0.0)))


_HELD_POLL_S = 0.2


class _HeldByAQuery(Exception):
    """The directory is held by another `dita journal` query (``holder``: "pid N")."""

    def __init__(self, holder: str) -> None:
        super().__init__(holder)
        self.holder = holder


def _run_in_the_directory(target: JournalTarget, sql: str, parameters: dict[str, Any] | None) -> QueryResult:
    """Open the embedded journal's directory here and run ``sql``. Raises
    :class:`_HeldByAQuery` when another `dita journal` query holds it (before or while this
    one opens it), RuntimeError naming any other holder."""
    assert target.path is not None
    if not target.path.exists():
        raise LookupError(f"no journal at {target.path} (nothing written there yet)")
    if not target.path.is_dir():
        raise LookupError(f"no journal at {target.path}: a file, not a journal directory")
    # Asked before opening: chDB's own error says only "Error initializing EmbeddedServer".
    holder = chdb_holder(target.path)
    if holder and held_by_a_query(target.path, holder):
        raise _HeldByAQuery(holder)
    if holder is not None:
        raise JournalUnavailable(_held_by_another(target.path, holder))
    if not os.access(target.path, os.W_OK | os.X_OK):
        # chDB writes its status file into any directory it opens; its own error says only
        # "Error initializing EmbeddedServer".
        raise JournalUnavailable(
            f"journal {target.path} is not writable (a read-only file system, or its permissions): "
            "the embedded engine opens a directory only to write to it; query a writable copy"
        )
    if not (target.path / "metadata").is_dir():
        # The engine makes metadata/ with a journal's first table. A directory without it is no
        # journal, and not left as it was by an open: the engine makes tmp/ there and deletes
        # the files in it named tmp* (a mistyped --dsn chdb://. took the user's).
        raise LookupError(f"no journal at {target.path}: a directory without the engine's metadata/")
    # Marked while this process holds the directory: a kernel (or another query) starting on
    # it meanwhile waits for the query instead of refusing (see `held_by_a_query`).
    mark = _query_mark(target.path, os.getpid())
    with contextlib.suppress(OSError):
        mark.write_text(process_start(os.getpid()) or "")
    try:
        try:
            return _run_on_a_client(target, sql, parameters)
        except Exception as exc:
            # Taken between the look above and the open (by a query, it is waited for too).
            # Any other error is the query's own, whatever words it holds ("block", "clock").
            holder = chdb_holder(target.path)
            if holder is None and not refused_as_held(exc):
                raise
            if holder and held_by_a_query(target.path, holder):
                raise _HeldByAQuery(holder) from exc
            raise JournalUnavailable(_held_by_another(target.path, holder)) from exc
    finally:
        with contextlib.suppress(OSError):
            mark.unlink()


def _held_by_another(directory: Path, holder: str | None) -> str:
    return (
        f"journal {directory} is held by another process{f' ({holder})' if holder else ''} that "
        "does not serve queries (started with serve_sql=False?); query it from that process or "
        "stop it first"
    )


def _run_on_a_client(target: JournalTarget, sql: str, parameters: dict[str, Any] | None) -> QueryResult:
    client = open_read_only_client(target)
    try:
        return execute(client, sql, parameters)
    finally:
        client.close()
