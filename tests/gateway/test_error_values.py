"""An error names the value the client sent, not what the gateway made of it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dita import ExecutionKernel
from dita.gateway.protocol import ProtocolError, parse_line
from gateway.helpers import AUTH, LiveServer
from gateway.test_engine import session

JSON_AUTH = {**AUTH, "content-type": "application/json"}


@pytest.mark.parametrize("field", ["target_size", "reference_price", "limit_price", "leverage"])
@pytest.mark.parametrize("sent", ["1e-400", "-0.1e-330", "4e-999999"])
def test_a_number_too_small_for_a_float_is_422_naming_the_text_sent(
    shared: LiveServer, field: str, sent: str
) -> None:
    """A number sent as text that is not 0 but below the smallest float read as 0.0: a target_size
    of "1e-400" was taken as 0 and refused by the kernel naming value 0.0, nothing the client
    sent; a limit_price of it read as no limit."""
    body = {"action": "ENTER", "asset": "BTCUSDT", "side": "LONG", "target_size": 1, "reference_price": 100}
    body[field] = sent
    res = shared.client.post("/v1/intents", content=json.dumps(body), headers=JSON_AUTH)
    assert res.status_code == 422, res.text
    (error,) = res.json()["detail"]
    assert error["loc"] == ["body", field] and error["input"] == sent, error
    assert res.json()["message"].startswith(f"{field}: ") and repr(sent) in res.json()["message"]
    assert shared.client.get("/v1/slots/0").json()["fsm_state"] == "IDLE"  # nothing sent


@pytest.mark.parametrize("sent", ["0", "0.0e-400", "-0", "0e999"])
def test_zero_spelled_any_way_is_still_zero(live: LiveServer, sent: str) -> None:
    body = {"action": "ENTER", "asset": "BTCUSDT", "side": "LONG", "target_size": 1, "reference_price": 100}
    res = live.client.post("/v1/intents", json={**body, "limit_price": sent}, headers=AUTH)
    assert res.status_code == 200 and res.json()["accepted"], res.text


@pytest.mark.parametrize(
    ("metadata", "named"),
    [
        ({"k": "\ud800"}, "metadata key 'k': value '\\ud800': text must not hold lone surrogates"),
        ({"ok": "\udc80x"}, "value '\\udc80x': text must not"),
        ({"\udc80": 1}, "metadata key '\\udc80': text must not"),
        ({"k": "v" * 300}, "value 'vvvv"),
    ],
)
def test_a_metadata_error_names_the_text_at_fault(
    shared: LiveServer, metadata: dict[str, Any], named: str
) -> None:
    """A lone surrogate in a metadata value was reported under its key alone, a key that is
    fine, and not the value at fault. (The first case's key was a NUL, "\\u0000", which is
    itself refused now: test_intent_text_nul.)"""
    body = {"action": "ENTER", "asset": "BTCUSDT", "side": "LONG", "target_size": 1, "reference_price": 100}
    res = shared.client.post(
        "/v1/intents", content=json.dumps({**body, "metadata": metadata}), headers=JSON_AUTH
    )
    assert res.status_code == 422, res.text
    message = res.json()["message"]
    assert message.startswith("metadata: ") and named in message, message


def test_an_enter_stamped_as_a_strategys_trade_is_refused_and_nothing_sent(shared: LiveServer) -> None:
    """`dita live` reads the `strategy` metadata key as the strategy whose trade it is: a trade
    entered through the gateway with it would be handed to that strategy at a restart."""
    body = {"action": "ENTER", "asset": "BTCUSDT", "side": "LONG", "target_size": 1, "reference_price": 100}
    res = shared.client.post(
        "/v1/intents", content=json.dumps({**body, "metadata": {"strategy": "btc-trend"}}), headers=JSON_AUTH
    )
    assert res.status_code == 422, res.text
    message = res.json()["message"]
    assert message.startswith("metadata: ") and "metadata key 'strategy' is the runtime's" in message
    assert shared.client.get("/v1/slots/0").json()["fsm_state"] == "IDLE"


@pytest.mark.parametrize("sent", ["1e-400", '"1e-400"'])
def test_an_order_qty_too_small_for_a_float_names_the_text_sent(sent: str) -> None:
    """The stdio ORDER's qty and price: refused naming what was sent, in the error event too."""
    line = '{"cmd": "ORDER", "side": "BUY", "symbol": "BTC", "qty": %s, "price": "MKT", "client_id": "c1"}'
    if sent.startswith('"'):
        with pytest.raises(ProtocolError) as refused:
            parse_line(line % sent)
        assert refused.value.to_event()["value"] == "1e-400"
        assert "'1e-400'" in refused.value.message
    events = session(ExecutionKernel(max_slots=1), "ORDER BUY BTC 1e-400 MKT c2\n")
    (error,) = [e for e in events if e["type"] == "error"]
    assert error["field"] == "qty" and error["value"] == "1e-400" and "'1e-400'" in error["message"]


@pytest.mark.parametrize(
    ("line", "field", "sent"),
    [
        ("ORDER BUY BTC 2e15 MKT c1", "qty", "2e15"),
        ("ORDER BUY BTC 1000000000000001 100 c1", "qty", "1000000000000001"),
        ("ORDER BUY BTC 1 1e16 c1", "price", "1e16"),
        ('{"cmd": "ORDER", "side": "BUY", "symbol": "BTC", "qty": "2e15", "client_id": "c1"}', "qty", "2e15"),
        ('{"cmd": "ORDER", "side": "BUY", "symbol": "BTC", "qty": 2e15, "client_id": "c1"}', "qty", 2e15),
        ("MARK BTC 1.5e15", "price", "1.5e15"),
    ],
)
def test_a_number_over_the_kernels_bound_names_the_text_sent(line: str, field: str, sent: object) -> None:
    """A qty over 1e15 was refused by the engine naming the float it made of the text
    (2000000000000000.0 for "2e15"), not what the client sent. The error names what was sent,
    a JSON number as that number; the client id stays free for the corrected order."""
    with pytest.raises(ProtocolError) as refused:
        parse_line(line)
    event = refused.value.to_event()
    assert (event["code"], event["field"], event["value"]) == ("INVALID_FIELD", field, sent)
    assert repr(sent) in event["message"] and "at most 1e+15" in event["message"], event
    events = session(ExecutionKernel(max_slots=1), f"{line}\nMARK BTC 100\nORDER BUY BTC 1 MKT c1\n")
    (error,) = [e for e in events if e["type"] == "error"]
    assert (error["field"], error["value"], error["line"]) == (field, sent, 1)
    updates = [e for e in events if e["type"] == "order_update"]
    assert {e["client_id"] for e in updates} == {"c1"} and updates[-1]["status"] == "FILLED", updates


@pytest.mark.parametrize(
    ("sent", "field"),
    [("1e-400", "qty"), ("-2e-999", "qty"), ("1e400", "price"), ("-1E400", "price"), ("1e400", "side")],
)
def test_a_json_number_no_float_holds_is_named_as_sent(sent: str, field: str) -> None:
    """A JSON number below the smallest float was named 0.0, one past the largest inf: neither
    is what the client sent, and "qty must be greater than 0, got 0.0" hid the typo."""
    fields = {"side": '"BUY"', "symbol": '"BTC"', "qty": "1", "price": "100", "client_id": '"c1"'}
    fields[field] = sent
    line = '{"cmd": "ORDER", ' + ", ".join(f'"{k}": {v}' for k, v in fields.items()) + "}"
    with pytest.raises(ProtocolError) as refused:
        parse_line(line)
    event = refused.value.to_event()
    assert (event["code"], event["field"], event["value"]) == ("INVALID_FIELD", field, sent), event
    assert event["message"].endswith(f", got {sent}"), event
    events = session(ExecutionKernel(max_slots=1), line + "\n")
    (error,) = [e for e in events if e["type"] == "error"]
    assert (error["field"], error["value"]) == (field, sent)
    assert not [e for e in events if e["type"] == "order_received"]


@pytest.mark.parametrize(
    ("path", "field", "sent"),
    [
        ("/v1/intents", "target_size", "1e-400"),
        ("/v1/intents", "limit_price", "-2e-999"),
        ("/v1/intents", "slot_id", "1e400"),
        ("/v1/marks", "price", "1e400"),
        ("/v1/marks", "price", "-1E400"),
        ("/v1/marks", "asset", "1e400"),
    ],
)
def test_a_json_number_no_float_holds_is_422_naming_it_as_sent(
    live: LiveServer, path: str, field: str, sent: str
) -> None:
    """A JSON number (not text) below the smallest float was read as 0.0, one past the largest
    as inf: an EXIT's target_size of 1e-400 was 0, which exits the whole leg, and it closed the
    position; 1e400 was named 'inf'. It is a 422 naming the number as sent, nothing changed, as
    stdio names it."""
    c = live.client
    c.post("/v1/intents", json={"action": "ENTER", "asset": "BTCUSDT", "side": "LONG", "target_size": 1,
                                "reference_price": 100}, headers=AUTH)  # fmt: skip
    fields = {"action": '"EXIT"', "slot_id": "0", "reference_price": "100", "target_size": "0.5"}
    if path == "/v1/marks":
        fields = {"asset": '"BTCUSDT"', "price": "101"}
    fields[field] = sent
    body = "{" + ", ".join(f'"{k}": {v}' for k, v in fields.items()) + "}"
    res = c.post(path, content=body, headers=JSON_AUTH)
    assert res.status_code == 422, res.text
    (error,) = res.json()["detail"]
    assert error["loc"] == ["body", field] and error["input"] == sent, error
    assert res.json()["message"].endswith(f"(got {sent!r})"), res.text
    slot = c.get("/v1/slots/0").json()
    assert (slot["size"], slot["unrealized_pnl"]) == (1, 0.0)  # nothing exited, nothing marked


def test_a_subnormal_mark_is_422_naming_the_price_and_marks_nothing(live: LiveServer) -> None:
    """A price above 0 below the smallest normal float (5e-324), which the kernel refuses: a
    mark at it was a 500 (the kernel's ValueError, unanswered). It is a 422 naming the field."""
    c = live.client
    c.post("/v1/intents", json={"action": "ENTER", "asset": "BTCUSDT", "side": "LONG", "target_size": 1,
                                "reference_price": 100}, headers=AUTH)  # fmt: skip
    res = c.post("/v1/marks", json={"asset": "BTCUSDT", "price": 5e-324}, headers=AUTH)
    assert res.status_code == 422, res.text
    (error,) = res.json()["detail"]
    assert error["loc"] == ["body", "price"], error
    slot = c.get("/v1/slots/0").json()
    assert (slot["size"], slot["unrealized_pnl"], slot["fsm_state"]) == (1, 0.0, "POSITION_OPEN")


@pytest.mark.parametrize("price", [0, 5e-324])
def test_a_mark_below_the_least_price_names_the_bound_as_a_float(shared: LiveServer, price: float) -> None:
    """The least price a mark takes is the smallest normal float: the message writes it as
    2.2250738585072014e-308, not as a decimal of over 300 digits."""
    res = shared.client.post("/v1/marks", json={"asset": "BTCUSDT", "price": price}, headers=AUTH)
    assert res.status_code == 422, res.text
    (error,) = res.json()["detail"]
    assert error["msg"] == "Input should be greater than or equal to 2.2250738585072014e-308", error
    assert res.json()["message"] == f"price: {error['msg']} (got {price!r})"
