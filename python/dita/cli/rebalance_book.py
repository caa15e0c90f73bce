"""The paper account of ``dita rebalance --paper-book`` across runs: the book saved with the
kernel's seq it goes with and the positions it holds from elsewhere (``save_book``), read back
(``read_book``), and on a kernel recovered from its log brought forward to it, checked and
reconciled (``take_over``). A run killed after a leg filled and before the book's save leaves
the fill in the log only; the run after it catches the book up (``catch_up_book``, as ``dita
paper`` does), so a resumed plan, which counts that leg as sent before, reaches its target. A
book the log still does not explain where the written plan trades is not resumed on
(``refuse_resume_apart``)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from dita._files import one_value_each, parsed, replace_whole
from dita._kernel import WalError
from dita.cli._common import fail, warn
from dita.cli.paper_continued import _say_caught_up
from dita.cli.paper_resume import catch_up_book, read_log_after_save
from dita.cli.recovered import recovered_seq
from dita.rebalance.execute import PlanError
from dita.rebalance.plan import Plan
from dita.reconcile import QTY_EPS
from dita.reconcile.positions import kernel_positions
from dita.venues.paper import PaperVenue

if TYPE_CHECKING:
    from dita.kernel import ExecutionKernel
    from dita.reconcile import ReconciliationReport

__all__ = [
    "BOOK_SEQ",
    "FROM_ELSEWHERE",
    "PaperBookFile",
    "read_book",
    "refuse_resume_apart",
    "save_book",
    "take_over",
]

# The book file's field for the kernel's seq it was saved at: the log's records after it hold
# what the book lacks.
BOOK_SEQ = "kernel_seq"
# The book file's field for what it holds beyond the kernel's trades at that seq, per asset (a
# symbol the targets leave alone, a position reduced by a trade of the other side): the book
# goes with the log while its positions stay this far from the kernel's.
FROM_ELSEWHERE = "positions_from_elsewhere"


@dataclass(frozen=True)
class PaperBookFile:
    """What a ``--paper-book`` file says of the kernel's log it goes with. A book naming neither
    (prepared by hand) is taken as going with the log; one naming its kernel_seq only as holding
    nothing from elsewhere."""

    kernel_seq: int | None
    positions_from_elsewhere: dict[str, float] | None


def _from_elsewhere(venue: PaperVenue, traded: dict[str, float]) -> dict[str, float]:
    """Per asset, the venue's position beyond ``traded`` (the kernel's), where there is any."""
    held = venue.positions()
    beyond = {a: held.get(a, 0.0) - traded.get(a, 0.0) for a in sorted(set(held) | set(traded))}
    return {a: q for a, q in beyond.items() if abs(q) > QTY_EPS}


def save_book(path: Path, venue: PaperVenue, kernel: ExecutionKernel) -> None:
    """``venue``'s book saved whole to ``path`` with the kernel's seq it goes with and the
    positions it holds beyond the kernel's trades."""
    from_elsewhere = _from_elsewhere(venue, kernel_positions(kernel))
    book = {**venue.book(), BOOK_SEQ: kernel.seq, FROM_ELSEWHERE: from_elsewhere}
    replace_whole(path, lambda tmp: tmp.write_text(json.dumps(book)))


def read_book(venue: PaperVenue, path: Path) -> PaperBookFile:
    """Restores the book at ``path`` in ``venue`` (new, with its starting balance) and returns
    what it says of the kernel's log: for no file yet, the starting account at seq 0, all of it
    from elsewhere. Exits 2 naming the field and value of a book that cannot be restored, and a
    key given twice with both values (json.loads keeps the last: a position written twice would
    be taken as the second), nothing written."""
    if not path.exists():
        # Restored as a book, the starting account tells the orders placed after it (``catch_up``).
        venue.restore_book(venue.book())
        return PaperBookFile(0, _from_elsewhere(venue, {}))
    try:
        book = parsed(lambda text: json.loads(text, object_pairs_hook=one_value_each), path.read_text())
        venue.restore_book(book)
    except (ValueError, OSError) as exc:
        fail(f"--paper-book {path}: {exc}")
    seq = book.get(BOOK_SEQ)
    if seq is not None and (isinstance(seq, bool) or not isinstance(seq, int) or seq < 0):
        fail(f"--paper-book {path}: {BOOK_SEQ} {seq!r} is not a seq of the kernel's log (a count)")
    from_elsewhere = book.get(FROM_ELSEWHERE)
    if from_elsewhere is not None and not _positions(from_elsewhere):
        fail(
            f"--paper-book {path}: {FROM_ELSEWHERE} {from_elsewhere!r} is not an object of asset to a "
            "finite position"
        )
    return PaperBookFile(seq, from_elsewhere)


def _positions(given: object) -> bool:
    return isinstance(given, dict) and all(
        isinstance(q, (int, float)) and not isinstance(q, bool) and math.isfinite(q) for q in given.values()
    )


def take_over(
    kernel: ExecutionKernel, book: PaperBookFile | None, resumed: Plan | None
) -> ReconciliationReport:
    """A kernel recovered from its log, with its venue: a paper ``book`` saved before the log's
    end is brought forward to it first; a book the log does not explain is refused then for the
    written plan ``resumed`` (``refuse_resume_apart``), before reconciliation ends any of the
    kernel's orders; then the kernel is reconciled with the venue and each difference said on
    stderr. Returns the reconciliation's report, whose position mismatches the first rebalance
    report says (``rebalance``)."""
    venue = kernel.venue
    if isinstance(venue, PaperVenue) and book is not None:
        if book.kernel_seq is not None:
            _catch_up(kernel, venue, book.kernel_seq)
        if resumed is not None:
            refuse_resume_apart(kernel, venue, book, resumed)
    report = kernel.reconcile_with_venue()
    for line in report.lines():
        warn(f"reconcile: {line}")
    return report


def _catch_up(kernel: ExecutionKernel, venue: PaperVenue, saved: int) -> None:
    """The paper book saved at seq ``saved`` brought forward to the kernel's log (said on
    stderr); one saved at the log's end goes with it already."""
    last = recovered_seq(kernel)
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


def refuse_resume_apart(kernel: ExecutionKernel, venue: PaperVenue, book: PaperBookFile, plan: Plan) -> None:
    """PlanError naming each asset the written ``plan`` trades whose paper position is apart from
    the kernel's by other than what the ``book`` held from elsewhere when saved (nothing, for a
    book that names its kernel_seq only): its legs the kernel took count as sent before, and an
    account without their fills would end off its target with nothing said. An asset the plan
    does not trade cannot put it off its target: said only, as is every difference on an
    exchange, whose account may hold what the kernel never traded."""
    if book.kernel_seq is None and book.positions_from_elsewhere is None:
        return  # a book prepared by hand: taken as going with the log
    from_elsewhere = book.positions_from_elsewhere or {}
    held, traded = venue.positions(), kernel_positions(kernel)
    planned = {leg.symbol for leg in plan.legs}
    apart = []
    for asset in sorted(set(held) | set(traded) | set(from_elsewhere)):
        v, k, elsewhere = held.get(asset, 0.0), traded.get(asset, 0.0), from_elsewhere.get(asset, 0.0)
        if abs(v - k - elsewhere) <= QTY_EPS * max(1.0, abs(v)):
            continue
        said = f"{asset}: the paper venue holds {v!r}, the kernel's log {k!r}"
        said = f"{said} and {elsewhere!r} from elsewhere" if elsewhere else said
        if asset in planned:
            apart.append(said)
        else:
            warn(f"{said}: the log does not explain it, but the plan resumed does not trade it")
    if apart:
        raise PlanError(
            f"the plan written for these targets is not resumed on a paper book the kernel's log does not "
            f"explain ({'; '.join(apart)}): its legs sent before would count as filled; give the "
            "--paper-book saved with this log, or a new --state-dir to plan afresh from the book as it is"
        )
