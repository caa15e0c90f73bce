"""What the runtime does when the kernel raises on a polled venue event (busy in another
thread's call, closed, its log failed). A venue hands each event over once (CcxtVenue): the
runtime tried every later event (each waiting 10 s on a busy kernel) and raised the first
error, and the events the kernel had raised on were never booked, though the venue had
filled them."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from dita import AccountEvent, ExecutionKernel
from dita._kernel import WalError
from dita.runtime import TradingRuntime
from dita.strategy import Bar, Fill, Strategy
from kernel_faults import FaultyKernel, ReportsLater, busy, closing, log_failed

from .points import NoParams, bar

ASSETS = ("AAA", "BBB", "CCC")


class BuysThree(Strategy[NoParams]):
    """Buys 1 of each of ``ASSETS``, limit 100, on its first bar (slots 0, 1, 2); keeps the
    fills it hears and counts the bars."""

    Params = NoParams

    def on_start(self) -> None:
        self.heard: list[Fill] = []
        self.bars = 0

    def on_bar(self, bar: Bar) -> None:
        self.bars += 1
        if self.bars == 1:
            for asset in ASSETS:
                assert self.buy(asset, 1.0, price=100.0, limit=100.0).accepted

    def on_fill(self, fill: Fill) -> None:
        self.heard.append(fill)


def _running() -> tuple[TradingRuntime, FaultyKernel, ReportsLater, BuysThree]:
    venue = ReportsLater()
    kernel = FaultyKernel(max_slots=3, venue=venue)
    kernel.faults = {}
    runtime = TradingRuntime(kernel)
    strategy = BuysThree(name="s")
    runtime.add_strategy(strategy)
    runtime.on_bar(bar(0))  # three orders rest; their fills come from the next poll
    return runtime, kernel, venue, strategy


def _stages(kernel: ExecutionKernel) -> list[str]:
    return [kernel.slot_state(i).fsm_state.name for i in range(kernel.max_slots)]


def test_fills_polled_after_the_one_the_busy_kernel_raised_on_are_booked_at_the_next_poll(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The kernel busy on the second of three polled fills: were the bar to raise, the second
    fill would be lost for good (the venue reports it once) and the strategy never hear the
    bar."""
    runtime, kernel, venue, strategy = _running()
    kernel.faults = {"fill-1": busy}
    with caplog.at_level(logging.WARNING, logger="dita.runtime"):
        runtime.on_bar(bar(1))  # polled: fill-0 booked, the kernel busy on fill-1
    assert venue.polls == 1 and strategy.bars == 2  # the data point went on
    assert _stages(kernel) == ["POSITION_OPEN", "ENTRY_WORKING", "ENTRY_WORKING"]
    assert runtime.stats["venue_poll_errors"] == 1
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "busy" in warning.getMessage() and "next poll" in warning.getMessage()
    runtime.on_bar(bar(2))  # fill-1 then fill-2 first, then the venue is asked for more
    assert venue.polls == 2
    assert _stages(kernel) == ["POSITION_OPEN"] * 3
    assert [f.asset for f in strategy.heard] == list(ASSETS)  # none lost, in the venue's order
    assert runtime.stats["fills"] == 3 and runtime.stats["venue_events"] == 3
    assert runtime.working_orders == 0


def test_events_still_waiting_at_finish_are_named_for_reconciliation(
    caplog: pytest.LogCaptureFixture,
) -> None:
    runtime, kernel, venue, _ = _running()
    kernel.faults = {"fill-1": busy}
    runtime.on_bar(bar(1))
    kernel.faults = {"fill-1": busy}  # busy again at the last poll
    with caplog.at_level(logging.ERROR, logger="dita.runtime"):
        runtime.finish()
    (error,) = [r for r in caplog.records if r.levelno >= logging.ERROR]
    message = error.getMessage()
    assert "fill-1" in message and "fill-2" in message and "reconcile" in message
    assert venue.polls == 1  # the venue keeps its newer news while they wait


@pytest.mark.parametrize("fault", [closing, log_failed])
def test_a_kernel_that_takes_no_more_input_stops_the_polling_and_names_what_it_missed(
    fault: Callable[[ExecutionKernel], None], caplog: pytest.LogCaptureFixture
) -> None:
    """A kernel closed (or whose log failed) on the second of three polled fills: the other
    two were named nowhere, and each later poll took more news from the venue only to lose it."""
    runtime, kernel, venue, strategy = _running()
    kernel.faults = {"fill-1": fault}
    try:
        with caplog.at_level(logging.ERROR, logger="dita.runtime"), pytest.raises((RuntimeError, WalError)):
            runtime.poll_venues()  # the kernel's error is raised once fill-0 is routed
        assert [f.asset for f in strategy.heard] == ["AAA"]
        (error,) = [r for r in caplog.records if r.levelno >= logging.ERROR]
        message = error.getMessage()
        assert "takes no more input" in message and "fill-1" in message and "fill-2" in message
        assert runtime.poll_venues() == []
        assert venue.polls == 1  # polled no more: what it gives could not be applied
    finally:
        try:
            kernel.close()
        except (RuntimeError, WalError):
            pass


def test_an_account_event_the_busy_kernel_raised_on_is_booked_at_the_next_poll() -> None:
    """A funding payment the stream reported once: the kernel busy when the runtime gave it,
    it is given first at the next poll, not lost."""
    runtime, kernel, venue, _strategy = _running()
    reported = [[AccountEvent("fee-1", "FUNDING_FEE", asset="USDT", amount=-2.5, timestamp=6.0)]]
    venue.account_events = lambda: reported.pop(0) if reported else []  # type: ignore[attr-defined]
    kernel.faults = {"fee-1": busy}
    runtime.poll_venues()
    assert kernel.account()["k_funding_net"] == 0.0
    runtime.poll_venues()
    assert kernel.account()["k_funding_net"] == -2.5
    assert runtime.stats["account_events"] == 1
