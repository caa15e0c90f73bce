"""An entry in doubt (rate limited before the venue acknowledged it, with a cancel asked) is still
its strategy's trade: its slot is IDLE, yet the venue may work the order and fill it. Heard
from a poll (the venue answering the cancel later), the rate limit freed the trade from the
strategy: ``busy`` read False and its slot budget counted one slot less, so a strategy entered
again beside it and the late fill left it holding one slot past its ``max_slots``. Heard in the
cancel's own answer, it already stayed the strategy's; the two now agree."""

from __future__ import annotations

from typing import Any

import pytest

from dita import ExecutionKernel, VenueEvent
from dita.runtime import TradingRuntime

from .test_strategy_ownership import BAR, Idle, ThrottlesFirstCancel


class LateVenue(ThrottlesFirstCancel):
    """Takes orders silently and answers later (``poll_events``); the first cancel is
    throttled, reported by the next poll (or, with ``at_once``, in the cancel's answer)."""

    def __init__(self, at_once: bool = False) -> None:
        super().__init__()
        self.at_once = at_once
        self.news: list[VenueEvent] = []

    def cancel(self, order: Any) -> list[VenueEvent]:
        answer = super().cancel(order)
        if self.at_once:
            return answer
        self.news.extend(answer)
        return []

    def poll_events(self) -> list[VenueEvent]:
        news, self.news = self.news, []
        return news


def in_doubt(at_once: bool, **budget: Any) -> tuple[TradingRuntime, LateVenue, Idle, int]:
    venue = LateVenue(at_once)
    kernel = ExecutionKernel(max_slots=4, venue=venue, kernel_id="doubt-held")
    kernel.set_seed_capital(100_000.0)
    runtime = TradingRuntime(kernel, [])
    strategy = Idle(name="g")
    runtime.add_strategy(strategy, **budget)
    runtime.start()
    runtime.on_bar(BAR)
    slot_id = strategy.buy("AAA", 1.0, price=100.0, limit=99.0).slot_id
    strategy.cancel(slot_id)
    runtime.poll_venues()
    assert [o.trade_id for o in kernel.orders_in_doubt()] == ["g-t1"]
    assert kernel.slot_state(slot_id).fsm_state.name == "IDLE"
    return runtime, venue, strategy, slot_id


def late_fill(runtime: TradingRuntime, venue: LateVenue, slot_id: int) -> None:
    order = runtime.kernel.orders_in_doubt()[0]
    venue.news.append(
        VenueEvent(
            "late-fill",
            order.trade_id,
            slot_id,
            "FILL",
            "FILLED",
            venue_client_id=order.client_order_id,
            side="BUY",
            asset="AAA",
            price=99.0,
            size=1.0,
            filled_size=1.0,
        )
    )
    runtime.poll_venues()


@pytest.mark.parametrize("at_once", [False, True], ids=["polled", "in-the-answer"])
def test_an_entry_in_doubt_counts_against_the_budget_and_its_late_fill_keeps_it_within(at_once: bool) -> None:
    runtime, venue, strategy, slot_id = in_doubt(at_once, max_slots=1)
    assert strategy.busy("AAA")
    assert runtime.handles["g"].slots_held() == 1
    again = strategy.buy("AAA", 1.0, price=100.0, limit=99.0)
    assert not again.accepted and again.details["field"] == "max_slots", again
    late_fill(runtime, venue, slot_id)
    assert [f.trade_id for f in strategy.seen] == ["g-t1"]
    assert runtime.handles["g"].slots_held() == 1
    assert [s.slot_id for s in strategy.slots()] == [slot_id] and strategy.position("AAA") == 1.0


def test_the_venues_end_of_the_entry_in_doubt_frees_it() -> None:
    """The venue's cancel ack ends the order in doubt: the slot is the strategy's no
    more, and the budget frees."""
    runtime, venue, strategy, slot_id = in_doubt(False, max_slots=1)
    order = runtime.kernel.orders_in_doubt()[0]
    venue.news.append(
        VenueEvent(
            "ack",
            order.trade_id,
            slot_id,
            "CANCEL_ACK",
            "CANCELED",
            venue_client_id=order.client_order_id,
            asset="AAA",
            side="BUY",
        )
    )
    runtime.poll_venues()
    assert runtime.kernel.orders_in_doubt() == []
    assert not strategy.busy("AAA") and runtime.handles["g"].slots_held() == 0
    assert strategy.buy("AAA", 1.0, price=100.0, limit=99.0).accepted


def test_a_runtime_restarted_over_the_entry_in_doubt_holds_it() -> None:
    """Adopted after a restart, the trade whose entry is in doubt was taken as freed: the
    strategy read not busy, and its budget did not count it."""
    runtime, venue, _, slot_id = in_doubt(False)
    restarted = TradingRuntime(runtime.kernel, [])
    strategy = Idle(name="g")
    restarted.add_strategy(strategy, max_slots=1)
    restarted.start()
    assert strategy.busy("AAA") and restarted.handles["g"].slots_held() == 1
    refused = strategy.buy("AAA", 1.0, price=100.0, limit=99.0)
    assert not refused.accepted and refused.details["field"] == "max_slots", refused
    late_fill(restarted, venue, slot_id)
    assert strategy.position("AAA") == 1.0 and restarted.handles["g"].slots_held() == 1
