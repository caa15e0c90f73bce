"""A reconciliation of orders in doubt cut short by the kernel (busy in another thread's call
past its wait, as the gateway's call holds it under ``dita live``) routes the fills it already
booked to their strategies, and the runtime tries the rest again later rather than stopping."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from dita import ExecutionKernel, VenueEvent
from dita._kernel import VenueOrderStatus
from dita.runtime import TradingRuntime
from dita.strategy import Bar
from dita.venues._events import answered

from .test_strategy_ownership import BAR, Idle


class FilledWhileInDoubt:
    """Takes orders silently and throttles every cancel (each entry in doubt); asked later, it
    filled them."""

    def __init__(self) -> None:
        self.sent: dict[str, Any] = {}

    def submit(self, order: Any) -> list[VenueEvent]:
        self.sent[order.client_order_id] = order
        return []

    def cancel(self, order: Any) -> list[VenueEvent]:
        coid = order.client_order_id
        return [
            VenueEvent(
                f"rl-{coid}", order.trade_id, -1, "RATE_LIMITED", venue_client_id=coid, retry_after=1.0
            )
        ]

    def open_orders(self) -> list[Any]:
        return []

    def order_status(self, client_order_id: str, asset: str | None = None) -> Any:
        order = self.sent[client_order_id]
        return answered(order, "v-" + client_order_id, VenueOrderStatus.FILLED, order.size, 99.0)


class BusyFor:
    """The runtime's kernel, held by another thread's call when the venue's news of one order
    comes."""

    def __init__(self, kernel: ExecutionKernel, client_order_id: str) -> None:
        self._kernel = kernel
        self.busy_for = client_order_id

    def __getattr__(self, name: str) -> Any:
        return getattr(self._kernel, name)

    def on_venue_event(self, ev: VenueEvent) -> Any:
        if ev.venue_client_id == self.busy_for:
            raise RuntimeError("kernel busy in another call (waited 10 s)")
        return self._kernel.on_venue_event(ev)


def two_entries_in_doubt() -> tuple[TradingRuntime, ExecutionKernel, BusyFor, list[Idle]]:
    kernel = ExecutionKernel(max_slots=4, venue=FilledWhileInDoubt(), kernel_id="doubt-cut")
    kernel.set_seed_capital(100_000.0)
    runtime = TradingRuntime(kernel, [])
    strategies = [Idle(name="a"), Idle(name="b")]
    for strategy in strategies:
        runtime.add_strategy(strategy)
    runtime.start()
    runtime.on_bar(BAR)
    for strategy in strategies:
        strategy.cancel(strategy.buy("AAA", 1.0, price=100.0, limit=99.0).slot_id)
    doubts = sorted(o.client_order_id for o in kernel.orders_in_doubt())
    assert len(doubts) == 2
    # The kernel is held when the second order's fill comes, after the first one's was booked.
    busy = BusyFor(kernel, doubts[1])
    runtime.kernel = busy
    runtime._doubts._kernel = busy
    return runtime, kernel, busy, strategies


def heard(strategies: list[Idle]) -> list[int]:
    """How many fills each strategy heard."""
    return [len(strategy.seen) for strategy in strategies]


def test_a_reconciliation_cut_short_routes_the_fills_it_booked() -> None:
    runtime, kernel, _, strategies = two_entries_in_doubt()
    with pytest.raises(RuntimeError, match="busy"):
        runtime.reconcile_with_venue(cancel_unknown=False, only_in_doubt=True)
    assert len(kernel.orders_in_doubt()) == 1
    assert sum(heard(strategies)) == 1


def test_orders_in_doubt_with_the_kernel_busy_are_settled_at_a_later_look(
    caplog: pytest.LogCaptureFixture,
) -> None:
    runtime, kernel, busy, strategies = two_entries_in_doubt()
    caplog.set_level(logging.WARNING)
    ts = BAR.ts
    # Data points past each look: the first sees the orders in doubt, the second reconciles.
    for _ in range(2):
        ts += 6.0
        runtime.on_bar(Bar("AAA", ts, 100.0, 101.0, 99.0, 100.0, 10.0))
    assert "not all reconciled, tried again later" in caplog.text
    assert sum(heard(strategies)) == 1
    busy.busy_for = ""
    for _ in range(3):
        ts += 12.0
        runtime.on_bar(Bar("AAA", ts, 100.0, 101.0, 99.0, 100.0, 10.0))
    assert kernel.orders_in_doubt() == []
    assert heard(strategies) == [1, 1]
