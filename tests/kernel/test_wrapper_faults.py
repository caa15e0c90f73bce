"""Faults found by reviewing the Python ``ExecutionKernel`` wrapper adversarially: each test
checks one of them stays fixed."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from dita import ExecutionKernel
from together import together


def test_in_place_metadata_changes_from_two_threads_are_all_kept() -> None:
    """``kernel.slot(0).metadata[key] = v`` reads the slot's metadata, changes it and writes it
    back: two threads doing so at once each wrote back what they read, and the other's
    change, taken by the kernel without a word, was gone (a quarter of 4,000 keys lost)."""
    k = ExecutionKernel(max_slots=1, kernel_id="meta-threads")
    n = 1000

    def writer(prefix: str) -> Callable[[], None]:
        def write() -> None:
            for i in range(n):
                k.slot(0).metadata[f"{prefix}{i}"] = i

        return write

    together(writer("a"), writer("b"))
    held = k.slot_state(0).metadata
    assert len(held) == 2 * n
    assert all(held[f"{p}{i}"] == i for p in "ab" for i in range(n))


def test_an_assignment_is_not_undone_by_an_in_place_change_racing_it() -> None:
    """An in-place change read the metadata before another thread assigned it and wrote after:
    the assignment, taken and logged, was undone by the older content written back over it."""
    k = ExecutionKernel(max_slots=1, kernel_id="meta-assign")
    undone: list[tuple[int, object]] = []
    changes = [0]  # in-place changes made so far
    stop = threading.Event()

    def assign() -> None:
        try:
            for i in range(300):
                k.set_metadata(0, {"b": i})
                # Two more changes: the one under way when it was assigned, and one after.
                seen, deadline = changes[0], time.monotonic() + 5
                while changes[0] < seen + 2 and time.monotonic() < deadline:
                    pass
                held = k.slot_state(0).metadata.get("b")
                if held != i:
                    undone.append((i, held))
        finally:
            stop.set()

    def change_in_place() -> None:
        while not stop.is_set():
            k.slot(0).metadata[f"a{changes[0] % 50}"] = 1
            changes[0] += 1

    together(assign, change_in_place)
    assert undone == []


def test_an_augmented_assignment_of_a_views_metadata_writes_once() -> None:
    """``view.metadata |= x`` writes ``x`` through in place, then Python assigns the result back
    to ``view.metadata``: a second input was logged with what the slot already held, and
    ``|= {}``, which changes nothing, logged one and raised on a closed kernel (a read in place
    logs nothing and works there)."""
    k = ExecutionKernel(max_slots=2, kernel_id="meta-ior")
    view = k.slot(1)
    seq = k.seq
    view.metadata |= {"stop": 95.0}
    assert k.seq == seq + 1 and k.slot_state(1).metadata == {"stop": 95.0}
    view.metadata |= {}
    assert k.seq == seq + 1
    # Another view's metadata, or this slot's read before a change, is assigned as given.
    stale = view.metadata
    view.metadata["n"] = 1
    view.metadata = stale
    assert k.slot_state(1).metadata == {"stop": 95.0} and k.seq == seq + 3
    k.slot(0).metadata = k.slot(1).metadata
    assert k.slot_state(0).metadata == {"stop": 95.0} and k.seq == seq + 4
    # A change of type (95.0 -> 95) is one.
    view.metadata = {"stop": 95}
    assert k.seq == seq + 5 and type(k.slot_state(1).metadata["stop"]) is int
    k.close()
    view.metadata |= {}
    before = k.snapshot()
    with pytest.raises(RuntimeError, match="closed"):
        view.metadata |= {"n": 2}
    assert k.snapshot() == before
