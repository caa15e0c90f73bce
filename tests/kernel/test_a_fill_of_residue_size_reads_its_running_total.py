"""A FILL whose `size` is float residue (1e-12: a venue computing size as total - previous
total) with a running total of 0.5, on an order with nothing booked: read as a report giving
its running total alone, it books the 0.5 the venue says filled. It is no duplicate: no report
counted anything (docs/reference/venue-misbehaviour.md)."""

from __future__ import annotations

from kernel_helpers import SilentVenue, entered

from dita import ExecutionKernel, KernelDiagnosticCode, VenueEvent


def fill(event_id: str, client_id: str, size: float, total: float) -> VenueEvent:
    return VenueEvent(
        event_id,
        "",
        -1,
        "FILL",
        venue_client_id=client_id,
        size=size,
        filled_size=total,
        price=100.0,
        status="PARTIALLY_FILLED",
        timestamp=1_700_000_100.0,
    )


def test_a_fill_of_residue_size_with_a_running_total_ahead_books_the_total() -> None:
    k = ExecutionKernel(max_slots=1, venue=SilentVenue(), kernel_id="tiny")
    k.set_seed_capital(10_000.0)
    coid = entered(k, 0)
    out = k.on_venue_event(fill("f1", coid, 1e-12, 0.5))
    assert out.accepted, out.to_dict()
    assert k.slot_state(0).size == 0.5
    # The fill of 0.5 that total counted, reported after, is counted already.
    again = k.on_venue_event(fill("f2", coid, 0.5, 0.5))
    assert again.diagnostic_code == KernelDiagnosticCode.DUPLICATE_EVENT
    assert k.slot_state(0).size == 0.5


def test_a_fill_of_residue_size_at_the_booked_total_books_nothing() -> None:
    k = ExecutionKernel(max_slots=1, venue=SilentVenue(), kernel_id="tiny2")
    k.set_seed_capital(10_000.0)
    coid = entered(k, 0)
    assert k.on_venue_event(fill("f1", coid, 0.5, 0.5)).accepted
    out = k.on_venue_event(fill("f2", coid, 1e-12, 0.5))
    assert out.diagnostic_code == KernelDiagnosticCode.DUPLICATE_EVENT, out.to_dict()
    assert k.slot_state(0).size == 0.5
