"""The kernel's objects copy, deep-copy and (a slot, an order, an event) pickle, as the
original kernel's data classes did: a strategy's saved states of them copy again. A slot's
metadata is read-only, as an intent's and an event's are: a change to a slot read is refused,
not lost without a word (the slot is a copy; its live view writes through)."""

from __future__ import annotations

import copy
import pickle
from typing import Any

import pytest

from dita import ExecutionKernel, KernelIntent, VenueEvent


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
    assert copy.deepcopy(event) is event
