"""An HTTP keyword (an intent's ``action``, ``side`` and ``order_type``, a control ``mode`` and
``verbosity``) is taken in any case of ASCII letters, as `dita stdio` takes its keywords and both
front ends an asset: ``"long"`` was a 422 over HTTP, where stdio took ``buy`` and ``mkt``."""

from __future__ import annotations

import io
import json

import pytest

from dita._kernel import MockVenueAdapter
from dita.gateway.stdio import run_stdio
from dita.kernel import ExecutionKernel
from gateway.helpers import AUTH, LiveServer, start_server


def test_an_intent_s_keywords_are_taken_in_any_case() -> None:
    live = start_server(venue=lambda: MockVenueAdapter(fill_rate=0.0))  # orders rest
    try:
        c = live.client
        body = {"action": "enter", "asset": "BTCUSDT", "side": "Long", "target_size": 1,
                "reference_price": 100, "order_type": "limit", "limit_price": 99}  # fmt: skip
        res = c.post("/v1/intents", json=body, headers=AUTH)
        assert res.status_code == 200 and res.json()["state"] == "ENTRY_WORKING", res.text
        slot = c.get("/v1/slots/0").json()
        assert (slot["side"], slot["active_entry_order"]["order_type"]) == ("LONG", "LIMIT"), slot
        # A CANCEL's order_type at its default, in lower case, is its default.
        cancel = {"action": "Cancel", "slot_id": 0, "side": "long", "order_type": "market"}
        res = c.post("/v1/intents", json=cancel, headers=AUTH)
        assert res.status_code == 200 and res.json()["accepted"], res.text
    finally:
        live.stop()


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("action", "buy", "'ENTER', 'EXIT' or 'CANCEL'"),
        # A long s upper-cases to S as Unicode: "\u017fhort" is no SHORT.
        ("side", "\u017fhort", "'LONG' or 'SHORT'"),
        ("order_type", "lmt", "'MARKET' or 'LIMIT'"),
    ],
)
def test_another_word_is_a_422_naming_it_as_sent_and_the_words(
    live: LiveServer, field: str, value: str, words: str
) -> None:
    body = {"action": "ENTER", "asset": "BTCUSDT", "side": "LONG", "target_size": 1,
            "reference_price": 100, field: value}  # fmt: skip
    res = live.client.post("/v1/intents", json=body, headers=AUTH)
    assert res.status_code == 422, res.text
    (error,) = res.json()["detail"]
    assert (error["loc"], error["input"]) == (["body", field], value), error
    assert words in error["msg"], error
    assert live.client.get("/v1/slots/0").json()["fsm_state"] == "IDLE"  # nothing sent


def test_a_control_mode_and_verbosity_are_taken_in_any_case(live: LiveServer) -> None:
    res = live.client.put("/v1/control", json={"mode": "halted", "verbosity": "Quiet"}, headers=AUTH)
    assert res.status_code == 200, res.text
    control = live.client.get("/v1/control").json()
    assert (control["mode"], control["verbosity"]) == ("HALTED", "QUIET"), control


def test_http_and_stdio_take_a_keyword_in_lower_case_alike(live: LiveServer) -> None:
    body = {"action": "enter", "asset": "BTCUSDT", "side": "long", "target_size": 1, "reference_price": 100}
    assert live.client.post("/v1/intents", json=body, headers=AUTH).json()["accepted"]
    out = io.BytesIO()
    with ExecutionKernel(max_slots=1) as kernel:
        assert run_stdio(kernel, io.BytesIO(b'{"cmd":"order","side":"buy","symbol":"BTCUSDT","qty":1,'
                                             b'"price":100,"client_id":"c1"}\n'), out) == 0  # fmt: skip
        assert kernel.slot_state(0).side.name == live.client.get("/v1/slots/0").json()["side"] == "LONG"
    assert not [e for e in map(json.loads, out.getvalue().splitlines()) if e["type"] == "error"]
