"""Defects found by adversarial testing (an honest venue whose reports arrive reordered or
resent). Each test states what docs/ promises; all are fixed and stay as regression
tests: the reconciliation case (its ids carry the kernel's seq) and the two fills that would
be booked twice (a working order's fills are booked by what its reports' running totals
cover, each once)."""

from __future__ import annotations

from typing import Any

import pytest
from kernel_helpers import SilentVenue, entered

from dita import ExecutionKernel, KernelDiagnosticCode, VenueEvent, VenueOrder

D = KernelDiagnosticCode


def fill(event_id: str, client_id: str, size: float, total: float, **kw: Any) -> VenueEvent:
    return VenueEvent(
        event_id,
        "",
        -1,
        "FILL",
        venue_client_id=client_id,
        price=100.0,
        size=size,
        filled_size=total,
        timestamp=1_700_000_100.0,
        **kw,
    )


def test_a_fill_a_cumulative_only_report_already_covered_is_a_duplicate() -> None:
    """docs/concepts/orders-and-fills.md: a total-only report stands for every fill up to its
    total, and a fill whose report lies where earlier reports cover is DUPLICATE_EVENT. The
    venue filled 0.2 (total 0.2) then 0.2 (total 0.4); the second report comes first
    with only its running total (size 0), so the kernel books the growth 0.0 -> 0.4, which
    includes the first fill. The first fill's own report then arrives: booked again, the slot
    would hold 0.6 against the venue's 0.4."""
    kernel = ExecutionKernel(max_slots=1, venue=SilentVenue(), kernel_id="adv-size0")
    coid = entered(kernel)
    assert kernel.on_venue_event(fill("e2", coid, 0.0, 0.4, fill_id="F2")).accepted
    before = kernel.snapshot()
    late = kernel.on_venue_event(fill("e1", coid, 0.2, 0.2, fill_id="F1"))
    assert late.diagnostic_code == D.DUPLICATE_EVENT
    assert late.details["reported_filled_size"] == pytest.approx(0.4)
    assert kernel.slot_state(0).size == pytest.approx(0.4)
    assert kernel.snapshot() == before


def test_a_fill_resent_after_64_later_fills_of_its_order_is_a_duplicate() -> None:
    """docs/reference/venue-misbehaviour.md: "the same event twice (same `event_id`) | nothing
    changes | DUPLICATE_EVENT". The slot remembers the last 64 event and fill ids; after 70 fills of 1 (totals
    1..70) a venue replays the first one, identical (same event id, fill id and total 1.0).
    Its ids are forgotten, but its running total places it where the first report did:
    DUPLICATE_EVENT, not an earlier fill arriving late (71 against the venue's 70)."""
    kernel = ExecutionKernel(max_slots=1, venue=SilentVenue(), kernel_id="adv-64")
    coid = entered(kernel, target_size=1000.0)
    for i in range(1, 71):
        assert kernel.on_venue_event(fill(f"e{i}", coid, 1.0, float(i), fill_id=f"F{i}")).accepted
    before = kernel.snapshot()
    replay = kernel.on_venue_event(fill("e1", coid, 1.0, 1.0, fill_id="F1"))
    assert replay.diagnostic_code == D.DUPLICATE_EVENT
    assert kernel.snapshot() == before


def test_an_earlier_fill_arriving_late_within_the_stated_total_is_still_booked() -> None:
    """What counts is what the reports cover, not what was booked: fills 0.2 (total 0.2) and 0.2
    (total 0.4) whose reports come in reverse order are both booked, and a third report of
    the first fill under a new event id is then the duplicate."""
    kernel = ExecutionKernel(max_slots=1, venue=SilentVenue(), kernel_id="adv-late")
    coid = entered(kernel)
    assert kernel.on_venue_event(fill("e2", coid, 0.2, 0.4)).accepted
    assert kernel.slot_state(0).size == pytest.approx(0.2)
    late = kernel.on_venue_event(fill("e1", coid, 0.2, 0.2))
    assert late.accepted and late.diagnostic_code == D.OK
    assert kernel.slot_state(0).size == pytest.approx(0.4)
    again = kernel.on_venue_event(fill("e1-resent", coid, 0.2, 0.2))
    assert again.diagnostic_code == D.DUPLICATE_EVENT
    assert kernel.slot_state(0).size == pytest.approx(0.4)
    # Fills past the stated total (the venue's total grows) are booked as before.
    assert kernel.on_venue_event(fill("e3", coid, 0.3, 0.7)).accepted
    assert kernel.slot_state(0).size == pytest.approx(0.7)


class StatusVenue(SilentVenue):
    """A venue that can say what became of each order."""

    def __init__(self) -> None:
        self.orders: dict[str, VenueOrder] = {}

    def open_orders(self) -> list[VenueOrder]:
        return [
            o for o in self.orders.values() if o.status.name in ("NEW", "ACKNOWLEDGED", "PARTIALLY_FILLED")
        ]

    def order_status(self, client_order_id: str) -> VenueOrder | None:
        return self.orders.get(client_order_id)

    def positions(self) -> dict[str, float]:
        return {}


def test_a_second_reconciliation_books_what_the_venue_filled_since_the_first() -> None:
    """docs/concepts/reconciliation.md: "the venue filled more than the kernel
    knows | FILL event for the difference at the venue's price, with the venue's total as
    `filled_size`". The event ids are `reconcile:<order>:<kind>:<n>` with n counted from 0 on
    every call, so a second reconciliation (another restart, or an operator asking again) of
    an order the venue went on filling sends `reconcile:<order>:FILL:0` again: the kernel
    refuses it as DUPLICATE_EVENT, reconcile_with_venue raises RuntimeError, and the 0.3 the
    venue filled since is never booked."""
    venue = StatusVenue()
    kernel = ExecutionKernel(max_slots=1, venue=venue, kernel_id="adv-rc")
    coid = entered(kernel, order_type="LIMIT", limit_price=100.0)
    ack = VenueEvent("a1", "", -1, "ORDER_ACK", venue_client_id=coid, venue_order_id="V1", timestamp=1.0)
    assert kernel.on_venue_event(ack).accepted

    def at_venue(filled: float) -> VenueOrder:
        return VenueOrder(
            coid,
            0,
            "t0",
            "BTCUSDT",
            "BUY",
            "LIMIT",
            100.0,
            1.0,
            venue_order_id="V1",
            filled_size=filled,
            avg_fill_price=100.0,
            status="PARTIALLY_FILLED",
        )

    venue.orders[coid] = at_venue(0.3)
    assert kernel.reconcile_with_venue().missed_fills
    assert kernel.slot_state(0).size == pytest.approx(0.3)
    venue.orders[coid] = at_venue(0.6)
    report = kernel.reconcile_with_venue()  # raises RuntimeError: ... DUPLICATE_EVENT
    assert report.missed_fills and kernel.slot_state(0).size == pytest.approx(0.6)
