"""The finished orders' memory holds client ids and venue ids, each of its own kind: a venue whose
ids look like the kernel's client ids (a paper venue named as the kernel is: both give
"<name>-<n>", the venue's count running behind the kernel's after a refused submit) gives an
order a venue id no order carried, which is no reused id, and events naming the order by it
alone are its."""

from __future__ import annotations

from kernel_helpers import SilentVenue, entered

from dita import ExecutionKernel, VenueEvent


def test_a_venue_id_no_order_carried_is_not_reported_as_reused() -> None:
    k = ExecutionKernel(max_slots=2, venue=SilentVenue(), kernel_id="paper")
    k.set_seed_capital(10_000.0)
    first = entered(k, 0)  # "paper-1": the venue refuses it before giving it an id
    rej = VenueEvent("r1", "", -1, "REJECT", venue_client_id=first, reason="no", timestamp=1_700_000_100.0)
    assert k.on_venue_event(rej).accepted
    second = entered(k, 1)  # "paper-2": the venue's first order, its id "paper-1"
    ack = VenueEvent(
        "a2", "", -1, "ORDER_ACK", venue_client_id=second, venue_order_id=first, timestamp=1_700_000_101.0
    )
    out = k.on_venue_event(ack)
    assert out.accepted, out.to_dict()
    assert "venue_id_shared" not in out.details, out.details
    fill = VenueEvent(
        "f2", "", -1, "FILL", venue_order_id=first, size=1.0, filled_size=1.0, price=100.0,
        status="FILLED", timestamp=1_700_000_102.0,
    )  # fmt: skip
    assert k.on_venue_event(fill).accepted
    assert k.slot_state(1).size == 1.0
