"""A slot id past the 64 bits the kernel reads one in names no slot, as 3 or -1 do: the slot
lookups raise IndexError naming it, as the original kernel's ``slot()`` did for every id it had
no slot for, not the bindings' ValueError (a caller catching IndexError met another error)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from dita import ExecutionKernel

PAST = (2**63, -(2**63) - 1, 10**20, np.uint64(2**64 - 1))

LOOKUPS: dict[str, Callable[[ExecutionKernel, Any], object]] = {
    "slot": lambda k, sid: k.slot(sid),
    "slot_state": lambda k, sid: k.slot_state(sid),
    "slot_dict": lambda k, sid: k.slot_dict(sid),
    "set_slot_metadata": lambda k, sid: k.set_slot_metadata(sid, {"stop": 95.0}),
    "set_metadata": lambda k, sid: k.set_metadata(sid, {"stop": 95.0}),
    "set_slot_exit_leg_ratios": lambda k, sid: k.set_slot_exit_leg_ratios(sid, [0.5, 0.5]),
    "set_exit_legs": lambda k, sid: k.set_exit_legs(sid, [0.5, 0.5]),
}


@pytest.mark.parametrize("slot_id", PAST, ids=str)
@pytest.mark.parametrize("call", LOOKUPS)
def test_a_slot_id_past_64_bits_raises_index_error_naming_it_and_changes_nothing(
    kernel: ExecutionKernel, call: str, slot_id: Any
) -> None:
    before, seq = kernel.slots(), kernel.seq
    with pytest.raises(
        IndexError, match=rf"^slot_id {int(slot_id)} out of range \(kernel has 3 slots: 0 to 2\)$"
    ):
        LOOKUPS[call](kernel, slot_id)
    assert kernel.slots() == before and kernel.seq == seq


def test_a_slot_id_of_more_digits_than_text_holds_is_named_by_its_size(kernel: ExecutionKernel) -> None:
    """str() refuses an int past 4,300 digits: the bindings' error named no value at all."""
    with pytest.raises(IndexError, match=r"^slot_id an integer of 16610 bits out of range"):
        kernel.slot(10**5000)


@pytest.mark.parametrize("slot_id", [True, 1.0, "1"], ids=repr)
def test_a_slot_id_that_is_no_integer_is_a_type_error_naming_it(
    kernel: ExecutionKernel, slot_id: Any
) -> None:
    """Not an IndexError: a flag, a float or a text for a slot id is a mistake of type, refused
    as every argument of the wrong type is (``KernelIntent``'s too)."""
    with pytest.raises(TypeError, match=rf"invalid slot_id: expected int, got {type(slot_id).__name__}"):
        kernel.slot(slot_id)
