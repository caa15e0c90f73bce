"""Reconciliation while a runtime runs: what it applies reaches the strategies owning the trades."""

from __future__ import annotations

from typing import Any

from kernel_helpers import TimesOut
from pydantic import BaseModel, ConfigDict

from dita import ExecutionKernel, MockVenueAdapter, TradeStage
from dita.runtime import TradingRuntime
from dita.strategy import Bar, Fill, Strategy


class NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BuysWhenFlat(Strategy[NoParams]):
    Params = NoParams

    def on_start(self) -> None:
        self.my_fills: list[Fill] = []

    def on_bar(self, bar: Bar) -> None:
        if not self.busy(bar.asset):
            assert self.buy(bar.asset, 0.5, price=bar.close).accepted

    def on_fill(self, fill: Fill) -> None:
        self.my_fills.append(fill)


def _bar(i: int) -> Bar:
    return Bar("BTCUSDT", 1_700_000_000.0 + 60 * i, 100.0, 101.0, 99.0, 100.0, 1_000.0)


def _running(venue: TimesOut) -> tuple[TradingRuntime, BuysWhenFlat, ExecutionKernel]:
    kernel = ExecutionKernel(max_slots=2, venue=venue, kernel_id="rt-rec")
    kernel.set_seed_capital(10_000.0)
    runtime = TradingRuntime(kernel)
    strategy = BuysWhenFlat()
    runtime.add_strategy(strategy)
    runtime.start()
    runtime.run([_bar(0)])
    assert kernel.slot_state(0).fsm_state == TradeStage.ORDER_SENT and strategy.busy("BTCUSDT")
    return runtime, strategy, kernel


def test_a_lost_submit_ended_by_reconciliation_frees_its_strategy() -> None:
    venue = TimesOut(MockVenueAdapter(), reaches_venue=False)
    runtime, strategy, kernel = _running(venue)
    report = runtime.reconcile_with_venue()
    assert len(report.lost_submits) == 1
    assert kernel.slot_state(0).fsm_state == TradeStage.IDLE
    # The strategy heard its order end: it is free to trade again, and does.
    assert not strategy.busy("BTCUSDT")
    venue.reaches_venue = True
    runtime.run([_bar(1)])
    assert runtime.stats["refused"] == 0 and strategy.busy("BTCUSDT")


def test_a_fill_booked_by_reconciliation_reaches_its_strategy() -> None:
    venue = TimesOut(MockVenueAdapter(), reaches_venue=True)
    runtime, strategy, kernel = _running(venue)
    heard: list[str] = []
    runtime.event_listeners.append(lambda ev: heard.append(ev.kind.name))
    report = runtime.reconcile_with_venue()
    assert len(report.missed_fills) == 1 and report.missed_fills[0]["qty"] == 0.5
    assert kernel.slot_state(0).fsm_state == TradeStage.POSITION_OPEN
    assert [(f.size, f.price, f.closed) for f in strategy.my_fills] == [(0.5, 100.0, False)]
    assert strategy.position("BTCUSDT") == 0.5
    assert heard == ["ORDER_ACK", "FILL"]
    assert runtime.stats["fills"] == 1
    # Nothing left to do: a second run applies nothing and tells nobody anything.
    assert runtime.reconcile_with_venue().events_applied == 0
    assert len(strategy.my_fills) == 1


def test_an_exit_fill_booked_by_reconciliation_closes_the_strategys_trade() -> None:
    venue = TimesOut(MockVenueAdapter(), reaches_venue=True)
    runtime, strategy, kernel = _running(venue)
    runtime.reconcile_with_venue()
    assert strategy.position("BTCUSDT") == 0.5
    # The exit reaches the venue and fills there; its reply is lost too.
    assert all(o.accepted for o in strategy.close("BTCUSDT", price=101.0))
    assert kernel.slot_state(0).fsm_state == TradeStage.EXIT_SENT
    report = runtime.reconcile_with_venue()
    assert len(report.missed_fills) == 1
    assert kernel.slot_state(0).fsm_state.name in ("CLOSED", "IDLE")
    assert [(f.side, f.closed) for f in strategy.my_fills] == [("BUY", False), ("SELL", True)]
    assert strategy.position("BTCUSDT") == 0.0 and not strategy.busy("BTCUSDT")


class FillsPartOfEachOrder(TimesOut):
    """Fills half of each order and rests the rest (its reply lost too), and takes bars: a
    venue whose resting orders fill on the data the runtime hands it."""

    def __init__(self) -> None:
        super().__init__(MockVenueAdapter(partial_fill_rate=1.0), reaches_venue=True)
        self.bars: list[float] = []

    def on_bar(self, *bar: Any) -> list[Any]:
        self.bars.append(bar[-1])
        return []


def test_an_order_reconciliation_part_filled_still_gets_the_market_data() -> None:
    """Reconciliation's fill of part of an order said FILLED: the runtime took the order for
    over while the kernel works its rest, and held the next bars back from the venue (no
    order working), so the rest could not fill on them."""
    venue = FillsPartOfEachOrder()
    runtime, strategy, kernel = _running(venue)
    report = runtime.reconcile_with_venue()
    assert [m["qty"] for m in report.missed_fills] == [0.25]
    assert kernel.slot_state(0).fsm_state == TradeStage.ENTRY_WORKING and len(kernel.open_orders()) == 1
    assert runtime.working_orders == 1
    runtime.run([_bar(1)])
    assert venue.bars == [_bar(0).ts, _bar(1).ts]
    assert [(f.size, f.closed) for f in strategy.my_fills] == [(0.25, False)]
