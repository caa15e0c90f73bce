"""``dita live`` serves the gateway on the runtime's kernel: an operator's Exit or Cancel of a
strategy's slot on the operator page goes to the kernel directly, and the runtime never routes
the venue's answer. The strategy's slot counts as its own only while it still holds the
strategy's trade: once the trade ended there, the strategy is not busy, its slot budget frees,
and a trade the slot took since (the operator's hedge, another strategy's) is not read nor
closed as its own."""

from __future__ import annotations

import warnings
from typing import Any

from starlette.exceptions import StarletteDeprecationWarning

from dita import ExecutionKernel, MockVenueAdapter
from dita.gateway.app import create_app
from dita.gateway.config import GatewaySettings
from dita.runtime import TradingRuntime
from dita.strategy import Bar, Strategy
from dita.venues.paper import PaperVenue

with warnings.catch_warnings():  # Starlette asks for httpx2; the client works with httpx as it is
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

TOKEN = "t" * 32
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def bar(i: int) -> Bar:
    return Bar("AAA", 1.7e9 + 60 * i, 100.0, 101.0, 99.0, 100.0, 10.0)


class BuysOnce(Strategy[Any]):
    """Buys 1 of AAA on its first bar; closes what it holds in AAA once ``close_now`` is set."""

    def on_start(self) -> None:
        self.bars = 0
        self.close_now = False
        self.closes: list[Any] = []

    def on_bar(self, bar: Bar) -> None:
        self.bars += 1
        if self.bars == 1:
            assert self.buy("AAA", 1.0, price=bar.close).accepted
        if self.close_now:
            self.closes.append(self.close("AAA", price=bar.close))


class BuysOnSignal(Strategy[Any]):
    """Buys 1 of AAA when ``go`` is set."""

    def on_start(self) -> None:
        self.go = False

    def on_bar(self, bar: Bar) -> None:
        if self.go:
            assert self.buy("AAA", 1.0, price=bar.close).accepted
            self.go = False


class RestsABid(Strategy[Any]):
    """Rests a limit bid at 90 whenever it has nothing working or open in AAA."""

    def on_start(self) -> None:
        self.bids = 0

    def on_bar(self, bar: Bar) -> None:
        if not self.busy("AAA"):
            assert self.buy("AAA", 1.0, price=bar.close, limit=90.0).accepted
            self.bids += 1


def served(kernel: ExecutionKernel, runtime: TradingRuntime) -> Any:
    """The gateway over ``kernel`` beside ``runtime``, as cli/live.py wires it."""
    app = create_app(kernel, GatewaySettings(token=TOKEN))
    app.state.polling.follow_runtime(runtime)
    return app


def a_run(*strategies: Strategy[Any], venue: Any = None, max_slots: int | None = None) -> Any:
    venue = venue if venue is not None else MockVenueAdapter()
    kernel = ExecutionKernel(max_slots=2, venue=venue)
    kernel.set_seed_capital(1e6)
    runtime = TradingRuntime(kernel, [venue] if isinstance(venue, PaperVenue) else [])
    for strategy in strategies:
        runtime.add_strategy(strategy, max_slots=max_slots)
    runtime.start()
    return kernel, runtime


def test_a_strategy_is_flat_and_not_busy_once_an_operator_exits_its_trade() -> None:
    strategy = BuysOnce(name="bot")
    kernel, runtime = a_run(strategy)
    try:
        with TestClient(served(kernel, runtime), base_url="http://localhost") as client:
            runtime.on_bar(bar(0))
            assert strategy.busy("AAA") and strategy.position("AAA") == 1.0
            assert client.post("/v1/slots/0/exit", json={}, headers=AUTH).json()["accepted"]
            runtime.on_bar(bar(1))
            assert not strategy.busy("AAA")
            assert strategy.position("AAA") == 0.0 and strategy.slots() == []
            assert runtime.handles["bot"].slots_held() == 0
    finally:
        kernel.close()


def test_a_strategy_never_reads_nor_closes_a_trade_an_operator_opened_in_its_old_slot() -> None:
    strategy = BuysOnce(name="bot")
    kernel, runtime = a_run(strategy)
    try:
        with TestClient(served(kernel, runtime), base_url="http://localhost") as client:
            runtime.on_bar(bar(0))
            assert client.post("/v1/slots/0/exit", json={}, headers=AUTH).json()["accepted"]
            hedge = {
                "action": "ENTER",
                "asset": "AAA",
                "side": "SHORT",
                "reference_price": 100.0,
                "target_size": 5.0,
                "trade_id": "hedge-1",
            }
            assert client.post("/v1/intents", json=hedge, headers=AUTH).json()["accepted"]
            assert kernel.slot_state(0).trade_id == "hedge-1"  # the strategy's old slot
            assert strategy.position("AAA") == 0.0 and not strategy.busy("AAA")
            strategy.close_now = True
            runtime.on_bar(bar(1))
            assert strategy.closes == [[]]
            hedge_slot = kernel.slot_state(0)
            assert hedge_slot.fsm_state.name == "POSITION_OPEN" and hedge_slot.size == 5.0
    finally:
        kernel.close()


def test_a_strategy_whose_trade_an_operator_closed_leaves_anothers_trade_in_its_slot_running() -> None:
    first, second = BuysOnce(name="first"), BuysOnSignal(name="second")
    kernel, runtime = a_run(first, second)
    try:
        with TestClient(served(kernel, runtime), base_url="http://localhost") as client:
            runtime.on_bar(bar(0))
            assert client.post("/v1/slots/0/exit", json={}, headers=AUTH).json()["accepted"]
            second.go = True
            runtime.on_bar(bar(1))  # "second" buys into slot 0, the first free one
            assert kernel.slot_state(0).trade_id.startswith("second-")
            first.close_now = True
            runtime.on_bar(bar(2))
            status = {s["name"]: s for s in runtime.status()}
            assert status["first"]["status"] == "RUNNING", status["first"]["error"]
            assert first.closes == [[]] and first.position("AAA") == 0.0
            assert second.position("AAA") == 1.0
            assert kernel.slot_state(0).fsm_state.name == "POSITION_OPEN"
    finally:
        kernel.close()


def test_an_operators_cancel_of_a_strategys_resting_entry_frees_its_slot_budget() -> None:
    strategy = RestsABid(name="bidder")
    venue = PaperVenue(slippage_bps=0.0)
    kernel, runtime = a_run(strategy, venue=venue, max_slots=1)
    try:
        with TestClient(served(kernel, runtime), base_url="http://localhost") as client:
            runtime.on_bar(bar(0))
            assert strategy.bids == 1
            assert client.post("/v1/slots/0/cancel", json={}, headers=AUTH).json()["accepted"]
            assert kernel.slot_state(0).fsm_state.name == "IDLE"
            runtime.on_bar(bar(1))
            # Its bid is gone: it bids again, within its budget of one slot.
            assert strategy.bids == 2
            assert runtime.handles["bidder"].slots_held() == 1
            assert kernel.slot_state(0).trade_id == "bidder-t2"
    finally:
        kernel.close()
