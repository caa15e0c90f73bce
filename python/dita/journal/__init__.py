"""The journal: an append-only record of what a kernel did, for whoever debugs it with SQL.

The kernel never calls a journal on the hot path. It keeps a bounded outbox of rows in
Rust (see ``dita._kernel.JOURNAL_COLUMNS`` for the tables and their columns) and a journal's
own thread drains it with ``kernel.drain_journal()``. Rows carry ``(seq, sub)``: the kernel's
input sequence (the WAL sequence when there is a WAL) and the row's index within that input,
so a re-sent batch is recognisable and never counted twice.
"""

from __future__ import annotations

import contextlib
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from dita._shared import ClosesWithTheLastKernel

if TYPE_CHECKING:
    from dita.kernel import ExecutionKernel

__all__ = ["InMemoryJournal", "Journal", "JournalStats", "sole_journal", "sync_log"]


@dataclass
class JournalStats:
    """What a journal writer has done so far."""

    queued: int = 0
    written: int = 0
    failed: int = 0
    retries: int = 0
    dropped: int = 0
    lag_seconds: float = 0.0
    last_error: str = ""
    # Set while the writer is blocked: rows are refused for a reason retrying alone does not
    # cure (the table's schema, rights, credentials); names the table and the error. Also
    # set while a kernel's rows are held because writing them would lose them (its kernel_id
    # has stored rows above its seq, found after an attach that could not check it).
    blocked: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Journal(Protocol):
    """What ExecutionKernel needs of a journal."""

    def attach(self, kernel: ExecutionKernel) -> None:
        """Start recording this kernel (turn its outbox on, start draining)."""

    def flush(self, timeout: float | None = None) -> None:
        """Drain and write everything the attached kernels have produced so far."""

    def close(self) -> None:
        """Flush, stop the writer and release resources."""

    def stats(self) -> JournalStats: ...


# How long a flush without a timeout waits for a kernel another thread is inside (as long as
# the kernel's own calls do), and how often it looks.
_BUSY_LIMIT = 10.0
_BUSY_POLL = 0.0005

# Every journal of this package that ever attached a kernel, weakly: attach() asks them
# whether one of them records the kernel already.
_journals: weakref.WeakSet[Any] = weakref.WeakSet()
_journals_lock = threading.RLock()


@contextlib.contextmanager
def sole_journal(kernel: Any, journal: Any) -> Iterator[None]:
    """Hold while ``journal`` attaches ``kernel``: refuses (ValueError naming the kernel_id and
    the other journal) a kernel another open journal records, and keeps a second attach
    elsewhere out until this one is done.

    A kernel has one outbox: two journals would each drain a part of it and each store only
    part of the rows. Journals taking part answer ``records(kernel)``.
    """
    with _journals_lock:
        for other in list(_journals):
            if other is not journal and other.records(kernel):
                where = getattr(getattr(other, "target", None), "display", None) or type(other).__name__
                raise ValueError(
                    f"kernel {kernel.kernel_id!r} already has a journal attached ({where}): its rows go "
                    "to one journal; detach it from that one first"
                )
        _journals.add(journal)
        yield


def sync_log(kernel: Any) -> None:
    """Make ``kernel``'s write-ahead log durable before its rows are drained for a flush: the
    outbox hands out only the rows of inputs the log holds (``journaled_through``), so a
    journal is never ahead of what a restart recovers. A log that failed (a full disk) or a
    kernel closed or busy in this thread's own venue call is left as it is: rows of inputs
    the log did not keep stay unjournaled, as a restart will not know those inputs."""
    with contextlib.suppress(Exception):
        kernel.wal_sync()


class InMemoryJournal(ClosesWithTheLastKernel):
    """Keeps rows in Python lists, per table. For tests and the embedded demo.

    Draining happens on ``flush()`` (and on ``rows()``), in the caller's thread.
    """

    def __init__(self) -> None:
        self._kernels: list[ExecutionKernel] = []
        self._tables: dict[str, list[dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self._stats = JournalStats()
        self._columns: Callable[[str], tuple[str, ...]] | None = None

    def attach(self, kernel: ExecutionKernel) -> None:
        from dita._kernel import JOURNAL_COLUMNS

        with sole_journal(kernel, self):
            # Rows are told apart by kernel_id: two kernels of one id would mix theirs.
            if any(k.kernel_id == kernel.kernel_id for k in self._kernels):
                raise ValueError(
                    f"a kernel with kernel_id {kernel.kernel_id!r} is already attached to this journal"
                )
            self._columns = JOURNAL_COLUMNS.__getitem__
            kernel.set_journal_enabled(True)
            self._kernels.append(kernel)

    def records(self, kernel: ExecutionKernel) -> bool:
        """Whether ``kernel`` is attached here (until :meth:`close`)."""
        return self.serves(kernel)

    def flush(self, timeout: float | None = None) -> None:
        """Drain every attached kernel into the tables, in the caller's thread.

        Raises TimeoutError when ``timeout`` seconds pass with rows still in an outbox (a
        strategy thread writing rows as fast as they are taken keeps a flush going, and a
        kernel another thread is inside cannot be drained until it leaves); the rows taken
        until then are kept, and the next flush goes on from there. Without a timeout, a kernel
        busy for 10 s on end raises RuntimeError naming it, as the kernel's own calls do.
        """
        from dita.journal.query import is_wait_seconds

        if timeout is not None and not is_wait_seconds(timeout, zero=True):
            raise ValueError(
                "InMemoryJournal.flush timeout must be None or a number of seconds from 0 to "
                f"{threading.TIMEOUT_MAX:g}, got {timeout!r}"
            )
        deadline = None if timeout is None else time.monotonic() + timeout
        if not self._lock.acquire(timeout=-1 if timeout is None else timeout):
            raise TimeoutError(f"InMemoryJournal.flush: another flush held the journal for {timeout} s")
        try:
            for kernel in self._kernels:
                sync_log(kernel)
                busy_since: float | None = None
                while True:
                    now = time.monotonic()
                    late = deadline is not None and now >= deadline
                    blocks = kernel.drain_journal_blocks(100_000)
                    if blocks is None:
                        # Another thread is inside the kernel: its rows are still to come, not gone.
                        busy_since = now if busy_since is None else busy_since
                        if late:
                            raise TimeoutError(
                                f"InMemoryJournal.flush: kernel {kernel.kernel_id} was busy in another "
                                f"thread after {timeout} s, rows may still be in its outbox "
                                f"({self._stats.written} rows written so far)"
                            )
                        if deadline is None and now - busy_since > _BUSY_LIMIT:
                            raise RuntimeError(
                                f"InMemoryJournal.flush: kernel {kernel.kernel_id} busy in another call "
                                f"for {_BUSY_LIMIT:g} s (is a thread stuck inside it?); its rows stay "
                                "queued for the next flush"
                            )
                        time.sleep(_BUSY_POLL)
                        continue
                    busy_since = None
                    if not blocks:
                        break
                    self._store(kernel, {b.table: b.tuples() for b in blocks})  # kept, late or not
                    if late:
                        raise TimeoutError(
                            f"InMemoryJournal.flush: kernel {kernel.kernel_id}'s outbox still had rows "
                            f"after {timeout} s ({self._stats.written} rows written so far)"
                        )
        finally:
            self._lock.release()

    def _store(self, kernel: ExecutionKernel, batch: dict[str, list[tuple[Any, ...]]]) -> None:
        assert self._columns is not None
        for table, rows in batch.items():
            cols = self._columns(table)
            out = self._tables.setdefault(table, [])
            for row in rows:
                rec = dict(zip(cols, row, strict=True))
                rec["kernel_id"] = kernel.kernel_id
                out.append(rec)
            self._stats.written += len(rows)

    def rows(self, table: str) -> list[dict[str, Any]]:
        """Every row written to ``table`` so far, oldest first (flushes first)."""
        self.flush()
        return list(self._tables.get(table, []))

    def detach(self, kernel: ExecutionKernel) -> None:
        """Stop recording ``kernel`` (its rows so far are kept); the other kernels stay.

        Recording stops before the last drain, as in ``ClickHouseJournal``: rows a kernel still
        trading made after that drain would stay in its outbox, taken by nobody."""
        mine = self.serves(kernel)
        if mine:
            kernel.set_journal_enabled(False)
        self.flush()
        if mine:
            self._kernels = [k for k in self._kernels if k is not kernel]

    def close(self) -> None:
        """Stop recording every kernel, then drain what they made (see :meth:`detach`)."""
        for kernel in self._kernels:
            kernel.set_journal_enabled(False)
        self.flush()
        self._kernels.clear()

    def stats(self) -> JournalStats:
        return self._stats
