"""Reconciliation of a working order the venue acknowledged and no longer has (an exchange purges
an order some time after it ended unfilled; a venue restarted without its book forgets it).

It was ended with a REJECT and listed as a lost submit, though it reached the venue: what it
filled beyond what the kernel booked is unknown, and the report must say a fill may be missing.
"""

from __future__ import annotations

from typing import Any

import pytest
from kernel_helpers import SilentVenue, intent

from dita import ExecutionKernel, KernelOutcome, TradeStage, VenueEvent, VenueOrder
from dita.reconcile import reconcile_with_venue


class Purged(SilentVenue):
    """Holds no order: every lookup says "no such order"."""

    def open_orders(self) -> list[VenueOrder]:
        return []

    def order_status(self, client_order_id: str, asset: str | None = None) -> VenueOrder | None:
        return None

    def positions(self) -> dict[str, float]:
        return {}


def reconciled(kernel: ExecutionKernel) -> tuple[Any, list[VenueEvent]]:
    taken: list[VenueEvent] = []

    def on_applied(event: VenueEvent, outcome: KernelOutcome) -> None:
        taken.append(event)

    return reconcile_with_venue(kernel, on_applied=on_applied), taken


@pytest.mark.parametrize("filled", [0.0, 0.4])
def test_an_acknowledged_entry_the_venue_no_longer_has_is_no_lost_submit(filled: float) -> None:
    kernel = ExecutionKernel(max_slots=1, venue=Purged(), kernel_id="purged-entry")
    entry = intent("ENTER", 0, order_type="LIMIT", limit_price=99.0)
    coid = kernel.process_intent(entry).order.client_order_id
    ack = VenueEvent("a1", "t0", 0, "ORDER_ACK", venue_client_id=coid, venue_order_id="V1")
    assert kernel.on_venue_event(ack).applied
    if filled:
        fill = VenueEvent(
            "f1", "t0", 0, "FILL", venue_client_id=coid, venue_order_id="V1", price=99.0, size=filled
        )
        assert kernel.on_venue_event(fill).applied

    report, taken = reconciled(kernel)
    assert report.lost_submits == []
    (purged,) = report.purged_at_venue
    assert (purged["client_order_id"], purged["venue_order_id"]) == (coid, "V1")
    assert purged["booked_filled_size"] == filled and purged["ended_as"] == "EXPIRED"
    assert "a fill may be missing" in purged["reason"] and not report.clean
    # Not a refusal by the venue: it ended there, its filled size unknown ("cannot say").
    assert [(e.kind.name, e.filled_size) for e in taken] == [("EXPIRED", 0.0)]
    line = next(line for line in report.lines() if line.startswith("purged_at_venue:"))
    assert coid in line and "a fill may be missing" in line
    slot = kernel.slot_state(0)
    assert slot.active_entry_order is None and slot.size == filled
    assert slot.fsm_state == (TradeStage.POSITION_OPEN if filled else TradeStage.IDLE)


def test_an_acknowledged_exit_whose_cancel_was_asked_ends_as_canceled() -> None:
    kernel = ExecutionKernel(max_slots=1, venue=Purged(), kernel_id="purged-exit")
    coid = kernel.process_intent(intent("ENTER", 0)).order.client_order_id
    filled = VenueEvent("f1", "t0", 0, "FILL", venue_client_id=coid, price=100.0, size=1.0)
    assert kernel.on_venue_event(filled).applied
    exit_ = intent("EXIT", 0, order_type="LIMIT", limit_price=110.0)
    xid = kernel.process_intent(exit_).order.client_order_id
    ack = VenueEvent("a2", "t0", 0, "ORDER_ACK", venue_client_id=xid, venue_order_id="VX")
    assert kernel.on_venue_event(ack).applied
    assert kernel.process_intent(intent("CANCEL", 0)).accepted  # the venue never answers it

    report, taken = reconciled(kernel)
    assert report.lost_submits == []
    assert [(p["client_order_id"], p["ended_as"]) for p in report.purged_at_venue] == [(xid, "CANCELED")]
    assert [e.kind.name for e in taken] == ["CANCEL_ACK"]
    assert kernel.slot_state(0).fsm_state == TradeStage.POSITION_OPEN and kernel.slot_state(0).size == 1.0


def test_an_order_never_acknowledged_the_venue_does_not_have_is_still_a_lost_submit() -> None:
    kernel = ExecutionKernel(max_slots=1, venue=Purged(), kernel_id="lost")
    coid = kernel.process_intent(intent("ENTER", 0)).order.client_order_id
    report, taken = reconciled(kernel)
    assert [x["client_order_id"] for x in report.lost_submits] == [coid] and report.purged_at_venue == []
    assert [e.kind.name for e in taken] == ["REJECT"]
