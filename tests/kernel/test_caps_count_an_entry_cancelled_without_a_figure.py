"""The notional caps count what an entry ended without the venue's figure may still fill: a
CANCEL_ACK stating no filled size (0, the adapters' "cannot say") keeps the entry for a fill
that raced the cancel, and that fill is booked (LATE_FILL). Cap 1,000; slot 0's BUY LIMIT
10 @ 100 cancelled so."""

from __future__ import annotations

from typing import Any

from kernel_helpers import SilentVenue, entered, intent

from dita import ExecutionKernel, KernelOutcome, VenueEvent
from dita.risk import RiskLimits


def cancelled_without_a_figure() -> tuple[ExecutionKernel, str]:
    """A kernel capped at 1,000 in all whose slot 0 entry (10 @ 100) the venue acked, then
    ended on its cancel without saying what filled."""
    kernel = ExecutionKernel(max_slots=2, venue=SilentVenue())
    kernel.set_risk_limits(RiskLimits(max_notional_total=1000).model_dump())
    cid = entered(kernel, 0, target_size=10.0, order_type="LIMIT", limit_price=100.0)
    ack = VenueEvent("a1", "t0", 0, "ORDER_ACK", venue_client_id=cid, venue_order_id="v1")
    assert kernel.on_venue_event(ack).accepted
    assert kernel.process_intent(intent("CANCEL", 0)).accepted
    end = VenueEvent("c1", "t0", 0, "CANCEL_ACK", venue_client_id=cid, venue_order_id="v1", filled_size=0.0)
    assert kernel.on_venue_event(end).accepted
    assert [o.client_order_id for o in kernel.orders_ended_without_figure()] == [cid]
    return kernel, cid


def late_fill(kernel: ExecutionKernel, cid: str, n: int, size: float) -> None:
    """Fill ``n`` of the cancelled entry, ``size`` at 100, booked as a late fill."""
    fill = VenueEvent(
        f"f{n}", "t0", 0, "FILL", venue_client_id=cid, venue_order_id="v1", price=100.0, size=size
    )
    assert kernel.on_venue_event(fill).accepted


def refused_at(out: KernelOutcome) -> dict[str, Any]:
    assert not out.accepted and out.diagnostic_code.name == "RISK_REJECTED", out.details
    details = dict(out.details)
    assert details["rule"] == "max_notional_total"
    return details


def test_an_entry_beside_one_cancelled_without_a_figure_is_refused_and_its_late_fill_keeps_the_cap() -> None:
    kernel, cid = cancelled_without_a_figure()
    second = kernel.process_intent(intent("ENTER", 1, target_size=10.0))
    assert refused_at(second)["value"] == 2000.0  # the cancelled 1,000 may still fill
    late_fill(kernel, cid, 1, 10.0)
    assert kernel.slot_state(0).size == 10.0
    assert sum(s["committed_notional"] for s in kernel.slots()) == 1000.0


def test_a_late_fill_moves_the_room_from_the_cancelled_entry_to_its_position() -> None:
    kernel, cid = cancelled_without_a_figure()
    # 4 filled late: 400 held, the other 600 may still come; then all of it: 1,000 held.
    for n, size in ((1, 4.0), (2, 6.0)):
        late_fill(kernel, cid, n, size)
        assert refused_at(kernel.process_intent(intent("ENTER", 1, target_size=1.0)))["value"] == 1100.0
    assert kernel.slot_state(0).size == 10.0


def test_the_slot_of_an_entry_cancelled_without_a_figure_enters_again_within_the_cap() -> None:
    # Its new trade forgets the cancelled entry (a late fill of it is refused from then on), so
    # the new entry is judged without it.
    kernel, _ = cancelled_without_a_figure()
    again = kernel.process_intent(intent("ENTER", 0, trade_id="t0b", target_size=10.0))
    assert again.accepted, again.details
    assert kernel.orders_ended_without_figure() == []
