"""A hand-built intent (``submit``) may not take an intent id the runtime has yet to give a
helper's intent (``<name>-i<n>``, counted across the runtime's strategies): the kernel would
refuse that helper's intent later as DUPLICATE_INTENT, and a strategy's ``close`` would leave
its position open. It is refused naming intent_id, and nothing changes; an id the runtime gave
already (``ctx.next_intent_id``) is still taken."""

from __future__ import annotations

from typing import Any

import pytest

from dita import ExecutionKernel, KernelIntent
from dita._kernel import MockVenueAdapter
from dita.runtime import TradingRuntime
from dita.strategy import Bar, Strategy

T0 = 1.7e9


class Idle(Strategy[Any]):
    pass


def _runtime(kernel: ExecutionKernel) -> tuple[TradingRuntime, dict[str, Idle]]:
    runtime = TradingRuntime(kernel, [])
    strategies = {"a": Idle(name="a"), "b": Idle(name="b")}
    for strategy in strategies.values():
        runtime.add_strategy(strategy)
    runtime.start()
    runtime.on_bar(Bar("AAA", T0, 100.0, 101.0, 99.0, 100.0, 10.0))
    return runtime, strategies


def _kernel() -> ExecutionKernel:
    kernel = ExecutionKernel(max_slots=4, venue=MockVenueAdapter(), kernel_id="hand-built-ids")
    kernel.set_seed_capital(100_000.0)
    return kernel


def _entry(intent_id: str, trade_id: str) -> KernelIntent:
    return KernelIntent(intent_id, trade_id, 1, "BBB", "LONG", "ENTER", 50.0, 1.0, timestamp=T0)


@pytest.mark.parametrize("submitter", ["a", "b"], ids=["by_another_strategy", "by_the_strategy_itself"])
def test_a_hand_built_intent_never_takes_the_id_of_a_helpers_later_intent(submitter: str) -> None:
    kernel = _kernel()
    _, strategies = _runtime(kernel)
    try:
        b = strategies["b"]
        assert b.buy("AAA", 1.0, price=100.0).accepted  # intent b-i1
        seq = kernel.seq
        with pytest.raises(ValueError, match=r"intent_id='b-i2' .*\(b-i<n>\)"):
            strategies[submitter].submit(_entry("b-i2", f"{submitter}-hand-1"))
        assert kernel.seq == seq and kernel.slot_state(1).trade_id == ""
        outcomes = b.close("AAA", price=101.0)  # its exit is intent b-i2
        assert [o.diagnostic_code.name for o in outcomes] == ["OK"], [dict(o.details) for o in outcomes]
        assert b.position("AAA") == 0.0
    finally:
        kernel.close()


def test_a_helpers_later_intent_id_is_refused_after_a_restart_too() -> None:
    kernel = _kernel()
    _, first = _runtime(kernel)
    assert first["a"].buy("AAA", 1.0, price=100.0).accepted
    restarted = TradingRuntime(kernel, [])
    mark = f"r{kernel.seq}-"  # the mark of the ids of a runtime over a used kernel
    a = Idle(name="a")
    restarted.add_strategy(a)
    restarted.start()
    restarted.on_bar(Bar("AAA", T0 + 60, 100.0, 101.0, 99.0, 100.0, 10.0))
    try:
        with pytest.raises(ValueError, match=f"intent_id='a-{mark}i1'"):
            a.submit(_entry(f"a-{mark}i1", "hand-1"))
        # Ids no helper of this runtime is given are the strategy's to use.
        for intent_id, slot_id in (("a-i7", 1), ("a-i01", 2), ("c-i9", 3)):
            intent = KernelIntent(
                intent_id, f"hand-{slot_id}", slot_id, "BBB", "LONG", "ENTER", 50.0, 1.0, timestamp=T0
            )
            assert a.submit(intent).accepted, intent_id
    finally:
        kernel.close()


def test_an_id_the_runtime_gave_already_is_taken() -> None:
    kernel = _kernel()
    _, strategies = _runtime(kernel)
    try:
        b = strategies["b"]
        given = b.ctx.next_intent_id(b)
        assert b.submit(_entry(given, b.ctx.next_trade_id(b))).accepted
        # Sent again, it is the kernel's to refuse, as any retry of an intent it took.
        assert b.submit(_entry(given, "b-hand-2")).diagnostic_code.name == "DUPLICATE_INTENT"
    finally:
        kernel.close()
