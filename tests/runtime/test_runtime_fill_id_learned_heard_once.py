"""A venue reports a fill without its trade id, then the same report (same event id) with it:
the kernel learns the fill's id from the resend, so the exchange's settlement of that id
settles the fill, and books nothing again. The runtime hears one fill: the resend is a refused
duplicate, as every resend is, so the runtime's fill count, the strategy's ``on_fill`` and the
fill listeners hear the fill once."""

from __future__ import annotations

import pytest

from dita import AccountEvent, ExecutionKernel, VenueEvent, VenueOrder
from dita.runtime import TradingRuntime
from dita.strategy import Bar

from .points import BuysOnce, venue_ack


def _fill(order: VenueOrder, fill_id: str) -> VenueEvent:
    """The venue's report "fill-1" of the whole of ``order``, naming trade id ``fill_id``
    (empty: none)."""
    return VenueEvent(
        "fill-1",
        order.trade_id,
        order.slot_id,
        "FILL",
        "FILLED",
        venue_order_id=f"V-{order.client_order_id}",
        venue_client_id=order.client_order_id,
        asset=order.asset,
        side=order.order_side,
        price=100.0,
        size=order.size,
        filled_size=order.size,
        fill_id=fill_id,
    )


class Resends:
    """Acks each order; reports from ``poll_events`` what the test queues."""

    name = "resends"

    def __init__(self) -> None:
        self.queue: list[VenueEvent] = []

    def submit(self, order: VenueOrder) -> list[VenueEvent]:
        return [venue_ack(order)]

    def cancel(self, order: VenueOrder) -> list[VenueEvent]:
        return []

    def poll_events(self) -> list[VenueEvent]:
        events, self.queue = self.queue, []
        return events


def _bar(i: int) -> Bar:
    return Bar("BTCUSDT", 1_700_000_000.0 + 60 * i, 100.0, 101.0, 99.0, 100.0, 1_000.0)


def test_a_resend_teaching_a_fill_id_is_heard_as_no_second_fill() -> None:
    venue = Resends()
    kernel = ExecutionKernel(max_slots=2, venue=venue, kernel_id="learned")
    runtime = TradingRuntime(kernel)
    strategy = BuysOnce()
    runtime.add_strategy(strategy)
    heard: list[tuple[str, str, float]] = []
    runtime.fill_listeners.append(lambda e, row: heard.append((e.event_id, e.fill_id, e.size)))
    runtime.run([_bar(0)])
    order = kernel.slot_state(0).active_entry_order
    assert order is not None
    held = kernel.on_account_event(
        AccountEvent("s1", "FILL_SETTLED", asset="BTCUSDT", fee=0.5, fill_id="T1", timestamp=1_700_000_000.0)
    )
    assert held.details["held_for_fill"] is True
    # The stream's report, then the same report resent with its trade id, in one poll.
    venue.queue += [_fill(order, ""), _fill(order, "T1")]
    runtime.run([_bar(1)])

    assert kernel.slot_state(0).size == 1.0
    assert runtime.stats["fills"] == 1
    assert [(f.size, f.price) for f in strategy.heard] == [(1.0, 100.0)]
    assert heard == [("fill-1", "", 1.0)]
    # The settlement of the id the resend taught settled the fill: the exchange's fee stands.
    assert kernel.slot_state(0).fees_paid == pytest.approx(0.5)
    assert kernel.account()["k_unsettled_fees"] == 0.0


def test_the_resends_refusal_says_what_it_taught() -> None:
    venue = Resends()
    kernel = ExecutionKernel(max_slots=1, venue=venue, kernel_id="learned-said")
    runtime = TradingRuntime(kernel)
    runtime.add_strategy(BuysOnce())
    runtime.run([_bar(0)])
    order = kernel.slot_state(0).active_entry_order
    assert order is not None
    assert kernel.on_venue_event(_fill(order, "")).accepted
    out = kernel.on_venue_event(_fill(order, "T1"))
    assert (out.accepted, out.diagnostic_code.name) == (False, "DUPLICATE_EVENT")
    assert (out.details["fill_id_learned"], out.details["booked_under_event_id"]) == ("T1", "fill-1")
    assert "settled_by" not in out.details
