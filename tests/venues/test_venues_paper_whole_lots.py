"""The paper venue fills whole lots of a market's ``lot_step``, as an exchange does.

A part fill took what the bar's volume share (or the quoted size) left, to the last digit: an
order of 1.0 on a market of lot 0.001 filled 0.333333 a bar, a position no exchange leaves,
and the exit of it was then rejected by the venue's own filter (``not a multiple of
lot_step``): the trade could never be closed.
"""

from __future__ import annotations

from typing import Any

from venue_helpers import make_order

from dita import VenueEvent
from dita.kernel import ExecutionKernel
from dita.risk import MarketLimits, float_step_multiple
from dita.runtime import TradingRuntime
from dita.strategy import Bar, Strategy
from dita.venues import PaperVenue

LOT = MarketLimits(lot_step=0.001, min_notional=5.0)


def _fills(events: list[VenueEvent]) -> list[float]:
    return [e.size for e in events if e.kind.name == "FILL"]


def test_a_bar_fills_whole_lots_of_its_volume_share() -> None:
    venue = PaperVenue(market_limits={"BTCUSDT": LOT}, bar_volume_share=0.1, slippage_bps=0)
    venue.on_bar("BTCUSDT", 100.0, 101.0, 99.0, 100.0, 3.33333, 60.0)
    venue.submit(make_order("o1", size=1.0, reference_price=100.0, timestamp=60.0))
    fills = _fills(venue.on_bar("BTCUSDT", 100.0, 101.0, 99.0, 100.0, 3.33333, 120.0))
    assert fills == [0.333]
    fills += _fills(venue.on_bar("BTCUSDT", 100.0, 101.0, 99.0, 100.0, 3.33333, 180.0))
    fills += _fills(venue.on_bar("BTCUSDT", 100.0, 101.0, 99.0, 100.0, 3.33333, 240.0))
    fills += _fills(venue.on_bar("BTCUSDT", 100.0, 101.0, 99.0, 100.0, 3.33333, 300.0))
    assert fills[:3] == [0.333, 0.333, 0.333] and abs(sum(fills) - 1.0) < 1e-12
    assert venue.open_orders() == []
    # A share under one lot fills nothing: the order waits for a bar that has one.
    venue.submit(make_order("o2", side="SELL", size=0.5, reference_price=100.0, timestamp=300.0))
    assert _fills(venue.on_bar("BTCUSDT", 100.0, 101.0, 99.0, 100.0, 0.005, 360.0)) == []
    assert venue.working_size("o2") == (0.0, 0.5)


def test_a_quote_fills_whole_lots_of_its_size() -> None:
    venue = PaperVenue(market_limits={"BTCUSDT": LOT}, slippage_bps=0)
    venue.on_quote("BTCUSDT", 99.9, 100.0, 5.0, 0.2505, 1.0)
    events = venue.submit(make_order("o1", size=1.0, reference_price=100.0, timestamp=1.0))
    assert _fills(events) == [0.25]


class _InAndOut(Strategy[Any]):
    data = ("bars",)

    def on_bar(self, bar: Bar) -> None:
        minute = int(bar.ts // 60)
        if minute == 1:
            self.buy(bar.asset, 1.0, price=bar.close)
        elif minute == 3:
            self.close(bar.asset, price=bar.close)


def test_a_position_built_of_part_fills_can_be_closed() -> None:
    venue = PaperVenue(market_limits={"BTCUSDT": LOT}, bar_volume_share=0.1, taker_rate=0.001)
    kernel = ExecutionKernel(venue=venue, kernel_id="lots")
    kernel.set_market_limits("BTCUSDT", LOT.model_dump())
    runtime = TradingRuntime(kernel, [venue])
    strategy = _InAndOut()
    runtime.add_strategy(strategy)
    rejected: list[str] = []
    runtime.event_listeners.append(lambda e: rejected.append(e.reason) if e.kind.name == "REJECT" else None)
    for minute in range(1, 12):
        runtime.on_bar(Bar("BTCUSDT", 60.0 * minute, 100.0, 101.0, 99.0, 100.0, 3.33333))
    runtime.finish()
    assert rejected == []
    assert all(float_step_multiple(f.size, LOT.lot_step) for f in strategy.fills)
    assert strategy.fills[-1].closed and strategy.position("BTCUSDT") == 0.0
    assert venue.positions() == {}
    kernel.close()


def test_a_share_a_float_rounding_short_of_whole_lots_keeps_its_last_lot() -> None:
    # 0.29 * 0.1 is 0.028999999999999998 in floats: 29 lots of 0.001 on the decimals, which
    # floored as they came were 28, a lot lost to rounding on each such bar.
    venue = PaperVenue(market_limits={"BTCUSDT": LOT}, bar_volume_share=0.1, slippage_bps=0)
    venue.on_bar("BTCUSDT", 100.0, 101.0, 99.0, 100.0, 0.29, 60.0)
    venue.submit(make_order("o1", size=1.0, reference_price=100.0, timestamp=60.0))
    assert _fills(venue.on_bar("BTCUSDT", 100.0, 101.0, 99.0, 100.0, 0.29, 120.0)) == [0.029]


def test_a_reduce_only_order_closes_a_position_whose_sum_rounds_short() -> None:
    # Bought 0.7, sold 0.4: long 0.29999999999999993, three lots of 0.1. A reduce-only sell of 1.0
    # capped at it was floored to 0.2, and the 0.1 left then to nothing: never closed.
    lot = MarketLimits(lot_step=0.1)
    venue = PaperVenue(market_limits={"BTCUSDT": lot}, slippage_bps=0)
    venue.on_quote("BTCUSDT", 99.9, 100.0, 50.0, 50.0, 1.0)
    venue.submit(make_order("b", size=0.7, reference_price=100.0, timestamp=1.0))
    venue.submit(make_order("s", side="SELL", size=0.4, reference_price=100.0, timestamp=1.0))
    assert venue.positions()["BTCUSDT"] < 0.3
    events = venue.submit(
        make_order("r", side="SELL", size=1.0, reference_price=100.0, timestamp=1.0, reduce_only=True)
    )
    assert _fills(events) == [0.3]
    assert venue.positions() == {}
