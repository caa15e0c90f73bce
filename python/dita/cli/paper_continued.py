"""What a ``dita paper`` run continuing its kernel says it took over from the runs before it:
the orders restored to the paper venue, what opening the log cut or passed over, the catch-up of
a book older than the log, the rows the replay skips; and its reconciliation with the venue,
each difference said on stderr."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from dita.cli.paper_resume import CatchUp
    from dita.cli.paper_session import PaperSession
    from dita.venues.paper import CaughtUp


Say = Callable[[str], None]


def _on_stderr(line: str) -> None:
    typer.echo(line, err=True)


# How the `dita.kernel` logger's warnings of a torn record cut, of a checkpoint skipped and of a
# full last segment, by the log's open begin (ExecutionKernel's _tell_recovery):
# _say_recovery_damage says them.
_SAID_HERE = (
    "kernel %r: cut a torn record off",
    "kernel %r: skipped a checkpoint",
    "kernel %r: its write-ahead log ends in",
)


@contextlib.contextmanager
def _recovery_said_by_the_cli() -> Iterator[None]:
    """Holds back, while the kernel opens its log, the `dita.kernel` logger's warnings of the torn
    record the open cut and the checkpoints it skipped: ``_say_recovery_damage`` says them in the
    CLI's words (with the cause and what is lost), and both would print each one twice. A library
    user still gets the logger's."""
    import logging

    def not_said_here(record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(_SAID_HERE)

    log = logging.getLogger("dita.kernel")
    log.addFilter(not_said_here)
    try:
        yield
    finally:
        log.removeFilter(not_said_here)


def _say_recovery_damage(kernel: Any, say: Say = _on_stderr) -> None:
    """What opening the log cut or passed over (a record the process died writing, a damaged
    checkpoint): said, not only kept in ``wal_info()``, since the inputs it held are gone."""
    recovery = (kernel.wal_info() or {}).get("recovery") or {}
    torn = recovery.get("torn_tail")
    if torn:
        say(
            f"warning: the write-ahead log's last record was unfinished (the process stopped, or its "
            f"disk failed, while writing it): {torn['bytes_dropped']:,} bytes cut from "
            f"{torn['segment']} at byte {torn['offset']:,} (it would have been seq {torn['seq']}); the "
            f"kernel continues from seq {recovery['last_seq']}, its last whole record, and the input "
            "cut is not recovered"
        )
    full = recovery.get("full_last_segment")
    if full:
        say(
            f"warning: the write-ahead log ends in {full['segment']}, which reached its segment size "
            f"({full['bytes']:,} of {full['segment_bytes']:,} bytes) with no segment after it: the "
            "newest segment(s) may be lost, their records with them, unless the process stopped right "
            f"after that write; the kernel continues from seq {recovery['last_seq']}: put a lost "
            "segment back, or reconcile with the venue before trading"
        )
    at = recovery.get("checkpoint_seq")
    # Not "an earlier one" where none was usable: the log was replayed from its start.
    recovered = "the start of the log" if at is None else f"checkpoint {at} and the log after it"
    for skipped in recovery.get("skipped_checkpoints") or []:
        say(
            f"warning: checkpoint {skipped['path']} was passed over ({skipped['reason']}): the kernel "
            f"was recovered from {recovered}"
        )


def _say_continued(
    session: PaperSession,
    path: Path,
    previous: dict[str, Any] | None,
    say: Say = _on_stderr,
    *,
    tell: Say | None = None,
) -> None:
    """Say what a run on a write-ahead log took over from the runs before it: the kernel and the
    orders restored to the paper venue (``tell``, when given: `dita live` says the kernel it
    continues itself), then, through ``say``, what opening the log cut, the book's catch-up and
    what could not be taken over (`dita paper` and `dita live` in paper alike)."""
    if session.wal_dir is None:
        return
    if not session.continued:
        left = len(((previous or {}).get("venue") or {}).get("orders") or [])
        if left:
            say(
                f"warning: {path} lists {_orders(left)} of an earlier run: not carried over, since the "
                f"write-ahead log in {session.wal_dir} is new (the kernel starts afresh)"
            )
        return
    leverage = session.venue.settings.leverage
    if tell is not None:
        tell(
            f"continues kernel {session.kernel.kernel_id} from its write-ahead log {session.wal_dir} "
            f"(seq {session.kernel.seq}): {_orders(session.restored_orders)} restored to the paper "
            f"venue, {'with no margin check' if leverage is None else f'at leverage {leverage:g}'}"
        )
    _say_recovery_damage(session.kernel, say)
    if session.left_out:
        say(
            f"warning: {_orders(len(session.left_out))} of the saved book not restored, for an asset "
            f"this run's feed does not have: {', '.join(session.left_out)} (ended below)"
        )
    if not isinstance((previous or {}).get("venue"), dict):
        if previous is not None:
            why = f"format {previous.get('format', 1)}"
        else:
            why = "another log's" if path.exists() else "no such file"
        say(
            f"warning: {path} holds no paper venue book ({why}): the orders the kernel still works "
            "cannot be restored, and are ended"
        )
    saved = (previous or {}).get("seq")
    caught = session.caught_up
    if caught is not None and caught.venue is not None:
        # Killed between two saves: the log has inputs (fills among them) the book was saved
        # before; the book and the fills listed for `dita pnl` were brought forward from it.
        say(
            f"warning: {path} was saved at seq {caught.saved:,}, before the end of the write-ahead log "
            f"(seq {session.recovered_seq:,}): the paper venue's book and the fills it lists for "
            "`dita pnl` are brought forward to the kernel's last input from the log"
        )
        _say_caught_up(caught, caught.venue, say)
    elif isinstance(saved, int) and not isinstance(saved, bool) and saved != session.recovered_seq:
        # Saved after the end of the log (records it lost: fsync "none" and a machine crash), or
        # before it with the log unreadable: reconciliation can only report the differences.
        when = "before the end" if saved < session.recovered_seq else "after the end"
        unread = f" (the log was not read: {caught.unread})" if caught is not None and caught.unread else ""
        say(
            f"warning: {path} was saved at seq {saved:,}, {when} of the write-ahead log "
            f"(seq {session.recovered_seq:,}): the paper venue's book is not the kernel's as of its last "
            f"input{unread} (the differences are reconciled below), and the fills it lists for "
            "`dita pnl` are those up to the save"
        )
    if session.acted_after_save is not None:
        acted, rows = session.acted_after_save
        at = datetime.fromtimestamp(acted, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        # A log an older dita wrote records no place with an intent: all of its time is taken.
        at += (
            f" (its row {rows:,} of that time)"
            if rows is not None
            else " (the log does not say on which of its rows: every row of that time is taken as handled)"
        )
        if previous is not None:
            where = f"past {path}'s data time"
        else:
            where = f"and {path} is another account's" if path.exists() else f"and there is no {path}"
        say(
            f"warning: the write-ahead log goes on to the kernel's last act at {at}, {where}: the rows "
            "up to it are not replayed, so the strategies do not trade them again (the signals of rows "
            "the killed run had not finished are lost)"
        )


def _say_caught_up(caught: CatchUp, venue: CaughtUp, say: Say = _on_stderr) -> None:
    """Say on stderr what the catch-up of the paper venue with the log did, and what it left to
    reconciliation, naming each order."""
    fills = f"{venue.fills} fill" + ("" if venue.fills == 1 else "s")
    held = ""
    if venue.held:
        # Made while the save ran, before the kernel logged them: the saved book holds them.
        n = venue.held
        held = f"; {n} fill{'' if n == 1 else 's'} logged after it already in the saved book"
    ended = ""
    if venue.ended:
        n = len(venue.ended)
        ended = f"; {n} order{'' if n == 1 else 's'} of the book ended since: {', '.join(venue.ended)}"
    taken = ""
    if venue.taken:
        # Killed between a submit's record and its answer's: the venue takes the order now.
        n = len(venue.taken)
        taken = (
            f"; {n} order{'' if n == 1 else 's'} sent with no answer in the log, taken by the venue now: "
            f"{', '.join(venue.taken)}"
        )
    say(
        f"caught up the paper venue with the write-ahead log: {fills} and {_orders(venue.working)} "
        f"after seq {caught.saved:,}{held}{ended}{taken}"
    )
    for line in venue.not_applied:
        say(f"warning: not caught up: {line} (left to reconciliation)")


def _orders(n: int) -> str:
    return f"{n} working order" + ("" if n == 1 else "s")


def _reconcile(session: PaperSession) -> None:
    """Reconcile the continued kernel with the venue holding the restored book: an order the
    venue does not hold (no book to restore) is ended, not left to hold its slot for good.
    Each difference is said on stderr."""
    trades = {}
    for s in session.kernel.slots():
        for key in ("active_entry_order", "active_exit_order"):
            order = s.get(key)
            if isinstance(order, dict):
                trades[order.get("client_order_id")] = s.get("trade_id", "")
    report = session.runtime.reconcile_with_venue()
    # Never sent, or taken by the last run's venue (``purged_at_venue``): this venue's book is
    # in memory, so neither can have filled beyond what the kernel booked.
    ended = [*report.lost_submits, *report.purged_at_venue]
    if ended:
        named = ", ".join(
            f"{o['client_order_id']} (slot {o['slot_id']}, {trades.get(o['client_order_id'], '?')})"
            for o in ended
        )
        n = len(ended)
        typer.echo(
            f"reconcile: ended {n} order{'' if n == 1 else 's'} the venue does not hold: {named}", err=True
        )
    for line in report.lines(skip=("lost_submits", "purged_at_venue")):
        typer.echo(f"reconcile: {line}", err=True)
