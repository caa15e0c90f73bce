"""A ``dita paper`` run once its session is built (``run_session``): the feed handed to the
runtime, the state file saved and the status drawn every --status-every, the stops (--duration,
Ctrl-C or SIGTERM, a failed log or state file, every strategy in ERROR), and the end: the last
reconciliation and save, the kernel closed once the journal took its rows (or gave up)."""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from dita._kernel import WalError
from dita._signals import Terminated, closing, held, installed, sigterm_as_interrupt
from dita.cli._common import warn, warn_rejected
from dita.cli.paper_continued import _reconcile
from dita.cli.paper_status import _mode_to_say, _status_line, _status_table, _StatusLive

if TYPE_CHECKING:
    from dita.cli.live_feed import LiveFeed
    from dita.cli.paper_session import PaperSession

STATUS_LINE_SECONDS = 60.0
"""Seconds between the status lines a run writes when its output is not a terminal."""

JOURNAL_WAIT_S = 30.0  # how long the end of a run waits for the journal to take the last rows


def run_session(
    session: PaperSession,
    feed: Any,
    live_feed: LiveFeed | None,
    console: Any,
    *,
    speed: float,
    max_speed: bool,
    duration: float | None,
    status_every: float,
    state: Path,
    wal_dir: Path | None,
    jr: Any,
) -> None:
    """Run ``session`` on ``feed`` (a live run: on ``live_feed``'s items) until the feed ends,
    ``duration`` passes, Ctrl-C or SIGTERM stops it, its log or state file fails, or every
    strategy is in ERROR; the state file in ``state`` saved and the status drawn on ``console``
    every ``status_every`` seconds, then the end: the last save and the kernel closed, its
    journal ``jr`` waited for. Raises ``typer.Exit(1)`` when a problem stopped the run or a
    strategy failed, each said on stderr."""
    from dita.runtime import StrategyStatus

    deadline = time.monotonic() + duration if duration is not None else None
    # The first data point saves the state file and draws the status: from 0, that would wait
    # until the clock (the machine's uptime) passed --status-every.
    last = -math.inf
    problems: list[str] = []
    live = _StatusLive(_status_table(session), console=console, auto_refresh=False, transient=False)

    # The mode last said: a kernel that starts halted (by the cluster, or its log) says so at
    # once, and any change an operator makes later is said as it is seen.
    mode_said: str | None = None

    def say_mode(control: dict[str, Any]) -> None:
        nonlocal mode_said
        news = _mode_to_say(control, mode_said)
        if news is not None:
            mode_said = news
            console.print(f"kernel mode: {news}", highlight=False)

    def log_stopped(why: object) -> None:
        """The run stops for its log: a full disk or an I/O error under its writer."""
        if not problems:
            problems.append(f"cannot sync the write-ahead log in {wal_dir}: {why}; the run was stopped")

    def tick(_: int) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last >= status_every and not problems:
            last = now
            try:
                session.save(running=True)
            except OSError as exc:
                # `dita status` would show a stale run: stop it (the end below still closes
                # the kernel and its journal).
                problems.append(f"cannot write the state file in {state}: {exc}; the run was stopped")
                return
            except WalError as exc:
                # The log failed (a disk full or gone read-only): the kernel cannot record
                # inputs, and a book saved now would be ahead of what a restart recovers.
                log_stopped(exc)
                return
            snap = session.snapshot(running=True)
            say_mode(snap["control"])
            live.update(_status_table(session, snap), refresh=True)
            if not console.is_terminal and now - said[0] >= STATUS_LINE_SECONDS:
                # The table is drawn once, at the end, where no terminal shows it in place (a
                # service's log): a line then says how the run goes.
                said[0] = now
                console.print(_status_line(session, snap), highlight=False)

    said = [time.monotonic()]
    say_mode(session.kernel.control())
    handles = list(session.runtime.handles.values())
    not_running = (StrategyStatus.ERROR, StrategyStatus.STOPPED)

    def log_failed() -> str | None:
        """Why the kernel's log refuses input (its writer thread met a full disk or an I/O
        error), or None. A strategy's input refused for it stops the strategy (KernelClosed;
        one whose own code caught that error may be in ERROR), which is not the strategy's
        failure: the run is stopped for the log."""
        info = session.kernel.wal_info() if session.wal_dir is not None else None
        return None if info is None else info.get("poisoned")

    def should_stop() -> bool:
        if not problems and any(h.status in not_running for h in handles):
            failed_log = log_failed()
            if failed_log is not None:
                log_stopped(failed_log)
        if not problems and all(h.status is StrategyStatus.ERROR for h in handles):
            # Nothing would trade again: replaying on (or waiting on the live feed) until the
            # data or --duration ends would do nothing.
            problems.append("every strategy is in ERROR: the run was stopped")
        return bool(problems) or (deadline is not None and time.monotonic() >= deadline)

    def waiting_stop() -> bool:
        # Looked at while the feed waits, or a paced replay waits for its next row's time (an
        # hour's gap at --speed 60 is a minute): the state file and the status stay fresh when
        # no row comes, as `dita status` reads them. Before the first row, nothing to save yet.
        if live_feed is not None or session.runtime.data_points:
            tick(0)
        return should_stop()

    if live_feed is not None:
        feed = live_feed.items(
            waiting_stop, restored_clock(session, lambda line: console.print(line, highlight=False))
        )

    path: Path | None = None
    restore_sigterm = sigterm_as_interrupt()
    try:
        # Inside the stops' guard: a strategy's on_start may take long (history, a model), and
        # a SIGTERM or Ctrl-C there would end the command with 130, the kernel unclosed, no state
        # saved.
        session.runtime.start()
        if session.continued:
            _reconcile(session)
            refused = _trades_no_strategy_takes_back(session)
            if refused is not None:
                problems.append(refused)
        if not problems:
            with live:
                try:
                    session.runtime.run(
                        feed,
                        speed=None if max_speed else speed,
                        progress=tick,
                        should_stop=should_stop if max_speed else waiting_stop,
                    )
                    session.runtime.finish()
                except WalError as exc:
                    # The log's writer thread met a full disk or an I/O error, and an input of the
                    # run (a strategy's, a venue event, the last marks) was refused for it: the
                    # kernel takes no more input. Stopped as a failed save stops the run (below),
                    # not as a traceback that would skip the final save's error.
                    log_stopped(exc)
                finally:
                    # Stopped or not, the table left on screen is the run's last state, not the
                    # last tick's (up to --status-every behind) after a Ctrl-C or SIGTERM.
                    live.update(_status_table(session), refresh=True)
    except KeyboardInterrupt as exc:
        closing()
        console.print("terminated" if isinstance(exc, Terminated) else "interrupted")
    finally:
        closing()  # a SIGTERM from here on must not cut the closing short: the state saved, the kernel closed
        try:
            # A Ctrl-C now (the data just ended, or one more after a Ctrl-C or a SIGTERM) is kept
            # to the end of the save and then let go, the run being over: raised in its middle, it
            # would leave the state file of the run's start (`running: true`, none of the run's
            # fills) and exit status 130. A second one stops at once (a strategy's on_stop that
            # hangs).
            saved = False
            with held() if installed() else contextlib.nullcontext():
                session.runtime.stop()
                feed_said = live_feed.close() if live_feed is not None else None
                if feed_said is not None:
                    typer.echo(feed_said, err=True)
                if session.wal_dir is not None:
                    # Ctrl-C or SIGTERM may have landed between a fill the venue made and the kernel
                    # taking it: the venue still knows the orders it ended now, the next run's does not.
                    try:
                        _reconcile(session)
                    except Exception as exc:
                        problems.append(f"cannot reconcile the kernel with the paper venue: {exc}")
                path = session.save(running=False)
                saved = True
        except KeyboardInterrupt:
            if not saved:
                raise
        except OSError as exc:
            problems.append(f"cannot write the final state file in {state}: {exc}")
        except WalError as exc:
            # The state file keeps the last book saved with the log synced: the one a restart
            # on this log goes with (`dita status` sees the process gone).
            problems.append(f"the final state file was not written: cannot sync the write-ahead log: {exc}")
        finally:
            try:
                _close_kernel(session.kernel, jr, problems)
            finally:
                restore_sigterm()
    if path is not None:
        console.print(f"state: {path}")
    if session.rejections.orders:  # this run's (the state file counts the runs before too)
        warn_rejected(session.rejections.orders, session.rejections.text())
    if session.refusals.refused:  # this run's, as the rejections
        warn(session.refusals.said())
    failed = [s for s in session.runtime.status() if s["status"] == "ERROR"]
    for s in failed:
        typer.echo(f"error: strategy {s['name']} failed in {s['error_callback']}: {s['error']}", err=True)
    for problem in problems:
        typer.echo(f"error: {problem}", err=True)
    if problems or failed:
        raise typer.Exit(1)


def _trades_no_strategy_takes_back(session: PaperSession) -> str | None:
    """Why a continued run does not trade (None when it may): the log holds open trades of a
    strategy it no longer runs (another --strategy, or one naming itself otherwise), which
    nobody would ever exit (``trades_left``, as `dita live` asks it). A trade opened by hand is
    named on stderr, and the run trades on."""
    from dita.runtime.strategies import trades_left

    left = trades_left(session.runtime)
    if left.by_hand:
        typer.echo(
            f"warning: open trades of no strategy (opened by hand): {', '.join(left.by_hand)}; "
            "this run does not exit them",
            err=True,
        )
    if not left.by_strategy:
        return None
    running = ", ".join(repr(name) for name in session.runtime.handles)
    return (
        f"the write-ahead log holds open trades no strategy of this run takes back ({left.named()}); "
        f"the run's strategy is {running}, and trades are taken back by the strategy's name, so "
        "nobody would exit them: continue the kernel with that strategy, which takes them back and "
        "exits them as it trades, or start a new account with another --kernel-id and --wal-dir; "
        "nothing was traded"
    )


def restored_clock(session: PaperSession, say: Callable[[str], None]) -> float:
    """The clock of the paper venue a continued run restored (0 when none): no data stamped
    earlier is handed, since the venue refuses data that goes back in time (a live feed's
    ``not_before``). A clock past this host's (the state moved from a host whose clock ran
    ahead, or the clock was stepped back) is said: data waits for the wall clock to catch up."""
    now = session.venue.data_time
    if now is None:
        return 0.0
    ahead = now - time.time()
    if ahead > 1.0:
        say(
            f"warning: the restored paper venue's clock is {ahead:,.1f} s ahead of this host's; "
            "polled quotes are stamped with it, and streamed bars and quotes stamped earlier "
            "skipped, until the wall clock catches up"
        )
    return now


def _close_kernel(kernel: Any, jr: Any, problems: list[str]) -> None:
    """Close the kernel (its journal and projection) even when waiting fails; add to
    ``problems`` the journal rows that were not written (a paper run has no WAL to resend).
    A Ctrl-C stops the wait for the journal, said; the rows left are counted all the same."""
    past_log = 0
    try:
        if jr is not None:
            try:
                _wait_for_journal(jr)
            except KeyboardInterrupt:
                # The operator gives up on the journal, not on being told what it lost.
                typer.echo(f"interrupted: stopped waiting for the journal {jr.target.display}", err=True)
            past_log = _rows_past_a_failed_log(kernel)
    finally:
        # A Ctrl-C in the close (the journal's last flush, up to its close_timeout) is kept to
        # its end and let go, as in the final save; a second one stops at once.
        closed = False
        try:
            with held() if installed() else contextlib.nullcontext():
                kernel.close()
                closed = True
        except KeyboardInterrupt:
            if not closed:
                raise
        except WalError as exc:  # its log failed earlier: said, not a traceback
            problems.append(f"closing the kernel: {exc}")
    if jr is None:
        return
    left = jr.stats()
    outbox = kernel.stats()
    in_outbox = int(outbox["journal_queued"])
    past_log = min(past_log, in_outbox)
    if past_log:
        # Not the journal's failure: a journal holds only rows of inputs the log keeps, and
        # a restart on this log does not know those inputs.
        problems.append(
            f"{past_log:,} journal rows of inputs the failed write-ahead log did not keep were "
            "not journaled (a restart on the log does not recover those inputs)"
        )
    unwritten = left.queued + in_outbox - past_log + int(outbox["journal_dropped"])
    if unwritten:
        problems.append(
            f"{unwritten:,} journal rows were not written to {jr.target.display} "
            f"(last error: {left.last_error or 'none'})"
        )


def _rows_past_a_failed_log(kernel: Any) -> int:
    """The rows ``kernel``'s outbox holds of inputs its failed log did not keep (0 when the
    log works, or when the outbox still holds rows of inputs the log keeps): the outbox never
    hands those to a journal, so they are no journal's failure to write. Read before close()."""
    try:
        info = kernel.wal_info()
        if info is None or not info.get("poisoned"):
            return 0
        through = kernel.journaled_through()
        stats = kernel.stats()
    except Exception:  # a read that fails only loses the distinction
        return 0
    first = stats.get("journal_first_seq")
    if through is None or first is None or first <= through:
        return 0
    return int(stats["journal_queued"])


def _wait_for_journal(jr: Any) -> None:
    """Wait up to JOURNAL_WAIT_S for the journal to write what the run made, saying every few
    seconds how many rows it waits for (and the journal's error, when it changes)."""
    deadline = time.monotonic() + JOURNAL_WAIT_S
    shown_error = ""
    while True:
        remaining = deadline - time.monotonic()
        try:
            jr.flush(timeout=max(0.01, min(3.0, remaining)))
            return
        except TimeoutError:
            pass
        except RuntimeError as exc:  # a journal thread died: waiting will not help
            typer.echo(f"error: journal: {exc}", err=True)
            return
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        stats = jr.stats()
        typer.echo(
            f"waiting for the journal {jr.target.display}: {stats.queued:,} rows to write, "
            f"giving up in {remaining:.0f}s",
            err=True,
        )
        if stats.last_error and stats.last_error != shown_error:
            shown_error = stats.last_error
            typer.echo(f"  journal error: {shown_error}", err=True)
