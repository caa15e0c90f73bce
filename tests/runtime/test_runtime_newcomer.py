"""Mistakes a first-time user of ``TradingRuntime`` makes: feeding data without calling
``start()`` must still honour ``on_start``'s promise (called before the first data point)."""

from __future__ import annotations

from typing import Any

import pytest

from dita import ExecutionKernel
from dita._kernel import MockVenueAdapter
from dita.runtime import StrategyStatus, TradingRuntime
from dita.strategy import Bar, Quote, Strategy


class Keeps(Strategy[Any]):
    data = ("bars", "quotes")

    def on_start(self) -> None:
        self.seen: list[Bar | Quote] = []

    def on_bar(self, bar: Bar) -> None:
        self.seen.append(bar)

    def on_quote(self, quote: Quote) -> None:
        self.seen.append(quote)


def runtime(kernel_id: str) -> tuple[TradingRuntime, Keeps]:
    kernel = ExecutionKernel(max_slots=2, venue=MockVenueAdapter(), kernel_id=kernel_id)
    rt = TradingRuntime(kernel, [])
    strategy = Keeps()
    rt.add_strategy(strategy)
    return rt, strategy


BAR = Bar("BTCUSDT", 1.7e9, 100.0, 101.0, 99.0, 100.5, 10.0)
QUOTE = Quote("BTCUSDT", 1.7e9, 100.0, 100.1, 1.0, 1.0)


@pytest.mark.parametrize(
    "feed",
    [
        lambda rt: rt.run([BAR]),
        lambda rt: rt.on_bar(BAR),
        lambda rt: rt.on_quote(QUOTE),
        lambda rt: rt.run([QUOTE]),
    ],
)
def test_data_before_start_starts_the_strategies_first(feed: Any) -> None:
    """Forgetting ``start()`` left ``on_start`` uncalled, and the strategy failed on its first
    bar with an AttributeError about its own state (``no attribute 'seen'``)."""
    rt, strategy = runtime("newcomer-start")
    feed(rt)
    assert rt.handles["Keeps"].status is StrategyStatus.RUNNING, rt.status()
    assert len(strategy.seen) == 1
    rt.start()  # a later start() does not start it again (its state is kept)
    assert len(strategy.seen) == 1
