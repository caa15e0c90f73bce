"""What the tests of the runtime's cancels of a strategy's working entries share (a strategy put
in ERROR, test_runtime_error_cancels_entries; one stopped, test_runtime_stop_cancels_entries):
bars of one asset, the paper venue filling a bar's whole volume, a run over it, a venue whose
cancel is down, a strategy resting an entry, and one holding a position with a take-profit and
a second entry working."""

from __future__ import annotations

from typing import Any

from dita import ExecutionKernel, VenueEvent
from dita.runtime import TradingRuntime
from dita.strategy import Bar, Strategy
from dita.venues.paper import PaperVenue

T0 = 1.7e9


def bar(i: int, low: float = 99.0, high: float = 101.0, close: float = 100.0) -> Bar:
    return Bar("AAA", T0 + 60 * i, close, max(high, close), min(low, close), close, 1_000.0)


def paper() -> PaperVenue:
    return PaperVenue(slippage_bps=0, latency_ms=0, bar_volume_share=1.0)


def paper_run(
    venue: Any, *strategies: Strategy[Any], kernel_id: str = "entry-cancel"
) -> tuple[ExecutionKernel, TradingRuntime]:
    kernel = ExecutionKernel(max_slots=4, venue=venue, kernel_id=kernel_id)
    kernel.set_seed_capital(100_000.0)
    runtime = TradingRuntime(kernel)
    for s in strategies:
        runtime.add_strategy(s)
    runtime.start()
    return kernel, runtime


class CancelDown(PaperVenue):
    def cancel(self, order: Any) -> list[VenueEvent]:
        raise ConnectionError("venue down")


class Rests(Strategy[Any]):
    """Rests a buy limit at 90 on its first bar."""

    def on_start(self) -> None:
        self.seen = 0

    def on_bar(self, bar: Bar) -> None:
        self.seen += 1
        if self.seen == 1:
            assert self.buy(bar.asset, 1.0, price=bar.close, limit=90.0).accepted


class HoldsWithExitAndEntry(Strategy[Any]):
    """Buys at market on bar 0; once filled, rests a take-profit sell at 110 and a second buy
    limit at 90 (bar 1)."""

    def on_start(self) -> None:
        self.seen = 0

    def on_bar(self, bar: Bar) -> None:
        self.seen += 1
        if self.seen == 1:
            assert self.buy(bar.asset, 1.0, price=bar.close).accepted
        elif self.seen == 2:
            (held,) = [s for s in self.slots() if s.fsm_state.name == "POSITION_OPEN"]
            self.take_profit = held.slot_id
            assert self.exit(held.slot_id, price=bar.close, limit=110.0).accepted
            assert self.buy(bar.asset, 1.0, price=bar.close, limit=90.0).accepted
