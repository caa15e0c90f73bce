"""The backtest: history replayed through the same kernel, runtime and paper venue that a
paper or live run uses, with an equity curve, trade list and metrics at the end.

Accounting is done twice on purpose: the equity curve comes from the fills (cash and
position per asset, marked at each row's price), while trade PnL comes from the kernel's
slots. The two must agree, which the tests check.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, model_validator

from dita._kernel import VenueEvent
from dita._numbers import Count, Number, OptionalNumber
from dita.backtest.data import MarketData
from dita.backtest.metrics import (
    DAY,
    FloatArray,
    Metrics,
    TradeRecord,
    compute_metrics,
    last_of_each_time,
)
from dita.kernel import ExecutionKernel
from dita.risk import KERNEL_MAX
from dita.runtime import (
    KernelRefusals,
    StrategyStatus,
    TradingRuntime,
    VenueRejections,
    check_strategy_instance,
    check_strategy_unused,
)
from dita.runtime.blown_account import halt_when_bust
from dita.strategy import Strategy, feed_problem
from dita.venues._settings import FEE_RATE_BOUND, check_rebate
from dita.venues.paper import MAX_LATENCY_MS, MAX_LEVERAGE, PaperVenue

__all__ = ["BacktestConfig", "BacktestResult", "run_backtest"]

log = logging.getLogger(__name__)


class BacktestConfig(BaseModel):
    """Money and market model of a backtest. Invalid values are refused naming the field."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    balance: Number = Field(
        default=10_000.0, gt=0, le=KERNEL_MAX, description="starting balance, quote currency"
    )
    fee_rate: Number = Field(
        default=0.001, ge=0, lt=FEE_RATE_BOUND, description="taker fee, fraction of notional"
    )
    maker_fee_rate: OptionalNumber = Field(
        default=None,
        gt=-FEE_RATE_BOUND,
        lt=FEE_RATE_BOUND,
        description="maker fee (default: fee_rate; negative: a rebate, at most fee_rate)",
    )
    slippage_bps: Number = Field(
        default=2.0, ge=0, lt=10_000, description="taker price moved against the order"
    )
    latency_ms: Number = Field(
        default=0.0, ge=0, le=MAX_LATENCY_MS, description="order latency at the paper venue"
    )
    volume_share: Number = Field(
        default=0.1, gt=0, le=1, description="share of a bar's volume its asset's orders take, together"
    )
    max_slots: Count = Field(
        default=64, ge=1, le=100_000, description="kernel trade slots (as many as `dita paper`'s)"
    )
    # 1 by default: an exchange lets an account hold no more than its balance unless it is
    # given leverage, and a backtest that allowed any size reported returns no one could have.
    leverage: OptionalNumber = Field(
        default=1.0,
        gt=0,
        le=MAX_LEVERAGE,
        description="the account's leverage at the paper venue: an order opening more exposure "
        "than the equity times this carries is rejected (None: no check)",
    )
    halt_when_bust: bool = Field(
        default=True,
        description="halt entries once equity is at or below zero (after a fill, or when an entry "
        "is asked), as an exchange stops a blown account",
    )

    @model_validator(mode="after")
    def _rebate_within_fee_rate(self) -> BacktestConfig:
        check_rebate(self.maker_rate, self.fee_rate, "maker_fee_rate", "fee_rate")
        return self

    @property
    def maker_rate(self) -> float:
        """The maker fee: ``maker_fee_rate``, else the taker's ``fee_rate``."""
        return self.fee_rate if self.maker_fee_rate is None else self.maker_fee_rate

    def paper_venue(
        self,
        assets: Iterable[str] | None,
        clock: Callable[[], float] | None = None,
        bar_seconds: float = 0.0,
    ) -> PaperVenue:
        """The simulated venue of these fills (a backtest's, and a paper run's so that it fills
        as the backtest did). It lists ``assets``, those the run has data for: an order for
        another is rejected, as nothing could fill it. ``clock``: None, the data's time.
        ``bar_seconds``: the bars' length (``MarketData.interval``), 0 for quotes."""
        return PaperVenue(
            bar_seconds=bar_seconds,
            clock=clock,
            taker_rate=self.fee_rate,
            maker_rate=self.maker_rate,
            slippage_bps=self.slippage_bps,
            latency_ms=self.latency_ms,
            bar_volume_share=self.volume_share,
            starting_balance=self.balance,
            leverage=self.leverage,
            name="paper",
            assets=assets,
        )

    def set_up(self, kernel: ExecutionKernel, source: str) -> None:
        """Give ``kernel`` this run's seed capital and fee rates, and label it PAPER."""
        kernel.set_seed_capital(self.balance)
        kernel.set_exchange_config({"taker_rate": self.fee_rate, "maker_rate": self.maker_rate})
        kernel.update_control(mode="PAPER", source=source)


@dataclass
class BacktestResult:
    metrics: Metrics
    trades: list[TradeRecord]
    ts: FloatArray
    equity: FloatArray
    position: FloatArray
    account: dict[str, Any]
    run_info: dict[str, Any]
    strategy_status: list[dict[str, Any]]
    elapsed_s: float
    rows: int
    open_trades: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.elapsed_s if self.elapsed_s > 0 else math.inf

    def write_report(self, out: Path) -> dict[str, Path]:
        """This run's artefacts (``dita.backtest.report.write_report``) in ``out``; their paths."""
        from dita.backtest.report import write_report  # pyarrow's CSV writer only when reporting

        return write_report(
            out,
            metrics=self.metrics,
            trades=self.trades,
            ts=self.ts,
            equity=self.equity,
            position=self.position,
            run_info=self.run_info,
        )


class _Recorder:
    """Collects fills (with the row they happened on) and closed trades."""

    def __init__(self, kernel: ExecutionKernel) -> None:
        self.kernel = kernel
        self.rows: list[int] = []
        self.assets: list[str] = []
        self.qty: list[float] = []  # signed
        self.cash: list[float] = []  # cash change including the fee
        self.fees: list[float] = []
        # Whether the fill's asset was left without an open trade (see equity_curve).
        self.flat: list[bool] = []
        self.open_by_asset: dict[str, set[str]] = {}
        self.by_trade: dict[str, list[tuple[float, float, float, str, float]]] = {}
        self.trades: list[TradeRecord] = []
        self.fallback_fee_rate = 0.0
        # Orders the venue rejected (one for an asset the data does not hold, say): the kernel
        # took the intent, so the outcome is accepted and nothing else tells the user.
        self.rejections = VenueRejections()
        # The strategies' intents the kernel refused (a size past its bound, a risk limit, the
        # mode): each strategy's outcome says so; kept here, the run's artefacts say so too.
        self.refusals = KernelRefusals()

    def on_fill(self, event: VenueEvent, row: int) -> None:
        # Each field read once: every read of a native event's field makes a new Python object.
        order_side, size, price, fee, asset, trade_id = (
            event.order_side,
            event.size,
            event.price,
            event.fee,
            event.asset,
            event.trade_id,
        )
        side = order_side.name if order_side is not None else "BUY"
        signed = size if side == "BUY" else -size
        if fee is None:
            fee = price * size * self.fallback_fee_rate
        self.rows.append(row)
        self.assets.append(asset)
        self.qty.append(signed)
        self.cash.append(-signed * price - fee)
        self.fees.append(fee)
        fills = self.by_trade.setdefault(trade_id, [])
        fills.append((event.timestamp_s, price, size, side, fee))
        open_trades = self.open_by_asset.setdefault(asset, set())
        open_trades.add(trade_id)
        slot = self.kernel.slot_state(event.slot_id)
        if slot.fsm_state.name == "CLOSED" and slot.trade_id == trade_id:
            self._close(trade_id, slot)
            open_trades.discard(trade_id)
        self.flat.append(not open_trades)

    def _close(self, trade_id: str, slot: Any) -> None:
        fills = self.by_trade.pop(trade_id)
        long = slot.side.name == "LONG"
        entry_side = "BUY" if long else "SELL"
        entry = [f for f in fills if f[3] == entry_side]
        exits = [f for f in fills if f[3] != entry_side]
        entry_qty = sum(f[2] for f in entry)
        exit_qty = sum(f[2] for f in exits)
        entry_px = sum(f[1] * f[2] for f in entry) / entry_qty if entry_qty else slot.entry_price
        exit_px = sum(f[1] * f[2] for f in exits) / exit_qty if exit_qty else entry_px
        fees = sum(f[4] for f in fills)
        gross = float(slot.realized_pnl)
        self.trades.append(
            TradeRecord(
                trade_id=trade_id,
                asset=slot.asset,
                side=slot.side.name,
                entry_time=entry[0][0] if entry else slot.entry_time_s,
                exit_time=exits[-1][0] if exits else slot.last_event_time_s,
                entry_price=entry_px,
                exit_price=exit_px,
                size=entry_qty,
                gross_pnl=gross,
                fees=fees,
                net_pnl=gross - fees,
            )
        )

    def equity_curve(self, data: MarketData, balance: float) -> tuple[FloatArray, FloatArray]:
        """Equity and position at the end of every row (after its fills), from the fills.

        The position is the signed size held for one asset; for several (their sizes do not
        add up) the sum over assets of |net size| x the asset's last price, in quote currency.
        An asset's long and short trades are netted first, as the venue holds them.
        It is exactly 0 at every row after which the asset has no open trade: a running sum of
        the fills keeps float dust (1e-8 of a 1e8-unit coin's partial fills) for good, which
        an absolute cut-off does not catch, and every later flat row would count as exposed.

        Worked in place, a float a row for each of equity, position and one asset's size (and
        for several assets its last price): each step's new arrays would take about 86 bytes a
        row.
        """
        n = len(data)
        rows = np.asarray(self.rows, dtype=np.int64)  # non-decreasing: the replay's row only grows
        price = data.mid()
        equity = np.zeros(n)
        if len(rows):
            np.add.at(equity, rows, np.asarray(self.cash))
        np.cumsum(equity, out=equity)
        equity += balance
        position = np.zeros(n)
        assets = data.assets
        fill_assets = np.asarray(self.assets)
        codes = _asset_codes(data.asset, assets) if len(assets) > 1 else None
        qty = np.empty(n if len(rows) else 0)  # one asset's size at each row, reused
        for code, asset in enumerate(assets):
            sel = np.flatnonzero(fill_assets == asset)
            if not sel.size:
                continue  # never held: a size of 0 at every row adds nothing
            at = rows[sel]
            qty.fill(0.0)
            np.add.at(qty, at, np.asarray(self.qty)[sel])
            np.cumsum(qty, out=qty)
            # Flat or not after each row's last fill of the asset, carried to later rows; flat
            # before its first.
            last = np.append(at[1:] != at[:-1], True)
            changed = at[last]
            flat = np.ones(n, dtype=bool)
            flat[changed[0] :] = np.repeat(np.asarray(self.flat)[sel[last]], np.diff(np.append(changed, n)))
            qty[flat] = 0.0
            del flat
            qty[(qty < 1e-12) & (qty > -1e-12)] = 0.0
            if codes is None:
                position += qty
                qty *= price
                equity += qty
            else:
                qty *= _last_price(price, codes == code)
                equity += qty
                np.abs(qty, out=qty)
                position += qty
        return equity, position


def _asset_codes(names: list[str], assets: list[str]) -> npt.NDArray[np.int32]:
    """Each row's asset as its index in ``assets``: 4 bytes a row, where the names as a numpy
    array take 4 a character (28 for BTCUSDT)."""
    index = {name: i for i, name in enumerate(assets)}
    return np.fromiter(map(index.__getitem__, names), dtype=np.int32, count=len(names))


def _last_price(price: FloatArray, mask: npt.NDArray[np.bool_]) -> FloatArray:
    """At every row, ``price`` at the latest row of ``mask`` up to it (0 before the first)."""
    out = np.zeros(len(price))
    own = np.flatnonzero(mask)
    if own.size:
        out[own[0] :] = np.repeat(price[own], np.diff(np.append(own, len(price))))
    return out


def run_backtest(
    strategy: Strategy[Any],
    data: MarketData,
    config: BacktestConfig | None = None,
    *,
    progress: Callable[[int], None] | None = None,
    kernel_options: dict[str, Any] | None = None,
    defer_venue_data: bool = True,
) -> BacktestResult:
    """Replay ``data`` (from ``load_market_data``) through a fresh kernel and paper venue with
    ``strategy``, a new instance each run (one that ran before is refused)."""
    check_strategy_instance(strategy, "run_backtest")
    # Before the kernel is built: refused by add_strategy, a reused instance would leave that
    # kernel (its write-ahead log locked, its journal attached) open.
    check_strategy_unused(strategy)
    if not isinstance(data, MarketData):
        raise TypeError(
            f"data must be MarketData, got {type(data).__name__}: load it with "
            "dita.backtest.data.load_market_data(path)"
        )
    # A replay the strategy hears none of (quotes to a bars strategy, other assets than its
    # own) ends as a run without trades and no word of why; `dita backtest` refuses it too.
    problem = feed_problem(strategy, data.kind, data.assets, source="data")
    if problem:
        raise ValueError(problem)
    # Refused here, naming the argument, and not as an attribute a dict of settings lacks deep
    # in the run.
    if config is not None and not isinstance(config, BacktestConfig):
        raise TypeError(
            f"config must be BacktestConfig, got {type(config).__name__}: build it with "
            "dita.backtest.engine.BacktestConfig(**settings)"
        )
    # Checked before the replay: it is first called after some rows, and would raise mid-run
    # with the runtime left started.
    if progress is not None and not callable(progress):
        raise TypeError(f"progress must be a function of the rows done, or None; got {progress!r}")
    cfg = config or BacktestConfig()
    venue = cfg.paper_venue(data.assets, bar_seconds=data.interval if data.kind == "bars" else 0.0)
    kernel = ExecutionKernel(
        max_slots=cfg.max_slots, venue=venue, kernel_id="backtest", **(kernel_options or {})
    )
    runtime: TradingRuntime | None = None
    try:
        cfg.set_up(kernel, source="backtest")
        runtime = TradingRuntime(kernel, [venue], defer_venue_data=defer_venue_data)
        return _replay(runtime, kernel, strategy, data, cfg, progress)
    except BaseException:
        # A run cut short (a Ctrl-C, a progress callback that raises) releases its write-ahead
        # log: left open, the next run on that wal_dir in this process finds it locked.
        _release(runtime, kernel)
        raise


def _release(runtime: TradingRuntime | None, kernel: ExecutionKernel) -> None:
    """Stop ``runtime`` and close ``kernel`` after a run that raised. What they raise is logged,
    not raised: the run's own exception is the one its caller hears."""
    try:
        if runtime is not None:
            runtime.stop()
    except BaseException:
        log.exception("a backtest cut short: stopping its runtime raised")
    try:
        kernel.close()
    except BaseException:
        log.exception("a backtest cut short: closing its kernel raised")


def _replay(
    runtime: TradingRuntime,
    kernel: ExecutionKernel,
    strategy: Strategy[Any],
    data: MarketData,
    cfg: BacktestConfig,
    progress: Callable[[int], None] | None,
) -> BacktestResult:
    """Replay ``data`` through ``runtime`` (on ``kernel``, wired to the paper venue) with
    ``strategy``, and compute the run's metrics."""
    recorder = _Recorder(kernel)
    recorder.fallback_fee_rate = cfg.fee_rate
    runtime.fill_listeners.append(recorder.on_fill)
    runtime.event_listeners.append(recorder.rejections.on_event)
    runtime.intent_listeners.append(recorder.refusals.on_intent)
    halted = halt_when_bust(runtime, source="backtest") if cfg.halt_when_bust else {}
    runtime.add_strategy(strategy)

    started = time.perf_counter()
    runtime.start()
    names = (
        ("open", "high", "low", "close", "volume")
        if data.kind == "bars"
        else ("bid", "ask", "bid_size", "ask_size")
    )
    # The arrays themselves: the replay makes Python floats of a chunk of rows at a time (whole
    # columns as lists take 32 bytes a number beside the arrays' 8, 1.9 GB for 10M bars).
    cols = [data.columns[c] for c in names]
    runtime.run_columns(data.ts, data.asset, cols, data.kind, progress=progress)
    runtime.finish()
    runtime.stop()
    elapsed = time.perf_counter() - started

    equity, position = recorder.equity_curve(data, cfg.balance)
    # One point a time, after all its rows: with several assets the rows of a time mark one
    # asset at its new price and the others at their old, an equity no one held (a drawdown
    # out of an asset that rose and one that fell as much), and each made a period of its own.
    ts = data.ts
    if len(ts) > 1 and not (ts[1:] != ts[:-1]).all():  # else every row is its time's last: no copies
        last = last_of_each_time(ts)
        ts, equity, position = ts[last], equity[last], position[last]
        del last
    in_position = position != 0
    metrics = compute_metrics(
        ts=ts,
        equity=equity,
        balance=cfg.balance,
        trades=recorder.trades,
        in_position=in_position,
        bar_interval=data.interval,
        # Daily returns; bars longer than a day (weekly) give one return a bar, annualised as such.
        period_s=max(DAY, data.interval),
        fees_paid=float(sum(recorder.fees)),
        bars=len(data),
    )
    account = kernel.account()
    status = runtime.status()
    # A strategy that raised ends the run early: the artefacts say so, or they read as a whole
    # run (a position held to the end, valued at the last price).
    failed = [s for s in status if s.get("status") == StrategyStatus.ERROR.value]
    info: dict[str, Any] = {
        "strategy": f"{type(strategy).__module__}:{type(strategy).__qualname__}",
        # In their JSON form (a date as ISO text, a set as a list, an Enum as its value): as
        # Python objects, json.dumps would raise on them after the whole replay, and neither
        # metrics.json nor ``dita backtest --json`` come out.
        "params": strategy.params.model_dump(mode="json"),
        "data": data.source,
        "kind": data.kind,
        "assets": ",".join(data.assets),
        "rows": len(data),
        "balance": cfg.balance,
        "leverage": cfg.leverage,
        "fee_rate": cfg.fee_rate,
        "maker_fee_rate": cfg.maker_rate,
        "slippage_bps": cfg.slippage_bps,
        "latency_ms": cfg.latency_ms,
        "volume_share": cfg.volume_share,
        "open_trades_at_end": len(recorder.by_trade),
        "fills": len(recorder.rows),
        "orders_rejected": recorder.rejections.orders,
        # The intents the strategies sent, and those the kernel refused (its routine refusals,
        # ``ROUTINE_REFUSALS``, not counted) with their reasons (None when none).
        "intents": recorder.refusals.intents,
        "intents_refused": recorder.refusals.refused,
        "refusals": recorder.refusals.text() or None,
        # No wall-clock time here (it is ``elapsed_s``): the same data and settings give
        # byte-identical artefacts, which a run's time made differ from run to run.
        **halted,
    }
    if halted:
        # The file's row, as the data's errors number rows, not the --from window's.
        info["halted_row"] = halted["halted_row"] + data.first_row
    if recorder.rejections.orders:
        info["rejections"] = recorder.rejections.text()
    if failed:
        info["strategy_error"] = "; ".join(
            f"{s['name']} raised in {s['error_callback']}: {s['error']} "
            "(it took no more data; what it held is valued to the end)"
            for s in failed
        )
    return BacktestResult(
        metrics=metrics,
        trades=recorder.trades,
        ts=ts,
        equity=equity,
        position=position,
        account=account,
        run_info=info,
        strategy_status=status,
        elapsed_s=elapsed,
        rows=len(data),
        open_trades=len(recorder.by_trade),
    )
