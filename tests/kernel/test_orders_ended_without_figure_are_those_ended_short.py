"""orders_ended_without_figure(): 'an order the kernel ended short of its size without the venue
saying what it filled' (docs/concepts/reconciliation.md). Once its late fills complete it, it is
short of nothing: a reconciliation's lookups (bounded by ended_lookups, newest first) are not
spent on it."""

from __future__ import annotations

from kernel_helpers import SilentVenue, entered, intent

from dita import ExecutionKernel, VenueEvent


def event(kind: str, event_id: str, client_id: str, **kw: object) -> VenueEvent:
    return VenueEvent(event_id, "", -1, kind, venue_client_id=client_id, timestamp=1_700_000_100.0, **kw)  # type: ignore[arg-type]


def test_an_entry_its_late_fill_completed_is_not_listed_as_ended_without_figure() -> None:
    k = ExecutionKernel(max_slots=1, venue=SilentVenue(), kernel_id="fig")
    k.set_seed_capital(10_000.0)
    coid = entered(k, 0)
    fill = dict(price=100.0, status="PARTIALLY_FILLED")
    assert k.on_venue_event(event("FILL", "f1", coid, size=0.3, filled_size=0.3, **fill)).accepted
    assert k.process_intent(intent("CANCEL", 0)).accepted
    assert k.on_venue_event(event("CANCEL_ACK", "c1", coid)).accepted  # no figure
    assert [o.client_order_id for o in k.orders_ended_without_figure()] == [coid]
    fill["status"] = "FILLED"
    late = k.on_venue_event(event("FILL", "f2", coid, size=0.7, filled_size=1.0, **fill))
    assert late.accepted and k.slot_state(0).size == 1.0  # the whole order filled
    assert k.orders_ended_without_figure() == []


def test_an_order_in_doubt_its_late_fill_completed_is_not_listed_as_ended_without_figure() -> None:
    k = ExecutionKernel(max_slots=1, venue=SilentVenue(), kernel_id="fig2")
    k.set_seed_capital(10_000.0)
    coid = entered(k, 0)
    assert k.process_intent(intent("CANCEL", 0)).accepted
    k.on_venue_event(event("RATE_LIMITED", "r1", coid, retry_after=1.0))
    assert [o.client_order_id for o in k.orders_in_doubt()] == [coid]
    late = k.on_venue_event(
        event("FILL", "f1", coid, size=1.0, filled_size=1.0, price=100.0, status="FILLED")
    )
    assert late.accepted and k.orders_in_doubt() == [] and k.slot_state(0).size == 1.0
    assert k.orders_ended_without_figure() == []
