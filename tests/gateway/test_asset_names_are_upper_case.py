"""An asset is named in upper case by both front ends: ``btcusdt`` is BTCUSDT over HTTP as over
stdio. The kernel keeps a position, a mark and a notional cap per name, so over HTTP two
spellings were two assets: a mark of BTCUSDT left a position entered as btcusdt unvalued, and
a per-asset cap was spent twice."""

from __future__ import annotations

import io
import json
from typing import Any

from dita import KernelIntent
from dita.gateway.stdio import run_stdio
from dita.kernel import ExecutionKernel
from gateway.helpers import AUTH, LiveServer, start_server


def _stdio_session(script: str) -> list[dict[str, Any]]:
    out = io.BytesIO()
    with ExecutionKernel(max_slots=2) as kernel:
        assert run_stdio(kernel, io.BytesIO(script.encode()), out) == 0
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_an_asset_in_lower_case_is_the_upper_case_asset_over_http(live: LiveServer) -> None:
    c = live.client
    body = {"action": "ENTER", "asset": "btcusdt", "side": "LONG", "target_size": 1, "reference_price": 100}
    entered = c.post("/v1/intents", json=body, headers=AUTH).json()
    assert entered["accepted"], entered
    assert c.get("/v1/slots/0").json()["asset"] == "BTCUSDT"
    mark = c.post("/v1/marks", json={"asset": "BTCUSDT", "price": 110}, headers=AUTH).json()
    assert mark["slots_marked"] == 1 and mark["account"]["unrealized_pnl"] == 10.0, mark
    again = c.post("/v1/marks", json={"asset": "BtcUsdt", "price": 120}, headers=AUTH).json()
    assert (again["asset"], again["slots_marked"]) == ("BTCUSDT", 1), again
    # An EXIT naming the slot's asset in another case names that asset, not another one.
    exit_body = {"action": "EXIT", "slot_id": 0, "asset": "btcUSDT", "reference_price": 120}
    res = c.post("/v1/intents", json=exit_body, headers=AUTH)
    assert res.status_code == 200 and res.json()["accepted"], res.text


def test_http_and_stdio_name_an_asset_alike(live: LiveServer) -> None:
    body = {"action": "ENTER", "asset": "eth/usdt", "side": "LONG", "target_size": 1, "reference_price": 100}
    assert live.client.post("/v1/intents", json=body, headers=AUTH).json()["accepted"]
    over_http = live.client.get("/v1/slots/0").json()["asset"]
    events = _stdio_session("ORDER BUY eth/usdt 1 100 c1\nQUERY SLOTS\n")
    (slots,) = [e["result"] for e in events if e["type"] == "query_received"]
    assert over_http == slots[0]["asset"] == "ETH/USDT"


def test_a_position_entered_in_lower_case_before_is_exited_by_naming_its_asset_in_any_case() -> None:
    """A kernel continued from a log written before names were upper-cased over HTTP holds
    ``btcusdt``: an EXIT naming its asset (in any case) was refused as naming another asset
    than the slot's, and the position could be closed only by leaving the asset out."""

    def entered_in_lower_case(kernel: ExecutionKernel) -> None:
        entry = KernelIntent("i1", "t1", 0, "btcusdt", "LONG", "ENTER", 100.0, 1.0)
        assert kernel.process_intent(entry).accepted

    live = start_server(max_slots=1, setup=entered_in_lower_case)
    try:
        c = live.client
        wrong = {"action": "EXIT", "slot_id": 0, "asset": "ETHUSDT", "reference_price": 110}
        assert c.post("/v1/intents", json=wrong, headers=AUTH).status_code == 422
        body = {"action": "EXIT", "slot_id": 0, "asset": "BTCUSDT", "reference_price": 110}
        res = c.post("/v1/intents", json=body, headers=AUTH)
        assert res.status_code == 200 and res.json()["accepted"], res.text
        assert c.get("/v1/slots/0").json()["fsm_state"] == "CLOSED"
    finally:
        live.stop()


def _entered_in_lower_case(kernel: ExecutionKernel) -> None:
    """A position as a log written before names were upper-cased holds it: ``btcusdt``."""
    entry = KernelIntent("i1", "t1", 0, "btcusdt", "LONG", "ENTER", 100.0, 1.0)
    assert kernel.process_intent(entry).accepted


def test_an_http_mark_reaches_a_position_held_under_a_lower_case_spelling_of_its_asset() -> None:
    """The mark was of BTCUSDT only: the position entered as btcusdt kept its old valuation."""
    live = start_server(max_slots=2, setup=_entered_in_lower_case)
    try:
        c = live.client
        for name in ("BTCUSDT", "btcUSDT"):
            mark = c.post("/v1/marks", json={"asset": name, "price": 110}, headers=AUTH).json()
            assert (mark["asset"], mark["slots_marked"]) == ("BTCUSDT", 1), mark
            assert mark["account"]["unrealized_pnl"] == 10.0, mark
        slot = c.get("/v1/slots/0").json()
        assert (slot["asset"], slot["unrealized_pnl"]) == ("btcusdt", 10.0), slot
    finally:
        live.stop()


def test_a_stdio_mark_reaches_a_position_held_under_a_lower_case_spelling_of_its_symbol() -> None:
    out = io.BytesIO()
    with ExecutionKernel(max_slots=2) as kernel:
        _entered_in_lower_case(kernel)
        assert run_stdio(kernel, io.BytesIO(b"MARK BTCUSDT 110\n"), out) == 0
        assert kernel.slot_state(0).unrealized_pnl == 10.0
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    (account,) = [e for e in events if e["type"] == "account"]
    assert (account["symbol"], account["unrealized_pnl"]) == ("BTCUSDT", 10.0), account
