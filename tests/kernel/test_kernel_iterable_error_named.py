"""Intents or slots handed to the kernel as a generator of the caller's whose own code raises
are refused as ``ArgumentReadError`` naming the call, the argument and the item the error came
at, the caller's error its cause; the kernel reads every item before it takes any, so nothing
is taken. The error came out bare, saying neither what was read nor where."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from dita import ArgumentReadError, ExecutionKernel, KernelIntent


class _Unreadable(Exception):
    """The caller's own error."""


def _then_raise(items: list[Any]) -> Iterator[Any]:
    yield from items
    raise _Unreadable("source closed")


def _enter(n: int) -> KernelIntent:
    return KernelIntent(f"i{n}", f"t{n}", n, "BTCUSDT", "LONG", "ENTER", 100.0, 1.0)


def test_intents_from_a_generator_that_raises_name_the_item_and_nothing_is_taken() -> None:
    with ExecutionKernel(max_slots=4) as kernel:
        before = (kernel.seq, kernel.slots())
        with pytest.raises(
            ArgumentReadError,
            match=r"^process_intents\(\): reading intents item 2 raised _Unreadable: source closed$",
        ) as info:
            kernel.process_intents(_then_raise([_enter(0), _enter(1)]))
        assert isinstance(info.value.__cause__, _Unreadable)
        assert (info.value.argument, info.value.item) == ("intents", 2)
        assert (kernel.seq, kernel.slots()) == before
        # A generator that ends is taken as a list is.
        assert list(kernel.process_intents(_enter(n) for n in range(2))["accepted"]) == [True, True]


@pytest.mark.parametrize("call", ["load_slots", "reconcile_from_slots"])
def test_slots_from_a_generator_that_raises_name_the_item_and_no_slot_changes(call: str) -> None:
    with ExecutionKernel(max_slots=2) as kernel:
        assert kernel.process_intent(_enter(0)).accepted
        slots = kernel.slots()
        with pytest.raises(
            ArgumentReadError, match=rf"^{call}\(\): reading slots item 1 raised _Unreadable"
        ) as info:
            getattr(kernel, call)(_then_raise([dict(slots[1])]))
        assert isinstance(info.value.__cause__, _Unreadable)
        assert kernel.slots() == slots


def test_an_interrupt_from_the_intents_passes_as_it_is() -> None:
    with ExecutionKernel(max_slots=2) as kernel:
        stop = KeyboardInterrupt()

        def intents() -> Iterator[KernelIntent]:
            yield _enter(0)
            raise stop

        with pytest.raises(KeyboardInterrupt) as info:
            kernel.process_intents(intents())
        assert info.value is stop and kernel.slot_state(0).fsm_state.name == "IDLE"
