"""A venue order id two orders carry: a finished order's id the venue reuses for a new order is
taken, and an event naming the id alone, which may be either order's, names neither; each order
is still reached by its client id. An id a working order carries, of any market, is refused:
venue ids are unique per venue (docs/reference/venue-misbehaviour.md)."""

from __future__ import annotations

from typing import Any

import pytest
from kernel_helpers import SilentVenue, entered

from dita import ExecutionKernel, KernelDiagnosticCode, KernelSeverity, VenueEvent


@pytest.fixture
def kernel() -> ExecutionKernel:
    k = ExecutionKernel(max_slots=2, venue=SilentVenue(), kernel_id="ids")
    k.set_seed_capital(10_000.0)
    return k


def event(kind: str, event_id: str, client_id: str = "", **kw: Any) -> VenueEvent:
    return VenueEvent(event_id, "", -1, kind, venue_client_id=client_id, timestamp=1_700_000_100.0, **kw)


def filled(event_id: str, client_id: str, size: float, **kw: Any) -> VenueEvent:
    return event("FILL", event_id, client_id, size=size, filled_size=size, price=100.0, status="FILLED", **kw)


def test_an_ack_reusing_a_finished_orders_venue_id_is_a_warning_naming_the_order(
    kernel: ExecutionKernel,
) -> None:
    a = entered(kernel, 0)
    assert kernel.on_venue_event(event("ORDER_ACK", "a1", a, venue_order_id="V1")).accepted
    assert kernel.on_venue_event(filled("f1", a, 1.0, venue_order_id="V1")).accepted
    b = entered(kernel, 1, target_size=2.0)
    reused = kernel.on_venue_event(event("ORDER_ACK", "a2", b, venue_order_id="V1"))
    assert reused.accepted and reused.severity == KernelSeverity.WARNING, reused.to_dict()
    assert reused.details["venue_order_id"] == "V1"
    assert reused.details["client_order_id"] == b
    assert "reused" in reused.details["venue_id_shared"]


def test_a_resent_report_of_a_finished_order_does_not_book_on_the_order_that_reuses_its_venue_id(
    kernel: ExecutionKernel,
) -> None:
    """Order A fills 1.0 under venue id V1 and finishes; the venue then acknowledges order B
    (another slot, same market) under V1. A resend of A's last report naming V1 alone may be
    A's: booked on B, slot 1 would hold 1.0 the venue never filled for it."""
    a = entered(kernel, 0)
    kernel.on_venue_event(event("ORDER_ACK", "a1", a, venue_order_id="V1"))
    assert kernel.on_venue_event(filled("f1", a, 1.0, venue_order_id="V1")).accepted
    b = entered(kernel, 1, target_size=2.0)
    assert kernel.on_venue_event(event("ORDER_ACK", "a2", b, venue_order_id="V1")).accepted
    before = kernel.snapshot()
    resent = kernel.on_venue_event(filled("f1-poll", "", 1.0, venue_order_id="V1"))
    assert resent.diagnostic_code == KernelDiagnosticCode.UNKNOWN_ORDER, resent.to_dict()
    assert resent.severity == KernelSeverity.CRITICAL
    assert kernel.slot_state(1).size == 0.0 and kernel.snapshot() == before
    # B's own reports name it by its client id, and are its.
    assert kernel.on_venue_event(filled("f2", b, 2.0, venue_order_id="V1")).accepted
    assert kernel.slot_state(1).size == 2.0


@pytest.mark.parametrize("asset", ["BTCUSDT", "ETHUSDT"])
def test_an_ack_under_a_venue_id_a_working_order_of_any_market_carries_is_refused(
    kernel: ExecutionKernel, asset: str
) -> None:
    """Slots and reconciliation find orders by venue id alone: a second working order under
    the id, of the same market or another, would be found for both."""
    first = entered(kernel, 0)
    assert kernel.on_venue_event(event("ORDER_ACK", "a1", first, venue_order_id="12345")).accepted
    second = entered(kernel, 1, asset=asset)
    before = kernel.snapshot()
    clash = kernel.on_venue_event(event("ORDER_ACK", "a2", second, venue_order_id="12345", asset=asset))
    assert clash.diagnostic_code == KernelDiagnosticCode.UNKNOWN_ORDER, clash.to_dict()
    assert clash.severity == KernelSeverity.CRITICAL and clash.details["other_slot_id"] == 0
    assert kernel.snapshot() == before
    # The first order is still found by the id alone.
    assert kernel.on_venue_event(filled("f1", "", 1.0, venue_order_id="12345")).accepted
    assert kernel.slot_state(0).size == 1.0
