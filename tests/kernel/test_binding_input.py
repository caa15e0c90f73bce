"""Bad input to the bindings is refused with the error the docs give, naming the field and the
value, and nothing changes (found by a bug hunt)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from kernel_helpers import intent

from dita import ExecutionKernel


def _saved_with(key: str, value: Any) -> tuple[ExecutionKernel, list[dict[str, Any]]]:
    k = ExecutionKernel(max_slots=2, kernel_id="binding-input")
    slots = [dict(s) for s in k.slots()]
    slots[0][key] = value
    return k, slots


@pytest.mark.parametrize(
    ("value", "why"),
    [(-1, "must not be negative"), (10**30, "out of range"), (2**64, "out of range")],
)
def test_an_active_leg_index_out_of_range_is_a_value_error_naming_it(value: int, why: str) -> None:
    """-1 or 10**30 was a TypeError without the "invalid" prefix: `except ValueError` around a
    restore missed it."""
    k, slots = _saved_with("active_leg_index", value)
    before = k.slots()
    with pytest.raises(ValueError, match=rf"^invalid slots\[0\]\.active_leg_index: {value} \({why}\)$"):
        k.reconcile_from_slots(slots)
    assert k.slots() == before


@pytest.mark.parametrize("value", [1.5, True, "1", None])
def test_an_active_leg_index_of_no_int_stays_a_type_error(value: Any) -> None:
    k, slots = _saved_with("active_leg_index", value)
    with pytest.raises(TypeError, match=r"^invalid slots\[0\]\.active_leg_index: expected int, got "):
        k.reconcile_from_slots(slots)


def test_the_largest_active_leg_index_reaches_the_kernel_which_names_the_legs() -> None:
    k, slots = _saved_with("active_leg_index", 2**64 - 1)
    with pytest.raises(ValueError, match=r"active_leg_index: 18446744073709551615, past the slot's 1"):
        k.reconcile_from_slots(slots)


def test_a_tiny_initial_size_is_shown_short() -> None:
    """5e-324 was written out as a 330-digit decimal."""
    k = ExecutionKernel(max_slots=2, kernel_id="binding-input")
    k.process_intent(intent("ENTER", 0))
    k.mark_price("BTCUSDT", 100.0)
    slots = [dict(s) for s in k.slots()]
    slots[0] |= {"size": 1.0, "initial_size": 5e-324}
    with pytest.raises(ValueError, match=r"^invalid slots\[0\]\.initial_size: 5e-324 \(") as e:
        k.reconcile_from_slots(slots)
    assert len(str(e.value)) < 200


BYTES = [b"\x01", bytearray(b"\x01"), memoryview(b"\x01")]


@pytest.mark.parametrize(
    "value", [*BYTES, np.array(0.5)], ids=["bytes", "bytearray", "memoryview", "0-d array"]
)
def test_bytes_and_0d_arrays_are_no_list_of_exit_legs(value: Any) -> None:
    """Bytes were read as a list of numbers: b"\\x01" set the legs to (1.0,). A 0-d numpy array
    is indexed yet not iterable: refused as no list, not with numpy's "iteration over a 0-d
    array"."""
    k = ExecutionKernel(max_slots=2, kernel_id="binding-input")
    before = k.slots()
    shown = rf"got {type(value).__name__} "
    # The view passes its value on as set_slot_exit_leg_ratios' `ratios`, and is named so.
    with pytest.raises(TypeError, match=rf"invalid ratios: expected a list of numbers, {shown}"):
        k.slot(0).exit_leg_ratios = value
    with pytest.raises(TypeError, match=rf"invalid ratios: expected a list of numbers, {shown}"):
        k.set_slot_exit_leg_ratios(0, value)
    slots = [dict(s) for s in before]
    slots[0]["exit_leg_ratios"] = value
    with pytest.raises(TypeError, match=rf"invalid slots\[0\]\.exit_leg_ratios: .*{shown}"):
        k.reconcile_from_slots(slots)
    with pytest.raises(TypeError, match=rf"invalid exit_leg_ratios: expected a list of numbers, {shown}"):
        intent("ENTER", 0, exit_leg_ratios=value)
    assert k.slots() == before
