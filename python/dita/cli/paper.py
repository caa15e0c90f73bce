"""``dita paper``: a strategy on the runtime against the paper venue, fed by a replayed file
in wall-clock or accelerated time (or a live ccxt exchange: ``live_feed``), with live status."""

from __future__ import annotations

import contextlib
import math
import os
import secrets
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from dita._kernel import WalError
from dita._signals import Terminated, closing, held, installed, sigterm_as_interrupt
from dita.cli._common import (
    BALANCE,
    FEE_RATE,
    LATENCY_MS,
    LEVERAGE,
    LEVERAGE_HELP,
    MAX_SLOTS,
    MAX_SLOTS_HELP,
    SLIPPAGE_BPS,
    STATE_DIR_DEFAULT,
    VOLUME_SHARE,
    AllowGapsOption,
    BalanceOption,
    FeeRateOption,
    LatencyMsOption,
    MakerFeeRateOption,
    SlippageBpsOption,
    VolumeShareOption,
    check_feed,
    close_all,
    fail,
    fail_options,
    given_path,
    load_strategy,
    open_projection,
    out_console,
    parse_params,
    require_finite,
    warn,
    warn_rejected,
)
from dita.cli.live_feed import (  # noqa: F401  (the live feed's names, importable here as before)
    FEED_SILENCE_EVERY_S,
    STOP_CHECK_S,
    LiveFeed,
    _ccxt_quotes,
    _Silence,
    _ticker_problem,
    check_quote_feed,
    choose_live_feed,
)
from dita.cli.paper_continued import (
    _reconcile,
    _recovery_said_by_the_cli,
    _say_continued,
)
from dita.cli.paper_resume import (
    Act,
    CatchUp,
    LogAfterSave,
    Place,
    Replayed,
    fill_entry,
    last_place,
    place_order,
    read_log_after_save,
    rows_after,
    rows_between,
)
from dita.cli.paper_state_file import (
    STATE_FORMAT,
    _account_log,
    _continued_fill_model,
    _continued_leverage,
    _continues_kernel,
    _fill_model_record,
)
from dita.cli.paper_state_file import _of_this_log as _of_this_log
from dita.cli.paper_state_file import _previous_state as _previous_state
from dita.cli.paper_status import _mode_to_say, _status_line, _status_table, _StatusLive

if TYPE_CHECKING:
    from dita.backtest.data import MarketData
    from dita.backtest.engine import BacktestConfig

__all__ = ["PaperSession", "register"]

KEPT_FILLS = 10_000  # fills the state file lists one by one; older ones are kept as day totals
JOURNAL_WAIT_S = 30.0  # how long the end of a run waits for the journal to take the last rows
# The log records a continued run without a state file reads for the kernel's last act: the whole
# log of a long account would take minutes to replay, and its last act is near its end.
LAST_ACT_SEARCH_RECORDS = 100_000


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
    ) -> None:
        from dita._kernel import wal_kernel_id
        from dita.kernel import ExecutionKernel
        from dita.runtime import KernelRefusals, TradingRuntime, VenueRejections

        # The backtest's venue and kernel set-up, so a paper rehearsal fills as the backtest
        # did. ``assets``: those the feed has. A live run (clock "wall") times orders by the
        # wall clock, as an exchange does and as the strategies' intents are stamped; a
        # replay, by the data's time.
        self.venue = fill_model.paper_venue(
            assets, clock=time.time if clock == "wall" else None, bar_seconds=bar_seconds
        )
        book = (previous or {}).get("venue")
        options: dict[str, Any] = {} if wal_dir is None else {"wal_dir": str(wal_dir)}
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
        self.continued = self.kernel.seq > 0
        self.recovered_seq = self.kernel.seq  # the log's last seq, before this run's set-up
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
        before its end (a run killed between two saves): the fills the kernel booked after the
        save (its journal's ``fills`` rows, derived from the log, which holds only the fills it
        accepted) and the orders it works now (``PaperVenue.catch_up``). None when the book goes
        with the log."""
        saved = previous.get("seq")
        if not isinstance(saved, int) or isinstance(saved, bool) or not 0 <= saved < self.recovered_seq:
            return None
        done = CatchUp(saved)
        if self.after_save is None:
            done.unread = self.log_unread
            return done
        done.rows, cancels = self.after_save.fills, self.after_save.cancels
        from dita.reconcile import EVENT_ID_PREFIX
        from dita.venues.paper import BookedFill

        fills = [
            BookedFill(
                event_id=r["event_id"],
                fill_id=r["fill_id"],
                client_order_id=r["client_order_id"],
                venue_order_id=r["venue_order_id"],
                asset=r["asset"],
                side=r["side"],
                price=r["price"],
                qty=r["qty"],
                fee=r["fee"],
                liquidity=r["liquidity"],
            )
            # Reconciliation's own fills were the kernel catching up with what the venue held.
            for r in done.rows
            if not str(r["event_id"]).startswith(EVENT_ID_PREFIX)
        ]
        working = self.kernel.open_orders()
        asked = {o.client_order_id: cancels[o.trade_id] for o in working if o.trade_id in cancels}
        done.venue = self.venue.catch_up(fills, working, asked)
        return done

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
            "venue": self.venue.book(),
            # Resolved: the next run finds its own account's file from any working directory.
            "wal_dir": None if self.wal_dir is None else str(self.wal_dir.resolve()),
            # The kernel's seq the book goes with: a run continuing the log tells from it
            # whether the book is older than the log (the last run stopped between saves).
            "seq": self.kernel.seq,
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


def paper(
    ctx: typer.Context,
    strategy: Annotated[str, typer.Option(help="Strategy as MODULE:CLASS or FILE.py:CLASS")],
    data: Annotated[
        str | None, typer.Option(help="Replay this .csv/.csv.gz/.parquet ('sample' = shipped bars)")
    ] = None,
    speed: Annotated[float, typer.Option(help="Data seconds per wall second (1 = wall clock)")] = 60.0,
    max_speed: Annotated[bool, typer.Option(help="Replay as fast as possible")] = False,
    balance: BalanceOption = BALANCE,
    fee_rate: FeeRateOption = FEE_RATE,
    maker_fee_rate: MakerFeeRateOption = None,
    slippage_bps: SlippageBpsOption = SLIPPAGE_BPS,
    latency_ms: LatencyMsOption = LATENCY_MS,
    volume_share: VolumeShareOption = VOLUME_SHARE,
    leverage: Annotated[
        float | None,
        typer.Option(
            help=f"{LEVERAGE_HELP} (default {LEVERAGE}; a run continuing a --wal-dir keeps the one its "
            "state file records)",
            show_default=False,
        ),
    ] = None,
    max_slots: Annotated[
        int | None,
        typer.Option(
            help=f"{MAX_SLOTS_HELP} (default {MAX_SLOTS}; a run continuing a --wal-dir takes its log's)",
            show_default=False,
        ),
    ] = None,
    param: Annotated[
        list[str] | None, typer.Option(help="Strategy parameter NAME=VALUE (repeatable)")
    ] = None,
    params: Annotated[str | None, typer.Option(help="Strategy parameters as a JSON object")] = None,
    allow_gaps: AllowGapsOption = False,
    kernel_id: Annotated[
        str | None,
        typer.Option(
            help="Kernel id (names the state file and the projection's entries; default: "
            "paper-<UTC start>-<pid>-<random>, one per run, printed at start; with --journal one per run: "
            "a journal refuses an id it already has rows of)",
            show_default=False,
        ),
    ] = None,
    state_dir: Annotated[
        Path | None,
        typer.Option(help=f"Where the state file goes (default: {STATE_DIR_DEFAULT})", parser=given_path),
    ] = None,
    status_every: Annotated[float, typer.Option(help="Seconds between status updates")] = 1.0,
    journal: Annotated[str | None, typer.Option(help="Journal DSN (chdb://DIR or http://...)")] = None,
    hazelcast: Annotated[
        str | None, typer.Option(help="Project into (and take the mode from) Hazelcast host:port,...")
    ] = None,
    hz_cluster: Annotated[
        str | None, typer.Option(help="Hazelcast cluster name (default: $DITA_HAZELCAST_CLUSTER or dita)")
    ] = None,
    ccxt_exchange: Annotated[
        str | None,
        typer.Option(help="Follow a live ccxt exchange instead of --data: its klines or its top of book"),
    ] = None,
    ccxt_base_url: Annotated[
        str | None, typer.Option(help="Send the feed's requests here instead (a proxy or recorded server)")
    ] = None,
    symbols: Annotated[str, typer.Option(help="Symbols for --ccxt-exchange, e.g. BTC/USDT")] = "BTC/USDT",
    poll: Annotated[float, typer.Option(help="Seconds between polls of the live ticker")] = 1.0,
    bar_interval: Annotated[
        str, typer.Option(help="Kline interval of the live bars (for strategies that take bars), e.g. 1m, 1h")
    ] = "1m",
    quote_feed: Annotated[
        str,
        typer.Option(
            help="Live quotes polled from the ticker (poll), streamed from the order book (stream) "
            "or from the book ticker stream (ticker)"
        ),
    ] = "poll",
    duration: Annotated[float | None, typer.Option(help="Stop after this many wall seconds")] = None,
    wal_dir: Annotated[
        Path | None,
        typer.Option(
            help="Write-ahead log of the kernel: a later run with the same --wal-dir and --kernel-id "
            "continues this one (its trades, working orders and the paper venue's book)",
            parser=given_path,
        ),
    ] = None,
) -> None:
    """Paper-trade a strategy: real kernel, simulated fills, live status, state for `dita status`."""
    from pydantic import ValidationError

    from dita.backtest.data import DataError, load_market_data
    from dita.backtest.engine import BacktestConfig
    from dita.cli._state import live_run, named_state_dir
    from dita.control import check_kernel_id
    from dita.data import SAMPLE_BARS
    from dita.runtime import StrategyStatus
    from dita.strategy import Bar, Quote

    require_finite("--speed", speed, hint=" (use --max-speed for no pacing)")
    require_finite("--status-every", status_every)
    if duration is not None:
        require_finite("--duration", duration, hint=" (leave it out to run until the data ends)")
    try:
        # The backtest's money and fill model checks the same options, naming the option.
        fill_model = BacktestConfig(
            balance=balance,
            fee_rate=fee_rate,
            maker_fee_rate=maker_fee_rate,
            slippage_bps=slippage_bps,
            latency_ms=latency_ms,
            volume_share=volume_share,
            leverage=LEVERAGE if leverage is None else leverage,
            max_slots=MAX_SLOTS if max_slots is None else max_slots,
        )
    except ValidationError as exc:
        fail_options(exc)
    if (data is None) == (ccxt_exchange is None):
        fail("give exactly one of --data (replay) or --ccxt-exchange (live feed)")
    if allow_gaps and data is None:
        fail("--allow-gaps is about the bars of --data; a live feed has no gaps to allow")
    if kernel_id is None:
        kernel_id = default_kernel_id()
    if "/" in kernel_id:
        fail(f"--kernel-id {kernel_id!r} names the state file <id>.json: it must not contain '/'")
    try:
        check_kernel_id(kernel_id)  # `*`: refused before the state directory is made
    except ValueError as exc:
        fail(f"--kernel-id: {exc}")
    state, named = named_state_dir(state_dir)
    if state.exists() and not state.is_dir():
        fail(f"{named} {state} is a file; give a directory for the state file")
    state_file = state / f"{kernel_id}.json"
    # Two runs of one kernel id would rewrite one state file in turn: `dita status` would show
    # their states by turns, and a run continuing its log could find the other's book in it.
    if (holder := live_run(state_file)) is not None:
        fail(
            f"kernel {kernel_id!r} is run by process {holder}, which is still running (its state file "
            f"{state_file} says so): stop that run first, or give this one another --kernel-id"
        )
    if wal_dir is None and (log := _account_log(state_file, kernel_id)) is not None:
        # Started afresh, the run would replace that file: the run continuing the log would then
        # find another account's state (its book and fills gone, its orders ended, the positions
        # apart).
        fail(
            f"the state file {state_file} is that of kernel {kernel_id!r} on the write-ahead log in {log} "
            "(the paper venue's book, the fills `dita pnl` lists): a run without --wal-dir would replace "
            f"it. Give --wal-dir {log} to continue it, or another --kernel-id"
        )
    previous = None
    if wal_dir is not None and (previous := _previous_state(state_file)) is not None:
        previous = _of_this_log(previous, state_file, wal_dir)
    if previous is not None and wal_dir is not None and _continues_kernel(wal_dir, kernel_id):
        fill_model = _continued_fill_model(previous, state_file, fill_model, lambda name: _given(ctx, name))
        kept = _continued_leverage(previous, state_file, leverage)
        # Checked by StateFile as the option is by BacktestConfig: taken as it is.
        fill_model = fill_model.model_copy(update={"leverage": kept})
    strat = load_strategy(strategy, *parse_params(param or [], params))
    feed: Any = None
    history: Any = None
    live_feed: LiveFeed | None = None
    if data is not None:
        try:
            history = load_market_data(SAMPLE_BARS if data == "sample" else Path(data), allow_gaps=allow_gaps)
        except DataError as exc:
            fail(f"bad data: {exc}")
        check_feed(strat, history.kind, history.assets)
        names = (
            ("open", "high", "low", "close", "volume")
            if history.kind == "bars"
            else ("bid", "ask", "bid_size", "ask_size")
        )
        make: Any = Bar if history.kind == "bars" else Quote
        cols = [history.columns[c].tolist() for c in names]
        feed = (make(*row) for row in zip(history.asset, history.ts.tolist(), *cols, strict=True))
        clock = "data"
        listed = list(history.assets)
    else:
        from dita.venues.ccxt import CcxtVenue

        require_finite("--poll", poll)
        check_quote_feed(quote_feed)
        # Building the venue reaches no exchange: what it refuses is an option, not the network.
        try:
            # Closed when the command ends, however it ends (an error, Ctrl-C): run in-process,
            # its HTTP session would outlive the command.
            source = ctx.with_resource(CcxtVenue(exchange=ccxt_exchange, base_url=ccxt_base_url))
        except ValidationError as exc:  # before ValueError, which it is a kind of
            fail_options(exc, {"exchange": "--ccxt-exchange", "base_url": "--ccxt-base-url"})
        except ValueError as exc:
            import ccxt

            # The venue refuses an exchange id ccxt does not list, then a URL it cannot point at.
            if ccxt_exchange not in ccxt.exchanges:
                fail(f"--ccxt-exchange={ccxt_exchange!r}: {exc}")
            fail(f"--ccxt-base-url={ccxt_base_url!r}: {exc}" if ccxt_base_url is not None else str(exc))
        try:
            source.load_markets()
        except Exception as exc:
            fail(f"cannot reach {ccxt_exchange}: {type(exc).__name__}: {exc}", code=1)
        # The venue's own ccxt client: one place that knows how to point ccxt at an exchange.
        client = source._exchange
        # Checked before anything starts: a market the exchange does not have would be polled in
        # vain (an error line a poll) and a strategy that hears none of the feed run without
        # trading.
        wanted = [s.strip() for s in symbols.split(",") if s.strip()]
        if not wanted:
            fail(f"--symbols {symbols!r} names no market; give e.g. BTC/USDT")
        ids = []
        for sym in wanted:
            try:
                ids.append(str(client.market(sym).get("id") or sym.replace("/", "")))
            except Exception:
                fail(f"--symbols: {sym!r} is not a market of {ccxt_exchange}")
        live_feed = choose_live_feed(
            strat, source, wanted, bar_interval=bar_interval, quote_feed=quote_feed, poll_s=poll
        )
        check_feed(strat, live_feed.kind, ids, source="--ccxt-exchange")
        clock = "wall"
        listed = ids  # the assets the feed's quotes name
    if clock == "data" and previous is not None and previous.get("clock") == "wall":
        # Its time is the wall clock's: taken as the replay's place, every row would be skipped
        # and the run say they had been handled.
        fail(
            f"the state file {state_file} records a live run of kernel {kernel_id!r} (--ccxt-exchange, "
            "the wall clock): --data cannot continue it; replay under another --kernel-id and --wal-dir"
        )
    jr, proj = _open_sinks(journal, hazelcast, hz_cluster)
    try:
        state.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        close_all(jr, proj)
        fail(f"{named} {state}: cannot create the directory: {exc.strerror or exc}")
    plane = None
    if proj is not None:
        from dita.control.hazelcast import HazelcastControlPlane

        # A kernel operators see in the cluster takes its mode from it too, so that
        # `dita control set --mode HALTED` halts this run like every other kernel.
        plane = HazelcastControlPlane(proj.cluster_members, proj.cluster_name, updated_by="dita-paper")
    try:
        session = PaperSession(
            strat,
            fill_model=fill_model,
            assets=listed,
            kernel_id=kernel_id,
            state_dir=state,
            clock=clock,
            journal=jr,
            projection=proj,
            control_plane=plane,
            wal_dir=wal_dir,
            previous=previous,
            slots_given=max_slots is not None,
            bar_seconds=history.interval if history is not None and history.kind == "bars" else 0.0,
            status_every=status_every,
        )
    except (ValueError, OSError, WalError) as exc:
        # A journal that already has this kernel id's rows; a --wal-dir of another kernel id
        # or --max-slots, or that cannot be opened; a state file whose book is not readable.
        close_all(plane, jr, proj)
        # The kernel names its argument; here the option that gives it.
        fail(f"cannot start the paper session: {str(exc).replace('give max_slots', 'give --max-slots')}")
    console = out_console()
    # The id to give `dita status --kernel` and `dita control set --kernel` while this runs.
    console.print(f"kernel id: {session.kernel.kernel_id}", highlight=False)
    if history is not None:
        problem = session.continue_after_acts(history)
        if problem is not None:
            typer.echo(f"warning: {problem}", err=True)
        after, taken = session.replay.ts, session.replay.n
        if after is not None:
            # The rows the runs before handled are not replayed: the kernel and the venue's
            # clock are past them (the venue refuses earlier data). Of the rows at the last
            # run's time, those it took (a file without the count: all of them).
            at_after = int((history.ts == after).sum())
            skip = at_after if taken is None else min(taken, at_after)
            session.runtime.resume_at(after, skip)
            handled = int((history.ts < after).sum()) + skip
            feed = rows_after(feed, after, skip)
            caught = session.caught_up
            if session.acted_after_save is not None and caught is not None and caught.venue is not None:
                # The book was saved before rows the killed run handled: the venue takes them as
                # the killed run's did (its clock, prices, the orders they passed resting), the
                # fills they made being the log's (caught up above).
                passed = rows_between(history, make, names, session.saved_place, (after, taken))
                session.venue.pass_over(passed)
            at = datetime.fromtimestamp(after, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
            console.print(
                f"replay continues after {at}: {handled:,} of {len(history.ts):,} rows were handled before",
                highlight=False,
            )
        feed = session.replay.feed(feed)
    _say_continued(session, state_file, previous, console)
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
        feed = live_feed.items(waiting_stop, _restored_clock(session, console))

    path: Path | None = None
    restore_sigterm = sigterm_as_interrupt()
    try:
        # Inside the stops' guard: a strategy's on_start may take long (history, a model), and
        # a SIGTERM or Ctrl-C there would end the command with 130, the kernel unclosed, no state
        # saved.
        session.runtime.start()
        if session.continued:
            _reconcile(session)
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
                # Stopped or not, the table left on screen is the run's last state, not the last
                # tick's (up to --status-every behind) after a Ctrl-C or SIGTERM.
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


STATUS_LINE_SECONDS = 60.0
"""Seconds between the status lines a run writes when its output is not a terminal."""


def _own_start() -> str | None:
    from dita.services import process_start

    return process_start(os.getpid())


def _given(ctx: typer.Context, name: str) -> bool:
    """Whether the command's parameter ``name`` was given (on its command line or through the
    environment), not left to its default."""
    source = ctx.get_parameter_source(name)
    return source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP")


def _restored_clock(session: PaperSession, console: Any) -> float:
    """The clock of the paper venue a continued live run restored (0 when none): quotes are
    stamped no earlier, since the venue refuses data that goes back in time. A clock past this
    host's (the state moved from a host whose clock ran ahead, or the clock was stepped back)
    is said: quotes carry it until the wall clock catches up."""
    now = session.venue.data_time
    if now is None:
        return 0.0
    ahead = now - time.time()
    if ahead > 1.0:
        console.print(
            f"warning: the restored paper venue's clock is {ahead:,.1f} s ahead of this host's; "
            "quotes are stamped with it until the wall clock catches up",
            highlight=False,
        )
    return now


def default_kernel_id() -> str:
    """One id per run: two runs started without --kernel-id must not share state files or the
    projection's entries (nor a journal's rows). The start time (UTC) and the pid keep apart
    runs apart and tell them in `dita status`; the random part, runs started in one process
    within a second, or on two machines with the same pid."""
    return f"paper-{datetime.now(tz=UTC).strftime('%Y%m%dT%H%M%SZ')}-{os.getpid()}-{secrets.token_hex(2)}"


def _open_sinks(journal: str | None, hazelcast: str | None, hz_cluster: str | None) -> tuple[Any, Any]:
    """The journal and projection the options ask for; bad values exit 2, an unreachable
    cluster 3 (as `dita control` does), with nothing left open."""
    from dita.journal.dsn import parse_dsn

    if journal is not None:
        try:
            parse_dsn(journal)
        except ValueError as exc:
            fail(f"--journal: {exc}")
    proj = open_projection(hazelcast, hz_cluster) if hazelcast is not None else None
    jr = None
    if journal is not None:
        from dita.journal.clickhouse import ClickHouseJournal

        try:
            # close() waits only briefly: _close_kernel has waited already, saying so.
            jr = ClickHouseJournal(journal, close_timeout=2.0)
        except (ValueError, OSError, RuntimeError) as exc:  # RuntimeError: a chDB directory held
            close_all(proj)
            fail(f"--journal: cannot open the journal: {exc}")
    return jr, proj


def _close_kernel(kernel: Any, jr: Any, problems: list[str]) -> None:
    """Close the kernel (its journal and projection) even when waiting fails; add to
    ``problems`` the journal rows that were not written (a paper run has no WAL to resend)."""
    past_log = 0
    try:
        if jr is not None:
            _wait_for_journal(jr)
            past_log = _rows_past_a_failed_log(kernel)
    finally:
        try:
            kernel.close()
        except WalError as exc:  # its log failed earlier: said, not a traceback
            problems.append(f"closing the kernel: {exc}")
    if jr is None:
        return
    left = jr.stats()
    outbox = kernel.stats()
    held = int(outbox["journal_queued"])
    past_log = min(past_log, held)
    if past_log:
        # Not the journal's failure: a journal holds only rows of inputs the log keeps, and
        # a restart on this log does not know those inputs.
        problems.append(
            f"{past_log:,} journal rows of inputs the failed write-ahead log did not keep were "
            "not journaled (a restart on the log does not recover those inputs)"
        )
    unwritten = left.queued + held - past_log + int(outbox["journal_dropped"])
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


def register(app: typer.Typer) -> None:
    app.command("paper")(paper)
