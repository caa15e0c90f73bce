"""With the gateway, ``dita live`` leaves the venue to the runtime, which polls it on the
strategies' thread; what the runtime books (a fill polled between bars, the exit placed on it,
the account) still reaches the gateway's event streams, and so the operator page, within about a
second, each venue event once, in the order booked."""

from __future__ import annotations

import time
import warnings
from typing import Any

from starlette.exceptions import StarletteDeprecationWarning
from test_live_fills_reach_the_strategy_between_bars import (
    FillsAtTheFirstPoll,
    a_run,
    buyer_on,
)

from dita import AccountEvent, ExecutionKernel
from dita.gateway.app import create_app
from dita.gateway.config import GatewaySettings
from dita.runtime import TradingRuntime
from dita.strategy import Bar, Strategy

with warnings.catch_warnings():  # Starlette asks for httpx2; the client works with httpx as it is
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient


def served(kernel: ExecutionKernel, runtime: TradingRuntime) -> tuple[Any, list[tuple[str, dict[str, Any]]]]:
    """The gateway over ``kernel`` as cli/live.py builds it beside ``runtime``, and what it
    publishes, as published."""
    app = create_app(kernel, GatewaySettings(host="127.0.0.1", port=0, token="t" * 32))
    app.state.polling.follow_runtime(runtime)
    published: list[tuple[str, dict[str, Any]]] = []
    publish = app.state.gateway.publish

    def recorded(event_type: str, data: dict[str, Any]) -> None:
        published.append((event_type, data))
        publish(event_type, data)

    app.state.gateway.publish = recorded
    return app, published


def test_a_fill_polled_between_bars_and_the_exit_placed_on_it_reach_the_event_stream() -> None:
    venue = FillsAtTheFirstPoll()
    kernel, runtime, strategy = buyer_on(venue, "live-page")
    app, published = served(kernel, runtime)
    run = a_run(runtime, [], "AAA")
    try:
        with TestClient(app, base_url="http://localhost"):
            run.start()
            assert strategy.filled.wait(10), "the poll between bars never filled the entry"
            fill_booked = time.monotonic()
            # The page shows the fill: the exit working (or, a poll later, the trade closed).
            filled = ("EXIT_WORKING", "CLOSED")
            slot: dict[str, Any] = {}
            while time.monotonic() < fill_booked + 1.5 and slot.get("fsm_state") not in filled:
                time.sleep(0.05)
                slot = next((d for kind, d in reversed(published) if kind == "slot"), {})
            assert slot.get("fsm_state") in filled, f"the page still shows {slot or 'nothing'}"
            run.stop()
        # The entry's fill, then the exit's (the stop's last poll fills it), each told once.
        venue_events = [d for kind, d in published if kind == "venue_event"]
        assert [(d["kind"], d["slot_id"], d["accepted"], d["fills"]) for d in venue_events] == [
            ("FILL", 0, True, 1),
            ("FILL", 0, True, 1),
        ]
        assert len({d["event_id"] for d in venue_events}) == 2
        assert venue_events[0]["seq"] < venue_events[1]["seq"]
        kinds = [kind for kind, _ in published]
        assert "account" in kinds[kinds.index("venue_event") :]
        # The slot's states in the order booked, the trade closed last: none told older later.
        states = [d["fsm_state"] for kind, d in published if kind == "slot"]
        order = ["ENTRY_WORKING", "EXIT_WORKING", "CLOSED"]
        assert states == sorted(states, key=order.index) and states[-1] == "CLOSED", states
        assert app.state.metrics.registry.get_sample_value("dita_gateway_fills_total") == 2
    finally:
        run.stop()
        kernel.close()


class Watches(Strategy[Any]):
    def on_bar(self, bar: Bar) -> None:
        pass


def test_the_account_s_news_the_runtime_gives_the_kernel_reaches_the_event_stream() -> None:
    venue = FillsAtTheFirstPoll()
    funding = [[AccountEvent("fee-1", "FUNDING_FEE", asset="USDT", amount=-2.5, timestamp=6.0)]]
    venue.account_events = lambda: funding.pop(0) if funding else []  # type: ignore[attr-defined]
    kernel = ExecutionKernel(max_slots=2, venue=venue, kernel_id="live-page-account")
    kernel.set_seed_capital(1e6)
    runtime = TradingRuntime(kernel, clock="wall")
    runtime.add_strategy(Watches(name="watcher"))
    app, published = served(kernel, runtime)
    run = a_run(runtime, [], "AAA")
    try:
        with TestClient(app, base_url="http://localhost"):
            run.start()
            deadline = time.monotonic() + 3.0
            accounts: list[dict[str, Any]] = []
            while time.monotonic() < deadline and not accounts:
                time.sleep(0.05)
                accounts = [d for kind, d in published if kind == "account"]
            run.stop()
        assert runtime.stats["account_events"] == 1
        assert [d["k_funding_net"] for d in accounts] == [-2.5]
        assert [d["k_funding_net"] for kind, d in published if kind == "account"] == [-2.5]  # told once
    finally:
        run.stop()
        kernel.close()
