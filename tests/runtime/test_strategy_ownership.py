"""A strategy's exit and cancel touch only its own trades: another strategy's slot is refused."""

from __future__ import annotations

from typing import Any

from dita import ExecutionKernel
from dita._kernel import MockVenueAdapter
from dita.runtime import TradingRuntime
from dita.strategy import Bar, Fill, Strategy

BAR = Bar("AAA", 1.7e9, 100.0, 101.0, 99.0, 100.0, 10.0)


class Idle(Strategy[Any]):
    def on_start(self) -> None:
        self.seen: list[Fill] = []

    def on_fill(self, fill: Fill) -> None:
        self.seen.append(fill)


def two_strategies(venue: MockVenueAdapter | None = None) -> tuple[TradingRuntime, Idle, Idle]:
    kernel = ExecutionKernel(max_slots=4, venue=venue or MockVenueAdapter(), kernel_id="rev-own")
    kernel.set_seed_capital(100_000.0)
    runtime = TradingRuntime(kernel, [])
    a, b = Idle(name="a"), Idle(name="b")
    runtime.add_strategy(a)
    runtime.add_strategy(b)
    runtime.start()
    runtime.on_bar(BAR)
    return runtime, a, b


def test_a_strategy_cannot_exit_another_strategys_trade() -> None:
    _, a, b = two_strategies()
    assert b.buy("AAA", 1.0, price=100.0).accepted
    slot_id = b.slots()[0].slot_id
    out = a.exit(slot_id, price=100.0)
    assert not out.accepted
    assert out.details["field"] == "trade_id"
    assert b.position("AAA") == 1.0 and b.busy("AAA")
    assert [f.side for f in b.seen] == ["BUY"]
    # Its own exit still works.
    assert b.exit(slot_id, price=100.0).accepted
    assert b.position("AAA") == 0.0


def test_a_strategy_cannot_cancel_another_strategys_working_order() -> None:
    runtime, a, b = two_strategies(MockVenueAdapter(fill_rate=0.0))
    kernel = runtime.kernel
    assert b.buy("AAA", 1.0, price=100.0, limit=99.0).accepted
    slot_id = b.slots()[0].slot_id
    out = a.cancel(slot_id)
    assert not out.accepted and out.diagnostic_code.name == "INVALID_INTENT"
    assert out.details["field"] == "trade_id"
    assert kernel.slot_state(slot_id).fsm_state.name == "ENTRY_WORKING"
    assert b.busy("AAA")
