"""NautilusTrader baselines measured in the same run as the dita benchmarks.

Two workloads, each a real NautilusTrader ``BacktestEngine`` with a simulated venue, the
risk engine on (not bypassed) and logging bypassed:

- ``nautilus_orders_per_second``: one market order per quote tick, alternating buy and
  sell, so every order is risk-checked, matched and filled (the same order flow that
  bench_kernel.py pushes through ``ExecutionKernel.process_intent``);
- ``nautilus_backtest_bars_per_second``: a fast/slow SMA crossover on one-minute bars
  (long on a cross up, flat on a cross down, fixed size), for bench_backtest.py.

Timing covers ``engine.run()`` only: engine construction, venue, instrument, strategy and
data loading (including NautilusTrader's sort of the data) are one-off setup and are
excluded. ``run()`` includes the trader's start and stop, which are small next to the
order flow; post-run analysis is switched off so it is not counted.

NautilusTrader is an optional dependency (the ``bench`` extra); importing this module
without it raises ImportError, which callers turn into a "comparison skipped" line.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from nautilus_trader.backtest.engine import BacktestEngine
from nautilus_trader.config import (
    BacktestEngineConfig,
    LoggingConfig,
    RiskEngineConfig,
    StrategyConfig,
)
from nautilus_trader.indicators import SimpleMovingAverage
from nautilus_trader.model.currencies import BTC, USDT
from nautilus_trader.model.data import Bar, BarType, QuoteTick
from nautilus_trader.model.enums import AccountType, OmsType, OrderSide
from nautilus_trader.model.events import OrderFilled
from nautilus_trader.model.identifiers import InstrumentId, Symbol, Venue
from nautilus_trader.model.instruments import CryptoPerpetual
from nautilus_trader.model.objects import Money, Price, Quantity
from nautilus_trader.trading.strategy import Strategy

__all__ = [
    "NautilusRun",
    "nautilus_backtest_bars_per_second",
    "nautilus_orders_per_second",
    "run_nautilus_bars",
    "run_nautilus_orders",
]

VENUE = Venue("SIM")
INSTRUMENT_ID = InstrumentId(Symbol("BTCUSDT-PERP"), VENUE)
BAR_TYPE = BarType.from_str(f"{INSTRUMENT_ID}-1-MINUTE-LAST-EXTERNAL")
NS_PER_SECOND = 1_000_000_000
# Quote ticks 100 ms apart keep the order rate at 10/s of simulated time, well under the
# risk engine's default 100/s submit throttle, so the throttle never drops an order.
QUOTE_SPACING_NS = 100_000_000
BAR_FIELDS = ("open", "high", "low", "close", "volume")
PRICE_PRECISION = 2
SIZE_PRECISION = 3


@dataclass(frozen=True)
class NautilusRun:
    """What one timed NautilusTrader run did: the count that was timed and how long it took."""

    items: int
    fills: int
    seconds: float
    cpu_seconds: float

    @property
    def per_second(self) -> float:
        """Items per wall-clock second."""
        return self.items / self.seconds if self.seconds > 0 else float("inf")

    @property
    def per_cpu_second(self) -> float:
        """Items per second of the running thread's CPU time (steadier on a shared machine)."""
        return self.items / self.cpu_seconds if self.cpu_seconds > 0 else float("inf")


def _run_timed(engine: BacktestEngine) -> tuple[float, float]:
    """Wall and thread-CPU seconds of ``engine.run()``.

    Also silences NautilusTrader's own pandas deprecation warning.
    """
    with warnings.catch_warnings():
        # run() calls a pandas API that newer pandas deprecates; not ours to fix, and it
        # would otherwise become an error under pytest's filterwarnings = error.
        warnings.filterwarnings("ignore", message=".*utcnow.*")
        started, started_cpu = time.perf_counter(), time.thread_time()
        engine.run()
        return time.perf_counter() - started, time.thread_time() - started_cpu


def _perpetual() -> CryptoPerpetual:
    """A linear USDT perpetual with a wide price band so synthetic prices are always valid."""
    return CryptoPerpetual(
        instrument_id=INSTRUMENT_ID,
        raw_symbol=INSTRUMENT_ID.symbol,
        base_currency=BTC,
        quote_currency=USDT,
        settlement_currency=USDT,
        is_inverse=False,
        price_precision=PRICE_PRECISION,
        price_increment=Price(0.01, PRICE_PRECISION),
        size_precision=SIZE_PRECISION,
        size_increment=Quantity(0.001, SIZE_PRECISION),
        max_quantity=Quantity(1_000, SIZE_PRECISION),
        min_quantity=Quantity(0.001, SIZE_PRECISION),
        max_notional=None,
        min_notional=None,
        max_price=Price(10_000_000, PRICE_PRECISION),
        min_price=Price(0.01, PRICE_PRECISION),
        margin_init=Decimal("0.05"),
        margin_maint=Decimal("0.025"),
        maker_fee=Decimal("0.0002"),
        taker_fee=Decimal("0.0004"),
        ts_event=0,
        ts_init=0,
    )


def _engine() -> BacktestEngine:
    """An engine with the risk engine checking every order and logging bypassed."""
    config = BacktestEngineConfig(
        trader_id="BENCH-001",
        logging=LoggingConfig(bypass_logging=True),
        risk_engine=RiskEngineConfig(bypass=False),
        run_analysis=False,
    )
    engine = BacktestEngine(config=config)
    engine.add_venue(
        venue=VENUE,
        oms_type=OmsType.NETTING,
        account_type=AccountType.MARGIN,
        base_currency=USDT,
        starting_balances=[Money(1_000_000, USDT)],
    )
    engine.add_instrument(_perpetual())
    return engine


class _AlternatingMarketConfig(StrategyConfig, frozen=True, kw_only=True):
    instrument_id: InstrumentId
    trade_size: Decimal
    max_orders: int
    log_events: bool = False
    log_commands: bool = False


class _AlternatingMarketOrders(Strategy):  # type: ignore[misc]  # Cython base, no stubs
    """One market order per quote tick, buy then sell then buy, counting fills."""

    def __init__(self, config: _AlternatingMarketConfig) -> None:
        super().__init__(config)
        self.instrument_id = config.instrument_id
        self.quantity = Quantity(float(config.trade_size), SIZE_PRECISION)
        self.next_side = OrderSide.BUY
        self.orders_left = config.max_orders
        self.fills = 0

    def on_start(self) -> None:
        self.subscribe_quote_ticks(self.instrument_id)

    def on_quote_tick(self, tick: QuoteTick) -> None:
        if self.orders_left == 0:
            return
        self.orders_left -= 1
        order = self.order_factory.market(self.instrument_id, self.next_side, self.quantity)
        self.submit_order(order)
        self.next_side = OrderSide.SELL if self.next_side == OrderSide.BUY else OrderSide.BUY

    def on_order_filled(self, event: OrderFilled) -> None:
        self.fills += 1


def _quote_ticks(n_ticks: int, start_ns: int = 0) -> list[QuoteTick]:
    """A gently oscillating book so fills happen at varying prices."""
    ticks = []
    size = Quantity(100, SIZE_PRECISION)
    for i in range(n_ticks):
        mid = 50_000.0 + (i % 200) * 0.5
        ts = start_ns + (i + 1) * QUOTE_SPACING_NS
        ticks.append(
            QuoteTick(
                INSTRUMENT_ID,
                Price(mid - 0.5, PRICE_PRECISION),
                Price(mid + 0.5, PRICE_PRECISION),
                size,
                size,
                ts,
                ts,
            )
        )
    return ticks


def run_nautilus_orders(n_orders: int, trade_size: float = 0.01) -> NautilusRun:
    """Submit ``n_orders`` market orders (one per quote tick) and time the run."""
    if n_orders < 1:
        raise ValueError(f"n_orders must be at least 1, got {n_orders!r}")
    engine = _engine()
    strategy = _AlternatingMarketOrders(
        _AlternatingMarketConfig(
            instrument_id=INSTRUMENT_ID, trade_size=Decimal(str(trade_size)), max_orders=n_orders
        )
    )
    engine.add_strategy(strategy)
    # One extra tick at the end (on which the strategy submits nothing): market orders
    # queued on the last order tick are matched when the next data point arrives, so every
    # order gets its fill inside run().
    engine.add_data(_quote_ticks(n_orders + 1))
    seconds, cpu_seconds = _run_timed(engine)
    fills = strategy.fills
    engine.dispose()
    if fills != n_orders:
        raise RuntimeError(f"NautilusTrader filled {fills} of {n_orders} orders; the baseline is not valid")
    return NautilusRun(items=n_orders, fills=fills, seconds=seconds, cpu_seconds=cpu_seconds)


def nautilus_orders_per_second(n_orders: int) -> float:
    """Orders/s of NautilusTrader's backtest order flow (risk on, logging bypassed)."""
    return run_nautilus_orders(n_orders).per_second


class _SmaCrossConfig(StrategyConfig, frozen=True, kw_only=True):
    instrument_id: InstrumentId
    bar_type: BarType
    trade_size: Decimal
    fast_period: int = 10
    slow_period: int = 30
    log_events: bool = False
    log_commands: bool = False


class _SmaCross(Strategy):  # type: ignore[misc]  # Cython base, no stubs
    """Long on a cross up of the fast SMA over the slow SMA of closes, flat on a cross down.

    Same rule as dita's ``SmaCrossover`` with ``allow_short=False``: "above" means
    fast > slow, the first bar with a full slow window only records the side, and an order
    goes out only when the side changes.
    """

    def __init__(self, config: _SmaCrossConfig) -> None:
        super().__init__(config)
        self.instrument_id = config.instrument_id
        self.bar_type = config.bar_type
        self.quantity = Quantity(float(config.trade_size), SIZE_PRECISION)
        self.fast = SimpleMovingAverage(config.fast_period)
        self.slow = SimpleMovingAverage(config.slow_period)
        self.above: bool | None = None
        self.long = False
        self.bars = 0
        self.fills = 0

    def on_start(self) -> None:
        self.register_indicator_for_bars(self.bar_type, self.fast)
        self.register_indicator_for_bars(self.bar_type, self.slow)
        self.subscribe_bars(self.bar_type)

    def on_bar(self, bar: Bar) -> None:
        self.bars += 1
        if not self.slow.initialized:
            return
        above = self.fast.value > self.slow.value
        was = self.above
        self.above = above
        if was is None or above == was:
            return
        if above and not self.long:
            self.submit_order(self.order_factory.market(self.instrument_id, OrderSide.BUY, self.quantity))
            self.long = True
        elif not above and self.long:
            self.submit_order(self.order_factory.market(self.instrument_id, OrderSide.SELL, self.quantity))
            self.long = False

    def on_order_filled(self, event: OrderFilled) -> None:
        self.fills += 1


def _bar_rows(bars: Any) -> Iterable[tuple[int, float, float, float, float, float]]:
    """Accept bars as rows ``(ts, open, high, low, close, volume)`` or as a table of columns.

    ``ts`` is epoch seconds (int or float) or epoch nanoseconds (int > 1e15). A table is
    dita's ``MarketData`` (``.ts`` and ``.columns``), any mapping of column names to
    sequences, or an object with ``to_pydict()`` (pyarrow).
    """
    if hasattr(bars, "columns") and hasattr(bars, "ts"):
        if getattr(bars, "kind", "bars") != "bars":
            raise ValueError(f"need bars, got market data of kind {bars.kind!r}")
        bars = {"ts": bars.ts.tolist(), **{k: bars.columns[k].tolist() for k in BAR_FIELDS}}
    elif hasattr(bars, "to_pydict"):
        bars = bars.to_pydict()
    if isinstance(bars, Mapping):
        ts_key = next((k for k in ("ts", "timestamp", "time", "open_time") if k in bars), None)
        if ts_key is None:
            raise ValueError(f"bars table needs a time column (ts/timestamp/time), got {sorted(bars)}")
        missing = [k for k in BAR_FIELDS if k not in bars]
        if missing:
            raise ValueError(f"bars table lacks column(s) {missing}")
        columns = [bars[ts_key], *(bars[k] for k in BAR_FIELDS)]
        rows: Iterable[Sequence[Any]] = zip(*columns, strict=True)
    else:
        rows = bars
    for row in rows:
        ts, o, h, lo, c, v = row[:6]
        yield _to_ns(ts), float(o), float(h), float(lo), float(c), float(v)


def _to_ns(ts: Any) -> int:
    if hasattr(ts, "timestamp"):  # datetime / pandas Timestamp
        return round(float(ts.timestamp()) * NS_PER_SECOND)
    if isinstance(ts, int) and ts > 10**15:
        return ts
    return round(float(ts) * NS_PER_SECOND)


def _nautilus_bars(bars: Any) -> list[Bar]:
    out = []
    for ts, o, h, lo, c, v in _bar_rows(bars):
        # Nautilus refuses bars whose high/low do not bracket open and close; synthetic or
        # rounded data can be off by a tick, so widen the range rather than drop the bar.
        high = max(h, o, c)
        low = min(lo, o, c)
        out.append(
            Bar(
                BAR_TYPE,
                Price(o, PRICE_PRECISION),
                Price(high, PRICE_PRECISION),
                Price(low, PRICE_PRECISION),
                Price(c, PRICE_PRECISION),
                Quantity(v, SIZE_PRECISION),
                ts,
                ts,
            )
        )
    return out


def run_nautilus_bars(bars: Any, fast: int = 10, slow: int = 30, trade_size: float = 0.01) -> NautilusRun:
    """Run the SMA crossover over ``bars`` and time it (``fills`` counts the orders filled)."""
    if not 0 < fast < slow:
        raise ValueError(f"need 0 < fast < slow, got fast={fast!r} slow={slow!r}")
    engine = _engine()
    strategy = _SmaCross(
        _SmaCrossConfig(
            instrument_id=INSTRUMENT_ID,
            bar_type=BAR_TYPE,
            trade_size=Decimal(str(trade_size)),
            fast_period=fast,
            slow_period=slow,
        )
    )
    engine.add_strategy(strategy)
    data = _nautilus_bars(bars)
    if not data:
        raise ValueError("bars is empty")
    engine.add_data(data)
    seconds, cpu_seconds = _run_timed(engine)
    seen, fills = strategy.bars, strategy.fills
    engine.dispose()
    if seen != len(data):
        raise RuntimeError(f"NautilusTrader saw {seen} of {len(data)} bars; the baseline is not valid")
    return NautilusRun(items=len(data), fills=fills, seconds=seconds, cpu_seconds=cpu_seconds)


def nautilus_backtest_bars_per_second(bars: Any, fast: int = 10, slow: int = 30) -> float:
    """Bars/s of the SMA crossover backtest in NautilusTrader (run() only, setup excluded)."""
    return run_nautilus_bars(bars, fast=fast, slow=slow).per_second
