"""A market-data venue that raises on a data point (``on_bar``/``on_quote``) while the runtime
hands the venues their data: the hand-over stopped there, so the venues after it never saw that
point and none of them saw the points held back behind it (``_pending`` was already cleared).
A resting limit order whose bar was among them never filled, and an order sent next met a venue
that still priced its asset at an old bar. Now every other venue and every later point is still
handed over, the venue's first error raised once at the end; a hand-over cut short (Ctrl-C in a
venue) keeps the points it did not reach pending, in order."""

from __future__ import annotations

from typing import Any

import pytest

from dita import ExecutionKernel
from dita.runtime import TradingRuntime
from dita.strategy import Bar
from dita.venues.paper import PaperVenue

from .points import T0
from .test_runtime_data_kernel_errors import RestsThree


def bar(asset: str, minute: int, low: float = 99.0) -> Bar:
    return Bar(asset, T0 + 60 * minute, 100.0, 101.0, low, 100.0, 1000.0)


class Chokes:
    """A venue taking market data that raises ``error`` on the data point stamped ``at``."""

    name = "chokes"

    def __init__(self, at: float, error: BaseException) -> None:
        self.at = at
        self.error = error
        self.seen: list[float] = []

    def on_bar(self, *args: Any) -> list[Any]:
        ts = args[-1]
        if ts == self.at:
            raise self.error
        self.seen.append(ts)
        return []


class ChokingPaper(PaperVenue):
    """A paper venue that raises ``error`` on the bar of ``asset`` stamped ``at`` (before
    taking any of it)."""

    def __init__(self, asset: str, at: float, error: BaseException) -> None:
        super().__init__(starting_balance=100_000.0)
        self.choke = (asset, at)
        self.error = error

    def on_bar(self, asset: str, *args: Any) -> Any:
        if (asset, args[-1]) == self.choke:
            raise self.error
        return super().on_bar(asset, *args)


def test_the_venues_after_one_that_raised_still_get_the_bar_and_fill_on_it() -> None:
    """Two venues take the bars, the first raising on the bar that dips to the paper venue's
    resting limits: the paper venue never saw it, and its orders never filled."""
    paper = PaperVenue(starting_balance=100_000.0)
    chokes = Chokes(bar("AAA", 2).ts, RuntimeError("chokes on this bar"))
    kernel = ExecutionKernel(max_slots=3, venue=paper)
    runtime = TradingRuntime(kernel, venues=[chokes, paper])
    strategy = RestsThree(name="s")
    runtime.add_strategy(strategy)
    runtime.on_bar(bar("AAA", 0))  # three orders rest: two at 98, one at 96
    runtime.on_bar(bar("AAA", 1))
    with pytest.raises(RuntimeError, match="chokes on this bar"):
        runtime.on_bar(bar("AAA", 2, low=97.0))  # the two at 98 fill on it
    runtime.on_bar(bar("AAA", 3))
    stages = [kernel.slot_state(i).fsm_state.name for i in range(3)]
    assert stages == ["POSITION_OPEN", "POSITION_OPEN", "ENTRY_WORKING"]
    assert [f.slot_id for f in strategy.heard] == [0, 1]
    assert runtime.stats["venue_data_raised"] == 1
    assert chokes.seen == [bar("AAA", 0).ts, bar("AAA", 1).ts, bar("AAA", 3).ts]


def test_the_held_back_points_after_one_a_venue_raised_on_are_still_handed_over() -> None:
    """Nothing working, two assets' bars held back; the venue raises on the first: the second
    was lost to it, which kept pricing that asset at its old bar."""
    venue = ChokingPaper("AAA", bar("AAA", 1).ts, RuntimeError("chokes on this bar"))
    runtime = TradingRuntime(ExecutionKernel(max_slots=1, venue=venue))
    runtime.on_bar(bar("BBB", 0))
    runtime.sync_venues()
    runtime.on_bar(bar("AAA", 1))
    runtime.on_bar(bar("BBB", 2))
    with pytest.raises(RuntimeError, match="chokes on this bar"):
        runtime.sync_venues()
    assert venue.now() == bar("BBB", 2).ts
    runtime.sync_venues()  # nothing held back any more: nothing raised, nothing handed twice
    assert runtime.stats["venue_data_raised"] == 1


def test_a_hand_over_cut_short_keeps_the_points_it_did_not_reach_pending_in_order() -> None:
    venue = ChokingPaper("AAA", bar("AAA", 1).ts, KeyboardInterrupt())
    runtime = TradingRuntime(ExecutionKernel(max_slots=1, venue=venue))
    runtime.on_bar(bar("BBB", 0))
    runtime.on_bar(bar("AAA", 1))
    runtime.on_bar(bar("CCC", 2))
    with pytest.raises(KeyboardInterrupt):
        runtime.sync_venues()
    assert venue.now() == bar("BBB", 0).ts
    runtime.sync_venues()  # the two after the one cut short, in time order
    assert venue.now() == bar("CCC", 2).ts
    assert sorted(venue.book()["quotes"]) == ["BBB", "CCC"]


class Counts(RestsThree):
    """RestsThree, also noting the time of each bar it hears."""

    def on_start(self) -> None:
        super().on_start()
        self.bar_times: list[float] = []

    def on_bar(self, bar: Bar) -> None:
        self.bar_times.append(bar.ts)
        super().on_bar(bar)


def test_the_strategies_still_hear_a_bar_a_venue_raised_on() -> None:
    """The error is raised once the strategies have heard the bar: raised from the hand-over
    to the venues, no strategy would see the bar (nor would the venues' news be polled for
    it), though the venue's failure is no fault of theirs."""
    paper = PaperVenue(starting_balance=100_000.0)
    chokes = Chokes(bar("AAA", 1).ts, RuntimeError("chokes on this bar"))
    runtime = TradingRuntime(ExecutionKernel(max_slots=3, venue=paper), venues=[chokes, paper])
    strategy = Counts(name="s")
    runtime.add_strategy(strategy)
    runtime.on_bar(bar("AAA", 0))  # orders rest: the bars go to the venues at once
    with pytest.raises(RuntimeError, match="chokes on this bar"):
        runtime.on_bar(bar("AAA", 1))
    assert strategy.bar_times == [bar("AAA", 0).ts, bar("AAA", 1).ts]
    assert runtime.stats["venue_data_raised"] == 1
