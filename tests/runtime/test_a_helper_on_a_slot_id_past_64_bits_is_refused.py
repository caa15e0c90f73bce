"""``exit`` and ``cancel`` of a slot id past the 64 bits the kernel reads one in answer as for
any slot the kernel lacks (-1, 64): a refusal, INVALID_SLOT_ID naming ``slot_id`` and the value
given. They raised the bindings' ValueError, which put the strategy calling them in ERROR."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from dita import ExecutionKernel, KernelIntent, KernelOutcome
from dita._kernel import MockVenueAdapter
from dita.runtime import TradingRuntime
from dita.strategy import Bar, Strategy

BAR = Bar("AAA", 1.7e9, 100.0, 101.0, 99.0, 100.0, 10.0)


class Idle(Strategy[Any]):
    pass


def running() -> tuple[TradingRuntime, Idle, list[tuple[KernelIntent, KernelOutcome]]]:
    kernel = ExecutionKernel(max_slots=4, venue=MockVenueAdapter(fill_rate=0.0), kernel_id="past-64")
    kernel.set_seed_capital(100_000.0)
    runtime = TradingRuntime(kernel, [])
    told: list[tuple[KernelIntent, KernelOutcome]] = []
    runtime.intent_listeners.append(lambda intent, outcome: told.append((intent, outcome)))
    strategy = Idle(name="a")
    runtime.add_strategy(strategy)
    runtime.start()
    runtime.on_bar(BAR)
    return runtime, strategy, told


HELPERS: dict[str, Callable[[Idle, Any], KernelOutcome]] = {
    "exit": lambda s, sid: s.exit(sid, price=100.0),
    "exit leg": lambda s, sid: s.exit(sid, price=100.0, leg=True),
    "cancel": lambda s, sid: s.cancel(sid),
}


@pytest.mark.parametrize("slot_id", [2**63, -(2**63) - 1, 10**20, np.uint64(2**64 - 1)], ids=str)
@pytest.mark.parametrize("helper", HELPERS)
def test_a_helper_on_a_slot_id_past_64_bits_is_refused_naming_it_and_changes_nothing(
    helper: str, slot_id: Any
) -> None:
    runtime, strategy, told = running()
    assert strategy.buy("AAA", 1.0, price=100.0, limit=99.0).accepted  # an order working
    before, seq = runtime.kernel.snapshot(), runtime.kernel.seq
    out = HELPERS[helper](strategy, slot_id)
    assert not out.accepted and out.diagnostic_code.name == "INVALID_SLOT_ID", out
    assert out.slot_id == int(slot_id)
    assert (out.details["field"], out.details["value"]) == ("slot_id", int(slot_id))
    assert out.details["reason"].startswith("no such slot: the kernel has slots 0 to 3")
    assert runtime.kernel.snapshot() == before and runtime.kernel.seq == seq
    # Counted and told as the kernel's refusals are; the strategy goes on.
    assert told[-1][1] is out and runtime.handles["a"].refused == 1
    assert runtime.handles["a"].status.value == "RUNNING"
    assert strategy.cancel(strategy.slots()[0].slot_id).accepted


def test_a_slot_id_of_more_digits_than_text_holds_is_named_by_its_size() -> None:
    _, strategy, _ = running()
    out = strategy.exit(-(10**5000), price=100.0)
    assert out.diagnostic_code.name == "INVALID_SLOT_ID"
    assert out.details["value"] == "-an integer of 16610 bits"
