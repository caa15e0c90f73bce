"""``dita paper``: a strategy on the runtime against the paper venue, fed by a replayed file
in wall-clock or accelerated time (or a live ccxt exchange: ``live_feed``), with live status."""

from __future__ import annotations

import contextlib
import math
import os
import secrets
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

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
from dita.cli.paper_continued import _reconcile, _say_continued
from dita.cli.paper_resume import rows_after, rows_between
from dita.cli.paper_session import PaperSession
from dita.cli.paper_state_file import (
    _account_log,
    _continued_fill_model,
    _continued_leverage,
    _continues_kernel,
)
from dita.cli.paper_state_file import _of_this_log as _of_this_log
from dita.cli.paper_state_file import _previous_state as _previous_state
from dita.cli.paper_status import _mode_to_say, _status_line, _status_table, _StatusLive

__all__ = ["PaperSession", "register"]

JOURNAL_WAIT_S = 30.0  # how long the end of a run waits for the journal to take the last rows


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
