"""``PaperSession``: the kernel, the paper venue and the runtime of a ``dita paper`` run, with
the state file it saves (``snapshot``, ``save``) that ``dita status`` reads and a run continuing
the kernel takes over; a continued session takes back the last run's book, brought forward to the
kernel's log after a kill (``paper_resume``)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dita._kernel import WalError
from dita._numbers import exact_text
from dita.cli._state import STATE_FORMAT
from dita.cli.log_label import LIVE_SOURCE, PAPER_SOURCE, LabelUnread, first_label
from dita.cli.paper_continued import _recovery_said_by_the_cli
from dita.cli.paper_resume import (
    Act,
    CatchUp,
    LogAfterSave,
    Place,
    Replayed,
    catch_up_book,
    fill_entry,
    last_place,
    place_order,
    read_log_after_save,
)
from dita.cli.paper_state_file import _fill_model_record
from dita.cli.recovered import holds_a_run, recovered_seq

if TYPE_CHECKING:
    from dita.backtest.data import MarketData
    from dita.backtest.engine import BacktestConfig

KEPT_FILLS = 10_000  # fills the state file lists one by one; older ones are kept as day totals
# The log records a continued run without a state file reads for the kernel's last act: the whole
# log of a long account would take minutes to replay, and its last act is near its end.
LAST_ACT_SEARCH_RECORDS = 100_000
# Reads of the book a save makes while other threads' orders move the seq; past them, the last
# read is saved, its fills told apart by ``last_event_id``.
_BOOK_READS = 5


class LiveLogRefused(ValueError):
    """The write-ahead log a paper session would continue is a live run's: paper orders and fees
    written into it would be the live account's, and the live run would refuse the log as the
    paper run's. Raised before the session writes anything, its kernel closed."""


class UntoldLogRefused(LiveLogRefused):
    """The write-ahead log a paper session would continue cannot be told from a live run's (its
    first records archived, or of another behaviour version with no paper state file naming the
    log, the records kept holding no label) and no paper run labelled it last: refused as a live
    one would be."""


class PaperSession:
    """Kernel + paper venue + runtime, with a state file that ``dita status`` reads."""

    def __init__(
        self,
        strategy: Any,
        *,
        strategy_max_slots: int | None = None,
        strategy_source_run: str | None = None,
        fill_model: BacktestConfig,
        kernel_id: str,
        assets: Iterable[str] | None = None,
        state_dir: Path,
        clock: str,
        journal: Any = None,
        projection: Any = None,
        control_plane: Any = None,
        wal_dir: Path | None = None,
        previous: dict[str, Any] | None = None,
        slots_given: bool = True,
        bar_seconds: float = 0.0,
        status_every: float = 1.0,
        fsync: str | None = None,
        balance_key: str = "--balance",
    ) -> None:
        from dita._kernel import wal_kernel_id
        from dita.kernel import ExecutionKernel
        from dita.runtime import KernelRefusals, TradingRuntime, VenueRejections
        from dita.runtime.blown_account import halt_when_bust

        # The backtest's venue and kernel set-up, so a paper rehearsal fills as the backtest
        # did. ``assets``: those the feed has. A live run (clock "wall") times orders by the
        # wall clock, as an exchange does and as the strategies' intents are stamped; a
        # replay, by the data's time.
        self.venue = fill_model.paper_venue(
            assets, clock=time.time if clock == "wall" else None, bar_seconds=bar_seconds
        )
        book = (previous or {}).get("venue")
        options: dict[str, Any] = {} if wal_dir is None else {"wal_dir": str(wal_dir)}
        if wal_dir is not None and fsync is not None:
            options["fsync"] = fsync
        # A log there holds its kernel's slot count: the default (not --max-slots) must not
        # stand for one given, or a log without a usable checkpoint (the only other record of
        # it) would replay into the default's slots, rather than be refused asking for it.
        if wal_dir is None or slots_given or wal_kernel_id(wal_dir) is None:
            options["max_slots"] = fill_model.max_slots
        with _recovery_said_by_the_cli():
            self.kernel = ExecutionKernel(
                venue=self.venue,
                kernel_id=kernel_id,
                journal=journal,
                projection=projection,
                **options,
            )
        # A kernel recovered from its write-ahead log continues the last run: its capital,
        # trades and mode are those of the log, and its venue takes back the last run's book.
        self.continued = holds_a_run(self.kernel)
        try:
            found = live_label(self.kernel, state_dir / f"{kernel_id}.json") if self.continued else None
        except LabelUnread as exc:
            self.kernel.close()
            forward = (
                f"Put its archived segments back in {wal_dir} to continue it"
                if exc.other_version is None
                else f"No paper state file in {state_dir} names it as its account's log: start the paper "
                "run with the state directory of the paper run that wrote it to continue it"
            )
            raise UntoldLogRefused(
                f"the write-ahead log in {wal_dir} of kernel {kernel_id!r} cannot be told from a live run's: "
                f"{exc}; a paper run on it could write paper orders and fees into a live account's log. "
                f"{forward}"
            ) from None
        if found is not None:
            self.kernel.close()
            raise LiveLogRefused(
                f"the write-ahead log in {wal_dir} holds the live run of kernel {kernel_id!r} ({found}): "
                "a paper run on it would write paper orders and fees into the live account's log, "
                "and the live run would then refuse the log as the paper run's"
            )
        if self.continued and previous is None:
            self._refuse_another_balance(fill_model.balance, balance_key, wal_dir, state_dir)
        # The log's last seq, before this run's set-up.
        self.recovered_seq = recovered_seq(self.kernel)
        self.wal_dir = wal_dir
        self.previous = previous if self.continued else None
        self.restored_orders = 0
        # A book older than the log (a run killed between two saves) brought forward from it.
        self.caught_up: CatchUp | None = None
        # What the log holds after the state file's save, read once (None: nothing after it, or
        # not read, ``log_unread`` saying why): the fills and cancels the book is brought forward
        # with, the acts a replay goes on after.
        self.after_save: LogAfterSave | None = None
        self.log_unread = ""
        # Orders of the book for an asset this run's feed does not have (reconciliation ends them).
        self.left_out: list[str] = []
        if self.continued:
            self.kernel.set_exchange_config(
                {"taker_rate": fill_model.fee_rate, "maker_rate": fill_model.maker_rate}
            )
            if isinstance(book, dict) or clock == "data":
                self.after_save, self.log_unread = self._read_after_save(self.previous)
            if isinstance(book, dict):
                self.left_out = self.venue.restore_book(book)
                self.caught_up = self._catch_up(previous or {})
                self.restored_orders = len(self.venue.open_orders())
        else:
            fill_model.set_up(self.kernel, source="dita-paper")
        if control_plane is not None:
            # After the PAPER label, so what the cluster sets (a HALTED) wins over it.
            self.kernel.attach_control_plane(control_plane)
        # A replay's intents record where in the data they were decided: a run continuing this
        # kernel after a kill goes on from the last of them (``continue_after_acts``).
        self.runtime = TradingRuntime(
            self.kernel, [self.venue], clock=clock, record_data_place=clock == "data"
        )
        self.runtime.fill_listeners.append(self._on_fill)
        # A blown account halts as the backtest's does, so a replay fills as the backtest did.
        if fill_model.halt_when_bust:
            halt_when_bust(self.runtime, source="dita-paper")
        # Orders the venue rejected this run (an asset outside the feed, say): the kernel took
        # them, so the strategy's outcome reads accepted and nothing else would say so.
        self.rejections = VenueRejections()
        self.runtime.event_listeners.append(self.rejections.on_event)
        # The strategies' intents the kernel refused this run (but its routine refusals): each
        # outcome says so, and counted here, the run says so too.
        self.refusals = KernelRefusals()
        self.runtime.intent_listeners.append(self.refusals.on_intent)
        self.runtime.add_strategy(strategy, max_slots=strategy_max_slots, source_run=strategy_source_run)
        self.state_dir = state_dir
        self.status_every = status_every
        self.fill_model = fill_model
        self.fills: list[dict[str, Any]] = []
        # Totals per UTC day of the fills no longer kept, so `dita pnl` periods stay whole.
        self.older_fills: dict[str, dict[str, float]] = {}
        self._realized: dict[str, float] = {}
        if self.previous is not None:
            # The continued kernel's account counts the last runs' fills: so do `dita pnl`'s.
            self.fills = list(self.previous.get("fills") or [])
            self.older_fills = dict(self.previous.get("older_fills") or {})
            if self.caught_up is not None:
                # The fills the kernel booked after the save: listed once, by asset and fill id.
                listed = {(f.get("asset"), f.get("fill_id")) for f in self.fills if f.get("fill_id")}
                for row in self.caught_up.rows:
                    if (row["asset"], row["fill_id"]) not in listed:
                        self._keep_fill(fill_entry(row))
            for s in self.kernel.slots():
                if s.get("trade_id"):
                    self._realized[s["trade_id"]] = float(s.get("realized_pnl") or 0.0)
        # The orders the venue rejected in the last runs continuing this kernel: the state file
        # counts them over its runs, as it lists their fills.
        before = self.previous or {}
        self.rejections_before = VenueRejections(
            before.get("orders_rejected") or 0, before.get("rejection_reasons")
        )
        self.refusals_before = KernelRefusals(
            before.get("intents_refused") or 0, before.get("refusal_reasons")
        )
        if self.previous is not None and self.after_save is not None:
            # Those of a run killed after the save are the log's: the state file's count goes on.
            for reason in self.after_save.rejections:
                self.rejections_before.add(reason)
            for reason in self.after_save.refusals:
                self.refusals_before.add(reason)
        # Where a replay is, across the runs continuing this kernel (clock "data" only).
        self.replay = Replayed.after(self.previous if clock == "data" else None)
        # A run killed between two saves leaves its log past the state file: the kernel acted on
        # the rows it handled after the save, and fed them again, the strategies would trade them
        # a second time. The replay goes on after the kernel's last act instead
        # (`continue_after_acts`).
        self.acts = self._acts_after_save() if clock == "data" else []
        self.acted_after_save: Place | None = None
        self.saved_place: tuple[float | None, int | None] = (None, 0)
        self.started = time.time()

    def _refuse_another_balance(
        self, balance: float, balance_key: str, wal_dir: Path | None, state_dir: Path
    ) -> None:
        """AccountKept, the kernel closed, when the continued log's seed capital is not
        ``balance``: with no state file to keep the account's fill model, the paper venue would
        hold ``balance`` while the kernel counts the log's capital."""
        from dita.cli.paper_state_file import AccountKept

        seed = float(self.kernel.account().get("seed_capital") or 0.0)
        if seed == float(balance):
            return
        kernel_id = self.kernel.kernel_id
        self.kernel.close()
        raise AccountKept(
            f"{balance_key} {exact_text(balance)} differs from the seed capital {exact_text(seed)} the "
            f"write-ahead log in {wal_dir} holds for kernel {kernel_id!r} (no paper state file in "
            f"{state_dir} records its account): a continued account keeps its balance. Give "
            f"{balance_key} {exact_text(seed)} to continue it, or start a new account under another kernel id"
        )

    def _on_fill(self, event: Any, row: int) -> None:
        slot = self.kernel.slot_state(event.slot_id)
        before = self._realized.get(event.trade_id, 0.0)
        realized = float(slot.realized_pnl) if slot.trade_id == event.trade_id else before
        self._realized[event.trade_id] = realized
        self._keep_fill(
            {
                "ts": event.timestamp_s,
                "trade_id": event.trade_id,
                "asset": event.asset,
                "side": event.order_side.name if event.order_side is not None else "",
                "price": event.price,
                "qty": event.size,
                "fee": event.fee or 0.0,
                "realized_pnl": realized - before,
                # As the kernel's journal names it (the event id when the venue gave none): a run
                # catching up after a kill lists the fills booked after the save once by it.
                "fill_id": event.fill_id or event.event_id,
            }
        )

    def _keep_fill(self, fill: dict[str, Any]) -> None:
        """List ``fill`` in the state file, the oldest beyond KEPT_FILLS kept as day totals."""
        self.fills.append(fill)
        if len(self.fills) > KEPT_FILLS:
            for old in self.fills[:-KEPT_FILLS]:
                day = datetime.fromtimestamp(float(old["ts"]), tz=UTC).strftime("%Y-%m-%d")
                totals = self.older_fills.setdefault(
                    day, {"fills": 0, "realized_pnl": 0.0, "fee": 0.0, "last_ts": 0.0}
                )
                totals["fills"] += 1
                totals["realized_pnl"] += float(old["realized_pnl"])
                totals["fee"] += float(old["fee"])
                totals["last_ts"] = max(totals["last_ts"], float(old["ts"]))
            del self.fills[:-KEPT_FILLS]

    def _read_after_save(self, previous: dict[str, Any] | None) -> tuple[LogAfterSave | None, str]:
        """What the log holds after the state file ``previous``'s save (with no state file, its
        last ``LAST_ACT_SEARCH_RECORDS`` records), and why it could not be read ('' when it was);
        None when the state file goes with the log (or records no seq)."""
        searched_from = max(0, self.recovered_seq - LAST_ACT_SEARCH_RECORDS)
        saved = searched_from if previous is None else previous.get("seq")
        if not isinstance(saved, int) or isinstance(saved, bool) or not 0 <= saved < self.recovered_seq:
            return None, ""
        try:
            return read_log_after_save(self.kernel, saved + 1, self.recovered_seq), ""
        except (WalError, OSError, ValueError) as exc:
            return None, f"cannot read it after seq {saved:,}: {exc}"

    def _catch_up(self, previous: dict[str, Any]) -> CatchUp | None:
        """Bring the restored book forward to the kernel's log when the state file was saved
        before its end (a run killed between two saves): ``catch_up_book``. None when the book
        goes with the log."""
        saved = previous.get("seq")
        if not isinstance(saved, int) or isinstance(saved, bool) or not 0 <= saved < self.recovered_seq:
            return None
        if self.after_save is None:
            done = CatchUp(saved)
            done.unread = self.log_unread
            return done
        return catch_up_book(self.venue, self.kernel, saved, self.after_save)

    def snapshot(self, *, running: bool) -> dict[str, Any]:
        try:
            self.runtime.sync_marks()
        except WalError:
            # A kernel whose log failed refuses input, marks included, but still answers reads:
            # the status and the state file show its state as of its last input (the failure
            # itself is said by the run, and the save after this refuses to write a book then).
            pass
        slots = [s for s in self.kernel.slots() if s.get("fsm_state") not in ("IDLE", "CLOSED")]
        account = self.kernel.account()
        # The seq read before and after the book, again while another thread's input moves it: every
        # fill the log holds up to the seq is in the book, no order the book holds is sent after it,
        # and a fill the venue made but the kernel has not logged yet is told by ``last_event_id``.
        for _ in range(_BOOK_READS):
            seq = self.kernel.seq
            book = self.venue.book()
            if self.kernel.seq == seq:
                break
        return {
            "format": STATE_FORMAT,
            "kernel_id": self.kernel.kernel_id,
            "pid": os.getpid(),
            # When this process started: a later process given the same pid is not this run.
            "pid_start": _own_start(),
            "running": running,
            "clock": self.runtime.clock,
            # The account's margin rules: a run continuing this kernel keeps them (--leverage).
            "leverage": self.venue.settings.leverage,
            # Its fees, slippage, latency and volume share, and its seed balance (the log's,
            # for a continued kernel): a run continuing this kernel keeps them too.
            "fill_model": _fill_model_record(self.fill_model, account.get("seed_capital")),
            "data_time": self._data_time(),
            # How many rows of data_time the runtime took: a run stopped between two rows of
            # one time (two assets' bars) is continued with the rest of them.
            "rows_at_data_time": self.replay.at(self.runtime.data_points)[1],
            "updated_at": time.time(),
            # Seconds between two saves while the run goes: `dita status` notes a state older
            # than a few of them (the process hung or stopped).
            "status_every": self.status_every,
            "rows": self.runtime.data_points,
            "account": account,
            "control": self.kernel.control(),
            "slots": slots,
            "strategies": self.runtime.status(),
            "fills": self.fills,
            "older_fills": self.older_fills,
            **self._rejected(),
            # What the simulated venue holds (its resting orders above all), for the run that
            # continues this kernel from --wal-dir: an exchange keeps them while its client is
            # down. Written every time, so a run killed outright leaves its last book too.
            "venue": book,
            # Resolved: the next run finds its own account's file from any working directory.
            "wal_dir": None if self.wal_dir is None else str(self.wal_dir.resolve()),
            # The kernel's seq the book goes with: a run continuing the log tells from it
            # whether the book is older than the log (the last run stopped between saves).
            "seq": seq,
        }

    def _rejected(self) -> dict[str, Any]:
        """The state file's count of the orders the venue rejected, over the runs continuing
        this kernel: ``orders_rejected`` and the first reasons with their counts; and so of the
        intents the kernel refused, ``intents_refused`` and ``refusal_reasons``."""
        kernel_life = self.rejections_before.plus(self.rejections)
        refusals = self.refusals_before.plus(self.refusals)
        return {
            "orders_rejected": kernel_life.orders,
            "rejection_reasons": kernel_life.reasons,
            "intents_refused": refusals.refused,
            "refusal_reasons": refusals.reasons,
        }

    def _acts_after_save(self) -> list[Act]:
        """The kernel's acts after the state file's save (with no state file, those of the log's
        tail: a run killed before its first save, or the file lost, whose replay would start from
        the data's first row); none when its log goes with the state file. A log that cannot be
        read, or a tail without an act, gives its last act's time, from the kernel's slots (their
        last transitions), at every row of it."""
        acts = [] if self.after_save is None else self.after_save.acts
        if acts or not (self.log_unread or (self.continued and self.previous is None)):
            return acts
        return [Act(max((float(s.get("last_event_time") or 0.0) for s in self.kernel.slots()), default=0.0))]

    def continue_after_acts(self, data: MarketData) -> str | None:
        """Moves the replay past the kernel's last act after the save (``acts``), when that is
        past the saved place: the rows up to it are skipped, those of the save's time that the
        killed run took after the save included, and the rows after it at its time are replayed.
        A last act past the data's last time is no time of ``data`` (a reconciliation stamped
        with the wall clock, as an older dita stamped it): the replay stays where the state
        file says, and the returned warning says why."""
        place = last_place(self.acts, data)
        if place is None or place[0] <= 0.0:
            return None
        saved = self.replay.ts
        if saved is not None and place_order(place) <= place_order((saved, self.replay.n)):
            return None
        acted, last_row = place[0], float(data.ts.max())
        if acted > last_row:
            where = (
                "from the state file's place, and rows the killed run handled after its last save"
                if self.previous is not None
                else "from the data's first row (there is no state file), and rows the killed run handled"
            )
            return (
                f"the kernel's last act ({acted!r}) is past the data's last row ({last_row!r}), so it "
                f"is no time of this data: the replay goes on {where} may be traded again"
            )
        self.acted_after_save = place
        # The state file's place: the rows from there to the last act are the venue's to pass over.
        self.saved_place = (self.replay.ts, self.replay.n)
        self.replay = Replayed(*place)
        return None

    def _data_time(self) -> float:
        if self.runtime.clock != "data":
            # The wall clock, or the venue's when it is ahead (a continued run restored a
            # clock past this host's): the next run's feed starts there.
            return max(self.runtime.now(), self.venue.data_time or 0.0)
        ts = self.replay.at(self.runtime.data_points)[0]
        # A continued run that took no row yet is where the last one was, not at time 0, from
        # which the next run would replay the file from its start, which the venue refuses.
        return self.runtime.now() if ts is None else max(ts, self.runtime.now())

    def save(self, *, running: bool) -> Path:
        from dita.cli._state import write_state_file

        # The venue first takes the data the runtime held back from it (no order working): its
        # book's clock and quotes would be those of the last order's time, behind data_time, and
        # a run continuing it after a kill (which skips the rows up to data_time) price with them.
        self.runtime.sync_venues()
        snap = self.snapshot(running=running)
        # The book in the state file must never be ahead of the write-ahead log: under fsync
        # "batch" the log's newest records wait in the process's buffer, and a run killed just
        # after a save would continue a kernel without the fills the saved book had made (the
        # restart ending their order, the venue keeping the position).
        try:
            self.kernel.wal_sync()
        except OSError as exc:  # the log's own I/O error (its first), not the state file's
            raise WalError(str(exc)) from exc
        return write_state_file(self.state_dir, snap)


def live_label(kernel: Any, state_file: Path | None = None) -> str | None:
    """How ``kernel``'s log says a live run wrote it (None when it does not): the label `dita
    live` gives a live kernel, or the first label of the log, LIVE or set by dita-live (a live
    run halted since, say by the dead-man switch or an operator). LabelUnread when the log's
    first records cannot be read, the records kept tell nothing, and no paper run labelled the
    kernel last; for first records of another behaviour version (an upgrade), not when the paper
    ``state_file`` names this log as its account's, which only a paper run writes. Read without
    writing to the log."""
    from dita.cli.paper_state_file import _account_log, _same_dir

    control = kernel.control()
    if control.get("mode_set_by") == LIVE_SOURCE:
        return f"labelled {control.get('mode')} by {LIVE_SOURCE}"
    try:
        first = first_label(kernel)
    except LabelUnread as exc:
        if control.get("mode_set_by") == PAPER_SOURCE:
            return None  # a paper run's label, the log's start unread
        if exc.other_version is not None and state_file is not None:
            paper_log = _account_log(state_file, kernel.kernel_id)
            log_dir = (kernel.wal_info() or {}).get("dir")
            if paper_log is not None and log_dir and _same_dir(Path(paper_log), Path(str(log_dir))):
                return None  # the paper run's own log, written before the upgrade
        raise
    if first is None or not first.live:
        return None
    return first.said(control)


def _own_start() -> str | None:
    from dita.services import process_start

    return process_start(os.getpid())
