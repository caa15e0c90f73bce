"""Fields of an intent body the kernel would not act on are refused, not dropped unseen."""

from __future__ import annotations

from typing import Any

import pytest

from dita._kernel import MockVenueAdapter
from gateway.helpers import AUTH, LiveServer, enter, start_server


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


def test_a_cancel_with_a_size_is_a_422_naming_it_as_its_other_order_fields_are() -> None:
    """The kernel cancels a slot's whole working order, and refuses a CANCEL's target_size
    above 0: the gateway answered that as a 200 INVALID_INTENT, while every other field a CANCEL
    does not act on is a 422 naming it. Now a 422 too, naming target_size and CANCEL, nothing
    sent, the intent id free; without one (or 0) the cancel goes."""
    live = start_server(venue=lambda: MockVenueAdapter(fill_rate=0.0))  # orders rest
    try:
        c = live.client
        body = {"action": "ENTER", "asset": "BTCUSDT", "side": "LONG", "target_size": 1,
                "reference_price": 100, "order_type": "LIMIT", "limit_price": 99}  # fmt: skip
        assert c.post("/v1/intents", json=body, headers=AUTH).json()["state"] == "ENTRY_WORKING"
        cancel = {"action": "CANCEL", "slot_id": 0, "intent_id": "cancel-1"}
        res = c.post("/v1/intents", json={**cancel, "target_size": 0.3}, headers=AUTH)
        assert res.status_code == 422, res.text
        (error,) = res.json()["detail"]
        assert (error["loc"], error["input"]) == (["body", "target_size"], 0.3), error
        assert res.json()["message"].startswith("target_size: has no meaning for CANCEL (a CANCEL cancels")
        order = c.get("/v1/slots/0").json()["active_entry_order"]
        assert order["size"] == 1 and not order["cancel_requested"]  # nothing sent
        zero = c.post("/v1/intents", json={**cancel, "target_size": 0}, headers=AUTH)
        assert zero.status_code == 200 and zero.json()["accepted"], zero.text
    finally:
        live.stop()


def test_a_field_an_exit_does_not_act_on_is_refused_naming_it_and_the_action(live: LiveServer) -> None:
    """An EXIT closes the slot's position at the leverage it was entered with, leg by the legs
    its ENTER set: an EXIT's leverage or exit_leg_ratios was dropped unseen. Each is a 422
    naming the field and EXIT, nothing sent; given at its default it changes nothing and goes."""
    c = live.client
    enter(c, target_size=1, reference_price=100)
    exit_body = {"action": "EXIT", "slot_id": 0, "reference_price": 100, "target_size": 0.5}
    for field, value in (("leverage", 5), ("exit_leg_ratios", [0.5, 0.5])):
        res = c.post("/v1/intents", json={**exit_body, field: value}, headers=AUTH)
        assert res.status_code == 422, res.text
        (error,) = res.json()["detail"]
        assert error["loc"] == ["body", field], error
        assert res.json()["message"].startswith(f"{field}: has no meaning for EXIT"), res.text
        assert str(value) in res.json()["message"], res.text
        assert c.get("/v1/slots/0").json()["size"] == 1  # nothing sent
    defaults = {**exit_body, "leverage": 1, "exit_leg_ratios": None}
    res = c.post("/v1/intents", json=defaults, headers=AUTH)
    assert res.status_code == 200 and res.json()["accepted"], res.text


def test_prices_or_an_order_type_on_a_cancel_are_refused_naming_each_and_the_action() -> None:
    """A CANCEL sends no order: its prices, order type, leverage and legs were dropped unseen, a
    cancel "at 99" taken as any cancel. Each given is named in one 422, nothing sent; given at
    their defaults they change nothing and the cancel goes."""
    live = start_server(venue=lambda: MockVenueAdapter(fill_rate=0.0))  # orders rest
    try:
        c = live.client
        body = {"action": "ENTER", "asset": "BTCUSDT", "side": "LONG", "target_size": 1,
                "reference_price": 100, "order_type": "LIMIT", "limit_price": 99}  # fmt: skip
        assert c.post("/v1/intents", json=body, headers=AUTH).json()["state"] == "ENTRY_WORKING"
        given = {"reference_price": 100, "leverage": 2, "exit_leg_ratios": [1.0],
                 "order_type": "LIMIT", "limit_price": 99}  # fmt: skip
        res = c.post("/v1/intents", json={"action": "CANCEL", "slot_id": 0, **given}, headers=AUTH)
        assert res.status_code == 422, res.text
        assert [e["loc"][1] for e in res.json()["detail"]] == list(given)
        assert all(e["msg"].startswith("has no meaning for CANCEL") for e in res.json()["detail"])
        assert res.json()["message"].startswith("reference_price: has no meaning for CANCEL"), res.text
        order = c.get("/v1/slots/0").json()["active_entry_order"]
        assert order is not None and not order["cancel_requested"]  # nothing sent
        defaults = {"reference_price": 0, "leverage": 1, "exit_leg_ratios": None,
                    "order_type": "MARKET", "limit_price": 0}  # fmt: skip
        res = c.post("/v1/intents", json={"action": "CANCEL", "slot_id": 0, **defaults}, headers=AUTH)
        assert res.status_code == 200 and res.json()["accepted"], res.text
    finally:
        live.stop()
