"""``dita paper``: a strategy on the runtime against the paper venue, fed by a replayed file
in wall-clock or accelerated time (or a live ccxt exchange: ``live_feed``), with live status.

This module reads the command's options and builds the run from them. The run's other parts
each have their module: the session (``paper_session``: the kernel, the venue, the runtime and
the state file they save), the run loop and its end (``paper_run``), the live status
(``paper_status``), the state file a run continuing its kernel takes over
(``paper_state_file``), what that run says it took over and its reconciliation
(``paper_continued``), and where a replay goes on after a kill (``paper_resume``)."""

from __future__ import annotations

import os
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from dita._kernel import WalError
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
    data_path,
    fail,
    fail_options,
    given_path,
    load_strategy,
    open_projection,
    option_given,
    out_console,
    parse_params,
    require_directory_path,
    require_finite,
    require_kernel_id,
)
from dita.cli.live_feed import (  # noqa: F401  (the live feed's names, importable here as before)
    FEED_SILENCE_EVERY_S,
    STOP_CHECK_S,
    LiveFeed,
    _ccxt_quotes,
    _ticker_problem,
    check_quote_feed,
    choose_live_feed,
)
from dita.cli.paper_continued import _say_continued
from dita.cli.paper_resume import rows_after, rows_between
from dita.cli.paper_run import (
    _close_kernel,  # noqa: F401  (importable here as before)
    run_session,
)
from dita.cli.paper_session import LiveLogRefused, PaperSession
from dita.cli.paper_state_file import (
    AccountKept,
    _account_log,
    _continued_fill_model,
    _continued_leverage,
    _continues_kernel,
    run_holding,
)
from dita.cli.paper_state_file import (
    _of_this_log as _of_this_log,  # as: dita live's paper mode imports them from here
)
from dita.cli.paper_state_file import (
    _previous_state as _previous_state,
)

__all__ = ["PaperSession", "register"]


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
    from dita.cli._state import named_state_dir
    from dita.strategy import Bar, Quote

    require_finite("--speed", speed, hint=" (use --max-speed for no pacing)")
    if max_speed and option_given(ctx, "speed"):
        # One of them would be ignored: the run would not go at the pace the operator asked for.
        fail(f"--speed {speed:g} and --max-speed are alternatives: give one (--max-speed replays unpaced)")
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
    if data is not None:
        # Read by the live feed only: with --data a value would be neither checked nor used.
        for name in _LIVE_FEED_OPTIONS:
            if option_given(ctx, name):
                option = "--" + name.replace("_", "-")
                fail(f"{option} is about the live feed of --ccxt-exchange; --data replays a file")
    if kernel_id is None:
        kernel_id = default_kernel_id()
    if "/" in kernel_id:
        fail(f"--kernel-id {kernel_id!r} names the state file <id>.json: it must not contain '/'")
    require_kernel_id(kernel_id)
    state, named = named_state_dir(state_dir)
    require_directory_path(state, named)
    if wal_dir is not None:
        require_directory_path(wal_dir, "--wal-dir")
    state_file = state / f"{kernel_id}.json"
    if (held := run_holding(state_file, kernel_id, "--kernel-id")) is not None:
        fail(held)
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
        try:
            fill_model = _continued_fill_model(
                previous, state_file, fill_model, lambda name: option_given(ctx, name)
            )
            kept = _continued_leverage(previous, state_file, leverage)
        except AccountKept as exc:
            fail(str(exc))
        # Checked by StateFile as the option is by BacktestConfig: taken as it is.
        fill_model = fill_model.model_copy(update={"leverage": kept})
    strat = load_strategy(strategy, *parse_params(param or [], params))
    feed: Any = None
    history: Any = None
    live_feed: LiveFeed | None = None
    if data is not None:
        try:
            history = load_market_data(data_path(data), allow_gaps=allow_gaps)
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
    except LiveLogRefused as exc:
        close_all(plane, jr, proj)
        fail(f"{exc}; give this paper run another --kernel-id and --wal-dir")
    except AccountKept as exc:
        close_all(plane, jr, proj)
        fail(str(exc))
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
    _say_continued(session, state_file, previous, tell=lambda line: console.print(line, highlight=False))
    run_session(
        session,
        feed,
        live_feed,
        console,
        speed=speed,
        max_speed=max_speed,
        duration=duration,
        status_every=status_every,
        state=state,
        wal_dir=wal_dir,
        jr=jr,
    )


# The parameters of the live feed (--ccxt-exchange) a replay has no use for.
_LIVE_FEED_OPTIONS = ("ccxt_base_url", "symbols", "poll", "bar_interval", "quote_feed")


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


def register(app: typer.Typer) -> None:
    app.command("paper")(paper)
