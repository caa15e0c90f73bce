"""The kernel's objects copy, deep-copy and (a slot, an order, an event, a transition, an
outcome) pickle, as the original kernel's data classes did: a strategy's saved states of them
copy again, and an outcome equals one of the same fields. A slot's
metadata is read-only, as an intent's and an event's are: a change to a slot read is refused,
not lost without a word (the slot is a copy; its live view writes through)."""

from __future__ import annotations

import copy
import pickle
from typing import Any

import pytest

from dita import (
    ExecutionKernel,
    KernelIntent,
    KernelOutcome,
    KernelTransition,
    MockVenueAdapter,
    VenueEvent,
    VenueOrder,
)


def _kernel_with_a_trade() -> tuple[ExecutionKernel, Any]:
    kernel = ExecutionKernel(max_slots=3)
    out = kernel.process_intent(
        KernelIntent("i-1", "t-1", 0, "BTCUSDT", "LONG", "ENTER", 100.0, 1.0, metadata={"stop": 90.0})
    )
    return kernel, out


def test_a_slot_copies_deep_copies_and_pickles_as_it_was() -> None:
    kernel, _ = _kernel_with_a_trade()
    slot = copy.copy(kernel.slot(0))  # the live view's copy: the slot as it is now
    saved = copy.deepcopy([slot])
    assert saved[0].to_dict() == slot.to_dict()
    again = pickle.loads(pickle.dumps(slot))
    assert again.to_dict() == slot.to_dict() and again.is_free() == slot.is_free()
    assert len(again.seen_event_ids) == len(slot.seen_event_ids)
    assert again.committed_notional == slot.committed_notional


def test_a_slot_view_pickles_as_the_slot_it_shows_a_copy_of_it_as_it_is_now() -> None:
    """The original's TradeSlot was a data class and pickled; a strategy saving its slots with
    pickle saves what a copy of the view holds, not the kernel behind it."""
    kernel, _ = _kernel_with_a_trade()
    view = kernel.slot(0)
    saved = pickle.dumps(view)
    assert pickle.loads(saved) == copy.copy(view) == kernel.slot_state(0)
    assert pickle.loads(pickle.dumps([kernel.slot(1), view]))[1].trade_id == "t-1"
    kernel.slot(0).metadata["stop"] = 95.0  # a later change is no part of what was saved
    assert pickle.loads(saved).metadata == {"stop": 90.0}


def test_a_slot_reads_its_metadata_read_only() -> None:
    kernel, _ = _kernel_with_a_trade()
    slot = kernel.slot_state(0)
    with pytest.raises(TypeError):
        slot.metadata["stop"] = 95.0  # type: ignore[index]
    assert slot.metadata == {"stop": 90.0}
    # The live view still writes through.
    kernel.slot(0).metadata["stop"] = 95.0
    assert kernel.slot_state(0).metadata == {"stop": 95.0}


def test_an_order_an_event_and_an_outcome_copy_and_pickle() -> None:
    _, out = _kernel_with_a_trade()
    assert copy.copy(out) is out and copy.deepcopy(out) is out
    transition = out.transitions[0]
    assert copy.deepcopy(transition) is transition
    order = pickle.loads(pickle.dumps(out.order))
    assert repr(order) == repr(out.order) and order.to_dict() == out.order.to_dict()
    event = VenueEvent("e-1", "t-1", 0, "FILL", side="LONG", price=100.0, size=1.0, raw_payload={"id": [1]})
    again = pickle.loads(pickle.dumps(event))
    assert (again.side, again.status, again.raw_payload, again.price) == (
        event.side,
        event.status,
        {"id": [1]},
        100.0,
    )
    assert copy.copy(event) is event
    assert copy.deepcopy(VenueEvent("e-2", "t-1", 0, "ORDER_ACK")).event_id == "e-2"


def _kernel_with_a_leg_part_taken() -> ExecutionKernel:
    """4 held in two legs of 0.5; the first leg's exit fills 1 of its 2 and is cancelled."""
    mock = MockVenueAdapter(partial_fill_rate=1.0, partial_fill_ratio=0.5)
    kernel = ExecutionKernel(max_slots=2, venue=mock)
    kernel.process_intent(
        KernelIntent("i-1", "t-1", 0, "BTCUSDT", "LONG", "ENTER", 100.0, 4.0, exit_leg_ratios=[0.5, 0.5])
    )
    for order in mock.open_orders():
        for event in mock.fill_open_order(order.client_order_id):
            kernel.on_venue_event(event)
    kernel.process_intent(KernelIntent("i-2", "t-1", 0, "BTCUSDT", "LONG", "EXIT", 100.0, 0.0))
    kernel.process_intent(KernelIntent("i-3", "t-1", 0, "BTCUSDT", "LONG", "CANCEL", 100.0, 0.0))
    slot = kernel.slot_state(0)
    assert (slot.size, slot.leg_taken, slot.active_leg_index) == (3.0, 1.0, 0)
    return kernel


def test_a_pickled_slot_keeps_what_its_exit_leg_took() -> None:
    kernel = _kernel_with_a_leg_part_taken()
    slot = kernel.slot_state(0)
    again = pickle.loads(pickle.dumps(slot))
    assert again.leg_taken == 1.0
    assert again.to_dict() == slot.to_dict()


def test_a_slot_loaded_from_a_pickle_exits_the_rest_of_its_leg() -> None:
    """A strategy that saves its slots with pickle and loads them into a new kernel sends the
    next leg exit for what is left of the leg (1), not the whole leg (2)."""
    kernel = _kernel_with_a_leg_part_taken()
    saved = pickle.loads(pickle.dumps([kernel.slot_state(0), kernel.slot_state(1)]))
    restored = ExecutionKernel(max_slots=2, venue=MockVenueAdapter(fill_rate=0.0))
    restored.load_slots([slot.to_dict() for slot in saved])
    out = restored.process_intent(KernelIntent("i-9", "t-1", 0, "BTCUSDT", "LONG", "EXIT", 100.0, 0.0))
    assert out.accepted and out.order is not None
    assert out.order.intended_size == 1.0


def test_a_deep_copy_of_an_event_has_a_payload_of_its_own() -> None:
    event = VenueEvent("e-1", "t-1", 0, "FILL", price=100.0, size=1.0, raw_payload={"fills": {"qty": 1}})
    snapshot = copy.deepcopy(event)
    assert snapshot.raw_payload == {"fills": {"qty": 1}} and snapshot.to_dict() == event.to_dict()
    snapshot.raw_payload["fills"]["qty"] = 2
    assert event.raw_payload == {"fills": {"qty": 1}}
    # Shared within one deep copy, as copy.deepcopy shares what the original shares.
    both = copy.deepcopy([event, event])
    assert both[0] is both[1]


class _VenueFillingWithAPayload:
    """Fills each order at once, its event carrying the venue's payload and the trade's side."""

    def submit(self, order: VenueOrder) -> list[VenueEvent]:
        return [
            VenueEvent(
                "e-1", order.trade_id, order.slot_id, "FILL", venue_client_id=order.client_order_id,
                side="LONG", price=100.0, size=1.0, filled_size=1.0, raw_payload={"fills": [{"qty": 1}]},
            )
        ]  # fmt: skip

    def cancel(self, order: VenueOrder, reason: str = "") -> list[VenueEvent]:
        return []


def _outcomes(venue: Any, kernel_id: str) -> list[KernelOutcome]:
    """An entry taken and one refused (the slot is busy), in a kernel of its own."""
    kernel = ExecutionKernel(max_slots=1, venue=venue, kernel_id=kernel_id)
    try:
        return [
            kernel.process_intent(
                KernelIntent(i, f"t-{i}", 0, "X", "LONG", "ENTER", 100.0, 1.0, timestamp=1.7e9)
            )
            for i in ("i-1", "i-2")
        ]
    finally:
        kernel.close()


@pytest.mark.parametrize("venue", [MockVenueAdapter, _VenueFillingWithAPayload])
def test_an_outcome_pickles_as_its_fields(venue: Any) -> None:
    for out in _outcomes(venue(), "pickled"):
        again = pickle.loads(pickle.dumps(out))
        assert again == out and hash(again) == hash(out)
        assert again.to_dict() == out.to_dict() and repr(again) == repr(out)
        assert again.transitions == out.transitions and again.order == out.order
        assert [(e.side, e.raw_payload, e.to_dict()) for e in again.emitted_events] == [
            (e.side, e.raw_payload, e.to_dict()) for e in out.emitted_events
        ]
    refused = _outcomes(venue(), "pickled")[1]
    assert pickle.loads(pickle.dumps(refused)).details == refused.details != {}


def test_a_transition_pickles_as_its_fields_made_by_a_kernel_or_by_hand() -> None:
    by_hand = KernelTransition(
        1.7e9, "t-1", 0, "IDLE", "ORDER_REQUESTED", "ENTER", details={"why": [1]}, control_mode="PAPER"
    )
    for transition in (*_outcomes(MockVenueAdapter(), "transitions")[0].transitions, by_hand):
        again = pickle.loads(pickle.dumps(transition))
        assert again == transition and hash(again) == hash(transition)
        assert again.to_dict() == transition.to_dict()
        assert (again.control_mode, again.control_verbosity) == (
            transition.control_mode,
            transition.control_verbosity,
        )


def test_outcomes_of_the_same_fields_are_equal_and_hash_alike() -> None:
    first, second = _outcomes(MockVenueAdapter(), "same"), _outcomes(MockVenueAdapter(), "same")
    assert first[0].to_dict() == second[0].to_dict()
    assert first == second and len({*first, *second}) == 2
    assert first[0] != first[1] and first[0] != first[0].to_dict()
    # The venue's payload is one of its events' fields: an outcome without it is another.
    assert _outcomes(_VenueFillingWithAPayload(), "same")[0] != first[0]
