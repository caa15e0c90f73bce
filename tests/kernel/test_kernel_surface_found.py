"""Faults found by feeding the ``ExecutionKernel`` surface (``SlotView``, its write-through
metadata) what Python callers pass it: each test checks one of them stays fixed."""

from __future__ import annotations

import threading

from dita import ExecutionKernel
from together import together


def test_an_augmented_assignment_keeps_a_change_made_between_its_two_steps() -> None:
    """``view.metadata |= x`` is two steps to Python: the change in place (written through),
    then the assignment of that dict back to ``view.metadata``. A change another thread made
    in between (here made between the two steps by hand, as the interpreter interleaves
    them) was undone by the assignment, which wrote back the dict's older content."""
    k = ExecutionKernel(max_slots=1, kernel_id="ior-between")
    view = k.slot(0)
    meta = view.metadata  # what `view.metadata |= {"stop": 95.0}` runs, step by step
    meta |= {"stop": 95.0}
    other = threading.Thread(target=lambda: k.slot(0).metadata.__setitem__("trail", 2.0))
    other.start()  # another thread, in between
    other.join()
    seq = k.seq
    view.metadata = meta
    assert k.slot_state(0).metadata == {"stop": 95.0, "trail": 2.0}
    assert k.seq == seq  # nothing written: the change in place was


def test_augmented_assignments_racing_in_place_changes_lose_none() -> None:
    """One thread updating a slot's metadata with ``|=`` while another sets keys in place:
    the other's keys were lost by the hundred (the assignment ending each ``|=`` wrote back
    the content it read before them), where the docs promise every change is kept."""
    k = ExecutionKernel(max_slots=1, kernel_id="ior-race")
    n = 1000

    def augment() -> None:
        view = k.slot(0)
        for i in range(n):
            view.metadata |= {"a": i}

    def set_keys() -> None:
        for i in range(n):
            k.slot(0).metadata[f"b{i}"] = i

    together(augment, set_keys)
    held = k.slot_state(0).metadata
    assert [i for i in range(n) if held.get(f"b{i}") != i] == []
    assert held["a"] == n - 1


def test_a_dict_changed_with_or_equals_then_assigned_after_another_assignment_is_written() -> None:
    """Only the assignment that ends ``|=`` is skipped: a dict changed so earlier, kept, and
    assigned back after the slot's metadata was replaced meanwhile (a restore) was taken for
    that assignment and not written, the replacement kept without a word."""
    k = ExecutionKernel(max_slots=1, kernel_id="ior-restore")
    view = k.slot(0)
    saved = view.metadata
    saved |= {"stop": 95.0}
    view.metadata = {}
    view.metadata = saved
    assert k.slot_state(0).metadata == {"stop": 95.0}


def test_a_dict_changed_with_or_equals_is_written_when_assigned_after_its_item_was_changed() -> None:
    """``meta |= {...}`` on a kept dict, the item it wrote changed afterwards, then ``meta``
    assigned back (a restore): the assignment was taken for the tail of ``view.metadata |= x``
    and dropped, the later value kept without a word."""
    k = ExecutionKernel(max_slots=1, kernel_id="ior-moved")
    view = k.slot(0)
    meta = view.metadata
    meta |= {"stop": 95.0}
    view.metadata["stop"] = 90.0
    view.metadata = meta
    assert k.slot_state(0).metadata == {"stop": 95.0}
