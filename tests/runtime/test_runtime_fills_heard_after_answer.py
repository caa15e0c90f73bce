"""A strategy's ``on_fill`` was called as each polled event was booked, before the kernel had
taken the rest of the venue's news: an intent it sent from there reached the kernel ahead of
events the venue had already reported. A strategy closing its trade on the first of two fills
of its entry saw half the position and the entry still working, canceled an entry the venue
had already filled, and the second fill left the whole position open, no exit sent. Given at
once (a submit's answer) the strategy heard the fill after both were booked, and exited all.
``on_fill`` now comes once the kernel took the whole poll (or market-data answer)."""

from __future__ import annotations

import pytest

from dita import ExecutionKernel
from dita.runtime import TradingRuntime
from dita.strategy import Bar, Fill, Strategy

from .points import FillsAsTold, NoParams, bar


class ClosesOnFirstFill(Strategy[NoParams]):
    """Buys 1 on its first bar; on its first fill, notes what it holds and closes the trade."""

    Params = NoParams

    def on_start(self) -> None:
        self.bought = False
        self.seen: list[tuple[float, str]] = []

    def on_bar(self, item: Bar) -> None:
        if not self.bought:
            self.bought = True
            assert self.buy(item.asset, 1.0, limit=100.0, price=item.close).accepted

    def on_fill(self, fill: Fill) -> None:
        stage = self.ctx.kernel.slot_state(fill.slot_id).fsm_state.name
        self.seen.append((self.position(fill.asset), stage))
        if len(self.seen) == 1:
            assert all(o.accepted for o in self.close(fill.asset, price=100.0))


@pytest.mark.parametrize("at_once", [True, False], ids=["in-the-answer", "polled"])
def test_a_strategy_hears_a_fill_once_the_venues_whole_news_is_booked(at_once: bool) -> None:
    venue = FillsAsTold([(0.5, 0.5), (0.5, 1.0)], at_once=at_once)
    kernel = ExecutionKernel(max_slots=2, venue=venue)
    runtime = TradingRuntime(kernel)
    strategy = ClosesOnFirstFill(name="s")
    runtime.add_strategy(strategy)
    for minute in range(3):
        runtime.on_bar(bar(minute))
    assert strategy.seen[0] == (1.0, "POSITION_OPEN")  # both fills booked before it heard one
    exit_order = kernel.slot_state(0).active_exit_order
    assert exit_order is not None and exit_order.size == 1.0  # the whole position is on its way out
