"""A venue event waiting for the kernel (it was busy) is given to it first at the next submit
(``sync_venues()``); the kernel's error on it other than busy, or a listener's while it was
routed, was raised from that submit: the strategy that happened to submit, which had nothing to
do with the event, went to ERROR, its order never sent and its working entries canceled. Now
such an error is logged at ERROR on the ``dita.runtime`` logger, counted in
``stats["sync_errors"]``, and the submit is made. A strategy that what was routed then put in
ERROR (its own ``on_fill`` raising) sends nothing: its submit went on after its entries were
canceled, and sent an entry nobody would cancel or exit."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from dita import VenueEvent
from dita.runtime import StrategyStatus, TradingRuntime
from dita.strategy import Bar, Strategy
from dita.venues.paper import PaperVenue
from kernel_faults import BUSY, FaultyKernel, busy

from .points import NoParams
from .test_runtime_data_kernel_errors import FIRST_FILL, RestsThree, bar


class BuysOnBar(Strategy[NoParams]):
    """Buys 1 of ``AAA`` at limit 90 on the bar stamped ``at``, keeping the outcome."""

    Params = NoParams
    at = bar(2).ts

    def on_start(self) -> None:
        self.outcomes: list[Any] = []

    def on_bar(self, item: Bar) -> None:
        if item.ts == self.at:
            self.outcomes.append(self.buy("AAA", 1.0, price=100.0, limit=90.0))


def _busy_then(error: Exception) -> Any:
    """A fault: busy now, and ``error`` the next time the kernel is given the event."""

    def fault(kernel: FaultyKernel) -> None:
        def again(k: Any) -> None:
            raise error

        kernel.faults[FIRST_FILL] = again
        raise RuntimeError(BUSY)

    return fault


def _run(kernel_error: bool, caplog: pytest.LogCaptureFixture) -> tuple[Any, ...]:
    venue = PaperVenue(starting_balance=100_000.0)
    kernel = FaultyKernel(max_slots=4, venue=venue)
    kernel.faults = {}
    runtime = TradingRuntime(kernel)
    rests, buyer = RestsThree(name="rests"), BuysOnBar(name="buyer")
    runtime.add_strategy(rests)
    runtime.add_strategy(buyer)
    runtime.on_bar(bar(0))  # three orders of ``rests`` rest
    runtime.on_bar(bar(1))
    if kernel_error:
        kernel.faults = {FIRST_FILL: _busy_then(RuntimeError("the kernel cannot book it now"))}
    else:
        kernel.faults = {FIRST_FILL: busy}
        told: list[str] = []

        def listener(event: VenueEvent) -> None:
            if event.event_id == FIRST_FILL and not told:
                told.append(event.event_id)
                raise RuntimeError("the journal listener failed")

        runtime.event_listeners.append(listener)
    with caplog.at_level(logging.ERROR, logger="dita.runtime"):
        # The two fills wait (busy); ``buyer`` then submits, which gives them to the kernel first.
        runtime.on_bar(bar(2, low=97.0))
    return runtime, kernel, rests, buyer


@pytest.mark.parametrize("kernel_error", [True, False], ids=["kernel-error", "listener-error"])
def test_an_error_on_a_waiting_venue_event_does_not_put_the_submitting_strategy_in_error(
    kernel_error: bool, caplog: pytest.LogCaptureFixture
) -> None:
    runtime, kernel, rests, buyer = _run(kernel_error, caplog)
    assert runtime.handles["buyer"].status is StrategyStatus.RUNNING, runtime.handles["buyer"].error
    assert runtime.handles["rests"].status is StrategyStatus.RUNNING
    (outcome,) = buyer.outcomes
    assert outcome.accepted
    assert kernel.slot_state(3).fsm_state.name == "ENTRY_WORKING"  # sent, resting at 90
    assert runtime.stats["sync_errors"] == 1 and runtime.stats["error_cancels"] == 0
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    cause = "cannot book it now" if kernel_error else "journal listener failed"
    assert any("buyer" in m and cause in m for m in errors)
    runtime.on_bar(bar(3))
    runtime.finish()
    # Every fill of ``rests`` booked and heard (the kernel took the waiting one at the next bar).
    assert [f.slot_id for f in rests.heard] == [0, 1]
    assert [kernel.slot_state(i).fsm_state.name for i in range(2)] == ["POSITION_OPEN"] * 2


class FailsOnFill(Strategy[NoParams]):
    """Buys 1 of ``AAA`` at limit 98 on the first bar (it rests) and at 90 on the bar stamped
    ``at``; its ``on_fill`` raises."""

    Params = NoParams
    at = bar(2).ts

    def on_start(self) -> None:
        self.bars = 0

    def on_bar(self, item: Bar) -> None:
        self.bars += 1
        if self.bars == 1:
            assert self.buy("AAA", 1.0, price=100.0, limit=98.0).accepted
        elif item.ts == self.at:
            self.buy("AAA", 1.0, price=100.0, limit=90.0)

    def on_fill(self, fill: Any) -> None:
        raise ValueError("the strategy's own bug")


def test_a_strategy_put_in_error_by_the_fills_given_at_its_submit_sends_no_order() -> None:
    """The waiting fill of the strategy's first order is given to the kernel at its second
    submit, and its ``on_fill`` raises: in ERROR, its working entries canceled, and then the
    submit went on and sent an entry nobody would cancel or exit."""
    venue = PaperVenue(starting_balance=100_000.0)
    kernel = FaultyKernel(max_slots=2, venue=venue)
    kernel.faults = {}
    runtime = TradingRuntime(kernel)
    runtime.add_strategy(FailsOnFill(name="s"))
    runtime.on_bar(bar(0))
    runtime.on_bar(bar(1))
    kernel.faults = {"paper-e2": busy}  # the fill of the order at 98 (after its ack, paper-e1)
    runtime.on_bar(bar(2, low=97.0))
    handle = runtime.handles["s"]
    assert handle.status is StrategyStatus.ERROR and handle.error_callback == "on_fill"
    assert "own bug" in handle.error
    assert kernel.slot_state(0).fsm_state.name == "POSITION_OPEN"
    assert kernel.slot_state(1).fsm_state.name in ("IDLE", "CLOSED")  # no second entry sent
    assert venue.open_orders() == [] and runtime.working_orders == 0
