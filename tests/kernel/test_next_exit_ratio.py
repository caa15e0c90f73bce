"""A slot's ``next_exit_ratio()`` is what the kernel's next leg EXIT closes, as a share of the
initial size: the kernel's own sizing of that exit, not the active leg's ratio."""

from __future__ import annotations

import copy
import pickle

from kernel_helpers import SilentVenue, entered, intent

from dita import ExecutionKernel, KernelOutcome, VenueEvent


def fill(kernel: ExecutionKernel, cid: str, event_id: str, size: float) -> KernelOutcome:
    event = VenueEvent(event_id, "t0", 0, "FILL", venue_client_id=cid, price=100.0, size=size)
    return kernel.on_venue_event(event)


def test_next_exit_ratio_names_what_the_last_leg_exit_closes_when_legs_sum_below_one() -> None:
    # Legs [0.25, 0.25], entry 1.0 filled. Leg exit 1 closes 0.25 (0.75 left); the next leg
    # exit, the last leg, closes all 0.75 held.
    kernel = ExecutionKernel(max_slots=1, venue=SilentVenue())
    cid = entered(kernel, 0, target_size=1.0, exit_leg_ratios=[0.25, 0.25])
    assert fill(kernel, cid, "f1", 1.0).accepted
    assert kernel.slot_state(0).next_exit_ratio() == 0.25
    out = kernel.process_intent(intent("EXIT", 0, order_type="MARKET"))
    assert out.accepted, out.details
    x = kernel.slot_state(0).active_exit_order
    assert x is not None and abs(x.size - 0.25) < 1e-12
    assert fill(kernel, x.client_order_id, "x1", 0.25).accepted
    said = kernel.slot_state(0).next_exit_ratio()
    assert said == 0.75 and kernel.slot(0).next_exit_ratio() == 0.75
    out = kernel.process_intent(intent("EXIT", 0, order_type="MARKET"))
    assert out.accepted, out.details
    x2 = kernel.slot_state(0).active_exit_order
    assert x2 is not None and abs(said * 1.0 - x2.size) < 1e-12, (said, x2.size)


def test_a_read_slot_keeps_the_ratio_it_was_read_with_through_copies_and_pickles() -> None:
    kernel = ExecutionKernel(max_slots=1, venue=SilentVenue())
    cid = entered(kernel, 0, target_size=1.0, exit_leg_ratios=[0.5, 0.5])
    assert fill(kernel, cid, "f1", 1.0).accepted
    read = kernel.slot_state(0)
    assert read.next_exit_ratio() == 0.5
    for again in (copy.copy(read), copy.deepcopy(read), pickle.loads(pickle.dumps(read))):
        assert again.next_exit_ratio() == 0.5
