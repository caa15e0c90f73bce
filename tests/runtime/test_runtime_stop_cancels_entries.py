"""A strategy stopped by name (``runtime.stop(name)``) has its working entry orders canceled,
as one put in ERROR has: after ``on_stop`` it hears no fills, so a resting entry that filled
later opened a position nobody would exit. Its exits keep working and its positions are left
as they are. Stopping every strategy (``runtime.stop()``, a run's end) leaves the book, which a
continued ``dita paper`` run takes back, unless ``cancel_entries=True`` is given."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from dita.runtime import StrategyStatus
from dita.strategy import Bar, Fill, Strategy

from .entry_cancels import CancelDown, HoldsWithExitAndEntry, Rests, bar, paper, paper_run


def test_a_stopped_strategys_resting_entry_is_canceled_and_said(caplog: pytest.LogCaptureFixture) -> None:
    venue = paper()
    strategy, other = Rests(name="s"), Rests(name="other")
    kernel, runtime = paper_run(venue, strategy, other)
    runtime.on_bar(bar(0))
    mine = next(o.client_order_id for o in kernel.open_orders() if o.trade_id.startswith("s-"))
    with caplog.at_level(logging.WARNING, logger="dita.runtime"):
        runtime.stop("s")
    assert runtime.handles["s"].status is StrategyStatus.STOPPED
    # Its entry is gone from the venue and the kernel; the other strategy's still works.
    assert [o.trade_id.split("-")[0] for o in kernel.open_orders()] == ["other"]
    assert len(venue.open_orders()) == 1
    assert runtime.stats["stop_cancels"] == 1 and runtime.stats["stop_cancels_failed"] == 0
    assert runtime.stats["error_cancels"] == 0
    said = [r.getMessage() for r in caplog.records if mine in r.getMessage()]
    assert len(said) == 1 and "'s' stopped" in said[0] and "cancel" in said[0], said
    # A later price through the limit fills the other strategy's entry only.
    runtime.on_bar(bar(1, low=80.0, close=85.0))
    runtime.finish()
    assert strategy.fills == [] and not strategy.busy("AAA")
    assert [f.side for f in other.fills] == ["BUY"] and other.busy("AAA")


def test_a_stopped_strategys_exit_and_position_are_left_as_they_are() -> None:
    venue = paper()
    strategy = HoldsWithExitAndEntry(name="s")
    kernel, runtime = paper_run(venue, strategy)
    runtime.on_bar(bar(0))
    runtime.on_bar(bar(1))
    assert len(venue.open_orders()) == 2
    runtime.stop("s")
    (left,) = venue.open_orders()
    assert left.order_side.name == "SELL"
    tp = kernel.slot_state(strategy.take_profit)
    assert tp.fsm_state.name == "EXIT_WORKING" and tp.size == 1.0  # the position is not closed
    runtime.on_bar(bar(2, low=85.0, high=115.0, close=112.0))
    runtime.finish()
    assert kernel.account()["open_positions"] == 0
    # The exit filled and closed the trade; the canceled entry bought nothing at 90.
    assert [f.side for f in strategy.fills] == ["BUY", "SELL"] and strategy.fills[-1].closed


class StopsOther(Strategy[Any]):
    """Stops the strategy named ``target`` on its second bar."""

    target = "s"

    def on_start(self) -> None:
        self.seen = 0

    def on_bar(self, bar: Bar) -> None:
        self.seen += 1
        if self.seen == 2:
            self.ctx._runtime.stop(self.target)


def test_a_strategy_stopped_from_another_strategys_callback_has_its_entry_canceled() -> None:
    venue = paper()
    strategy = Rests(name="s")
    kernel, runtime = paper_run(venue, strategy, StopsOther(name="stopper"))
    runtime.on_bar(bar(0))
    assert len(kernel.open_orders()) == 1
    runtime.on_bar(bar(1))
    assert runtime.handles["s"].status is StrategyStatus.STOPPED
    assert kernel.open_orders() == [] and venue.open_orders() == []
    assert runtime.stats["stop_cancels"] == 1


class BuysThenStopsOnFill(Strategy[Any]):
    """Buys at market on its first bar; its on_fill stops strategy "s"."""

    def on_start(self) -> None:
        self.seen = 0

    def on_bar(self, bar: Bar) -> None:
        self.seen += 1
        if self.seen == 1:
            assert self.buy(bar.asset, 1.0, price=bar.close).accepted

    def on_fill(self, fill: Fill) -> None:
        self.ctx._runtime.stop("s")


@pytest.mark.parametrize("low", [99.0, 85.0])
def test_a_stop_while_a_venue_answer_is_routed_cancels_after_it(low: float) -> None:
    """Stopped from another strategy's on_fill: a fill of the stopped strategy's entry in the
    same venue answer is booked as its own (not met by a cancel of an order the venue already
    filled, which it refuses), and an entry the bar did not reach is canceled."""
    venue = paper()
    strategy = Rests(name="s")
    kernel, runtime = paper_run(venue, strategy, BuysThenStopsOnFill(name="stopper"))
    runtime.on_bar(bar(0))
    runtime.on_bar(bar(1, low=low))
    assert runtime.handles["s"].status is StrategyStatus.STOPPED
    assert venue.open_orders() == [] and kernel.open_orders() == []
    assert runtime.stats["stop_cancels_failed"] == 0
    if low > 90.0:
        assert runtime.stats["stop_cancels"] == 1 and strategy.fills == []
    else:
        assert runtime.stats["stop_cancels"] == 0 and [f.side for f in strategy.fills] == ["BUY"]
    assert kernel.account()["open_positions"] == (1 if low > 90.0 else 2)


class CancelsItsOwnOnStop(Rests):
    def on_stop(self) -> None:
        for slot in self.slots():
            assert self.cancel(slot.slot_id).accepted


def test_entries_on_stop_canceled_itself_are_not_canceled_again() -> None:
    venue = paper()
    kernel, runtime = paper_run(venue, CancelsItsOwnOnStop(name="s"))
    runtime.on_bar(bar(0))
    runtime.stop("s")
    assert kernel.open_orders() == []
    assert runtime.stats["stop_cancels"] == 0 and runtime.stats["stop_cancels_failed"] == 0


def test_stopping_every_strategy_leaves_the_book_unless_asked() -> None:
    """``runtime.stop()`` is how a run ends (``dita paper``, a backtest): the book it leaves is
    the one a continued run takes back, resting orders working on (docs/reference/runtime.md)."""
    venue = paper()
    kernel, runtime = paper_run(venue, Rests(name="a"), Rests(name="b"))
    runtime.on_bar(bar(0))
    runtime.stop()
    assert len(kernel.open_orders()) == 2 and runtime.stats["stop_cancels"] == 0

    venue = paper()
    kernel, runtime = paper_run(venue, Rests(name="a"), Rests(name="b"))
    runtime.on_bar(bar(0))
    runtime.stop(cancel_entries=True)
    assert kernel.open_orders() == [] and venue.open_orders() == []
    assert runtime.stats["stop_cancels"] == 2

    venue = paper()
    kernel, runtime = paper_run(venue, Rests(name="a"))
    runtime.on_bar(bar(0))
    runtime.stop("a", cancel_entries=False)
    assert len(kernel.open_orders()) == 1 and runtime.stats["stop_cancels"] == 0


def test_a_stops_cancel_that_fails_is_logged_counted_and_the_strategy_is_stopped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    venue = CancelDown(slippage_bps=0, latency_ms=0, bar_volume_share=1.0)
    kernel, runtime = paper_run(venue, Rests(name="s"))
    runtime.on_bar(bar(0))
    (entry,) = kernel.open_orders()
    with caplog.at_level(logging.ERROR, logger="dita.runtime"):
        runtime.stop("s")  # does not raise
    assert runtime.handles["s"].status is StrategyStatus.STOPPED
    assert runtime.stats["stop_cancels"] == 1 and runtime.stats["stop_cancels_failed"] == 1
    said = [r.getMessage() for r in caplog.records if entry.client_order_id in r.getMessage()]
    assert len(said) == 1 and "'s' stopped" in said[0] and "venue down" in said[0], said


def test_a_strategy_that_is_not_running_is_not_stopped_again() -> None:
    venue = paper()
    kernel, runtime = paper_run(venue, Rests(name="s"))
    runtime.on_bar(bar(0))
    runtime.stop("s", cancel_entries=False)
    runtime.stop("s")  # already STOPPED: nothing more is done
    assert len(kernel.open_orders()) == 1 and runtime.stats["stop_cancels"] == 0
