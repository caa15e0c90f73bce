"""Fields of an intent body the kernel would not act on are refused, not dropped unseen."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.helpers import AUTH, LiveServer, enter


@pytest.mark.parametrize("order_type", [{}, {"order_type": "MARKET"}])
def test_a_limit_price_on_a_market_order_is_refused_naming_it(
    live: LiveServer, order_type: dict[str, Any]
) -> None:
    """A MARKET order (order_type's default) goes out at market whatever limit_price says: an
    ENTER of a buyer capped at 90 would fill at the market's 100, and an EXIT meant to sell at
    120 or better sell at 100. So a limit_price above 0 on a MARKET order is a 422 naming it,
    nothing sent; a LIMIT order with one, and a MARKET order with none (or 0), go through."""
    c = live.client
    body = {"action": "ENTER", "intent_id": "capped-1", "asset": "BTCUSDT", "side": "LONG",
            "target_size": 1, "reference_price": 100, "limit_price": 90, **order_type}  # fmt: skip
    res = c.post("/v1/intents", json=body, headers=AUTH)
    assert res.status_code == 422, res.text
    error = res.json()["detail"][0]
    assert error["loc"] == ["body", "limit_price"] and error["input"] == 90
    assert res.json()["message"].startswith("limit_price: ")
    assert c.get("/v1/slots/0").json()["fsm_state"] == "IDLE"  # nothing sent
    # The id is free for the corrected intent; 0 is the default, not a price.
    assert enter(c, intent_id="capped-1", reference_price=100, limit_price=0, **order_type)["accepted"]
    exit_body = {"action": "EXIT", "slot_id": 0, "reference_price": 100, "target_size": 0.5,
                 "limit_price": 120, **order_type}  # fmt: skip
    res = c.post("/v1/intents", json=exit_body, headers=AUTH)
    assert res.status_code == 422 and res.json()["detail"][0]["loc"] == ["body", "limit_price"], res.text
    assert c.get("/v1/slots/0").json()["size"] == 0.5  # the position untouched
    limit = c.post("/v1/intents", json={**exit_body, "order_type": "LIMIT"}, headers=AUTH)
    assert limit.status_code == 200, limit.text
