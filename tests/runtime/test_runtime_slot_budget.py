"""A strategy's slot budget (``add_strategy(strategy, max_slots=N)``): several strategies share
one kernel's slots, and one that entered on every bar took them all, the others' entries
refused for want of a free slot. An ENTER past the budget is refused by the runtime before the
kernel sees it (an outcome, INVALID_INTENT naming ``max_slots``); exits and cancels never are."""

from __future__ import annotations

from typing import Any

import pytest

from dita import ExecutionKernel, KernelIntent
from dita._kernel import MockVenueAdapter
from dita.runtime import KernelRefusals, StrategyContext, TradingRuntime, refusal_reason
from dita.strategy import Bar, Strategy

T0 = 1.7e9


def bar(i: int) -> Bar:
    return Bar("AAA", T0 + 60 * i, 100.0, 101.0, 99.0, 100.0, 1_000.0)


class Greedy(Strategy[Any]):
    """Enters on every bar, never exits on its own."""

    def on_start(self) -> None:
        self.outcomes: list[Any] = []

    def on_bar(self, bar: Bar) -> None:
        self.outcomes.append(self.buy(bar.asset, 1.0, price=bar.close))


class Modest(Strategy[Any]):
    """Enters once, on the bar it is told to."""

    def on_start(self) -> None:
        self.outcomes: list[Any] = []
        self.enter_at: int | None = None
        self.seen = 0

    def on_bar(self, bar: Bar) -> None:
        if self.seen == self.enter_at:
            self.outcomes.append(self.buy(bar.asset, 1.0, price=bar.close))
        self.seen += 1


def shared(
    venue: MockVenueAdapter | None = None, **budget: Any
) -> tuple[ExecutionKernel, TradingRuntime, Greedy, Modest]:
    """A kernel of 4 slots shared by ``greedy`` (added with ``budget``) and ``modest``."""
    kernel = ExecutionKernel(max_slots=4, venue=venue or MockVenueAdapter(), kernel_id="budget")
    kernel.set_seed_capital(1_000_000.0)
    runtime = TradingRuntime(kernel, [])
    greedy, modest = Greedy(name="greedy"), Modest(name="modest")
    runtime.add_strategy(greedy, **budget)
    runtime.add_strategy(modest)
    runtime.start()
    return kernel, runtime, greedy, modest


def test_without_a_budget_the_greedy_strategy_takes_every_slot() -> None:
    """Today's behaviour, the default: the other strategy finds no free slot."""
    _, runtime, greedy, modest = shared()
    modest.enter_at = 5
    for i in range(6):
        runtime.on_bar(bar(i))
    assert [o.accepted for o in greedy.outcomes[:4]] == [True] * 4
    assert not modest.outcomes[0].accepted
    assert modest.outcomes[0].diagnostic_code.name == "INVALID_SLOT_ID"
    assert runtime.handles["greedy"].max_slots is None


def test_a_capped_strategy_leaves_slots_to_the_others() -> None:
    kernel, runtime, greedy, modest = shared(max_slots=2)
    modest.enter_at = 4
    for i in range(5):
        runtime.on_bar(bar(i))
    assert [o.accepted for o in greedy.outcomes] == [True, True, False, False, False]
    assert len(greedy.slots()) == 2
    refused = greedy.outcomes[2]
    assert refused.diagnostic_code.name == "INVALID_INTENT"
    assert refused.details["field"] == "max_slots" and refused.details["value"] == 2
    assert "greedy" in refused.details["reason"]
    assert refusal_reason(refused).startswith("INVALID_INTENT: max_slots=2: ")
    # The other strategy still gets a slot, and the kernel has one more left.
    assert modest.outcomes[0].accepted and modest.position("AAA") == 1.0
    assert kernel.free_slot_id() is not None
    handle = runtime.handles["greedy"]
    assert handle.max_slots == 2 and runtime.status()[0]["max_slots"] == 2
    assert handle.intents == 5 and handle.refused == 3


def test_an_enter_past_the_budget_never_reaches_the_kernel() -> None:
    kernel, runtime, greedy, _ = shared(max_slots=1)
    runtime.on_bar(bar(0))
    seq, stats = kernel.seq, kernel.stats()
    runtime.on_bar(bar(1))
    assert not greedy.outcomes[1].accepted
    assert kernel.seq == seq and kernel.stats() == stats
    # A hand-built ENTER is refused alike, as an outcome.
    slot = kernel.free_slot_id()
    assert slot is not None
    by_hand = KernelIntent(
        "greedy-hand", "greedy-hand-t", slot, "AAA", "LONG", "ENTER", 100.0, 1.0, timestamp=greedy.ctx.now()
    )
    out = greedy.submit(by_hand)
    assert not out.accepted and out.details["field"] == "max_slots" and out.slot_id == slot
    assert out.trade_id == "greedy-hand-t" and kernel.seq == seq


def test_the_budget_frees_as_trades_close() -> None:
    _, runtime, greedy, _ = shared(max_slots=2)
    runtime.on_bar(bar(0))
    runtime.on_bar(bar(1))
    runtime.on_bar(bar(2))
    assert [o.accepted for o in greedy.outcomes] == [True, True, False]
    first = greedy.slots()[0].slot_id
    assert greedy.exit(first, price=100.0).accepted  # an exit at the budget is never refused
    assert len(greedy.slots()) == 1
    runtime.on_bar(bar(3))
    assert greedy.outcomes[3].accepted
    assert len(greedy.slots()) == 2


def test_cancels_and_exits_are_not_refused_at_the_budget() -> None:
    kernel, _, greedy, _ = shared(max_slots=1, venue=MockVenueAdapter(fill_rate=0.0))
    assert greedy.buy("AAA", 1.0, price=100.0, limit=90.0).accepted
    working = greedy.slots()[0].slot_id
    assert not greedy.buy("AAA", 1.0, price=100.0, limit=90.0).accepted
    out = greedy.cancel(working)
    assert out.accepted, out
    assert not greedy.busy("AAA")
    assert greedy.buy("AAA", 1.0, price=100.0, limit=90.0).accepted
    assert kernel.slot_state(greedy.slots()[0].slot_id).fsm_state.name == "ENTRY_WORKING"


def test_the_refusal_is_heard_by_the_intent_listeners_and_counted() -> None:
    _, runtime, _, _ = shared(max_slots=1)
    refusals = KernelRefusals()
    runtime.intent_listeners.append(refusals.on_intent)
    for i in range(3):
        runtime.on_bar(bar(i))
    assert refusals.intents == 3 and refusals.refused == 2
    assert "2 x INVALID_INTENT: max_slots=1: " in refusals.text()
    assert runtime.stats["refused"] == 2


@pytest.mark.parametrize("value", [0, -1, True, False, 2.0, "2", 5])
def test_a_bad_budget_is_refused_naming_it_and_nothing_is_registered(value: Any) -> None:
    kernel = ExecutionKernel(max_slots=4, venue=MockVenueAdapter(), kernel_id="budget-bad")
    runtime = TradingRuntime(kernel, [])
    strategy = Greedy(name="greedy")
    with pytest.raises(ValueError, match=r"max_slots=") as raised:
        runtime.add_strategy(strategy, max_slots=value)
    assert repr(value) in str(raised.value)
    assert runtime.handles == {} and strategy._ctx is None
    # Corrected, it is added.
    assert runtime.add_strategy(strategy, max_slots=4).max_slots == 4
    assert isinstance(strategy.ctx, StrategyContext)


def test_a_budget_above_the_kernels_slots_says_how_many_it_has() -> None:
    kernel = ExecutionKernel(max_slots=4, venue=MockVenueAdapter(), kernel_id="budget-big")
    runtime = TradingRuntime(kernel, [])
    with pytest.raises(ValueError, match=r"max_slots=5 is more slots than the kernel has 4"):
        runtime.add_strategy(Greedy(), max_slots=5)
