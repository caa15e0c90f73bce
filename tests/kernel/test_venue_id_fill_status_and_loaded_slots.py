"""The kernel and its bindings on what names an order and what a slot holds: an event naming its
order under another venue order id is refused; a loaded exit-leg index past the legs is refused,
and an endless iterable of slots is not read for ever; a FILL made without a status takes it from
the sizes, so a part fill so made leaves its order working (it is not the venue saying FILLED
short)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from kernel_helpers import SilentVenue, entered, intent

from dita import (
    ExecutionKernel,
    KernelDiagnosticCode,
    KernelSeverity,
    TradeStage,
    VenueEvent,
    VenueOrder,
)


@pytest.fixture
def kernel() -> ExecutionKernel:
    k = ExecutionKernel(max_slots=2, venue=SilentVenue(), kernel_id="venue-ids")
    k.set_seed_capital(10_000.0)
    return k


def event(kind: str, event_id: str, client_id: str, **kw: Any) -> VenueEvent:
    return VenueEvent(event_id, "", -1, kind, venue_client_id=client_id, timestamp=1_700_000_100.0, **kw)


def test_a_fill_under_another_venue_id_is_refused_and_its_correction_applies(kernel: ExecutionKernel) -> None:
    """Booking another order's fill to the order its client id names would corrupt the position."""
    coid = entered(kernel)
    assert kernel.on_venue_event(event("ORDER_ACK", "a1", coid, venue_order_id="V1")).accepted
    before = kernel.slots()
    fill = dict(price=100.0, size=0.4, filled_size=0.4, status="PARTIALLY_FILLED", remaining_size=0.6)
    out = kernel.on_venue_event(event("FILL", "f1", coid, venue_order_id="V2", **fill))
    assert not out.accepted
    assert (out.diagnostic_code, out.severity) == (KernelDiagnosticCode.UNKNOWN_ORDER, KernelSeverity.ERROR)
    assert out.details["field"] == "venue_order_id"
    assert (out.details["value"], out.details["order_value"]) == ("V2", "V1")
    assert kernel.slots() == before
    # Not remembered: the venue's corrected report applies.
    assert kernel.on_venue_event(event("FILL", "f1", coid, venue_order_id="V1", **fill)).accepted
    assert kernel.slot_state(0).size == pytest.approx(0.4)


def test_an_endless_iterable_of_slots_is_refused_after_max_slots(kernel: ExecutionKernel) -> None:
    slot = kernel.slots()[0]
    before = kernel.slots()
    with pytest.raises(ValueError, match=r"invalid slots: more than 2 items"):
        kernel.reconcile_from_slots(itertools.repeat(slot))
    assert kernel.slots() == before


def test_a_loaded_leg_index_past_the_legs_is_refused(kernel: ExecutionKernel) -> None:
    slots = kernel.slots()
    slots[1] = {**slots[1], "exit_leg_ratios": [0.5, 0.5], "active_leg_index": 5}
    before, seq = kernel.slots(), kernel.seq
    with pytest.raises(ValueError, match=r"slots\[1\]\.active_leg_index: 5, past the slot's 2 exit legs"):
        kernel.reconcile_from_slots(slots)
    assert (kernel.slots(), kernel.seq) == (before, seq)
    slots[1]["active_leg_index"] = 2  # every leg done
    kernel.reconcile_from_slots(slots)
    assert kernel.slots()[1]["active_leg_index"] == 2


def test_a_part_fill_made_without_a_status_leaves_its_order_working(kernel: ExecutionKernel) -> None:
    """Made without a status, a FILL is not taken for FILLED: with its running total and nothing
    said to remain, that would end its order at the first part fill and lose the rest of it."""
    coid = entered(kernel)
    assert kernel.on_venue_event(event("ORDER_ACK", "a1", coid, venue_order_id="V1")).accepted
    part = event("FILL", "f1", coid, price=100.0, size=0.4, filled_size=0.4)
    assert part.to_dict()["status"] is None  # made again from its dict, still without one
    out = kernel.on_venue_event(VenueEvent(**part.to_dict()))
    assert out.accepted and out.severity == KernelSeverity.INFO, out.details
    assert "ended_short" not in out.details
    slot = kernel.slot_state(0)
    assert slot.fsm_state == TradeStage.ENTRY_WORKING and slot.active_entry_order is not None
    assert slot.active_entry_order.status.name == "PARTIALLY_FILLED"
    # The fill that completes it, also without a status, fills it.
    out = kernel.on_venue_event(event("FILL", "f2", coid, price=100.0, size=0.6, filled_size=1.0))
    assert out.accepted and kernel.slot_state(0).fsm_state == TradeStage.POSITION_OPEN
    assert kernel.slot_state(0).size == pytest.approx(1.0)
    # Stated FILLED short of the order, at the running total booked, it still ends the order.
    other = entered(kernel, 1)
    stated = event("FILL", "g1", other, price=100.0, size=0.4, filled_size=0.4, status="FILLED")
    out = kernel.on_venue_event(stated)
    assert out.accepted and out.details["ended_short"] is True


class PartFillingVenue(SilentVenue):
    """Answers a submit with an ack and a part fill made without a status."""

    def submit(self, order: VenueOrder) -> list[VenueEvent]:
        c = order.client_order_id
        return [
            event("ORDER_ACK", f"a-{c}", c, venue_order_id=f"V-{c}"),
            event("FILL", f"f-{c}", c, venue_order_id=f"V-{c}", price=100.0, size=0.4, filled_size=0.4),
        ]


def test_a_part_fill_without_a_status_in_a_venue_answer_leaves_its_order_working() -> None:
    k = ExecutionKernel(max_slots=1, venue=PartFillingVenue(), kernel_id="answer")
    k.set_seed_capital(10_000.0)
    out = k.process_intent(intent("ENTER", 0))
    assert out.accepted and "ended_short" not in out.details
    assert k.slot_state(0).fsm_state == TradeStage.ENTRY_WORKING
    assert [e.status.name for e in out.emitted_events] == ["ACKNOWLEDGED", "PARTIALLY_FILLED"]
