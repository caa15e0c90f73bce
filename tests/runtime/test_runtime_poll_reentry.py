"""``poll_venues()`` asked for while a poll's events are being routed (by a strategy's
``on_fill`` or a listener) polled again at once, in the middle of the routing: the later poll's
events reached the kernel, the listeners and the strategies before the rest of the earlier
poll's. The poll asked for is now made once the running poll's events are all routed."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from dita import ExecutionKernel, VenueEvent
from dita import runtime as rt
from dita.runtime import TradingRuntime
from dita.strategy import Bar, Fill, Strategy

from .points import ack, bar


class Scripted:
    """Acknowledges each order at submit; poll ``n`` gives the fills ``script[n]`` names, each
    ``(order index, size)``, in that order (running totals kept per order)."""

    name = "scripted"

    def __init__(self, script: list[list[tuple[int, float]]]) -> None:
        self.script = script
        self.orders: list[Any] = []
        self.filled: dict[str, float] = {}
        self.polls = 0

    def submit(self, order: Any) -> list[VenueEvent]:
        self.orders.append(order)
        return [ack(order)]

    def cancel(self, order: Any) -> list[VenueEvent]:
        return []

    def poll_events(self) -> list[VenueEvent]:
        answer = self.script[self.polls] if self.polls < len(self.script) else []
        self.polls += 1
        events = []
        for index, size in answer:
            order = self.orders[index]
            coid = order.client_order_id
            total = self.filled.get(coid, 0.0) + size
            self.filled[coid] = total
            events.append(
                VenueEvent(
                    f"fill-{coid}-{total:g}", order.trade_id, order.slot_id, "FILL",
                    status="FILLED" if total >= order.size else "PARTIALLY_FILLED",
                    price=order.price, size=size, filled_size=total,
                    venue_client_id=coid, asset=order.asset, side=order.order_side,
                )
            )  # fmt: skip
        return events


class BuysTwo(Strategy[Any]):
    """Buys 1 of the asset twice (two resting limits) on its first bar; ``polls_on_fill``:
    calls ``poll_venues()`` from its ``on_fill`` on its first fill."""

    polls_on_fill = False

    def on_start(self) -> None:
        self.heard: list[tuple[int, float]] = []
        self.inner: list[list[VenueEvent]] = []

    def on_bar(self, item: Bar) -> None:
        if item.ts == bar(0).ts:
            for _ in range(2):
                assert self.buy(item.asset, 1.0, price=100.0, limit=100.0).accepted

    def on_fill(self, fill: Fill) -> None:
        self.heard.append((fill.slot_id, fill.size))
        if self.polls_on_fill and len(self.heard) == 1:
            self.inner.append(self.ctx._runtime.poll_venues())


# Poll 1: order 0 part filled (0.4), then order 1 filled. Poll 2: the rest of order 0.
SCRIPT = [[(0, 0.4), (1, 1.0)], [(0, 0.6)]]
IN_ORDER = [(0, 0.4), (1, 1.0), (0, 0.6)]


def running(who: str) -> tuple[TradingRuntime, ExecutionKernel, BuysTwo, Scripted, list[str]]:
    venue = Scripted(SCRIPT)
    kernel = ExecutionKernel(max_slots=4, venue=venue, kernel_id=f"poll-reentry-{who}")
    runtime = TradingRuntime(kernel)
    strategy = BuysTwo(name="s")
    runtime.add_strategy(strategy)
    routed: list[str] = []
    runtime.event_listeners.append(lambda event: routed.append(event.event_id))
    runtime.on_bar(bar(0))  # the two buys rest
    assert venue.polls == 0 and runtime.working_orders == 2
    routed.clear()  # the acks
    return runtime, kernel, strategy, venue, routed


@pytest.mark.parametrize("who", ["on_fill", "listener"])
def test_a_poll_asked_for_while_a_polls_events_are_routed_comes_after_them(who: str) -> None:
    runtime, kernel, strategy, venue, routed = running(who)
    inner: list[list[VenueEvent]] = []
    if who == "on_fill":
        strategy.polls_on_fill = True
        inner = strategy.inner
    else:

        def polls(event: VenueEvent, row: int) -> None:
            if len(inner) == 0:
                inner.append(runtime.poll_venues())

        runtime.fill_listeners.append(polls)
    outer = runtime.poll_venues()
    # Both polls made, the second once the first's events were routed: everything in order.
    assert venue.polls == 2
    assert strategy.heard == IN_ORDER
    coid = [o.client_order_id for o in venue.orders]
    in_order = [f"fill-{coid[0]}-0.4", f"fill-{coid[1]}-1", f"fill-{coid[0]}-1"]
    assert routed == in_order
    # The call made inside returns nothing: its poll's events are the outer call's.
    assert inner == [[]]
    assert [e.event_id for e in outer] == in_order
    assert runtime.stats["fills"] == 3 and runtime.handles["s"].fills == 3
    assert runtime.handles["s"].status.value == "RUNNING"
    assert [kernel.slot_state(i).size for i in (0, 1)] == [1.0, 1.0]
    assert runtime.working_orders == 0
    assert runtime.poll_venues() == [] and venue.polls == 3  # polls at once again afterwards


def test_a_poll_asked_for_from_a_data_points_poll_comes_after_its_events() -> None:
    runtime, _, strategy, venue, routed = running("data-point")
    strategy.polls_on_fill = True
    runtime.on_bar(bar(1))  # polls before the strategy hears it; its on_fill asks again
    assert venue.polls == 2 and strategy.heard == IN_ORDER
    assert strategy.inner == [[]] and len(routed) == 3


def test_polls_asked_for_twice_in_one_routing_make_one_more_poll() -> None:
    runtime, _, strategy, venue, _ = running("twice")
    asked: list[list[VenueEvent]] = []

    def polls_twice(event: VenueEvent, row: int) -> None:
        if not asked:
            asked.extend([runtime.poll_venues(), runtime.poll_venues()])

    runtime.fill_listeners.append(polls_twice)
    runtime.poll_venues()
    assert asked == [[], []]
    assert venue.polls == 2 and strategy.heard == IN_ORDER


class FillsEachPoll(Scripted):
    """Fills every order it acknowledged, whole, at the next poll; after ``guard`` polls it
    answers nothing (so a poll that never ends stops here and the test can say how far it went)."""

    def __init__(self, guard: int = 200) -> None:
        super().__init__([])
        self.guard = guard
        self.unfilled: list[Any] = []

    def submit(self, order: Any) -> list[VenueEvent]:
        self.unfilled.append(order)
        return super().submit(order)

    def poll_events(self) -> list[VenueEvent]:
        self.polls += 1
        if self.polls > self.guard:
            return []
        orders, self.unfilled = self.unfilled, []
        return [
            VenueEvent(
                f"fill-{o.client_order_id}", o.trade_id, o.slot_id, "FILL", status="FILLED",
                price=100.0, size=o.size, filled_size=o.size, venue_client_id=o.client_order_id,
                asset=o.asset, side=o.order_side,
            )
            for o in orders
        ]  # fmt: skip


class FlipsOnEachFill(Strategy[Any]):
    """Buys on its first bar; each fill sends the next order (the exit, then a new entry) and
    asks for a poll at once, to hear of that order's fill soon."""

    def on_start(self) -> None:
        self.heard = 0

    def on_bar(self, item: Bar) -> None:
        if not self.busy(item.asset):
            assert self.buy(item.asset, 1.0, price=100.0, limit=100.0).accepted

    def on_fill(self, fill: Fill) -> None:
        self.heard += 1
        if self.busy(fill.asset):
            assert all(o.accepted for o in self.close(fill.asset, price=100.0))
        else:
            assert self.buy(fill.asset, 1.0, price=100.0, limit=100.0).accepted
        self.ctx._runtime.poll_venues()


@pytest.mark.parametrize("clock", ["data", "wall"])
def test_polls_asked_for_on_every_fill_end_the_call_and_leave_the_rest_to_the_next_poll(
    clock: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A strategy that sends an order and asks for a poll on each fill, on a venue that fills
    each order by the next poll, asked for a poll in every poll: the call polled on and on and
    never gave the data loop back (the venue's guard stopped it here). A call makes at most
    ``POLL_ROUNDS`` polls; one asked for past them is made by the next poll, which a data point
    makes at once, not ``poll_interval`` later."""
    venue = FillsEachPoll()
    kernel = ExecutionKernel(max_slots=2, venue=venue, kernel_id=f"poll-spin-{clock}")
    runtime = TradingRuntime(kernel, clock=clock, poll_interval=3600.0)
    strategy = FlipsOnEachFill(name="s")
    runtime.add_strategy(strategy)
    runtime.on_bar(bar(0))  # the first buy rests
    with caplog.at_level(logging.WARNING, logger="dita.runtime"):
        polled = runtime.poll_venues()
    assert venue.polls < venue.guard, "the call polled on until the venue's guard stopped it"
    assert venue.polls == rt.POLL_ROUNDS
    assert len(polled) == strategy.heard == rt.POLL_ROUNDS
    said = [r.getMessage() for r in caplog.records if r.name == "dita.runtime"]
    assert len(said) == 1 and f"{rt.POLL_ROUNDS} polls" in said[0], said
    # The poll asked for last is not lost: the next data point makes it, an hour early.
    runtime.on_bar(bar(1))
    assert venue.polls == 2 * rt.POLL_ROUNDS and strategy.heard == 2 * rt.POLL_ROUNDS
    assert runtime.stats["fills"] == strategy.heard


class FillsTheSecondAtOnce(Scripted):
    """As ``Scripted``, but answers its second order's submit with an ack and two fills of half
    of it (a market order swept through two levels)."""

    def submit(self, order: Any) -> list[VenueEvent]:
        answer = super().submit(order)
        if len(self.orders) == 2:
            coid = order.client_order_id
            for n, total in ((1, 0.5), (2, 1.0)):
                answer.append(
                    VenueEvent(
                        f"sweep-{coid}-{n}", order.trade_id, order.slot_id, "FILL",
                        status="FILLED" if n == 2 else "PARTIALLY_FILLED", price=100.0, size=0.5,
                        filled_size=total, venue_client_id=coid, asset=order.asset, side=order.order_side,
                    )
                )  # fmt: skip
        return answer


class BuysThenPollsOnFill(Strategy[Any]):
    """Rests a buy on its first bar and buys again on its second; asks for a poll from its
    ``on_fill`` on its first fill."""

    def on_start(self) -> None:
        self.heard: list[tuple[int, float]] = []
        self.inner: list[list[VenueEvent]] = []

    def on_bar(self, item: Bar) -> None:
        if item.ts in (bar(0).ts, bar(1).ts):
            assert self.buy(item.asset, 1.0, price=100.0, limit=100.0).accepted

    def on_fill(self, fill: Fill) -> None:
        self.heard.append((fill.slot_id, fill.size))
        if len(self.heard) == 1:
            self.inner.append(self.ctx._runtime.poll_venues())


def test_a_poll_asked_for_while_a_submits_answer_is_routed_comes_after_it() -> None:
    # Poll 1 (bar 1's) finds nothing; poll 2, asked for from the first fill of the second
    # order's answer, fills the first order. The answer's second fill came after it.
    venue = FillsTheSecondAtOnce([[], [(0, 1.0)]])
    kernel = ExecutionKernel(max_slots=4, venue=venue, kernel_id="poll-in-answer")
    runtime = TradingRuntime(kernel)
    strategy = BuysThenPollsOnFill(name="s")
    runtime.add_strategy(strategy)
    routed: list[str] = []
    runtime.event_listeners.append(lambda event: routed.append(event.event_id))
    runtime.on_bar(bar(0))
    runtime.on_bar(bar(1))
    assert venue.polls == 2
    assert strategy.heard == [(1, 0.5), (1, 0.5), (0, 1.0)]
    first, second = (o.client_order_id for o in venue.orders)
    fills = [e for e in routed if e.startswith(("sweep-", "fill-"))]
    assert fills == [f"sweep-{second}-1", f"sweep-{second}-2", f"fill-{first}-1"]
    assert strategy.inner == [[]]
    assert [kernel.slot_state(i).size for i in (0, 1)] == [1.0, 1.0]
    assert runtime.working_orders == 0
