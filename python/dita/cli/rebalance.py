"""``dita rebalance --targets FILE``: bring the account to a target portfolio (see
docs/guides/rebalancing.md), and ``dita audit trace SOURCE_RUN``: every fill a research run
produced, verified against the write-ahead log's hash chain.

The venue is the paper venue (its book kept in ``--paper-book``, prices given by ``--price``)
unless ``--ccxt-exchange`` names a live exchange, as ``dita paper`` chooses its feed."""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from dita._files import one_value_each, parsed
from dita._kernel import WalError, wal_replay
from dita._numbers import plain_number
from dita.cli._common import (
    MAX_SLOTS,
    MAX_SLOTS_HELP,
    PROGRESS_LINE_SECONDS,
    close_all,
    elapsed_report,
    fail,
    fail_options,
    given_path,
    open_projection,
    out_console,
    require_directory_path,
    require_finite,
    require_kernel_id,
    shown,
    validator_reason,
    warn,
)
from dita.cli._state import default_state_dir, named_state_dir
from dita.cli.rebalance_book import PaperBookFile, read_book, refuse_resume_apart, save_book, take_over
from dita.cli.recovered import recovered_seq
from dita.cli.wal import AUDIT_FAILED, _holds_log, _require_dir
from dita.kernel import ExecutionKernel
from dita.rebalance import (
    TargetError,
    TargetPortfolio,
    TracedFill,
    read_targets,
    rebalance,
    report_table,
    trace_source_run,
)
from dita.rebalance.execute import NOT_FILLED, PlanError, open_trades, working_quantities
from dita.rebalance.plan import AccountUnreadable, Plan
from dita.rebalance.run import (
    RESUME_PRICE_TOLERANCE,
    KernelLog,
    RebalanceRun,
    rebalanced_to,
    record_attempts,
    resumed_plan,
)
from dita.rebalance.run import dry_run as plan_only
from dita.reconcile import ReconciliationReport
from dita.risk import MarketLimits
from dita.venues import VenueUnavailable
from dita.venues.paper import PaperVenue

__all__ = ["register"]

KERNEL_ID = "rebalance"
# The quote size the paper venue is given at a --price: deep enough that no order of a
# rebalance waits for liquidity.
PAPER_DEPTH = 1e12
# The paper account's cash without a book, in --quote-currency.
PAPER_BALANCE = 10_000.0


def _market_limits(path: Path | None) -> dict[str, MarketLimits]:
    """The limits in ``path`` by symbol; a key given twice is refused (``one_value_each``), and
    a symbol's bad limits naming the symbol, the field and the value."""
    if path is None:
        return {}
    try:
        given = parsed(lambda text: json.loads(text, object_pairs_hook=one_value_each), path.read_text())
    except (OSError, ValueError) as exc:
        fail(f"--market-limits {path}: {exc}")
    if not isinstance(given, dict):
        fail(f"--market-limits {path}: not a JSON object of symbol -> limits")
    limits: dict[str, MarketLimits] = {}
    for symbol, fields in given.items():
        try:
            limits[symbol] = MarketLimits.model_validate(fields)
        except ValidationError as exc:
            fail(f"--market-limits {path}: {_limits_refused(symbol, exc)}")
    return limits


def _limits_refused(symbol: str, exc: ValidationError) -> str:
    """Each of ``exc``'s errors as ``SYMBOL field VALUE: reason`` (``SYMBOL VALUE: reason`` for
    limits that are not an object): of several symbols, the one whose limits are wrong."""
    problems = []
    for e in exc.errors():
        field = f" {'.'.join(str(part) for part in e['loc'])}" if e["loc"] else ""
        problems.append(f"{symbol}{field} {e.get('input')!r}: {validator_reason(e['msg'])}")
    return "; ".join(problems)


def _prices(given: list[str]) -> dict[str, float]:
    """Each ``--price SYMBOL=PRICE`` by symbol. The price is read as the gateway reads a number
    (``plain_number``: float() also reads "1_00" as 100), and a symbol quoted twice is refused,
    as a repeated --param is: the second would win without a word."""
    prices: dict[str, float] = {}
    texts: dict[str, str] = {}
    for pair in given:
        symbol, sep, price_text = pair.partition("=")
        if not sep or not symbol:
            fail(f"--price {pair!r}: not SYMBOL=PRICE")
        if not plain_number(price_text):
            fail(f"--price {pair!r}: not SYMBOL=PRICE with the price in ASCII digits")
        price = float(price_text)
        if not (price > 0 and math.isfinite(price)):
            fail(f"--price {pair!r}: not SYMBOL=PRICE with a finite price above 0")
        if symbol in texts:
            fail(f"--price {symbol} is given more than once ({texts[symbol]!r}, then {price_text!r})")
        texts[symbol], prices[symbol] = price_text, price
    return prices


def _refuse_prices_of_nothing(
    prices: dict[str, float], portfolio: TargetPortfolio, venue: PaperVenue
) -> None:
    """Exit 2 naming a ``--price`` of a symbol neither a target nor held in the paper book: a typo
    (BTCUSD for BTCUSDT) would leave the target it was meant for unpriced, and the rest traded."""
    held = {symbol for symbol, qty in venue.positions().items() if qty}
    targets = portfolio.symbols()
    unknown = [symbol for symbol in prices if symbol not in targets and symbol not in held]
    if unknown:
        given = ", ".join(f"--price {symbol}={prices[symbol]:g}" for symbol in unknown)
        fail(
            f"{given}: neither a target nor held in the paper book, nothing planned "
            f"(the targets' symbols: {', '.join(targets)})"
        )


def _paper_venue(
    book_path: Path | None,
    prices: dict[str, float],
    balance: float,
    limits: dict[str, MarketLimits],
    quote_currency: str,
    leverage: float,
) -> tuple[PaperVenue, PaperBookFile | None, dict[str, str]]:
    """The paper venue, its book restored from ``book_path``, quoted at ``prices``; what its
    book says of the kernel's log (``read_book``; None without --paper-book); and the quotes it
    keeps from an earlier run, by symbol with their age (``_stale_quotes``)."""
    # The paper account's cash is in the currency the trader counts equity in. Its margin judges
    # each buy as an exchange's would: without it, a buy beyond the cash would fill.
    try:
        venue = PaperVenue(
            starting_balance=balance,
            slippage_bps=0.0,
            market_limits=limits,
            quote_currency=quote_currency,
            leverage=leverage,
        )
    except ValidationError as exc:
        fail_options(exc, {"starting_balance": "--balance", "leverage": "--leverage"})
    book = None if book_path is None else read_book(venue, book_path)
    stale = _stale_quotes(venue, prices)
    stamp = max(time.time(), venue.data_time or 0.0)
    for symbol, price in prices.items():
        venue.on_quote(symbol, price, price, PAPER_DEPTH, PAPER_DEPTH, stamp)
    return venue, book, stale


def _stale_quotes(venue: PaperVenue, prices: dict[str, float]) -> dict[str, str]:
    """The quotes the restored book keeps for symbols not given a ``--price`` now, each said
    with its age: an earlier run's prices, which value what is held but are not traded at (the
    market has moved since). The book's clock is its latest quote's time: each is that old or
    older."""
    saved = venue.book()["quotes"]
    clock = venue.data_time
    if clock is None:
        when = "of unknown age"
    else:
        at = datetime.fromtimestamp(clock, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        when = f"quoted at {at} or before, {_age(time.time() - clock)} ago or more"
    stale = {}
    for symbol, (bid, ask, *_sizes) in saved.items():
        if symbol not in prices:
            quote = f"the paper book's quote {(bid + ask) / 2:g} is an earlier run's ({when})"
            stale[symbol] = f"no --price {symbol} given: {quote}"
    return stale


def _age(seconds: float) -> str:
    """``seconds`` in the two largest units (2d 3h, 3h 12m, 4m 5s, 7s)."""
    whole = max(0, int(seconds))
    days, rest = divmod(whole, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")]
    first = next((i for i, (n, _) in enumerate(parts) if n), len(parts) - 1)
    return " ".join(f"{n}{unit}" for n, unit in parts[first : first + 2])


def _refuse_paper_options(exchange: str, given: dict[str, object]) -> None:
    """Exit 2 naming the paper venue's options given with an exchange: the exchange's own cash,
    leverage, prices and limits are what it trades on, so each would be ignored."""
    named = [option for option, value in given.items() if value not in (None, [], ())]
    if named:
        fail(
            f"--ccxt-exchange {exchange}: {', '.join(named)} only set the paper venue's account "
            "and prices; the exchange trades on its own: leave them out"
        )


def _ccxt_venue(
    exchange: str, base_url: str | None, market_type: str, sandbox: bool, symbols: list[str]
) -> Any:
    """The exchange's venue, its markets loaded once. On spot, a position is a currency balance,
    which the venue names by market only among the markets it trades: those of ``symbols`` it
    lists. Those markets of two quote (spot) or settle (futures) currencies are refused (exit 2)
    before anything is sent: the kernel counts its capital in one."""
    from dita.venues.ccxt import CcxtVenue

    try:
        venue = CcxtVenue(exchange=exchange, base_url=base_url, market_type=market_type, sandbox=sandbox)
    except ValidationError as exc:
        fail_options(exc, {"exchange": "--ccxt-exchange", "base_url": "--ccxt-base-url"})
    except ValueError as exc:
        fail(f"--ccxt-exchange={exchange!r}: {exc}")
    try:
        listed = venue.load_markets()
    except Exception as exc:
        venue.close()
        fail(f"cannot reach {exchange}: {type(exc).__name__}: {exc}", code=1)
    traded = [s for s in symbols if s in listed]
    if not traded and market_type == "spot":
        venue.close()
        fail(f"none of the targets' symbols is a {market_type} market of {exchange}: {', '.join(symbols)}")
    try:
        if market_type == "spot":
            venue.trade_only(traded)
        elif traded:
            venue.check_markets(traded)
    except ValueError as exc:  # markets of two currencies: the kernel counts one
        venue.close()
        fail(f"the targets' markets: {exc}")
    return venue


def _kernel(
    venue: Any,
    state_dir: Path,
    kernel_id: str,
    max_slots: int,
    live: bool,
    book: PaperBookFile | None = None,
    resumed: Plan | None = None,
    projection: Any = None,
    plane: Any = None,
) -> tuple[ExecutionKernel, ReconciliationReport | None]:
    """The kernel of ``state_dir``'s log, and for one recovered from it its reconciliation with
    ``venue`` (``take_over``: a paper ``book`` is brought forward first, and refused for the
    written plan ``resumed`` when the log does not explain it: PlanError, nothing written).
    ``projection`` and the control ``plane`` (--hazelcast) are attached to it."""
    wal_dir = state_dir / "wal"
    # Each leg's intent is on disk before its order goes out: a run killed right after would
    # otherwise lose the record (a group commit's last 10 ms) and send the leg again when rerun.
    kernel = ExecutionKernel(
        venue=venue,
        kernel_id=kernel_id,
        wal_dir=str(wal_dir),
        max_slots=max_slots,
        fsync="always",
        projection=projection,
    )
    try:
        new = recovered_seq(kernel) == 0
        if new:
            # A new kernel only: a recovered one keeps the mode its log holds (an operator's HALTED).
            kernel.update_control(mode="LIVE" if live else "PAPER", source="dita-rebalance")
        if plane is not None:
            # After the run's own mode: the cluster's entries (a HALTED) apply over it.
            kernel.attach_control_plane(plane)
        return kernel, None if new else take_over(kernel, book, resumed)
    except BaseException:
        kernel.close()
        raise


def _read(path: Path) -> TargetPortfolio:
    try:
        return read_targets(path)
    except TargetError as exc:
        fail(f"targets refused, nothing sent: {exc}")


@dataclass
class _Session:
    """What each rebalance of a command shares: the venue, the kernel (None for a dry run,
    which opens no log and sends nothing), where plans and reports go, and how to answer."""

    venue: Any
    kernel: ExecutionKernel | None
    state: Path
    quote_currency: str
    fill_wait: float
    paper_book: Path | None
    json_out: bool
    # The kernel's id: a dry run on a state dir with no log judges a written plan against the
    # new log the run would open under it.
    kernel_id: str = KERNEL_ID
    # The markets a spot exchange's venue was opened with (None: any market).
    markets: list[str] | None = None
    # The paper book's quotes of an earlier run, not traded at (``_stale_quotes``).
    stale_prices: dict[str, str] = field(default_factory=dict)
    # How far the price may have moved from a resumed plan's before its legs are planned again.
    price_tolerance: float = RESUME_PRICE_TOLERANCE

    # The recovered kernel's reconciliation with the venue (None for a new kernel): the first
    # rebalance report says the positions it found apart, later versions' reports do not.
    reconciled: ReconciliationReport | None = None
    # What the --paper-book file said of the kernel's log it goes with (None: no book).
    book: PaperBookFile | None = None
    # The version whose written plan was checked as the kernel opened, before reconciling.
    checked: str | None = None
    # The kernel's log started with this command, or the --paper-book file names no seq: the
    # file is saved with the log before the first leg goes out (``save_book_at_log_start``).
    new_log: bool = False

    def save_book(self) -> None:
        """The paper venue's book saved to --paper-book with the kernel's seq (after each leg: a
        run killed keeps it, and the run after it catches up from the log's records after it)."""
        if self.paper_book is not None and isinstance(self.venue, PaperVenue) and self.kernel is not None:
            save_book(self.paper_book, self.venue, self.kernel)

    def save_book_at_log_start(self) -> None:
        """On a new log, a --paper-book file that exists saved with the log's start once the
        first plan is going out: one prepared by hand names no seq, and the fill of a first leg
        killed before the book's next save would be lost with it, not brought forward from the
        log. A run refused before sending leaves the file as it was."""
        if not self.new_log:
            return
        self.new_log = False
        book, venue = self.paper_book, self.venue
        if book is not None and book.exists() and isinstance(venue, PaperVenue) and self.kernel is not None:
            save_book(book, venue, self.kernel)

    def run(self, portfolio: TargetPortfolio) -> RebalanceRun:
        """Rebalances to ``portfolio`` (plans it only, for a dry run), answers with the report and
        returns the run. Raises PlanError, nothing sent, for an account that cannot be planned
        from."""
        self._check_markets(portfolio)
        if self.kernel is None:
            wal = self.state / "wal"
            logged, log = (
                self._logged_kernel() if _holds_log(wal) else (None, KernelLog(self.kernel_id, wal, 0, ""))
            )
            run = plan_only(
                self.venue,
                portfolio,
                state_dir=self.state,
                quote_currency=self.quote_currency,
                trades=open_trades(logged) if logged is not None else (),
                working=working_quantities(logged) if logged is not None else None,
                stale_prices=self.stale_prices,
                on_log=log,
                price_tolerance=self.price_tolerance,
                logged=logged,
            )
        else:
            record_attempts(self.state, portfolio)
            self._refuse_resume_apart(portfolio)
            run = rebalance(
                self.kernel,
                portfolio,
                state_dir=self.state,
                quote_currency=self.quote_currency,
                fill_wait_s=self.fill_wait,
                before_send=self.save_book_at_log_start,
                after_leg=lambda _result: self.save_book(),
                reconciled=self.reconciled,
                stale_prices=self.stale_prices,
                price_tolerance=self.price_tolerance,
            )
            # Found when the kernel opened: a later version's report would repeat figures of then.
            self.reconciled = None
            self.save_book()
        self._answer(portfolio, run)
        return run

    def _refuse_resume_apart(self, portfolio: TargetPortfolio) -> None:
        """PlanError, nothing sent, for a plan an earlier run wrote and did not finish, on a paper
        book the kernel's log does not explain (``refuse_resume_apart``): checked for each
        version a watch takes; without --watch, the one version is ``checked`` as the kernel
        opens, before reconciling."""
        book, venue = self.book, self.venue
        if self.kernel is None or book is None or not isinstance(venue, PaperVenue):
            return
        if portfolio.content_hash == self.checked:
            return
        resumed = resumed_plan(self.state, portfolio)
        if resumed is not None:
            refuse_resume_apart(self.kernel, venue, book, resumed)

    def _check_markets(self, portfolio: TargetPortfolio) -> None:
        """A spot exchange's venue states the positions of the markets it was opened with only:
        a later version of the file naming another would be planned as though none were held."""
        if self.markets is None:
            return
        opened = {self.venue.position_asset(m) for m in self.markets}
        listed = self.venue.market_metadata()
        new = [s for s in portfolio.symbols() if s in listed and self.venue.position_asset(s) not in opened]
        if new:
            raise PlanError(
                f"{', '.join(new)} not among the markets this run trades ({', '.join(self.markets)}): "
                "start dita rebalance again to trade them"
            )

    def _logged_kernel(self) -> tuple[Any, KernelLog]:
        """The kernel of the log, replayed without writing to it, and where the log is: its open
        trades and working orders, and whether it holds a written plan, for a dry run."""
        wal = self.state / "wal"
        try:
            kernel, recovery = wal_replay(wal)
        except (WalError, OSError) as exc:
            fail(f"cannot read the rebalance kernel's log in {wal}: {exc}", code=1)
        return kernel, KernelLog(kernel.kernel_id, wal, recovery["last_seq"], recovery["head_hash"])

    def _answer(self, portfolio: TargetPortfolio, run: RebalanceRun) -> None:
        for said in run.report["warnings"]:
            warn(said)
        if self.json_out:
            typer.echo(json.dumps({**run.report, "resumed": run.resumed}, default=str))
            return
        console = out_console()
        if run.resumed:
            console.print(
                f"resuming the plan written for {shown(portfolio.source_run)}: "
                "legs sent before are not sent again, unless their orders filled nothing"
            )
        console.print(report_table(run.report))
        if run.report_path is not None:
            console.print(f"report: {run.report_path}")


def rebalance_command(
    targets: Annotated[Path, typer.Option(help="Target portfolio: JSON, CSV or Parquet", parser=given_path)],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan only; send nothing")] = False,
    watch: Annotated[
        bool, typer.Option("--watch", help="Follow the file: rebalance at each new version")
    ] = False,
    watch_every: Annotated[
        float, typer.Option(min=0.1, help="Seconds between looks at the file (--watch)")
    ] = 5.0,
    state_dir: Annotated[
        Path | None,
        typer.Option(
            help="Where the log, plans and reports go (default: $DITA_STATE_DIR/rebalance)", parser=given_path
        ),
    ] = None,
    kernel_id: Annotated[str, typer.Option(help="The kernel's id (its write-ahead log's)")] = KERNEL_ID,
    max_slots: Annotated[int, typer.Option(min=1, max=1_000_000, help=MAX_SLOTS_HELP)] = MAX_SLOTS,
    quote_currency: Annotated[
        str, typer.Option(help="The balance equity is counted in (the paper venue's cash)")
    ] = "USDT",
    paper_book: Annotated[
        Path | None, typer.Option(help="Paper venue: its book (JSON), read and saved back", parser=given_path)
    ] = None,
    price: Annotated[
        list[str] | None, typer.Option(help="Paper venue: SYMBOL=PRICE quoted (repeatable)")
    ] = None,
    balance: Annotated[
        float | None, typer.Option(help="Paper venue: starting cash without a book (10000)")
    ] = None,
    leverage: Annotated[
        float | None,
        typer.Option(help="Paper venue: the account's leverage; a buy beyond its margin is refused (1)"),
    ] = None,
    market_limits: Annotated[
        Path | None,
        typer.Option(
            help="Paper venue: JSON of symbol -> lot_step, tick_size, min_qty, min_notional",
            parser=given_path,
        ),
    ] = None,
    ccxt_exchange: Annotated[
        str | None, typer.Option(help="Trade on this ccxt exchange instead of paper")
    ] = None,
    ccxt_base_url: Annotated[
        str | None, typer.Option(help="Send the exchange's requests here instead")
    ] = None,
    ccxt_market_type: Annotated[str, typer.Option(help="spot or linear")] = "spot",
    ccxt_sandbox: Annotated[bool, typer.Option(help="Use the exchange's testnet")] = False,
    live_orders: Annotated[
        bool, typer.Option("--live", help="Allow --ccxt-exchange without --ccxt-sandbox to send real orders")
    ] = False,
    fill_wait: Annotated[
        float, typer.Option(min=0.0, help="Seconds to wait for fills reported later")
    ] = 30.0,
    json_out: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
    hazelcast: Annotated[
        str | None,
        typer.Option(
            help="Project into (and take the mode from) Hazelcast host:port,...: `dita control set "
            "--mode HALTED` then stops the run's entries"
        ),
    ] = None,
    hz_cluster: Annotated[
        str | None, typer.Option(help="Hazelcast cluster name (default: $DITA_HAZELCAST_CLUSTER or dita)")
    ] = None,
    resume_price_tolerance: Annotated[
        float,
        typer.Option(
            min=0.0,
            help="A resumed plan's legs not sent are planned again once the price moved beyond "
            "this share of it (0.01)",
        ),
    ] = RESUME_PRICE_TOLERANCE,
) -> None:
    """Bring the account to the targets: what reduces a position first, through the kernel's risk guard."""
    if ccxt_exchange is not None and not (live_orders or ccxt_sandbox or dry_run):
        # Real orders with the keys the environment holds: said on the command line, as `dita
        # live` asks of a config's mode live.
        fail(
            f"--ccxt-exchange {ccxt_exchange} sends real orders: give --live to send them "
            "(or --ccxt-sandbox for the exchange's testnet, --dry-run for the plan only)"
        )
    if ccxt_exchange is not None:
        _refuse_paper_options(
            ccxt_exchange,
            {
                "--paper-book": paper_book,
                "--price": price,
                "--balance": balance,
                "--leverage": leverage,
                "--market-limits": market_limits,
            },
        )
    require_kernel_id(kernel_id)
    if dry_run and hazelcast is not None:
        fail("--hazelcast with --dry-run: a dry run runs no kernel to project or control")
    # Slept on after a rebalance has sent its orders: inf would end the run there, in a traceback.
    require_finite("--watch-every", watch_every)
    require_finite("--fill-wait", fill_wait, allow_zero=True)
    require_finite("--resume-price-tolerance", resume_price_tolerance, allow_zero=True)
    prices = _prices(price or [])
    if state_dir is not None:
        state, named = state_dir, "--state-dir"
    else:
        base, named = named_state_dir(None)
        state = base / "rebalance"
    require_directory_path(state, named)
    portfolio = _read(targets)
    live = ccxt_exchange is not None
    book: PaperBookFile | None = None
    stale: dict[str, str] = {}
    if live:
        assert ccxt_exchange is not None
        venue = _ccxt_venue(ccxt_exchange, ccxt_base_url, ccxt_market_type, ccxt_sandbox, portfolio.symbols())
    else:
        venue, book, stale = _paper_venue(
            paper_book,
            prices,
            PAPER_BALANCE if balance is None else balance,
            _market_limits(market_limits),
            quote_currency,
            1.0 if leverage is None else leverage,
        )
        _refuse_prices_of_nothing(prices, portfolio, venue)

    kernel: ExecutionKernel | None = None
    reconciled: ReconciliationReport | None = None
    if not dry_run:
        state.mkdir(parents=True, exist_ok=True)
        proj = plane = None
        if hazelcast is not None:
            from dita.control.hazelcast import HazelcastControlPlane

            proj = open_projection(hazelcast, hz_cluster)
            plane = HazelcastControlPlane(
                proj.cluster_members, proj.cluster_name, updated_by="dita-rebalance"
            )
        try:
            # A watch goes on past a version refused (the session checks each one it takes):
            # its kernel is reconciled all the same, to trade the versions after it.
            # Counted before a written plan is refused: moved aside, a plan made afresh is
            # numbered past it, not under its ids.
            try:
                record_attempts(state, portfolio)
                resumed = None if watch else resumed_plan(state, portfolio)
                kernel, reconciled = _kernel(
                    venue, state, kernel_id, max_slots, live, book, resumed, projection=proj, plane=plane
                )
            except BaseException:
                close_all(plane, proj)  # a kernel never made (or closed) leaves them open
                raise
        except WalError as exc:
            fail(f"cannot open the rebalance kernel's log in {state / 'wal'}: {exc}", code=1)
        except VenueUnavailable as exc:
            # A kernel recovered from its log trades only once it agrees with the venue.
            fail(f"the kernel is not reconciled with the venue, nothing sent: {exc}", code=1)
        except PlanError as exc:
            fail(f"cannot plan the rebalance, nothing sent: {exc}", code=1)
    session = _Session(venue, kernel, state, quote_currency, fill_wait, paper_book, json_out)
    session.reconciled = reconciled
    session.kernel_id = kernel_id
    # A book prepared by hand names no seq: saved with the log as the first plan goes out, also
    # on a log an earlier run left (refused before sending), or a killed leg's fill is lost.
    session.new_log = kernel is not None and (
        reconciled is None or (book is not None and book.kernel_seq is None)
    )
    session.book = book
    session.stale_prices = stale
    session.price_tolerance = resume_price_tolerance
    session.checked = None if watch else portfolio.content_hash
    if live:
        session.markets = venue.settings.markets
    try:
        if watch:
            _watch(session, targets, portfolio, watch_every)
        else:
            _fail_off_target(session.run(portfolio))
    except PlanError as exc:
        fail(f"cannot plan the rebalance, nothing sent: {exc}", code=1)
    finally:
        if kernel is not None:
            kernel.close()


def _fail_off_target(run: RebalanceRun) -> None:
    """Exit 1, its report out, for a run a leg of which was refused or whose order ended short of
    its size (``NOT_FILLED``): the account is left off its targets by what they did not fill."""
    short = [r for r in run.results if r.status in NOT_FILLED]
    if short:
        said = "; ".join(
            f"{r.leg.intent_id} {r.status}, {r.unfilled:g} of {r.leg.quantity:g} not filled"
            + (f" ({r.diagnostic}: {r.reason})" if r.reason else "")
            for r in short
        )
        fail(f"the account is left off its targets: {said}", code=1)


def _watch(session: _Session, path: Path, first: TargetPortfolio, every: float) -> None:
    """Rebalances to each version of ``path`` other than the one rebalanced to last (told by its
    content hash, so a new source_run or new rows alike, and an older version restored), until
    interrupted. A bad version is reported and waited past: the next good one is taken. One the
    venue could not be asked for is tried again at each look, until a newer version replaces it."""
    last: str | None = None  # the content hash of the version taken last
    portfolio: TargetPortfolio | None = first
    unread: TargetPortfolio | None = None  # the version whose account the venue did not answer
    seen_hash = ""
    try:
        while True:
            if portfolio is not None and portfolio.content_hash != last:
                unread = None
                if session.kernel is None or not rebalanced_to(session.state, portfolio):
                    try:
                        session.run(portfolio)
                    except AccountUnreadable as exc:
                        warn(f"cannot plan the rebalance, nothing sent, retrying: {exc}")
                        unread = portfolio
                    except PlanError as exc:
                        warn(f"cannot plan the rebalance, nothing sent: {exc}")
                if unread is None:
                    last = portfolio.content_hash
            time.sleep(every)
            try:
                data = path.read_bytes()
            except OSError as exc:
                warn(f"cannot read {path}: {exc}")
                portfolio = unread
                continue
            digest = hashlib.sha256(data).hexdigest()
            if digest == seen_hash:
                portfolio = unread
                continue
            seen_hash = digest
            unread = None  # a new version replaces it, a bad one too
            try:
                portfolio = read_targets(path)
            except TargetError as exc:
                warn(f"targets refused, nothing sent: {exc}")
                portfolio = None
    except KeyboardInterrupt:
        return


def trace(
    source_run: Annotated[str, typer.Argument(help="The research run whose fills to list")],
    wal_dir: Annotated[
        Path | None,
        typer.Option(help="The kernel's log (default: $DITA_STATE_DIR/rebalance/wal)", parser=given_path),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON for scripts")] = False,
) -> None:
    """Every fill SOURCE_RUN produced, with the hash of the log record that booked it."""
    if not source_run.strip():
        # No intent carries a blank run id (a targets file is refused without one): an unset
        # "$RUN" would read as a run that made no fill.
        fail(f"SOURCE_RUN must be a research run's id (non-empty text), got {source_run!r}")
    path = wal_dir if wal_dir is not None else default_state_dir() / "rebalance" / "wal"
    _require_dir(path)
    try:
        # Verified, replayed and walked again: a long log takes a while, said on stderr.
        with elapsed_report(
            f"tracing {shown(source_run)} through the write-ahead log {path}",
            enabled=True,
            line_seconds=PROGRESS_LINE_SECONDS,
        ):
            report, fills = trace_source_run(path, source_run)
    except (WalError, OSError) as exc:
        if json_out:
            typer.echo(json.dumps({"ok": False, "path": str(path), "error": str(exc)}))
        else:
            typer.echo(f"AUDIT FAILED: {exc}", err=True)
        raise typer.Exit(AUDIT_FAILED) from None
    if json_out:
        typer.echo(
            json.dumps(
                {
                    "ok": True,
                    "path": str(path),
                    "source_run": source_run,
                    "head_hash": report["head_hash"],
                    "intents": report["run_intents"],
                    "fills": [vars(f) for f in fills],
                }
            )
        )
    elif report["run_intents"] == 0:
        # Told apart from a run whose intents made no fill: a run id mistyped lands here.
        head = report["head_hash"][:16]
        typer.echo(f"no intent of run {shown(source_run)!r} in this log (chain OK, head {head}...)")
    else:
        _print_fills(source_run, report["head_hash"], fills)


def _print_fills(source_run: str, head_hash: str, fills: list[TracedFill]) -> None:
    from rich.table import Table

    table = Table(title=f"fills of {shown(source_run)} (chain OK, head {head_hash[:16]}...)")
    for name in ("seq", "record hash", "intent", "asset", "side", "qty", "price", "fee", "fill id"):
        table.add_column(name)
    for f in fills:
        table.add_row(
            str(f.seq),
            f.record_hash,
            shown(f.intent_id),
            shown(f.asset),
            f.side,
            f"{f.quantity:g}",
            f"{f.price:g}",
            f"{f.fee:g}",
            shown(f.fill_id),
        )
    out_console().print(table)


def register(app: typer.Typer) -> None:
    """``dita rebalance``, and ``trace`` in the ``dita audit`` group ``dita.cli.wal`` registers
    (registered before this module: COMMAND_MODULES lists it first)."""
    app.command("rebalance")(rebalance_command)
    audit = next(g.typer_instance for g in app.registered_groups if g.name == "audit")
    assert audit is not None
    audit.command("trace")(trace)
