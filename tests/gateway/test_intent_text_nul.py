"""A NUL character in an intent's free text (``reason``, a metadata key or text value) is a 422
naming the field and the value, nothing sent: the kernel refuses NUL in ids only, and this
text goes on to the journal and the Hazelcast projection, whose readers a NUL breaks."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dita import ExecutionKernel, MockVenueAdapter
from gateway.helpers import AUTH, LiveServer, enter, start_server
from gateway.test_engine import session

JSON_AUTH = {**AUTH, "content-type": "application/json"}
BODY = {"action": "ENTER", "asset": "BTCUSDT", "side": "LONG", "target_size": 1, "reference_price": 100}


@pytest.mark.parametrize(
    ("extra", "field", "named"),
    [
        ({"reason": "a\u0000b"}, "reason", "'a\\x00b'"),
        ({"reason": "\u0000"}, "reason", "'\\x00'"),
        ({"metadata": {"k\u0000": 1}}, "metadata", "metadata key 'k\\x00'"),
        ({"metadata": {"ok": "v\u0000"}}, "metadata", "metadata key 'ok': value 'v\\x00'"),
    ],
)
def test_a_nul_in_an_intents_text_is_422_naming_field_and_value(
    live: LiveServer, extra: dict[str, Any], field: str, named: str
) -> None:
    c = live.client
    body = {**BODY, "intent_id": "nul-1", **extra}
    res = c.post("/v1/intents", content=json.dumps(body), headers=JSON_AUTH)
    assert res.status_code == 422, res.text
    (error,) = res.json()["detail"]
    assert error["loc"] == ["body", field], error
    message = res.json()["message"]
    assert message.startswith(f"{field}: ") and named in message and "NUL" in message, message
    assert c.get("/v1/slots/0").json()["fsm_state"] == "IDLE"  # nothing sent
    assert c.get("/v1/account").json()["open_positions"] == 0
    # The intent id is free for the corrected intent.
    assert enter(c, intent_id="nul-1", reason="a b", metadata={"ok": "v"})["accepted"]


def test_a_nul_in_a_cancels_reason_is_422_and_cancels_nothing() -> None:
    live = start_server(venue=lambda: MockVenueAdapter(fill_rate=0.0))  # the order rests
    try:
        c = live.client
        assert enter(c, order_type="LIMIT", limit_price=49_000.0)["accepted"]
        before = c.get("/v1/slots/0").json()
        assert before["fsm_state"] == "ENTRY_WORKING", before
        res = c.post("/v1/slots/0/cancel", content=json.dumps({"reason": "stop\u0000"}), headers=JSON_AUTH)
        assert res.status_code == 422, res.text
        assert res.json()["detail"][0]["loc"] == ["body", "reason"]
        assert "'stop\\x00'" in res.json()["message"] and "NUL" in res.json()["message"]
        assert c.get("/v1/slots/0").json() == before  # still working
        res = c.post("/v1/slots/0/cancel", json={"reason": "stop"}, headers=AUTH)
        assert res.status_code == 200 and res.json()["accepted"], res.text
    finally:
        live.stop()


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ("ORDER BUY BTC 1 100 c\x001\n", "client_id"),
        ("ORDER BUY BT\x00C 1 100 c1\n", "symbol"),
        (
            '{"cmd": "ORDER", "side": "BUY", "symbol": "BTC", "qty": 1, "client_id": "c\\u0000"}\n',
            "client_id",
        ),
    ],
)
def test_stdio_takes_no_free_text_and_refuses_a_nul_where_it_takes_text(line: str, field: str) -> None:
    """The stdio protocol has no reason or metadata (its intents' reason is "stdio"); its text
    fields are ids and symbols of set characters, which a NUL is not."""
    events = session(ExecutionKernel(max_slots=1), line)
    (error,) = [e for e in events if e["type"] == "error"]
    assert (error["code"], error["field"]) == ("INVALID_FIELD", field), error
    assert "\x00" in error["value"]
    assert not [e for e in events if e["type"] == "order_received"]
