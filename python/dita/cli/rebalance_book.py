"""The paper account of ``dita rebalance --paper-book`` across runs: the book saved with the
kernel's seq it goes with (``saved_book``), read back (``read_book``), and on a kernel recovered
from its log brought forward to it and reconciled (``take_over``). A run killed after a leg
filled and before the book's save leaves the fill in the log only; the run after it catches the
book up (``catch_up_book``, as ``dita paper`` does), so a resumed plan, which counts that leg as
sent before, reaches its target."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dita._kernel import WalError
from dita.cli._common import fail, warn
from dita.cli.paper_continued import _say_caught_up
from dita.cli.paper_resume import catch_up_book, read_log_after_save
from dita.venues.paper import PaperVenue

if TYPE_CHECKING:
    from dita.kernel import ExecutionKernel
    from dita.reconcile import ReconciliationReport

__all__ = ["BOOK_SEQ", "read_book", "saved_book", "take_over"]

# The book file's field for the kernel's seq it was saved at: the log's records after it hold
# what the book lacks.
BOOK_SEQ = "kernel_seq"


def saved_book(venue: PaperVenue, kernel_seq: int) -> dict[str, Any]:
    """What ``--paper-book`` holds: the venue's book with the kernel's seq it goes with."""
    return {**venue.book(), BOOK_SEQ: kernel_seq}


def read_book(venue: PaperVenue, path: Path) -> int | None:
    """Restores the book at ``path`` in ``venue`` (new, with its starting balance) and returns
    the kernel's seq it goes with: 0 for no file yet (the starting account goes with the start
    of the log), None for a book that names none. Exits 2 naming the field and value of a book
    that cannot be restored, nothing written."""
    if not path.exists():
        # Restored as a book, the starting account tells the orders placed after it (``catch_up``).
        venue.restore_book(venue.book())
        return 0
    try:
        book = json.loads(path.read_text())
        venue.restore_book(book)
    except (ValueError, OSError) as exc:
        fail(f"--paper-book {path}: {exc}")
    seq = book.get(BOOK_SEQ)
    if seq is not None and (isinstance(seq, bool) or not isinstance(seq, int) or seq < 0):
        fail(f"--paper-book {path}: {BOOK_SEQ} {seq!r} is not a seq of the kernel's log (a count)")
    return seq


def take_over(kernel: ExecutionKernel, book_seq: int | None) -> ReconciliationReport:
    """A kernel recovered from its log, with its venue: a paper book saved at ``book_seq``
    before the log's end is brought forward to it first; then the kernel is reconciled with the
    venue and each difference said on stderr. Returns the reconciliation's report, whose
    position mismatches the rebalance report says (``rebalance``)."""
    venue = kernel.venue
    if isinstance(venue, PaperVenue) and book_seq is not None:
        _catch_up(kernel, venue, book_seq)
    report = kernel.reconcile_with_venue()
    for line in report.lines():
        warn(f"reconcile: {line}")
    return report


def _catch_up(kernel: ExecutionKernel, venue: PaperVenue, saved: int) -> None:
    """The paper book saved at seq ``saved`` brought forward to the kernel's log (said on
    stderr); one saved at the log's end goes with it already."""
    last = kernel.seq
    if saved == last:
        return
    if saved > last:
        warn(
            f"the paper book was saved at seq {saved:,}, past the end of the write-ahead log (seq {last:,}): "
            "it is not this log's, and is not brought forward (the differences are reconciled below)"
        )
        return
    try:
        after_save = read_log_after_save(kernel, saved + 1, last)
    except (WalError, OSError, ValueError) as exc:
        warn(
            f"the paper book was saved at seq {saved:,}, before the end of the write-ahead log "
            f"(seq {last:,}), which cannot be read after it: {exc} (the differences are reconciled below)"
        )
        return
    caught = catch_up_book(venue, kernel, saved, after_save)
    assert caught.venue is not None
    _say_caught_up(caught, caught.venue)
