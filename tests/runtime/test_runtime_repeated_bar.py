"""A bar of one asset and time handed to the runtime twice (a row repeated, a live feed
resending its bar) is refused before anything changes, as the paper venue refuses it.

The runtime took it: with no order working (its data held back from the venues) the
strategies heard the bar twice and could trade it twice, without a word; with one working,
they heard it twice too, and only then did the venue's refusal come out of ``on_bar``.
"""

from __future__ import annotations

from typing import Any

import pytest

from dita.kernel import ExecutionKernel
from dita.runtime import TradingRuntime
from dita.strategy import Bar, Quote, Strategy
from dita.venues import PaperVenue


class _Hears(Strategy[Any]):
    data = ("bars", "quotes")

    def __init__(self, rest: bool) -> None:
        super().__init__()
        self.rest = rest
        self.heard: list[Any] = []

    def on_bar(self, bar: Bar) -> None:
        self.heard.append(bar)
        if self.rest and not self.busy(bar.asset):
            self.buy(bar.asset, 1.0, price=bar.close, limit=10.0)

    def on_quote(self, quote: Quote) -> None:
        self.heard.append(quote)


@pytest.mark.parametrize("rest", [False, True], ids=["no-order-working", "an-order-working"])
def test_a_bar_handed_twice_is_refused_before_anything_changes(rest: bool) -> None:
    venue = PaperVenue()
    kernel = ExecutionKernel(venue=venue, kernel_id="k")
    runtime = TradingRuntime(kernel, [venue])
    strategy = _Hears(rest)
    runtime.add_strategy(strategy)
    runtime.on_bar(Bar("BTCUSDT", 60.0, 100.0, 101.0, 99.0, 100.0, 1_000.0))
    runtime.on_bar(Bar("BTCUSDT", 120.0, 100.0, 101.0, 99.0, 100.0, 1_000.0))
    # Another asset's bar, and a quote of the asset, at that time are no repeat.
    runtime.on_bar(Bar("ETHUSDT", 120.0, 10.0, 11.0, 9.0, 10.0, 1_000.0))
    runtime.on_quote(Quote("BTCUSDT", 120.0, 99.9, 100.1, 1.0, 1.0))
    heard, row, errors = list(strategy.heard), runtime.row, runtime.stats["venue_data_raised"]
    with pytest.raises(ValueError, match=r"bar for 'BTCUSDT' at ts 120\.0: .*handed already"):
        runtime.on_bar(Bar("BTCUSDT", 120.0, 100.0, 102.0, 99.0, 101.0, 1_000.0))
    assert (strategy.heard, runtime.row, runtime.stats["venue_data_raised"]) == (heard, row, errors)
    runtime.on_bar(Bar("BTCUSDT", 180.0, 100.0, 101.0, 99.0, 100.0, 1_000.0))
    runtime.finish()
    assert runtime.stats["venue_data_raised"] == 0
    bars = [p.ts for p in strategy.heard if isinstance(p, Bar) and p.asset == "BTCUSDT"]
    assert bars == [60.0, 120.0, 180.0]
    kernel.close()
