"""The answers that grow with the book (GET /v1/orders, GET and POST /v1/flatten) are encoded
once, not first validated and converted value by value by FastAPI on the event loop: with
100,000 resting orders, GET /v1/orders stalled the event loop for 1.5 to 1.8 s (0.5 to 0.7 s
once encoded straight), while /healthz, intents and the event streams waited."""

from __future__ import annotations

from typing import Any

import fastapi.routing
import pytest

from dita._kernel import KernelCommandType, KernelIntent, MockVenueAdapter, TradeSide
from gateway.helpers import AUTH, start_server

RESTING = 50


def _rest_orders(kernel: Any) -> None:
    for i in range(RESTING):
        kernel.process_intent(
            KernelIntent(intent_id=f"rest-{i}", trade_id=f"rest-{i}", slot_id=i, asset="BTCUSDT",
                         side=TradeSide.LONG, action=KernelCommandType.ENTER, reference_price=100.0,
                         target_size=0.01, order_type="LIMIT", limit_price=99.0)
        )  # fmt: skip


def test_the_book_is_answered_without_being_walked_value_by_value(monkeypatch: pytest.MonkeyPatch) -> None:
    walked: list[Any] = []
    serialize = fastapi.routing.serialize_response

    async def spy(**kwargs: Any) -> Any:
        walked.append(kwargs["response_content"])
        return await serialize(**kwargs)

    monkeypatch.setattr(fastapi.routing, "serialize_response", spy)
    live = start_server(max_slots=RESTING, venue=lambda: MockVenueAdapter(fill_rate=0.0), setup=_rest_orders)
    try:
        c = live.client
        orders = c.get("/v1/orders")
        assert orders.status_code == 200
        assert sorted(o["slot_id"] for o in orders.json()) == list(range(RESTING))
        plan = c.get("/v1/flatten")
        assert plan.status_code == 200 and plan.json()["cancel_slots"] == list(range(RESTING))
        done = c.post("/v1/flatten", json={"confirm": True}, headers=AUTH)
        assert done.status_code == 200 and done.json()["orders_cancelled"] == RESTING, done.text
        assert len(done.json()["steps"]) == RESTING
        assert walked == [], f"walked by FastAPI on the event loop: {[type(a).__name__ for a in walked]}"
    finally:
        live.stop()
