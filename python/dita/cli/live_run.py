"""The stack one ``dita live`` run is made of, built from its configuration (``LiveConfig``).

A kernel on its write-ahead log, with its journal, projection and control plane; the venue
(``live``: ``CcxtVenue`` with the account's keys; ``paper``: the paper venue, as ``dita paper``
runs it, fed by the exchange's own market data); a ``TradingRuntime`` with the strategies, run on
a thread of its own; and the HTTP gateway serving the same kernel, its page and ``/metrics``, on
the main thread. A restart on the same log recovers the kernel, reconciles it with the venue and
trades on. ``stop`` ends the strategies and their feed; ``close`` closes the kernel last.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dita.cli.recovered import holds_a_run, recovered_seq
from dita.live.config import ConfigError, LiveConfig, load_config
from dita.risk import RiskLimits

__all__ = ["LiveRun", "RunRefused", "mode_line"]

SAVE_EVERY_S = 1.0  # how often a paper run saves its state file (its venue's book, for a restart)
# How long a stop waits for the strategies' thread to end (a submit the exchange is slow to
# answer, a kernel busy in the gateway's call for its 10 s) before it closes the kernel under it.
STOP_WAIT_S = 30.0
MAX_ORDERS_NAMED = 20  # the orders a stop names of those it leaves working; the rest are counted
# The ids of a kernel whose ids an exchange takes hashed that a fresh start looks for among the
# orders working there: a hash cannot be read back, and a fresh kernel issues these first.
HASHED_IDS_CHECKED = 100_000

Say = Callable[[str], None]


class RunRefused(RuntimeError):
    """What the configuration asks for cannot start (the exchange unreachable, a symbol it does
    not list, a log of another kernel): said in one line, nothing left open."""


def mode_line(config: LiveConfig) -> str:
    """The first line a run prints: which money it trades."""
    venue = f"{config.venue.exchange} {config.venue.market_type}"
    if config.mode == "live":
        return f"mode: LIVE: real orders on {venue} with the keys in ${config.venue.api_key_env}"
    return f"mode: paper: the paper venue fills orders on {venue}'s live market data; no order is sent"


class LiveRun:
    """One configured run. Build it, ``start`` it, then serve ``app`` (or wait), ``stop``, ``close``."""

    def __init__(
        self,
        config: LiveConfig,
        config_path: Path,
        say: Say,
        *,
        reload_requested: threading.Event | None = None,
    ) -> None:
        from dita.cli._common import load_strategy

        self.config = config
        self.config_path = config_path
        self.say = say
        # Loaded before anything opens: a bad strategy or parameter exits 2 with nothing to close.
        self.strategies = [
            (_named(load_strategy(s.strategy, s.params), s.name), s.max_slots, s.source_run)
            for s in config.strategies
        ]
        self._refuse_strategies_sharing_a_name()
        self._refuse_directories_that_are_files()
        self._refuse_a_kernel_another_run_holds()
        self.stop_requested = threading.Event()
        # Set (by SIGHUP) to re-read the file's [risk] table on the strategies' thread.
        self.reload_requested = reload_requested or threading.Event()
        self.failure: str | None = None
        self.on_stopped: Callable[[], None] = lambda: None  # told when the strategies' thread ends
        self._thread: threading.Thread | None = None
        self._opened: list[Any] = []  # what to close if the build fails half-way
        self._left_told = False  # whether close said which orders the run leaves working
        self.session: Any = None  # the paper run's PaperSession (its book and state file)
        self.taken_over: dict[str, Any] | None = None  # the state file the paper session took over
        try:
            self.market_source = self._market_source()
            self.symbols, self.assets = self._checked_symbols()
            # Before the log opens: a feed setting the exchange cannot serve exits 2 with nothing
            # written, so the corrected file's start is a fresh kernel still.
            self.feed = self._live_feed()
            self._open_sinks()
            self._build_kernel()
            self.dead_man = self._dead_man()
        except BaseException:
            self._close_opened()
            raise

    # --- building -------------------------------------------------------------------------

    def _refuse_strategies_sharing_a_name(self) -> None:
        """ConfigError naming both tables when two strategies run under one name (two tables of
        one class without a ``name``, or a class naming itself alike for both parameter sets):
        the name is their trade ids' and the runtime's key for each."""
        from dita.live.config import sharing_a_name

        first_of: dict[str, int] = {}
        problems = []
        tables = self.config.strategies
        for i, ((strategy, _, _), table) in enumerate(zip(self.strategies, tables, strict=True)):
            if strategy.name in first_of:
                key = "name" if table.name is not None else "strategy"
                given = table.name if table.name is not None else table.strategy
                problems.append(sharing_a_name(i, key, given, first_of[strategy.name], strategy.name))
            else:
                first_of[strategy.name] = i
        if problems:
            raise ConfigError(self.config_path, problems)

    def _refuse_directories_that_are_files(self) -> None:
        """ConfigError naming each key whose directory the run makes (the state file's, the
        log's, the journal's) where a file stands, itself or a parent: its ``mkdir`` would fail
        once the run had opened the journal or the log."""
        import os

        from dita.cli._common import directory_path_problem

        c = self.config
        dsn = c.journal.dsn if c.journal.enabled else None
        uses_state_dir = c.mode == "paper" or c.log.wal_dir is None or (c.journal.enabled and dsn is None)
        directories = []
        if uses_state_dir:
            from_environment = c.state_dir is None and os.environ.get("DITA_STATE_DIR")
            key = "state_dir ($DITA_STATE_DIR)" if from_environment else "state_dir"
            directories.append((key, c.run_state_dir()))
        if c.log.wal_dir is not None:
            directories.append(("log.wal_dir", c.log.wal_dir))
        if dsn is not None and dsn.startswith("chdb://"):
            directories.append(("journal.dsn", Path(dsn.removeprefix("chdb://"))))
        problems = [
            f"{key}: {problem}"
            for key, path in directories
            if (problem := directory_path_problem(path)) is not None
        ]
        if problems:
            raise ConfigError(self.config_path, problems)

    def _refuse_a_kernel_another_run_holds(self) -> None:
        """RunRefused, in mode paper, while another process runs the kernel and writes its state
        file (a `dita paper` run of the same id and state directory), as `dita paper` refuses it."""
        from dita.cli.paper_state_file import run_holding

        c = self.config
        if c.mode != "paper":
            return
        held = run_holding(c.run_state_dir() / f"{c.kernel_id}.json", c.kernel_id, "kernel_id")
        if held is not None:
            raise RunRefused(held)

    def _market_source(self) -> Any:
        """The ccxt venue of the configured exchange: the one traded in mode live, the source of
        the market data in both modes."""
        from pydantic import ValidationError

        from dita.venues.ccxt import CcxtVenue

        v = self.config.venue
        settings: dict[str, Any] = {
            "exchange": v.exchange,
            "market_type": v.market_type,
            "base_url": v.base_url,
        }
        if self.config.mode == "live":
            settings |= {
                "api_key_env": v.api_key_env,
                "secret_env": v.secret_env,
                "markets": v.symbols,
                "user_stream": v.user_stream,
            }
        try:
            venue = CcxtVenue(**settings)
        except ValidationError as exc:
            problems = [f"venue.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
            raise ConfigError(self.config_path, problems) from None
        except ValueError as exc:
            raise ConfigError(self.config_path, [f"venue: {exc}"]) from None
        self._opened.append(venue)
        try:
            venue.load_markets()
        except Exception as exc:
            raise RunRefused(f"cannot reach {v.exchange}: {type(exc).__name__}: {exc}") from None
        return venue

    def _checked_symbols(self) -> tuple[list[str], list[str]]:
        client = self.market_source._exchange
        ids = []
        for position, symbol in enumerate(self.config.venue.symbols):
            try:
                ids.append(str(client.market(symbol).get("id") or symbol.replace("/", "")))
            except Exception:
                raise ConfigError(
                    self.config_path,
                    [
                        f"venue.symbols[{position}]: {symbol!r} is not a market of "
                        f"{self.config.venue.exchange}"
                    ],
                ) from None
        self._refuse_symbols_of_two_currencies()
        return list(self.config.venue.symbols), ids

    def _refuse_symbols_of_two_currencies(self) -> None:
        """ConfigError naming each symbol's currency when their quote (spot) or settle (futures)
        currencies differ, as the venue's markets setting is checked: the kernel counts its
        capital, PnL, fees and caps in one currency (the first symbol's, the seed capital's),
        and would add another's as that."""
        try:
            self.market_source.check_markets(list(self.config.venue.symbols))
        except ValueError as exc:
            raise ConfigError(self.config_path, [f"venue.symbols: {exc}"]) from None

    def _open_sinks(self) -> None:
        from dita.cli._common import open_projection
        from dita.control import InMemoryControlPlane
        from dita.projection import InMemoryProjection

        c = self.config
        self.journal: Any = None
        dsn = c.journal_dsn()
        if dsn is not None:
            from dita.journal.clickhouse import ClickHouseJournal

            try:
                if dsn.startswith("chdb://"):
                    Path(dsn.removeprefix("chdb://")).parent.mkdir(parents=True, exist_ok=True)
                self.journal = ClickHouseJournal(dsn, close_timeout=2.0)
            except (ValueError, OSError, RuntimeError) as exc:  # RuntimeError: a chDB directory held
                raise RunRefused(f"journal.dsn {dsn!r}: cannot open the journal: {exc}") from None
            self._opened.append(self.journal)
        if c.projection.kind == "hazelcast":
            from dita.control.hazelcast import HazelcastControlPlane

            members = c.projection.members or "127.0.0.1:5701"
            self.projection = open_projection(
                members, c.projection.cluster, "projection.members", "projection.cluster"
            )
            self._opened.append(self.projection)
            self.control_plane: Any = HazelcastControlPlane(
                self.projection.cluster_members, self.projection.cluster_name, updated_by="dita-live"
            )
        else:
            self.projection = InMemoryProjection()
            self.control_plane = InMemoryControlPlane()
        self._opened.append(self.control_plane)

    def _build_kernel(self) -> None:
        from dita._kernel import WalError

        c = self.config
        wal_dir = c.wal_dir()
        try:
            wal_dir.parent.mkdir(parents=True, exist_ok=True)
            if c.mode == "paper":
                self._build_paper(wal_dir)
            else:
                self._build_live(wal_dir)
        except ConfigError:
            raise  # a key of the file, named
        except (ValueError, OSError, WalError) as exc:
            raise RunRefused(f"cannot start the kernel on the log in {wal_dir}: {exc}") from None
        self.kernel.set_risk_limits(c.risk.model_dump())

    def _build_paper(self, wal_dir: Path) -> None:
        from dita.backtest.engine import BacktestConfig
        from dita.cli.paper import PaperSession, _of_this_log, _previous_state
        from dita.cli.paper_session import LiveLogRefused, UntoldLogRefused
        from dita.cli.paper_state_file import (
            PAPER_TABLE_KEYS,
            AccountKept,
            _continued_fill_model,
            _continues_kernel,
        )

        c = self.config
        state_dir = c.run_state_dir()
        state_dir.mkdir(parents=True, exist_ok=True)
        state_file = state_dir / f"{c.kernel_id}.json"
        previous = _previous_state(state_file)
        if previous is not None:
            previous = _of_this_log(previous, state_file, wal_dir)
        fill_model = BacktestConfig(balance=c.paper.balance, fee_rate=c.paper.fee_rate, max_slots=c.max_slots)
        if previous is not None and _continues_kernel(wal_dir, c.kernel_id):
            # The continued account keeps the fill model its state file records, as `dita paper`'s does.
            try:
                fill_model = _continued_fill_model(
                    previous,
                    state_file,
                    fill_model,
                    lambda name: name in c.paper.model_fields_set,
                    PAPER_TABLE_KEYS,
                    "another kernel_id",
                )
            except AccountKept as exc:
                raise ConfigError(self.config_path, [str(exc)]) from None
        (first, first_slots, first_run), *others = self.strategies
        try:
            self.session = PaperSession(
                first,
                strategy_max_slots=first_slots,
                strategy_source_run=first_run,
                fill_model=fill_model,
                kernel_id=c.kernel_id,
                assets=self.assets,
                state_dir=state_dir,
                clock="wall",
                journal=self.journal,
                projection=self.projection,
                control_plane=self.control_plane,
                wal_dir=wal_dir,
                previous=previous,
                fsync=c.log.fsync,
                balance_key="paper.balance",
            )
        except AccountKept as exc:
            raise ConfigError(self.config_path, [str(exc)]) from None
        except LiveLogRefused as exc:
            live = (
                ""
                if isinstance(exc, UntoldLogRefused)
                else ': the live run continues this log with mode = "live" and --live'
            )
            raise RunRefused(
                f"{exc}; give the paper run another kernel_id or state_dir (and another [log] wal_dir "
                f"where the file names one){live}"
            ) from None
        self.taken_over = previous
        self.kernel, self.runtime, self.continued = (
            self.session.kernel,
            self.session.runtime,
            self.session.continued,
        )
        self.recovered_seq = self.session.recovered_seq
        for strategy, max_slots, source_run in others:
            self.runtime.add_strategy(strategy, max_slots=max_slots, source_run=source_run)

    def _build_live(self, wal_dir: Path) -> None:
        from dita.kernel import ExecutionKernel
        from dita.runtime import TradingRuntime

        c = self.config
        venue = self.market_source
        self.kernel = ExecutionKernel(
            venue=venue,
            kernel_id=c.kernel_id,
            journal=self.journal,
            projection=self.projection,
            max_slots=c.max_slots,
            wal_dir=str(wal_dir),
            fsync=c.log.fsync,
        )
        # Read before the control plane attaches: each cluster entry it applies is a record too.
        self.recovered_seq = recovered_seq(self.kernel)
        self.continued = holds_a_run(self.kernel)
        if self.continued:
            self._refuse_a_paper_log(wal_dir)
        else:
            # A fresh kernel's capital is the account's balance in its currency (a continued one keeps its
            # log's), its first record: a start that fails before it (the keys refused, orders of its
            # ids at the exchange) leaves a log holding no run, and the next start a fresh kernel.
            capital = self._account_capital()
            self._refuse_its_ids_working_at_the_exchange(wal_dir)
            if capital > 0:
                self.kernel.set_seed_capital(capital)
        if self.kernel.control().get("updated_seq") == 0:
            # Never labelled (a fresh kernel, or a start stopped right after its capital).
            self.kernel.update_control(mode="LIVE", source="dita-live")
        for asset, limits in venue.market_metadata().items():
            self.kernel.set_market_limits(asset, limits.model_dump())
        # After the LIVE label, so what the cluster sets (a HALTED) wins over it.
        self.kernel.attach_control_plane(self.control_plane)
        self.runtime = TradingRuntime(self.kernel, [venue], clock="wall", poll_interval=c.venue.poll_interval)
        for strategy, max_slots, source_run in self.strategies:
            self.runtime.add_strategy(strategy, max_slots=max_slots, source_run=source_run)

    def _refuse_a_paper_log(self, wal_dir: Path) -> None:
        """RunRefused when the log continued was written by a paper run (the file's mode switched
        to live under the same kernel_id, or a ``dita paper --wal-dir`` log): real orders would go
        out on the paper book and capital, under a kernel labelled PAPER. Told by the kernel's
        label, by the paper state file that names this log, or by the log's first label (a paper
        run labelled HALTED since, by an operator or the cluster, its state file elsewhere). A log
        whose first label cannot be read (its start archived, the records kept telling nothing)
        is refused unless dita-live labelled the kernel last; one whose first records are of the
        behaviour version before an upgrade is continued when neither tells a paper run."""
        from dita.cli.log_label import LIVE_SOURCE, PAPER_SOURCE, LabelUnread, first_label
        from dita.cli.paper_state_file import _account_log, _same_dir

        c = self.config
        control = self.kernel.control()
        state_file = c.run_state_dir() / f"{c.kernel_id}.json"
        paper_log = _account_log(state_file, c.kernel_id)
        unread: LabelUnread | None = None
        try:
            first = first_label(self.kernel)
        except LabelUnread as exc:
            first, unread = None, exc
        # PAPER is also the mode of a kernel nobody labelled (a start cut before its label):
        # only a setter makes it a paper run's label.
        labelled = bool(control.get("mode_set_by")) or (control.get("updated_seq") or 0) > 0
        if (control.get("mode") == "PAPER" and labelled) or control.get("mode_set_by") == PAPER_SOURCE:
            found = f"the kernel is labelled {control.get('mode')} by {control.get('mode_set_by')}"
        elif paper_log is not None and _same_dir(Path(paper_log), wal_dir):
            found = f"the paper state file {state_file} names it"
        elif first is not None and first.paper:
            found = first.said(control)
        elif unread is not None and unread.other_version is not None:
            # A log of the build before an upgrade, halted before it: the checkpoint it opens from
            # says no paper run labelled it last, nor does a paper state file here name it.
            return
        elif unread is not None and control.get("mode_set_by") != LIVE_SOURCE:
            raise RunRefused(
                f"the write-ahead log in {wal_dir} of kernel_id {c.kernel_id!r} cannot be told from a paper "
                f"run's: {unread}; a live run on it could send real orders on a paper book and capital. Put "
                f"its archived segments back in {wal_dir} to continue it, or give the live run another "
                "kernel_id or state_dir"
            )
        else:
            return
        raise RunRefused(
            f"the write-ahead log in {wal_dir} holds the paper run of kernel_id {c.kernel_id!r} ({found}): "
            "a live run on it would send real orders on the paper book and capital; give the live run "
            "another kernel_id or state_dir"
        )

    def _refuse_its_ids_working_at_the_exchange(self, wal_dir: Path) -> None:
        """RunRefused, before the fresh kernel's first record, when orders working at the exchange
        carry client ids of this kernel_id: a run on another log (another state_dir) sent them. The
        fresh kernel would send its own under the same ids, which the exchange refuses as
        duplicates, and never follow theirs: their fills would go by it."""
        from dita.venues import VenueUnavailable

        v = self.config.venue
        try:
            listed = self.market_source.open_orders()
        except VenueUnavailable as exc:
            raise RunRefused(f"cannot list the open orders at {v.exchange}: {exc}") from None
        ours = _issued_by(self.config.kernel_id, v.exchange, [o.client_order_id for o in listed])
        warning = _hashed_ids_not_told(self.config.kernel_id, v.exchange, listed, ours)
        if warning:
            self.say(warning)
        if not ours:
            return
        named = [_order_line(o) for o in listed if o.client_order_id in ours][:MAX_ORDERS_NAMED]
        if len(ours) > MAX_ORDERS_NAMED:
            named.append(f"and {len(ours) - MAX_ORDERS_NAMED:,} more")
        raise RunRefused(
            f"{len(ours):,} order{'s' if len(ours) > 1 else ''} working at {v.exchange} carry client ids "
            f"of kernel_id {self.config.kernel_id!r}, which this fresh kernel (no run in the log in "
            f"{wal_dir.resolve()}) would issue again: {'; '.join(named)}. A run of this kernel_id on "
            "another log sent them: start with the state_dir (or [log] wal_dir) of that run, which takes "
            "them back, or cancel them at the exchange; nothing was sent"
        )

    def _account_capital(self) -> float:
        """The account's balance in the currency the kernel counts its capital in, the first
        symbol's quote (spot) or settle currency (futures). On futures, its wallet balance, as
        the account stream's E is, which K is reconciled with: the figure the exchange's balance
        answer states (Binance's walletBalance), from that one answer, so no price move between
        two requests gets into K; where it states none, ccxt's total.
        RunRefused when the exchange does not give it (the keys refused, the exchange away)."""
        venue = self.market_source
        linear = self.config.venue.market_type == "linear"
        market = venue._exchange.market(self.symbols[0])
        currency = str((market.get("settle") if linear else None) or market.get("quote") or "")
        try:
            return float(venue.wallet_balance(currency))
        except Exception as exc:
            raise RunRefused(
                f"cannot read the account's {currency} balance at {self.config.venue.exchange} with the keys "
                f"in ${self.config.venue.api_key_env}: {type(exc).__name__}: {exc}"
            ) from None

    def _dead_man(self) -> Any:
        """The [dead_man] table's switch on the kernel, or None. The streams it watches are the
        user stream of the venue traded (mode live); the paper venue has none."""
        from dita.runtime.dead_man import DeadManSwitch

        if self.config.dead_man is None:
            return None
        return DeadManSwitch(self.kernel, self.config.dead_man)

    def _live_feed(self) -> Any:
        from dita.cli._common import check_feed
        from dita.cli.live_feed import choose_live_feed

        strategy = self.strategies[0][0]
        feed = choose_live_feed(
            strategy,
            self.market_source,
            self.symbols,
            bar_interval=self.config.venue.bar_interval,
            quote_feed="stream",
            poll_s=1.0,
            # The file's keys: the run has no options, and its quotes are always streamed.
            names={
                "exchange": f"{self.config_path}: venue.exchange",
                "bar_interval": f"{self.config_path}: venue.bar_interval",
            },
        )
        for other, _, _ in self.strategies:
            check_feed(other, feed.kind, self.assets, source="[venue]")
        return feed

    # --- running --------------------------------------------------------------------------

    def start(self) -> None:
        """Start the strategies, reconcile a continued kernel with the venue, and trade on a
        thread; RunRefused when the venue cannot be reconciled with (nothing traded)."""
        if self.session is not None:
            from dita.cli.paper_continued import _say_continued

            c = self.config
            state_file = c.run_state_dir() / f"{c.kernel_id}.json"
            _say_continued(self.session, state_file, self.taken_over, self.say)
        self.runtime.start()
        if self.continued:
            self._reconcile()
            self._refuse_trades_no_strategy_takes_back()
        from dita._signals import held

        with held():  # a signal mid-start would leave a thread running that stop() takes for none
            self._thread = threading.Thread(target=self._trade, name="dita-live-strategies", daemon=True)
            self._thread.start()

    def _reconcile(self) -> None:
        """RunRefused when the venue cannot be asked: a kernel not reconciled does not trade."""
        from dita.venues import VenueUnavailable

        try:
            report = self.runtime.reconcile_with_venue()
        except VenueUnavailable as exc:
            raise RunRefused(
                f"the continued kernel was not reconciled with {self.config.venue.exchange}, so it does "
                f"not trade; start again once the exchange answers: {exc}"
            ) from None
        lines = report.lines()
        for line in lines:
            self.say(f"reconcile: {line}")
        if not lines:
            self.say("reconcile: the kernel agrees with the venue")

    def _refuse_trades_no_strategy_takes_back(self) -> None:
        """RunRefused when the log holds open trades of a strategy the file no longer runs (its
        class renamed, or the table removed): trades are taken back by the strategy's name, and
        nobody would ever exit those positions (``trades_left``, as `dita paper` asks it). A trade
        opened by hand (its ENTER not the runtime's, whatever its id) is the operator's to close:
        it is named, and the run trades on."""
        from dita.runtime.strategies import trades_left

        left = trades_left(self.runtime)
        if left.by_hand:
            self.say(
                f"open trades of no strategy (opened by hand): {', '.join(left.by_hand)}; close them on "
                "the operator page (the slot's Exit) or with POST /v1/slots/{slot_id}/exit"
            )
        if not left.by_strategy:
            return
        running = ", ".join(repr(name) for name in self.runtime.handles)
        names = " or ".join(f'name = "{name}"' for name in left.by_strategy)
        raise RunRefused(
            f"the log holds open trades no strategy of {self.config_path} takes back ({left.named()}); "
            f"the file runs {running}, and trades are taken back by the strategy's name, so nobody "
            f"would exit them: run that strategy under its name again ({names} in its [[strategies]] "
            "table), which takes them back and exits them as it trades, or close them with that run's "
            "operator page (the slot's Exit, or Flatten all: POST /v1/slots/{slot_id}/exit, "
            "POST /v1/flatten) before you change it"
        )

    def _trade(self) -> None:
        from dita.runtime import StrategyStatus

        last_save = 0.0
        handles = list(self.runtime.handles.values())

        def should_stop() -> bool:
            nonlocal last_save
            if self.dead_man is not None:
                # The strategies' thread asks between data points and while it waits for one:
                # it is alive as long as it asks.
                self.dead_man.heard_from_strategy()
                self._check_dead_man()
            if self.reload_requested.is_set():
                self.reload_requested.clear()
                self.reload_risk()
            if self.failure is None and not self.stop_requested.is_set():
                # Between data points too: a fill the venue has (its user stream's, at once)
                # reaches the kernel and on_fill within poll_interval, not a bar later.
                try:
                    self.runtime.poll_venues_if_due()
                except Exception as exc:
                    self._stopped_by(exc)
            stopping = self.stop_requested.is_set()  # the stop saves the run as stopped
            if self.session is not None and not stopping and time.monotonic() - last_save >= SAVE_EVERY_S:
                last_save = time.monotonic()
                self.session.save(running=True)
            if self.failure is None and all(h.status is StrategyStatus.ERROR for h in handles):
                # Nothing would trade again: the run ends rather than follow the feed for nothing.
                self.failure = "every strategy is in ERROR: the run was stopped"
                self.say(f"error: {self.failure}")
            return self.failure is not None or self.stop_requested.is_set()

        try:
            self.runtime.run(self.feed.items(should_stop, self._not_before()), should_stop=should_stop)
        except Exception as exc:  # said by the run's end, which closes the kernel all the same
            self._stopped_by(exc)
        finally:
            try:
                self._end_trading()
            finally:
                self.stop_requested.set()
                self.on_stopped()

    def _check_dead_man(self) -> None:
        """The dead-man switch's check; what it raised is said as a warning and the run goes on."""
        assert self.dead_man is not None
        # A trip the kernel was too busy for is made at the next check: ending the run on it
        # would stop the strategies the switch watches, the trip's mode not set.
        self.dead_man.check_or_tell(self._warn_dead_man_failed)

    def _warn_dead_man_failed(self, failure: str) -> None:
        self.say(f"warning: the dead-man switch's check raised {failure}; checked again next time")

    def _stopped_by(self, exc: Exception) -> None:
        """The strategies' thread ends on ``exc`` (a data point's, a poll's between them)."""
        self.failure = f"the strategies' thread stopped: {type(exc).__name__}: {exc}"
        self.say(f"error: {self.failure}")

    def _not_before(self) -> float:
        """The time the feed's first item may be stamped: the restored clock of a continued paper
        run's venue (it refuses earlier data, and took a bar at that time already), else none.
        The stream's first bar is the period in progress at its start, stamped with its open:
        the exchange's closing kline covers the whole period, so it is handed, not dropped."""
        from dita.cli.paper_run import restored_clock

        return 0.0 if self.session is None else restored_clock(self.session, self.say)

    def _end_trading(self) -> None:
        """The end of the strategies' thread: the venue's last news taken (``finish``: a last
        poll; what the kernel never took named at ERROR), then each strategy's ``on_stop``. On
        this thread, so ``on_stop`` never runs beside a data point's or a fill's callbacks."""
        for step, what in (
            (self.runtime.finish, "the last poll of the venue"),
            (self.runtime.stop, "stopping the strategies"),
        ):
            try:
                step()
            except Exception as exc:
                self.say(f"error: {what} raised {type(exc).__name__}: {exc}")

    def stop(self) -> None:
        """End the strategies (on their own thread, waiting up to STOP_WAIT_S for it) and the
        feed; the kernel stays open."""
        self.stop_requested.set()
        thread = self._thread
        if thread is None:
            # Never traded (stopped while the strategies started): their end runs on a thread of
            # its own all the same, so a stuck on_stop holds the stop STOP_WAIT_S, not for good.
            thread = threading.Thread(target=self._end_trading, name="dita-live-stop", daemon=True)
            thread.start()
        thread.join(STOP_WAIT_S)
        if thread.is_alive():
            self.say(
                f"error: the strategies' thread did not end within {STOP_WAIT_S:g}s (in a strategy's"
                " callback or on_stop, or a call of the venue or the kernel): the kernel is closed"
                " under it, its strategies' stop not waited for"
            )
        said = self.feed.close()
        if said is not None:
            self.say(said)
        if self.session is not None:
            self.session.save(running=False)

    def close(self) -> None:
        """Close the kernel (its journal, projection and control plane with it) and the venue,
        then say which orders the run leaves working (once, however often it is closed; also when
        a close fails, its log's disk full: the orders work on at the exchange all the same)."""
        try:
            if self.dead_man is not None:
                self.dead_man.close()  # a trip's plane entry still being written, before the plane closes
            self.kernel.close()
        finally:
            try:
                self.market_source.close()
            finally:
                if not self._left_told:
                    self._left_told = True
                    self._tell_left_working()

    def _tell_left_working(self) -> None:
        """A stop leaves the book for a restart to take back: the operator is told what works on
        at the exchange with no process to follow it (the kernel is closed: the list is final)."""
        orders = self.kernel.open_orders()
        if not orders:
            return
        where = (
            f"at {self.config.venue.exchange}"
            if self.config.mode == "live"
            else "on the paper venue (in its state file)"
        )
        named = [_order_line(o) for o in orders[:MAX_ORDERS_NAMED]]
        if len(orders) > MAX_ORDERS_NAMED:
            named.append(f"and {len(orders) - MAX_ORDERS_NAMED:,} more")
        # The log named whole: a start of the same file from another directory (state_dir
        # relative) or with another state_dir is a fresh kernel, which does not take them back.
        self.say(
            f"stop: {len(orders):,} order{'s' if len(orders) > 1 else ''} left working {where}, taken "
            f"back by a restart on {self.config_path} with its log in {self.config.wal_dir().resolve()}: "
            f"{'; '.join(named)}"
        )

    def _close_opened(self) -> None:
        from dita.cli._common import close_all

        kernel = getattr(self, "kernel", None)
        if kernel is not None:
            kernel.close()
        close_all(*reversed(self._opened))

    # --- SIGHUP -----------------------------------------------------------------------------

    def reload_risk(self) -> None:
        """Read the file again and apply its [risk] table only; a bad file changes nothing."""
        try:
            fresh = load_config(self.config_path)
        except ConfigError as exc:
            self.say(f"reload refused, nothing changed: {'; '.join(exc.problems)}")
            return
        before = RiskLimits(**self.kernel.risk_limits())
        changed = [
            f"{name} {getattr(before, name)!r} -> {getattr(fresh.risk, name)!r}"
            for name in RiskLimits.model_fields
            if getattr(before, name) != getattr(fresh.risk, name)
        ]
        self.kernel.set_risk_limits(fresh.risk.model_dump())
        self.say(f"reload: risk limits {'changed: ' + ', '.join(changed) if changed else 'unchanged'}")
        others = [
            name
            for name in LiveConfig.model_fields
            if name != "risk" and getattr(fresh, name) != getattr(self.config, name)
        ]
        if others:
            self.say(f"reload: only [risk] is applied while running; {', '.join(others)} take a restart")


def _named(strategy: Any, name: str | None) -> Any:
    """``strategy`` under the table's ``name`` (checked with the file), else its class's."""
    if name is not None:
        strategy.name = name
    return strategy


def _issued_by(kernel_id: str, exchange: str, client_ids: list[str]) -> set[str]:
    """Those of ``client_ids`` (as an exchange lists them) that kernel ``kernel_id`` issues:
    ``<kernel_id>-<n>``, and where ``exchange`` refuses that form (a long id, a large n), its hash
    (``venue_client_id``) for the first HASHED_IDS_CHECKED n."""
    import re

    from dita.venues.ccxt.settings import venue_client_id

    plain = re.compile(rf"{re.escape(kernel_id)}-[0-9]+")
    found = {i for i in client_ids if plain.fullmatch(i)}
    others = set(client_ids) - found
    last = f"{kernel_id}-{HASHED_IDS_CHECKED}"
    if others and venue_client_id(last, exchange) != last:
        hashed = (venue_client_id(f"{kernel_id}-{n}", exchange) for n in range(1, HASHED_IDS_CHECKED + 1))
        found |= {i for i in hashed if i in others}
    return found


def _hashed_ids_not_told(kernel_id: str, exchange: str, listed: list[Any], ours: set[str]) -> str | None:
    """The warning, or None, for the ``listed`` orders working under an id of dita's hashed form
    that is none of the first HASHED_IDS_CHECKED of ``kernel_id``: another dita kernel on the
    account sends such ids too, so they are no reason to refuse, but so does this one past that n."""
    from dita.venues.ccxt.settings import is_hashed_client_id

    others = [o for o in listed if o.client_order_id not in ours]
    unknown = [o for o in others if is_hashed_client_id(o.client_order_id, exchange)]
    if not unknown:
        return None
    named = [_order_line(o) for o in unknown[:MAX_ORDERS_NAMED]]
    if len(unknown) > MAX_ORDERS_NAMED:
        named.append(f"and {len(unknown) - MAX_ORDERS_NAMED:,} more")
    return (
        f"warning: {len(unknown):,} order{'s' if len(unknown) > 1 else ''} working at {exchange} carry "
        f"hashed client ids of dita's form that are none of the first {HASHED_IDS_CHECKED:,} of kernel_id "
        f"{kernel_id!r}: {'; '.join(named)}. Another dita kernel on the account may have sent them; if a run "
        f"of kernel_id {kernel_id!r} on another log sent them, cancel them at the exchange or start with the "
        "state_dir (or [log] wal_dir) of that run"
    )


def _order_line(order: Any) -> str:
    """``hunt-3 BUY 0.01 BTCUSDT LIMIT at 30000 (0.004 filled)``."""
    price = f" at {order.price:g}" if order.order_type.name == "LIMIT" else ""
    filled = f" ({order.filled_size:g} filled)" if order.filled_size > 0 else ""
    return (
        f"{order.client_order_id} {order.order_side.name} {order.size:g} {order.asset} "
        f"{order.order_type.name}{price}{filled}"
    )
