"""The writer's own clickhouse-connect client: opened (the journal's directory made, a
`dita journal` query holding it waited for, the schema migrated), let go when it no longer
answers and opened again, and the tables made again when ClickHouse says they are missing."""

from __future__ import annotations

import contextlib
import logging
import os
import time
from pathlib import Path
from typing import Any, NoReturn

from clickhouse_connect.driver.exceptions import OperationalError
from urllib3 import Timeout

from dita.journal.clickhouse.errors import Aborted, Unreachable, answered_by_clickhouse, permanent_cause
from dita.journal.clickhouse.queue import RowQueue
from dita.journal.dsn import CONNECT_TIMEOUT_SECONDS, FIRST_OPEN_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS
from dita.journal.query import QUERY_WAIT_SECONDS, chdb_holder, held_by_a_query, refused_as_held
from dita.journal.schema import migrate, restore_missing_tables

__all__ = ["WriterConnection"]

log = logging.getLogger(__package__)


def _query_holding(directory: Path) -> str | None:
    """The holder of ``directory`` (``chdb_holder``'s "pid N") when it is a `dita journal`
    query that opened the directory itself (``held_by_a_query``); None otherwise."""
    holder = chdb_holder(directory)
    return holder if holder and held_by_a_query(directory, holder) else None


def _wait_for_a_query(directory: Path, deadline: float, poll: float = 0.2) -> None:
    """Waits, until ``deadline`` (``time.monotonic()``), while a `dita journal` query that
    opened ``directory`` itself holds it (chDB lets one process have a directory): an
    operator's query of a stopped kernel's journal must not keep the kernel from starting
    again. Another holder (a kernel that took the directory once the query ended) ends the
    wait at once: it is no query, and will not let go."""
    holder = _query_holding(directory)
    if holder is None:
        return
    log.warning(
        "journal directory %s is held by a `dita journal` query (%s): waiting up to %.0f s for it to end",
        directory,
        holder,
        max(deadline - time.monotonic(), 0.0),
    )
    while time.monotonic() < deadline and _query_holding(directory) is not None:
        time.sleep(poll)


class WriterConnection:
    """The client the writer inserts with (None while ClickHouse is away or after a client that
    no longer answered was let go)."""

    def __init__(self, queue: RowQueue) -> None:
        self.queue = queue
        self.target = queue.settings.target
        self.nice = queue.settings.nice
        self.client: Any = None
        # A client that no longer answered was let go: the next one opened replaces it.
        self.client_lost = False

    def open_at_start(self) -> None:
        """Open the first client. A server that is down must not stop the kernel from
        starting: the writer keeps trying to connect (and migrate) while rows wait in the
        queue and the outbox. A server that takes the connection and never answers is given up
        after ``FIRST_OPEN_TIMEOUT_SECONDS``, not the read timeout of a working client."""
        try:
            self.client = self.open(read_timeout=FIRST_OPEN_TIMEOUT_SECONDS)
        except Unreachable as exc:
            self.queue.stats.last_error = str(exc)
            log.warning("%s; the journal will keep trying", exc)

    def open(self, read_timeout: int = READ_TIMEOUT_SECONDS) -> Any:
        """A new client on the journal's database, migrated to this dita's schema; a server's
        waits ``read_timeout`` seconds for each answer until then, and ``READ_TIMEOUT_SECONDS``
        for the writer's inserts after."""
        target = self.target
        made: list[Path] = []  # directories made here for an embedded journal, deepest first
        if target.kind == "chdb":
            assert target.path is not None
            made = [p for p in (target.path, *target.path.parents) if not p.exists()]
            try:
                target.path.mkdir(parents=True, exist_ok=True)
            except OSError as exc:  # a file of that name, a read-only file system: name them
                for directory in made:
                    with contextlib.suppress(OSError):
                        directory.rmdir()
                what = (
                    "is a file, not a directory"
                    if target.path.is_file()
                    else f"cannot be made ({exc.strerror}: {exc.filename})"
                )
                raise RuntimeError(
                    f"journal directory {target.path} {what}: the kernel's journal writes there"
                ) from exc
        niced = self.nice is not None and target.kind == "chdb"
        # Not above the process's own nice value (a higher priority than the strategy's).
        nice = max(self.nice or 0, os.getpriority(os.PRIO_PROCESS, 0))
        # Threads of our own engine that merge parts, taken when the engine is opened.
        chdb_options = {"os_threads_nice_value_merge_mutate": nice} if niced else None
        if target.kind == "chdb":
            assert target.path is not None
            if not os.access(target.path, os.W_OK | os.X_OK):
                # chDB's own error says only "Error initializing EmbeddedServer".
                raise RuntimeError(
                    f"journal directory {target.path} is not writable (a read-only file "
                    "system, or its permissions): the kernel's journal writes there"
                )
        # One deadline for the whole wait: a query may take the directory between a wait that
        # found it free and the open, and is then waited for too, never refused at once.
        deadline = time.monotonic() + QUERY_WAIT_SECONDS
        while True:
            if target.kind == "chdb":
                assert target.path is not None
                _wait_for_a_query(target.path, deadline)
            try:
                client = target.connect(chdb_options=chdb_options, read_timeout=read_timeout)
                break
            except Exception as exc:
                held = self._held_by_a_query()
                if held and time.monotonic() < deadline:
                    continue
                self._connect_failed(exc, made, held)
        try:
            migrate(client, target.database)
            client.database = target.database
            if target.kind != "chdb":
                client.timeout = Timeout(connect=CONNECT_TIMEOUT_SECONDS, read=READ_TIMEOUT_SECONDS)
            if niced:
                # The threads running the writer's inserts. Set only now: chDB puts a thread it
                # ran such a query on back to nice 0, and this may be the caller's thread.
                client.set_client_setting("os_threads_nice_value_query", nice)
        except OperationalError as exc:
            client.close()
            if target.kind == "chdb":
                raise
            raise Unreachable(f"ClickHouse at {target.display} is unreachable: {exc}") from exc
        except BaseException:
            client.close()
            raise
        return client

    def _held_by_a_query(self) -> bool:
        """Whether the journal's directory is held by a `dita journal` query now."""
        if self.target.kind != "chdb" or self.target.path is None:
            return False
        return _query_holding(self.target.path) is not None

    def _connect_failed(self, exc: Exception, made: list[Path], held: bool) -> NoReturn:
        """Raises why the journal could not be opened (``exc``, chDB's or the client's),
        removing the directories ``made`` for it; ``held``: by a query, past the wait."""
        target = self.target
        # A directory chDB refused (this process hosts another) is not left behind.
        for directory in made:
            with contextlib.suppress(OSError):
                directory.rmdir()
        holder = chdb_holder(target.path) if target.kind == "chdb" else None
        if held:
            raise RuntimeError(
                f"journal directory {target.path} is held by a `dita journal` query ({holder}) "
                f"still running after {QUERY_WAIT_SECONDS} s; stop it, or pick another directory"
            ) from exc
        if holder is not None or (target.kind == "chdb" and refused_as_held(exc)):
            raise RuntimeError(
                f"journal directory {target.path} is held by another process"
                f"{f' ({holder})' if holder else ''} (chDB allows one process per directory); "
                "query it with `dita journal sql` or pick another directory"
            ) from exc
        if target.kind == "chdb":
            raise RuntimeError(
                f"cannot open the embedded journal at {target.path}: {exc} "
                "(one process can host one chDB directory at a time)"
            ) from exc
        if isinstance(exc, OperationalError):
            raise Unreachable(f"ClickHouse at {target.display} is unreachable: {exc}") from exc
        raise exc

    def ensure(self) -> Any:
        """The writer's client, opened when it has none (ClickHouse away so far, or one that no
        longer answered was let go). A journal closed meanwhile gets no new one: close() has
        released the client it found, so this one is closed here and Aborted raised."""
        if self.client is not None:
            return self.client
        client = self.open()
        with self.queue.cond:
            if not self.queue.abort.is_set():
                self.client = client
                if self.client_lost:
                    self.client_lost = False
                    self.queue.counters["clients_reopened"] += 1
                return client
        client.close()
        raise Aborted

    def let_go_if_dead(self, exc: BaseException, error: str) -> None:
        """After a failure that may pass (``exc``, named by ``error``): a client that no longer
        answers (closed under the writer, its chDB connection or the server's connections
        gone) is closed and let go, so the next attempt opens a new one; logged once per
        client. Kept, it would fail every retry alike, for good."""
        client = self.client
        if client is None or answered_by_clickhouse(exc):
            return  # an error ClickHouse sent came through the client: it answers
        try:
            if client.ping():
                return  # the failure was not the client's: a new one would cure nothing
        except Exception:
            log.debug("the journal writer's client failed its ping", exc_info=True)
        with self.queue.cond:
            if self.client is not client:
                return
            self.client = None
            self.client_lost = True
        log.warning(
            "journal %s: the writer's client to ClickHouse no longer answers (%s): it is closed and "
            "a new one opened for the next attempt",
            self.target.display,
            error,
        )
        try:
            client.close()
        except Exception:  # a client whose connection is gone may fail to close it too
            log.debug("could not close the journal writer's lost client", exc_info=True)

    def remake_if_missing(self, exc: BaseException) -> tuple[bool, str]:
        """After ClickHouse said a journal table or the database is missing: make them again.
        Returns whether anything was made, and why making them failed ("" when it did not)."""
        if permanent_cause(exc) in ("UNKNOWN_TABLE", "UNKNOWN_DATABASE"):
            return self._remake()
        return False, ""

    def _remake(self) -> tuple[bool, str]:
        if self.client is None:
            return False, ""
        try:
            applied = migrate(self.client, self.target.database)
            restored = restore_missing_tables(self.client, self.target.database)
            if restored:
                log.warning("journal tables %s were missing and were created again", ", ".join(restored))
                with self.queue.cond:
                    self.queue.counters["tables_restored"] += len(restored)
            return bool(applied or restored), ""
        except Exception as exc:  # the insert's error goes on with this one; the caller says it
            log.debug("re-creating journal tables failed: %r", exc)
            return False, f"{type(exc).__name__}: {exc}"

    def close(self) -> None:
        """Close the client. Under the lock: a writer that outlived close()'s wait and opens a
        client now sees the abort and closes that one itself (``ensure``)."""
        with self.queue.cond:
            client = self.client
        if client is not None:
            client.close()
