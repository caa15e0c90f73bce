"""The HTTP gateway over a real kernel and a real server: every endpoint, auth, limits, SSE."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx
import pytest

from dita import MockVenueAdapter, VenueEvent
from gateway.helpers import AUTH, TOKEN, LiveServer, OneIdVenue, enter, read_sse, start_server, wait_until

JSON_AUTH = {**AUTH, "content-type": "application/json"}
# An ENTER of one BTCUSDT at 100, for the slot the gateway picks.
ENTER_ONE = {"action": "ENTER", "asset": "BTCUSDT", "side": "LONG", "target_size": 1, "reference_price": 100}


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text output (0.0 when absent)."""
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        key, _, value = line.rpartition(" ")
        sample, _, label_text = key.partition("{")
        if sample == name and ",".join(sorted(label_text.rstrip("}").split(","))) == want:
            return float(value)
    return 0.0


# --- reads -------------------------------------------------------------------------------


def test_health_and_reads(live: LiveServer) -> None:
    c = live.client
    health = c.get("/healthz").json()
    assert health["status"] == "ok" and health["max_slots"] == 4 and health["kernel_id"]
    assert health["mode"] in ("LIVE", "PAPER", "SHADOW")
    slots = c.get("/v1/slots").json()
    assert [s["slot_id"] for s in slots] == [0, 1, 2, 3]
    assert {s["fsm_state"] for s in slots} == {"IDLE"}
    assert c.get("/v1/slots/2").json()["slot_id"] == 2
    missing = c.get("/v1/slots/4")
    assert missing.status_code == 404 and "slot_id 4" in missing.json()["detail"]
    assert c.get("/v1/slots/-1").status_code == 422
    assert c.get("/v1/orders").json() == []
    account = c.get("/v1/account").json()
    assert {"k_capital", "reconcile_status", "reconcile_delta"} <= set(account)
    # The fee calibration, each liquidity's too (the fresh kernel's: the configured rates).
    sides = ("maker_fee_calibration_ratio", "taker_fee_calibration_ratio", "fee_calibration_ratio")
    assert [account[k] for k in sides] == [1.0, 1.0, 1.0]
    control = c.get("/v1/control").json()
    assert control["mode"] == health["mode"] and "verbosity" in control
    page = c.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    # Self-contained: no script, style or font from another origin.
    assert "http://" not in page.text and "https://" not in page.text and "//cdn" not in page.text
    schema = c.get("/openapi.json").json()
    assert "/v1/intents" in schema["paths"]


def test_orders_the_venue_refuses_are_counted_apart_from_the_kernels_refusals() -> None:
    """A venue's reject is an accepted intent whose order ended at the venue: an operator
    watching the rejects must see it, under its own metric, not as a kernel refusal."""
    live = start_server(venue=lambda: MockVenueAdapter(reject_rate=1.0))
    try:
        out = enter(live.client)
        assert out["accepted"] is True and live.client.get("/v1/slots/0").json()["fsm_state"] == "IDLE"
        text = live.client.get("/metrics").text
        assert metric(text, "dita_gateway_venue_rejects_total", kind="REJECT") == 1
        assert metric(text, "dita_gateway_rejects_total", diagnostic="OK") == 0
    finally:
        live.stop()


def test_a_rate_limited_intent_is_counted_as_refused_not_as_a_venue_reject() -> None:
    """The venue's rate limit leaves the intent unaccepted (RATE_LIMITED): it is one of the
    refused intents, as docs/reference/http-api.md says, and not an order the venue ended."""
    live = start_server(venue=lambda: MockVenueAdapter(rate_limit_rate=1.0))
    try:
        out = enter(live.client)
        assert (out["accepted"], out["diagnostic_code"]) == (False, "RATE_LIMITED")
        text = live.client.get("/metrics").text
        assert metric(text, "dita_gateway_rejects_total", diagnostic="RATE_LIMITED") == 1
        assert "dita_gateway_venue_rejects_total{" not in text
    finally:
        live.stop()


# --- writes and auth ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v1/intents", {"action": "ENTER", "asset": "BTC", "side": "LONG", "target_size": 1}),
        ("PUT", "/v1/control", {"mode": "HALTED"}),
        ("POST", "/v1/slots/0/cancel", {}),
        ("POST", "/v1/marks", {"asset": "BTC", "price": 1.0}),
    ],
)
@pytest.mark.parametrize("auth", [None, "Bearer wrong-token-wrong-token", f"Basic {TOKEN}", TOKEN])
def test_mutations_need_the_bearer_token(
    shared: LiveServer, method: str, path: str, body: dict[str, Any], auth: str | None
) -> None:
    headers = {"authorization": auth} if auth is not None else {}
    res = shared.client.request(method, path, json=body, headers=headers)
    assert res.status_code == 401
    assert res.headers["www-authenticate"] == "Bearer"
    # Nothing changed.
    assert {s["fsm_state"] for s in shared.client.get("/v1/slots").json()} == {"IDLE"}
    assert shared.client.get("/v1/control").json()["mode"] != "HALTED"


def test_enter_exit_and_refusals(live: LiveServer) -> None:
    c = live.client
    out = enter(c, intent_id="e1")
    assert out["accepted"] is True and out["slot_id"] == 0 and out["diagnostic_code"] == "OK"
    slot = c.get("/v1/slots/0").json()
    assert slot["fsm_state"] == "POSITION_OPEN" and slot["asset"] == "BTCUSDT" and slot["side"] == "LONG"
    assert slot["size"] == pytest.approx(0.5)
    assert slot["trade_id"] == "e1"  # trade id defaults to the intent id

    # The same intent again is a duplicate, refused as an outcome (200), not an HTTP error.
    dup = c.post(
        "/v1/intents",
        json={"action": "ENTER", "intent_id": "e1", "slot_id": 1, "asset": "X", "side": "LONG",
              "target_size": 1, "reference_price": 10},
        headers=AUTH,
    )  # fmt: skip
    assert dup.status_code == 200 and dup.json()["accepted"] is False
    assert dup.json()["diagnostic_code"] == "DUPLICATE_INTENT"

    mark = c.post("/v1/marks", json={"asset": "BTCUSDT", "price": 51_000}, headers=AUTH)
    # The answer counts the open slots the mark revalued; it is no sequence number.
    assert mark.status_code == 200 and mark.json()["slots_marked"] == 1 and "seq" not in mark.json()
    elsewhere = c.post("/v1/marks", json={"asset": "ETHUSDT", "price": 3_000}, headers=AUTH)
    assert elsewhere.status_code == 200 and elsewhere.json()["slots_marked"] == 0
    assert c.get("/v1/slots/0").json()["unrealized_pnl"] == pytest.approx(500.0, rel=0.02)

    ex = c.post(
        "/v1/intents",
        json={"action": "EXIT", "slot_id": 0, "reference_price": 51_000, "intent_id": "x1"},
        headers=AUTH,
    )
    assert ex.status_code == 200 and ex.json()["accepted"] is True
    closed = c.get("/v1/slots/0").json()
    assert closed["fsm_state"] == "CLOSED" and closed["realized_pnl"] == pytest.approx(500.0, rel=0.02)

    # EXIT on a slot without a position: refused with the kernel's diagnostic.
    again = c.post("/v1/intents", json={"action": "EXIT", "slot_id": 0, "reference_price": 1}, headers=AUTH)
    assert again.json()["accepted"] is False and again.json()["diagnostic_code"] == "NO_POSITION"

    # HALTED refuses entries.
    halted = c.put("/v1/control", json={"mode": "HALTED"}, headers=AUTH)
    assert halted.status_code == 200 and halted.json()["mode"] == "HALTED"
    blocked = enter(c)
    assert blocked["accepted"] is False and blocked["diagnostic_code"] == "MODE_BLOCKED"
    assert c.get("/v1/control").json()["mode"] == "HALTED"
    back = c.put("/v1/control", json={"mode": "LIVE", "verbosity": "DEBUG"}, headers=AUTH).json()
    assert back["mode"] == "LIVE" and back["verbosity"] == "DEBUG"

    text = c.get("/metrics").text
    assert metric(text, "dita_gateway_intents_total", action="ENTER", accepted="true") == 1
    assert metric(text, "dita_gateway_intents_total", action="ENTER", accepted="false") == 2
    assert metric(text, "dita_gateway_intents_total", action="EXIT", accepted="true") == 1
    assert metric(text, "dita_gateway_rejects_total", diagnostic="MODE_BLOCKED") == 1
    assert metric(text, "dita_gateway_rejects_total", diagnostic="DUPLICATE_INTENT") == 1
    assert metric(text, "dita_gateway_rejects_total", diagnostic="NO_POSITION") == 1
    assert metric(text, "dita_gateway_fills_total") == 2
    assert metric(text, "dita_gateway_intent_latency_seconds_count") == 5
    assert metric(text, "dita_gateway_control_changes_total") == 2
    assert metric(text, "dita_gateway_request_latency_seconds_count", method="POST", route="/v1/intents") == 5
    assert "dita_kernel_stat" in text
    # Every counter, past a figure not known (None) in stats(), and the kernel's own latency.
    assert any(line.startswith('dita_kernel_stat{name="seq"} ') for line in text.splitlines())
    assert 0 < metric(text, "dita_kernel_intent_latency_seconds", quantile="0.99") < 1


def test_a_wrong_method_is_405_listing_every_method_the_path_takes(live: LiveServer) -> None:
    """PATCH /v1/control answered `Allow: GET`, as if the control state could not be changed
    over HTTP: only the first route of the path was asked."""
    for method in ("PATCH", "DELETE", "POST"):
        res = live.client.request(method, "/v1/control", json={"mode": "HALTED"}, headers=AUTH)
        assert res.status_code == 405 and res.headers["allow"] == "GET, PUT", (method, res.headers)
    res = live.client.request("DELETE", "/v1/intents")
    assert res.status_code == 405 and res.headers["allow"] == "POST"
    assert live.client.get("/v1/control").json()["mode"] != "HALTED"


def test_made_up_methods_do_not_grow_the_latency_metric(live: LiveServer) -> None:
    """Each method name a client made up was a new labelled histogram kept for ever: anyone
    could grow the server's memory and every scrape without a token."""
    for i in range(20):
        assert live.client.request(f"MADEUP{i}", "/healthz").status_code == 405
    live.client.request("GET", "/healthz")
    text = live.client.get("/metrics").text
    assert "MADEUP" not in text
    assert metric(text, "dita_gateway_request_latency_seconds_count", method="OTHER", route="/healthz") == 20
    assert metric(text, "dita_gateway_request_latency_seconds_count", method="GET", route="/healthz") == 1


@pytest.mark.parametrize("blocked", ["", "fills: DatabaseError: Code: 16. ... (NO_SUCH_COLUMN_IN_TABLE)"])
def test_metrics_say_when_the_journal_is_blocked(blocked: str) -> None:
    """An alert can watch one gauge for a journal whose rows ClickHouse refuses for good."""
    from prometheus_client import generate_latest

    from dita import ExecutionKernel
    from dita.gateway.metrics import GatewayMetrics
    from dita.journal import JournalStats

    class Journal:
        def stats(self) -> JournalStats:
            return JournalStats(queued=5, blocked=blocked)

    kernel = ExecutionKernel(max_slots=1)
    kernel.journal = Journal()
    text = generate_latest(GatewayMetrics(kernel).registry).decode()
    assert metric(text, "dita_journal_queued_rows") == 5
    assert f"dita_journal_blocked {1.0 if blocked else 0.0}" in text.splitlines()


def test_no_free_slot_is_409(live: LiveServer) -> None:
    for i in range(4):
        assert enter(live.client, asset=f"A{i}")["slot_id"] == i
    res = live.client.post(
        "/v1/intents", json={"action": "ENTER", "asset": "B", "side": "LONG", "target_size": 1,
                             "reference_price": 10}, headers=AUTH,
    )  # fmt: skip
    assert res.status_code == 409 and "no free slot" in res.json()["detail"]


def test_resting_order_shows_in_orders_and_cancels() -> None:
    live = start_server(venue=lambda: MockVenueAdapter(fill_rate=0.0))
    try:
        c = live.client
        out = enter(c, order_type="LIMIT", limit_price=49_000.0)
        assert out["accepted"] is True
        orders = c.get("/v1/orders").json()
        assert len(orders) == 1 and orders[0]["slot_id"] == 0 and orders[0]["asset"] == "BTCUSDT"
        assert c.get("/v1/slots/0").json()["fsm_state"] in ("ORDER_SENT", "ENTRY_WORKING")
        res = c.post("/v1/slots/0/cancel", json={"reason": "operator"}, headers=AUTH)
        assert res.status_code == 200 and res.json()["accepted"] is True
        assert c.get("/v1/slots/0").json()["fsm_state"] in ("IDLE", "ORDER_SENT", "ENTRY_WORKING")
        # Nothing working on slot 1: the cancel is refused by the kernel, not an HTTP error.
        idle = c.post("/v1/slots/1/cancel", headers=AUTH)
        assert idle.status_code == 200 and idle.json()["accepted"] is False
        assert c.post("/v1/slots/9/cancel", headers=AUTH).status_code == 404
    finally:
        live.stop()


# --- bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"action": "ENTER", "asset": "BTC", "side": "LONG", "target_size": "lots"}, "target_size"),
        ({"action": "ENTER", "asset": "BTC", "side": "UP", "target_size": 1}, "side"),
        ({"action": "BUY"}, "action"),
        ({"asset": "BTC"}, "action"),
        ({"action": "ENTER", "asset": "BTC", "side": "LONG", "target_size": -1}, "target_size"),
        ({"action": "ENTER", "asset": "BTC", "side": "LONG", "reference_price": 1e400}, "reference_price"),
        ({"action": "ENTER", "asset": "BTC", "side": "LONG", "colour": "red"}, "colour"),
        ({"action": "ENTER", "asset": "B T C", "side": "LONG"}, "asset"),
        ({"action": "ENTER", "side": "LONG", "target_size": 1}, "asset"),
        ({"action": "ENTER", "asset": "BTC", "target_size": 1}, "side"),
        ({"action": "EXIT"}, "slot_id"),
        ({"action": "EXIT", "slot_id": 10**30}, "slot_id"),
        ({"action": "ENTER", "asset": "BTC", "side": "LONG", "exit_leg_ratios": [0.5, 2]}, "exit_leg_ratios"),
        ({"action": "ENTER", "asset": "BTC", "side": "LONG", "metadata": {"k": [1]}}, "metadata"),
        # The kernel keeps metadata integers in 64 bits; a bigger one must be a 422, not a 500.
        ({"action": "ENTER", "asset": "BTC", "side": "LONG", "metadata": {"k": 2**63}}, "metadata"),
        # JSON can spell a lone surrogate ("\ud800"); the kernel takes UTF-8 text only.
        ({"action": "ENTER", "asset": "BTC", "side": "LONG", "metadata": {"k": "\ud800"}}, "metadata"),
        ({"action": "ENTER", "asset": "BTC", "side": "LONG", "metadata": {"\udc80": 1}}, "metadata"),
        # JSON true and false are not numbers: lax parsing read them as 1 and 0 (a trade of size 1).
        (
            {"action": "ENTER", "asset": "BTC", "side": "LONG", "reference_price": 100, "target_size": True},
            "target_size",
        ),
        (
            {"action": "ENTER", "asset": "BTC", "side": "LONG", "target_size": 1, "reference_price": True},
            "reference_price",
        ),
        ({"action": "ENTER", "asset": "BTC", "side": "LONG", "target_size": 1, "leverage": True}, "leverage"),
        ({"action": "ENTER", "asset": "BTC", "side": "LONG", "limit_price": False}, "limit_price"),
        ({"action": "ENTER", "asset": "BTC", "side": "LONG", "exit_leg_ratios": [True]}, "exit_leg_ratios"),
        ({"action": "ENTER", "slot_id": True, "asset": "BTC", "side": "LONG", "target_size": 1}, "slot_id"),
    ],
)
def test_bad_intent_is_422_naming_the_field(shared: LiveServer, body: dict[str, Any], field: str) -> None:
    res = shared.client.post("/v1/intents", content=json.dumps(body), headers=JSON_AUTH)
    assert res.status_code == 422, res.text
    payload = res.json()
    assert any(field in [str(p) for p in err["loc"]] for err in payload["detail"]), payload
    assert field in payload["message"]
    assert {s["fsm_state"] for s in shared.client.get("/v1/slots").json()} == {"IDLE"}


def test_body_that_is_not_json_is_422(live: LiveServer) -> None:
    res = live.client.post("/v1/intents", content=b'{"action": ', headers=JSON_AUTH)
    assert res.status_code == 422
    assert res.json()["message"].startswith("body is not valid JSON")
    res = live.client.put("/v1/control", json={"mode": "SIDEWAYS"}, headers=AUTH)
    assert res.status_code == 422 and "mode" in res.json()["message"]
    res = live.client.put("/v1/control", json={}, headers=AUTH)
    assert res.status_code == 422 and "at least one" in res.json()["message"]
    res = live.client.post("/v1/marks", json={"asset": "BTC", "price": 0}, headers=AUTH)
    assert res.status_code == 422 and "price" in res.json()["message"]


@pytest.mark.parametrize(
    ("content_type", "shown"),
    [
        ("application/x-www-form-urlencoded", "(got 'application/x-www-form-urlencoded')"),  # curl -d
        ("text/plain", "(got 'text/plain')"),
        (None, "(no Content-Type header was sent)"),
    ],
)
def test_a_json_body_without_a_json_content_type_is_422_naming_the_header(
    live: LiveServer, content_type: str | None, shown: str
) -> None:
    """`curl -d '{...}'` sends a form content type: the answer said the body, a JSON object,
    "should be a valid dictionary or object", which sent people hunting in their JSON."""
    body = json.dumps({"action": "ENTER", "asset": "BTCUSDT", "side": "LONG", "target_size": 0.1}).encode()
    for method, path in (("POST", "/v1/intents"), ("POST", "/v1/slots/0/cancel"), ("PUT", "/v1/control")):
        headers = {**AUTH, **({"content-type": content_type} if content_type else {})}
        res = live.client.request(method, path, content=body, headers=headers)
        assert res.status_code == 422, (path, res.text)
        error = res.json()["detail"][0]
        assert error["loc"] == ["header", "Content-Type"] and error["type"] == "content_type", path
        assert error.get("input") == content_type
        assert res.json()["message"] == f"Content-Type: the body must be sent as application/json {shown}"
    assert live.client.get("/v1/slots/0").json()["fsm_state"] == "IDLE"


def test_a_boolean_is_not_a_mark_price(live: LiveServer) -> None:
    """Lax parsing read ``true`` as 1.0 and marked the asset there, revaluing its positions."""
    enter(live.client, asset="BTCUSDT")
    before = live.client.get("/v1/account").json()
    res = live.client.post("/v1/marks", json={"asset": "BTCUSDT", "price": True}, headers=AUTH)
    assert res.status_code == 422, res.text
    assert res.json()["detail"][0]["loc"] == ["body", "price"]
    assert res.json()["message"] == "price: Input should be a number, not true or false (got true)"
    assert live.client.get("/v1/account").json()["unrealized_pnl"] == before["unrealized_pnl"]


def test_numbers_are_bounded_where_the_kernel_bounds_them(live: LiveServer) -> None:
    """The kernel takes prices and sizes up to 1e15, as `dita stdio` does; HTTP refused
    anything over 1e12 (a mark of 2e12 was a 422 over HTTP and taken over stdio)."""
    c = live.client
    mark = c.post("/v1/marks", json={"asset": "BIG", "price": 2e12}, headers=AUTH)
    assert mark.status_code == 200, mark.text
    assert c.post("/v1/marks", json={"asset": "BIG", "price": 1e15}, headers=AUTH).status_code == 200
    over = c.post("/v1/marks", json={"asset": "BIG", "price": 1.1e15}, headers=AUTH)
    assert over.status_code == 422 and over.json()["detail"][0]["loc"] == ["body", "price"]
    for field in ("reference_price", "target_size", "limit_price"):
        body = {"action": "ENTER", "asset": "BIG", "side": "LONG", "target_size": 1.0,
                "reference_price": 1.0, "order_type": "LIMIT", "limit_price": 1.0, field: 2e12}  # fmt: skip
        res = c.post("/v1/intents", json=body, headers=AUTH)
        assert res.status_code == 200, (field, res.text)  # the kernel's outcome, whatever it is
        res = c.post("/v1/intents", json={**body, field: 1.1e15}, headers=AUTH)
        assert res.status_code == 422 and res.json()["detail"][0]["loc"] == ["body", field]


def test_numbers_as_strings_are_ascii_decimal(live: LiveServer) -> None:
    """pydantic reads "1_0" as 10 (Python's spelling): a typo would trade ten times the size."""
    c = live.client
    body = {"action": "ENTER", "asset": "BTC", "side": "LONG", "target_size": "1", "reference_price": "100"}
    for field, value in [("target_size", "1_0"), ("reference_price", "1_00"), ("slot_id", "1_0"),
                         ("leverage", " 2 "), ("limit_price", "\uff11\uff10\uff10")]:  # fmt: skip
        res = c.post("/v1/intents", json={**body, field: value}, headers=AUTH)
        assert res.status_code == 422, (field, res.text)
        assert res.json()["detail"][0]["loc"] == ["body", field]
        assert res.json()["message"].startswith(f"{field}: ") and repr(value) in res.json()["message"]
    mark = c.post("/v1/marks", json={"asset": "BTC", "price": "1_0"}, headers=AUTH)
    assert mark.status_code == 422 and mark.json()["detail"][0]["loc"] == ["body", "price"]
    cancel = c.post("/v1/slots/0_1/cancel", headers=AUTH)
    assert cancel.status_code == 422 and cancel.json()["detail"][0]["loc"] == ["path", "slot_id"]
    assert {s["fsm_state"] for s in c.get("/v1/slots").json()} == {"IDLE"}
    # Plain spellings still go through: inf stays refused as not finite.
    assert c.post("/v1/intents", json={**body, "target_size": "1e0"}, headers=AUTH).json()["accepted"] is True
    inf = c.post("/v1/intents", json={**body, "target_size": "inf"}, headers=AUTH)
    assert inf.status_code == 422 and inf.json()["detail"][0]["type"] == "finite_number"


def test_an_exit_larger_than_the_position_closes_it(live: LiveServer) -> None:
    """HTTP speaks the kernel's intents: an EXIT's target_size is clamped to the position
    (docs/reference/http-api.md), unlike a stdio order, which would go through zero."""
    c = live.client
    assert enter(c, intent_id="big-e")["accepted"] is True
    body = {"action": "EXIT", "slot_id": 0, "reference_price": 50_000, "target_size": 5.0}
    out = c.post("/v1/intents", json=body, headers=AUTH).json()
    assert out["accepted"] is True and out["details"]["clamped_target_size"] == 5.0
    assert c.get("/v1/slots/0").json()["fsm_state"] == "CLOSED"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"action": "ENTER", "asset": "\xff"}', "not UTF-8 (bad byte at offset 30)"),
        (b'{"metadata": ' + b"[" * 5000 + b"]" * 5000 + b"}", "nested too deeply"),
        (b'{"target_size": ' + b"9" * 5000 + b"}", "Exceeds the limit (4300 digits)"),
        # json.loads of bytes reads UTF-16 and UTF-32 too: such an intent was taken and traded.
        (
            json.dumps({"action": "ENTER", "asset": "BTC"}).encode("utf-16"),
            "not UTF-8 (bad byte at offset 0)",
        ),
        (
            json.dumps({"action": "ENTER", "asset": "BTC"}).encode("utf-32"),
            "not UTF-8 (bad byte at offset 0)",
        ),
    ],
    ids=["not-utf8", "nested", "long-int", "utf16", "utf32"],
)
def test_unreadable_json_body_is_422_like_any_bad_json(live: LiveServer, body: bytes, reason: str) -> None:
    """json.loads raises on these past JSONDecodeError; FastAPI answered them with a bare 400."""
    for path in ("/v1/intents", "/v1/slots/0/cancel", "/v1/marks"):
        res = live.client.post(path, content=body, headers=JSON_AUTH)
        assert res.status_code == 422, res.text
        payload = res.json()
        assert [(e["loc"], e["type"]) for e in payload["detail"]] == [(["body"], "json_invalid")]
        assert payload["message"].startswith(f"body is not valid JSON: {reason}"), payload["message"]
    assert {s["fsm_state"] for s in live.client.get("/v1/slots").json()} == {"IDLE"}


def test_a_body_with_a_utf8_byte_order_mark_is_read() -> None:
    live = start_server()
    try:
        body = (
            b"\xef\xbb\xbf"
            + json.dumps(
                {
                    "action": "ENTER",
                    "asset": "BTC",
                    "side": "LONG",
                    "reference_price": 100.0,
                    "target_size": 1.0,
                }
            ).encode()
        )
        res = live.client.post("/v1/intents", content=body, headers=JSON_AUTH)
        assert res.status_code == 200 and res.json()["accepted"], res.text
    finally:
        live.stop()


@pytest.mark.parametrize(
    ("body", "first"),
    [
        (
            {"action": "ENTER", "metadata": {f"k{i}": {} for i in range(3_000)}},
            "metadata: Value error, metadata holds 3000 keys; at most 32",
        ),
        (
            {"action": "ENTER", **{f"u{i}": 1 for i in range(3_000)}},
            "u0: Extra inputs are not permitted",
        ),
    ],
    ids=["metadata", "unknown-fields"],
)
def test_a_body_with_thousands_of_errors_gets_a_short_answer(
    live: LiveServer, body: dict[str, Any], first: str
) -> None:
    """Each of thousands of entries was validated and listed: 64 KB of body made a 4.4 MB
    answer, built on the event loop."""
    res = live.client.post("/v1/intents", json=body, headers=AUTH)
    assert res.status_code == 422
    assert len(res.content) < 20_000
    assert res.json()["message"].startswith(first), res.json()["message"][:200]


def test_body_size_limit(live: LiveServer) -> None:
    limit = live.app.state.settings.max_body_bytes
    big = {"action": "ENTER", "asset": "BTC", "side": "LONG", "reason": "x" * (limit + 10)}
    res = live.client.post("/v1/intents", json=big, headers=AUTH)
    assert res.status_code == 413 and str(limit) in res.json()["detail"]

    # Chunked upload (no Content-Length): counted as it arrives.
    def chunks() -> Any:
        for _ in range(limit // 1024 + 2):
            yield b" " * 1024

    res = live.client.post("/v1/intents", content=chunks(), headers=JSON_AUTH)
    assert res.status_code == 413
    assert {s["fsm_state"] for s in live.client.get("/v1/slots").json()} == {"IDLE"}


# --- server-sent events ----------------------------------------------------------------------


def test_events_stream_and_resume(live: LiveServer) -> None:
    base = live.client.get("/healthz").json()["last_event_id"]  # ids go on from the start time
    with httpx.Client(base_url=live.url, timeout=10.0) as sse:
        with sse.stream("GET", "/v1/events") as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            lines = stream.iter_lines()
            enter(live.client, intent_id="s1")
            first = read_sse(lines, 3)
        assert [e.event for e in first] == ["outcome", "slot", "account"]
        assert [e.id for e in first] == [base + 1, base + 2, base + 3]
        assert first[0].data["intent_id"] == "s1" and first[0].data["accepted"] is True
        assert first[0].data["id"] == base + 1 and first[0].data["type"] == "outcome"
        assert first[1].data["fsm_state"] == "POSITION_OPEN"

        # While disconnected: a control change and a refused entry.
        live.client.put("/v1/control", json={"mode": "HALTED"}, headers=AUTH)
        enter(live.client, intent_id="s2")

        with sse.stream("GET", "/v1/events", headers={"Last-Event-ID": str(base + 3)}) as stream:
            missed = read_sse(stream.iter_lines(), 3)
        assert [(e.id, e.event) for e in missed] == [
            (base + 4, "control"),
            (base + 5, "outcome"),
            (base + 6, "slot"),
        ]
        assert missed[0].data["mode"] == "HALTED"
        assert missed[1].data["diagnostic_code"] == "MODE_BLOCKED"

        with sse.stream("GET", "/v1/events", params={"last_event_id": base + 4}) as stream:
            again = read_sse(stream.iter_lines(), 2)
        assert [e.id for e in again] == [base + 5, base + 6]

    assert live.client.get("/v1/events", headers={"Last-Event-ID": "abc"}).status_code == 422
    assert wait_until(lambda: live.client.get("/healthz").json()["sse_clients"] == 0)


def test_resume_past_the_history_gets_reset() -> None:
    live = start_server(sse_history=3)
    try:
        base = live.client.get("/healthz").json()["last_event_id"]
        for i in range(2):
            enter(live.client, asset=f"R{i}")  # 3 events each: ids base+1..6, history keeps base+4..6
        with live.client.stream("GET", "/v1/events", headers={"Last-Event-ID": str(base + 1)}) as stream:
            events = read_sse(stream.iter_lines(), 4)
        assert events[0].event == "reset" and events[0].id is None  # as docs/reference/http-api.md says
        assert events[0].data == {"type": "reset", "last_event_id": base + 1, "oldest_available": base + 4}
        assert [e.id for e in events[1:]] == [base + 4, base + 5, base + 6]
    finally:
        live.stop()


def test_resume_with_an_id_from_an_earlier_server_run_gets_reset() -> None:
    """Ids go on across restarts: an id the previous server gave out is older than anything
    the new one kept, even when the new one has already published more events than that."""
    old = start_server()
    try:
        enter(old.client, asset="OLD")
        with old.client.stream("GET", "/v1/events", params={"last_event_id": 0}) as stream:
            old_ids = [e.id for e in read_sse(stream.iter_lines(), 3, skip=("reset",))]
    finally:
        old.stop()
    new = start_server()
    try:
        c = new.client
        enter(c, asset="A")
        enter(c, asset="B")
        assert c.post("/v1/marks", json={"asset": "A", "price": 50_100}, headers=AUTH).status_code == 200
        last = c.get("/healthz").json()["last_event_id"]
        with c.stream("GET", "/v1/events", params={"last_event_id": 0}) as stream:
            new_events = read_sse(stream.iter_lines(), 8, skip=("reset",))
        assert [e.id for e in new_events][-1] == last
        new_ids = [e.id for e in new_events]
        assert new_ids == sorted(set(new_ids)) and all(i is not None and i < 2**53 for i in new_ids)
        for old_id in old_ids:
            with c.stream("GET", "/v1/events", headers={"Last-Event-ID": str(old_id)}) as stream:
                lines = stream.iter_lines()
                (first,) = read_sse(lines, 1)
                assert first.event == "reset" and first.data["last_event_id"] == old_id
                resumed = read_sse(lines, len(new_events))
            assert [e.id for e in resumed] == new_ids  # nothing of the new run skipped
        assert max(i for i in old_ids if i is not None) < new_ids[0]
    finally:
        new.stop()


def test_slow_sse_client_is_dropped_not_buffered() -> None:
    """A client that stops reading is cut off once its buffer fills; the server stays well."""
    live = start_server(max_slots=8, sse_client_buffer=8)
    try:
        c = live.client
        fat = {f"k{i}": "x" * 250 for i in range(32)}  # slot events carry metadata: ~9 KB each
        for i in range(8):
            enter(c, asset="FAT", metadata=fat, intent_id=f"f{i}")
        # A small window from the handshake on: set after it, the window stays wide enough for
        # megabytes to queue, and reading them to the end takes minutes of delayed acks.
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", int(live.url.rsplit(":", 1)[1])))
        sock.sendall(b"GET /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        wait_until(lambda: c.get("/healthz").json()["sse_clients"] == 1)
        # Each mark publishes the account and 8 fat slots; the socket fills, then the buffer.
        dropped = 0.0
        for i in range(2000):
            c.post("/v1/marks", json={"asset": "FAT", "price": 50_000 + i}, headers=AUTH)
            dropped = metric(c.get("/metrics").text, "dita_gateway_sse_dropped_clients_total")
            if dropped:
                break
        assert dropped == 1
        assert wait_until(lambda: c.get("/healthz").json()["sse_clients"] == 0)
        # The server ended the stream: reading what was sent reaches EOF.
        sock.settimeout(10)
        received = 0
        while chunk := sock.recv(1 << 16):
            received += len(chunk)
        sock.close()
        assert received > 0
        # A well-behaved client still gets events.
        with c.stream("GET", "/v1/events", params={"last_event_id": live.app.state.broadcaster.last_id}) as s:
            lines = s.iter_lines()
            live.client.put("/v1/control", json={"verbosity": "QUIET"}, headers=AUTH)
            (ev,) = read_sse(lines, 1)
        assert ev.event == "control" and ev.data["verbosity"] == "QUIET"
    finally:
        live.stop()


def test_event_stream_clients_are_capped() -> None:
    """Every client costs each publish (made on the kernel's thread) a frame: past
    ``sse_max_clients`` a new one is refused with 503, and a freed place is taken again."""
    live = start_server(sse_max_clients=2)
    try:
        c = live.client
        with httpx.Client(base_url=live.url, timeout=10.0) as sse:
            with sse.stream("GET", "/v1/events"), sse.stream("GET", "/v1/events"):
                assert wait_until(lambda: c.get("/healthz").json()["sse_clients"] == 2)
                res = c.get("/v1/events")
                assert res.status_code == 503, res.text
                detail = res.json()["detail"]
                assert detail == "too many event stream clients: the limit is 2 (sse_max_clients)"
                assert res.headers["retry-after"]
                assert metric(c.get("/metrics").text, "dita_gateway_sse_refused_clients_total") == 1
            assert wait_until(lambda: c.get("/healthz").json()["sse_clients"] == 0)
            with sse.stream("GET", "/v1/events") as stream:
                lines = stream.iter_lines()
                c.put("/v1/control", json={"verbosity": "QUIET"}, headers=AUTH)
                (ev,) = read_sse(lines, 1)
            assert ev.event == "control"
    finally:
        live.stop()


@pytest.mark.parametrize("value", ["yes", 1, "true", 0])
def test_the_clickhouse_debug_switch_takes_only_true_or_false(shared: LiveServer, value: object) -> None:
    """`debug_clickhouse_enabled: "yes"` was read as true (pydantic's lax bool), while the
    kernel's own `update_control` refuses it: a switch that turns journaling on is set only by
    a real JSON boolean, and a refused change leaves the control state as it was."""
    before = shared.client.get("/v1/control").json()
    res = shared.client.put("/v1/control", json={"debug_clickhouse_enabled": value}, headers=AUTH)
    assert res.status_code == 422
    assert res.json()["detail"][0]["loc"] == ["body", "debug_clickhouse_enabled"]
    assert shared.client.get("/v1/control").json() == before


# --- review of `dita serve`: token before body, one slot shape, timed answers ------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/v1/intents"), ("PUT", "/v1/control"), ("POST", "/v1/slots/0/cancel"), ("POST", "/v1/marks")],
)
@pytest.mark.parametrize("auth", [None, "Bearer wrong-token-wrong-token"])
@pytest.mark.parametrize(
    ("body", "content_type"),
    [(b"{not json", "application/json"), (b"", "application/json"), (b'{"a": 1}', "text/plain"), (b"", None)],
)
def test_the_token_is_checked_before_the_body_is_read(
    shared: LiveServer, method: str, path: str, auth: str | None, body: bytes, content_type: str | None
) -> None:
    """FastAPI parses the body before it runs the token dependency: a client without the
    token that sent a body that is not JSON was told 422 json_invalid, not 401."""
    headers = {
        **({"authorization": auth} if auth is not None else {}),
        **({"content-type": content_type} if content_type else {}),
    }
    res = shared.client.request(method, path, content=body, headers=headers)
    assert res.status_code == 401, res.text
    assert res.headers["www-authenticate"] == "Bearer"
    assert res.json() == {"detail": "missing or wrong bearer token (header Authorization: Bearer <token>)"}
    # With the token the same body is judged as before.
    res = shared.client.request(method, path, content=body, headers={**headers, **AUTH})
    assert res.status_code == 422 or (path.endswith("/cancel") and not body), res.text


def test_the_body_limit_comes_before_the_token(live: LiveServer) -> None:
    """413 applies to any request, a GET or one without the token included (it is checked
    first, on Content-Length and on the bytes received)."""
    limit = live.app.state.settings.max_body_bytes
    big = b" " * (limit + 1)
    for method, path, headers in (
        ("POST", "/v1/intents", {}),
        ("POST", "/v1/intents", JSON_AUTH),
        ("GET", "/healthz", {}),
        ("GET", "/no/such/path", {}),
    ):
        res = live.client.request(method, path, content=big, headers=headers)
        assert res.status_code == 413, (method, path, res.text)
        assert res.json()["field"] == "body" and "www-authenticate" not in res.headers


def test_a_slot_has_the_same_fields_in_every_answer_and_event(live: LiveServer) -> None:
    """`kernel_id` was in GET /v1/slots/{id} and the `slot` events of intents, and missing
    from GET /v1/slots and the `slot` events of marks (kernel.slots() leaves it out)."""
    c = live.client
    with httpx.Client(base_url=live.url, timeout=10.0) as sse:
        with sse.stream("GET", "/v1/events") as stream:
            lines = stream.iter_lines()
            enter(c, asset="BTCUSDT")
            after_intent = read_sse(lines, 1, skip=("outcome", "account"))[0]
            c.post("/v1/marks", json={"asset": "BTCUSDT", "price": 51_000}, headers=AUTH)
            after_mark = read_sse(lines, 1, skip=("outcome", "account"))[0]
    assert (after_intent.event, after_mark.event) == ("slot", "slot")
    kernel_id = c.get("/healthz").json()["kernel_id"]
    one = c.get("/v1/slots/0").json()
    listed = c.get("/v1/slots").json()
    event_fields = {"id", "type", "ts"}
    shapes = {
        "GET /v1/slots/0": set(one),
        "GET /v1/slots item": set(listed[0]),
        "GET /v1/slots idle item": set(listed[1]),
        "slot event (intent)": set(after_intent.data) - event_fields,
        "slot event (mark)": set(after_mark.data) - event_fields,
    }
    assert all(shape == set(one) for shape in shapes.values()), shapes
    assert "kernel_id" in one and {s["kernel_id"] for s in listed} == {kernel_id}
    assert after_mark.data["kernel_id"] == kernel_id and after_mark.data["mark_price"] == 51_000


def test_every_served_route_and_the_413s_are_timed_under_their_route(live: LiveServer) -> None:
    """/openapi.json was counted as route "unmatched", and a 413 (answered before routing)
    was not timed at all; a 401 is answered before routing too."""
    c = live.client
    limit = live.app.state.settings.max_body_bytes
    c.get("/openapi.json")
    c.get("/")
    c.post("/v1/intents", content=b" " * (limit + 1), headers=JSON_AUTH)
    c.request("GET", "/healthz", content=b" " * (limit + 1))
    c.request("GET", "/no/such/path", content=b" " * (limit + 1))
    c.post("/v1/marks", content=b"{", headers={"content-type": "application/json"})  # 401
    c.get("/no/such/path")
    text = c.get("/metrics").text
    count = "dita_gateway_request_latency_seconds_count"
    assert metric(text, count, method="GET", route="/openapi.json") == 1
    assert metric(text, count, method="GET", route="/") == 1
    assert metric(text, count, method="POST", route="/v1/intents") == 1
    assert metric(text, count, method="GET", route="/healthz") == 1
    assert metric(text, count, method="POST", route="/v1/marks") == 1
    assert metric(text, count, method="GET", route="unmatched") == 2


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "body: Field required"),
        (None, "body: Field required"),
        (b"null", "body: Input should be a valid dictionary or object to extract fields from (got null)"),
    ],
)
def test_an_empty_or_null_intent_body_is_named_as_sent(
    live: LiveServer, body: bytes | None, message: str
) -> None:
    """An empty body read `body: Field required (got None)`: nothing was given, and `null`
    is not spelt None in JSON."""
    res = live.client.post("/v1/intents", content=body, headers=JSON_AUTH)
    assert res.status_code == 422
    assert res.json()["message"] == message
    assert res.json()["detail"][0]["loc"] == ["body"]


def test_a_retried_enter_is_a_duplicate_naming_the_slot_it_went_to(live: LiveServer) -> None:
    """A retry without slot_id goes back to the slot the intent took: the kernel's refusal
    names that slot and trade, and it stays DUPLICATE_INTENT, not 409, once every slot is
    busy. Given a free slot, the retry's refusal would name that one, and with none free it
    would be a 409."""
    c = live.client
    first = enter(c, intent_id="retry-1")
    assert first["accepted"] is True and first["slot_id"] == 0
    body = {"action": "ENTER", "intent_id": "retry-1", "asset": "BTCUSDT", "side": "LONG",
            "target_size": 0.5, "reference_price": 50_000.0}  # fmt: skip
    again = c.post("/v1/intents", json=body, headers=AUTH).json()
    assert (again["accepted"], again["diagnostic_code"]) == (False, "DUPLICATE_INTENT")
    assert (again["slot_id"], again["trade_id"]) == (0, "retry-1")
    assert c.get("/v1/slots/1").json()["fsm_state"] == "IDLE"
    # A refused ENTER is not remembered: sent again, it takes a free slot afresh.
    retry = {**body, "intent_id": "retry-2"}
    refused = c.post("/v1/intents", json={**retry, "reference_price": 0}, headers=AUTH).json()
    assert (refused["accepted"], refused["slot_id"]) == (False, 1)
    assert enter(c, asset="F0")["slot_id"] == 1
    taken = c.post("/v1/intents", json=retry, headers=AUTH).json()
    assert (taken["accepted"], taken["slot_id"]) == (True, 2)
    enter(c, asset="F1")
    busy = c.post("/v1/intents", json=body, headers=AUTH)
    assert busy.status_code == 200 and busy.json()["diagnostic_code"] == "DUPLICATE_INTENT"
    assert busy.json()["slot_id"] == 0
    # Once another trade holds that slot, the retry is not sent there: it would name that
    # trade as if the intent's were open. It is a 409 with every slot busy.
    closed = c.post(
        "/v1/intents", json={"action": "EXIT", "slot_id": 0, "reference_price": 50_000}, headers=AUTH
    )
    assert closed.json()["state"] == "CLOSED"
    assert enter(c, asset="F2")["slot_id"] == 0
    assert c.post("/v1/intents", json=body, headers=AUTH).status_code == 409


def test_kernel_rules_the_docs_state_for_intents(live: LiveServer) -> None:
    """EXIT (like ENTER) needs a reference_price above 0 (its default, 0, is refused);
    `state` on a field check's INVALID_INTENT is not the slot's stage; clamped_target_size
    holds the size asked for, the order the position's."""
    c = live.client
    enter(c, intent_id="rules-e")
    no_price = c.post("/v1/intents", json={"action": "EXIT", "slot_id": 0}, headers=AUTH).json()
    assert (no_price["accepted"], no_price["diagnostic_code"]) == (False, "INVALID_INTENT")
    assert no_price["details"]["field"] == "reference_price"
    assert no_price["state"] == "IDLE" and c.get("/v1/slots/0").json()["fsm_state"] == "POSITION_OPEN"
    body = {"action": "EXIT", "slot_id": 0, "reference_price": 50_000, "target_size": 2.0}
    out = c.post("/v1/intents", json=body, headers=AUTH).json()
    assert out["accepted"] is True and out["details"]["clamped_target_size"] == 2.0
    slot = c.get("/v1/slots/0").json()
    assert slot["fsm_state"] == "CLOSED" and slot["initial_size"] == pytest.approx(0.5)


def test_slot_ids_out_of_range_are_404_and_past_the_schema_422(live: LiveServer) -> None:
    c = live.client
    assert [c.get(f"/v1/slots/{i}").status_code for i in (3, 4, 1_000_000)] == [200, 404, 404]
    assert [c.get(f"/v1/slots/{i}").status_code for i in (-1, 1_000_001)] == [422, 422]
    for slot_id, status in ((4, 404), (1_000_000, 404), (-1, 422), (1_000_001, 422)):
        assert c.post(f"/v1/slots/{slot_id}/cancel", headers=AUTH).status_code == status
        body = {"action": "EXIT", "slot_id": slot_id, "reference_price": 1}
        assert c.post("/v1/intents", json=body, headers=AUTH).status_code == status


# --- review fixes: retries, slow bodies, duplicate keys, sides, echoed text, spellings ------


def test_a_duplicate_intent_says_what_became_of_the_first_attempt() -> None:
    """A retry under the same intent_id, as http-api.md tells a client whose answer was lost,
    was refused DUPLICATE_INTENT ("the first one was taken") even when the venue had rate
    limited the first attempt: nothing was placed, yet the client read its order as live.
    The refusal now carries details.first_outcome; a rate limit or a venue reject in it
    means nothing is in the market."""
    for venue, first_code, first_events in (
        (lambda: MockVenueAdapter(rate_limit_rate=1.0), "RATE_LIMITED", ["RATE_LIMITED"]),
        (lambda: MockVenueAdapter(reject_rate=1.0), "OK", ["REJECT"]),
    ):
        live = start_server(venue=venue)
        try:
            body = {"action": "ENTER", "intent_id": "lost-1", "asset": "BTCUSDT", "side": "LONG",
                    "target_size": 0.5, "reference_price": 50_000.0}  # fmt: skip
            first = live.client.post("/v1/intents", json=body, headers=AUTH).json()
            assert first["diagnostic_code"] == first_code
            with live.client.stream("GET", "/v1/events") as stream:
                lines = stream.iter_lines()
                again = live.client.post("/v1/intents", json=body, headers=AUTH).json()
                (outcome,) = read_sse(lines, 1, skip=("slot", "account"))
            assert (again["accepted"], again["diagnostic_code"]) == (False, "DUPLICATE_INTENT")
            told = again["details"]["first_outcome"]
            assert told == {
                "accepted": first["accepted"],
                "diagnostic_code": first_code,
                "state": first["state"],
                "slot_id": first["slot_id"],
                "trade_id": "lost-1",
                "venue_events": first_events,
                "seq": first["seq"],
            }
            assert again["details"]["field"] == "intent_id"  # the kernel's own details stay
            assert outcome.data["details"]["first_outcome"] == told  # the event says it too
            assert live.client.get("/v1/orders").json() == []
        finally:
            live.stop()


class _RefusesTheFirstSubmit:
    """Refuses the first order it is sent, rate limiting it or (``reject``) rejecting it, and
    takes the others silently."""

    def __init__(self, *, reject: bool) -> None:
        self.reject, self.submitted = reject, 0

    def submit(self, order: Any) -> list[VenueEvent]:
        self.submitted += 1
        if self.submitted > 1:
            return []
        coid = order.client_order_id
        if self.reject:
            return [VenueEvent("rj-1", order.trade_id, order.slot_id, "REJECT", venue_client_id=coid,
                               reason="insufficient margin")]  # fmt: skip
        return [VenueEvent("rl-1", order.trade_id, -1, "RATE_LIMITED", venue_client_id=coid, retry_after=1.0)]

    def cancel(self, order: Any) -> list[VenueEvent]:
        return []


@pytest.mark.parametrize("refusal", ["RATE_LIMITED", "REJECT"])
def test_a_retry_of_an_enter_the_venue_refused_is_told_so_when_every_slot_is_busy(refusal: str) -> None:
    """The first attempt was refused by the venue (rate limited, or rejected: http-api.md says
    either means nothing was placed) and its slot taken since by another trade: a retry without
    slot_id was a 409 ("no free slot"), which said nothing of the first attempt; for a REJECT
    still, since only an unaccepted first outcome went back to its slot. It goes where the
    first went and is refused DUPLICATE_INTENT with first_outcome."""
    rejected = refusal == "REJECT"
    live = start_server(max_slots=1, venue=lambda: _RefusesTheFirstSubmit(reject=rejected))
    try:
        c = live.client
        body = {"action": "ENTER", "intent_id": "lost-1", "asset": "BTCUSDT", "side": "LONG",
                "target_size": 0.5, "reference_price": 50_000.0}  # fmt: skip
        first = c.post("/v1/intents", json=body, headers=AUTH).json()
        # Taken by the kernel either way; a rejected order leaves the intent accepted.
        assert (first["accepted"], first["diagnostic_code"]) == (rejected, "OK" if rejected else refusal)
        assert c.post("/v1/intents", json={**body, "intent_id": "other"}, headers=AUTH).json()["accepted"]
        late = c.post("/v1/intents", json=body, headers=AUTH)
        assert late.status_code == 200, late.text
        assert late.json()["diagnostic_code"] == "DUPLICATE_INTENT"
        told = late.json()["details"]["first_outcome"]
        assert (told["accepted"], told["trade_id"], told["venue_events"]) == (rejected, "lost-1", [refusal])
        assert c.get("/v1/slots/0").json()["trade_id"] == "other"  # the other trade untouched
    finally:
        live.stop()


def test_a_retried_cancel_and_a_filled_enter_say_their_first_outcome() -> None:
    """The slot cancel endpoint takes an intent_id too: its retry is told of the first
    cancel (which took the resting order off the book). An ENTER that rested tells a retry
    it was accepted and acknowledged, its order working."""
    live = start_server(venue=lambda: MockVenueAdapter(fill_rate=0.0))
    try:
        c = live.client
        enter(c, intent_id="rests-1")
        body = {"action": "ENTER", "intent_id": "rests-1", "asset": "BTCUSDT", "side": "LONG",
                "target_size": 0.5, "reference_price": 50_000.0}  # fmt: skip
        first = c.post("/v1/intents", json=body, headers=AUTH).json()["details"]["first_outcome"]
        assert (first["accepted"], first["state"]) == (True, "ENTRY_WORKING")
        assert first["venue_events"] == ["ORDER_ACK"]
        cancel = {"intent_id": "cancel-1"}
        one = c.post("/v1/slots/0/cancel", json=cancel, headers=AUTH).json()
        assert one["accepted"] is True and "first_outcome" not in one["details"]
        two = c.post("/v1/slots/0/cancel", json=cancel, headers=AUTH).json()
        assert two["diagnostic_code"] == "DUPLICATE_INTENT"
        told = two["details"]["first_outcome"]
        assert (told["accepted"], told["seq"], told["venue_events"]) == (True, one["seq"], ["CANCEL_ACK"])
    finally:
        live.stop()


def _one_response(s: socket.socket) -> bytes:
    """One response read off a kept-alive connection: its head, then Content-Length bytes (a
    single recv may return part of it, and the rest would be taken for the next answer)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        assert chunk, f"connection closed mid-response: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(v)
        for k, _, v in (h.partition(b":") for h in head.split(b"\r\n"))
        if k.lower() == b"content-length"
    )
    while len(body) < length:
        chunk = s.recv(65536)
        assert chunk, "connection closed mid-body"
        body += chunk
    return head + b"\r\n\r\n" + body


def _raw_answer(port: int, request: bytes, timeout: float = 10.0) -> bytes:
    """Send ``request`` on a fresh connection and read until the server closes it (a close with
    part of the request unread may reach the client as a reset after the answer)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(request)
        answer = b""
        with contextlib.suppress(ConnectionResetError):
            while chunk := s.recv(65536):
                answer += chunk
    return answer


def test_a_body_that_never_arrives_in_full_is_answered_408_and_closed() -> None:
    """A client with the token that sends its headers and part of a body, then nothing
    (slow-loris), was waited for for ever: enough of them take every file descriptor. The body
    now has body_timeout_seconds to arrive; then 408 naming the limit, and the connection is
    closed (the server would otherwise go on reading it)."""
    live = start_server(body_timeout_seconds=0.5)
    try:
        port = int(live.url.rsplit(":", 1)[1])
        request = (b"POST /v1/intents HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                   b"Authorization: Bearer " + TOKEN.encode() + b"\r\n"
                   b"Content-Length: 100\r\n\r\n{")  # fmt: skip
        answer = _raw_answer(port, request)  # returns: the server closed the connection
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408 ")
        detail = "request body not received in full within 0.5 s (body_timeout_seconds); 1 bytes arrived"
        assert json.loads(body) == {"detail": detail, "field": "body"}
        # A body that arrives in time is untouched.
        mark = live.client.post("/v1/marks", json={"asset": "BTC", "price": 1}, headers=AUTH)
        assert mark.status_code == 200
    finally:
        live.stop()


@pytest.mark.parametrize("length", [b"Content-Length: 100", b"Transfer-Encoding: chunked"])
def test_a_request_without_the_token_whose_body_never_ends_gets_401_not_408(length: bytes) -> None:
    """The token is in the headers, yet the body was read first: a client without it that
    never finished its body waited body_timeout_seconds and got 408. It gets 401 from its
    headers, and the connection is closed (the body is not read)."""
    live = start_server(body_timeout_seconds=5)
    try:
        port = int(live.url.rsplit(":", 1)[1])
        for path in (b"/v1/intents", b"/v1/slots/0/cancel", b"/v1/marks", b"/v1/flatten"):
            request = (b"POST " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                       + length + b"\r\n\r\n" + (b"10\r\n{" if b"chunked" in length else b"{"))  # fmt: skip
            answer = _raw_answer(port, request)  # returns: the server closed the connection
            head, _, body = answer.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 401 "), answer
            assert b"connection: close" in head.lower() and b"www-authenticate: Bearer" in head
            assert json.loads(body)["detail"].startswith("missing or wrong bearer token")
        assert live.client.get("/v1/slots/0").json()["fsm_state"] == "IDLE"
    finally:
        live.stop()


def test_headers_that_never_finish_are_answered_408_and_the_connection_closed() -> None:
    """A client dribbling header lines (slow-loris) held its connection, and a file
    descriptor, for as long as it kept sending; one that connected and sent nothing, for
    ever. Each request's line and headers now have header_timeout_seconds, counted from the
    connection's start or the previous response's end."""
    live = start_server(header_timeout_seconds=0.6)
    try:
        port = int(live.url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            started, answer = time.monotonic(), b""
            while not answer and time.monotonic() - started < 5:
                try:
                    s.sendall(b"X-Dribble: 1\r\n")  # a line at a time, never the blank line
                except OSError:
                    break  # closed by the server: its answer is read below
                s.settimeout(0.1)
                try:
                    answer = s.recv(65536)
                except TimeoutError:
                    pass
                except ConnectionResetError:
                    break
            s.settimeout(10)
            # The server closes with dribbled lines unread, so its close may be a reset after
            # its answer: the answer read is what is judged.
            with contextlib.suppress(ConnectionResetError):
                while chunk := s.recv(65536):
                    answer += chunk
        waited = time.monotonic() - started
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408 "), answer
        detail = "request headers not received in full within 0.6 s (header_timeout_seconds)"
        assert json.loads(body) == {"detail": detail, "field": "headers"}
        assert 0.5 < waited < 4
        # A connection that sends nothing is closed without an answer.
        assert _raw_answer(port, b"") == b""
        wait_until(lambda: len(live.server.server_state.connections) == 0)
    finally:
        live.stop()


def test_the_header_deadline_holds_for_each_request_and_spares_streams() -> None:
    """On a kept-alive connection the next request's headers have the deadline again from
    the end of the previous response; a request whose headers are in (an event stream that
    lasts, a request served) is never cut by it."""
    live = start_server(header_timeout_seconds=0.5, sse_keepalive_seconds=0.2)
    try:
        port = int(live.url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            assert _one_response(s).startswith(b"HTTP/1.1 200 ")
            s.sendall(b"GET /healthz HTTP/1.1\r\n")  # the second request stops half-way
            answer = b""
            while chunk := s.recv(65536):
                answer += chunk
            assert answer.startswith(b"HTTP/1.1 408 ") and b"header_timeout_seconds" in answer
        with live.client.stream("GET", "/v1/events") as stream:
            lines = stream.iter_lines()
            started = time.monotonic()
            while time.monotonic() - started < 1.5:  # three deadlines: the stream lasts
                next(lines)
            enter(live.client)
            (outcome,) = read_sse(lines, 1, skip=("slot", "account", "reset"))
            assert outcome.data["accepted"] is True
    finally:
        live.stop()


def test_a_413_closes_the_connection_and_a_pipelined_request_half_sent_gets_408() -> None:
    """A 413 on Content-Length answered without reading the body and kept the connection: a
    client dripping the body after it held the connection for ever. And a second request
    pipelined behind a first, its headers never finished, got a silent close: the deadline
    re-armed at the first response's end took it for an idle connection."""
    # A header deadline far beyond the read's timeout: only the answer can close it in time.
    live = start_server(header_timeout_seconds=60, max_body_bytes=256)
    try:
        port = int(live.url.rsplit(":", 1)[1])
        too_large = b"POST /v1/marks HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 300\r\n\r\n"
        answer = _raw_answer(port, too_large, timeout=10)  # returns once the server closed it
        assert answer.startswith(b"HTTP/1.1 413 ") and b"connection: close" in answer.lower()
    finally:
        live.stop()
    live = start_server(header_timeout_seconds=0.5)
    try:
        port = int(live.url.rsplit(":", 1)[1])
        pipelined = (
            b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        )
        answer = _raw_answer(port, pipelined)
        first, _, rest = answer.partition(b"\r\n\r\n")
        assert first.startswith(b"HTTP/1.1 200 ")
        assert b"HTTP/1.1 408 Request Timeout" in rest and b"header_timeout_seconds" in rest
    finally:
        live.stop()


def test_requests_beyond_max_connections_get_503_not_a_reset() -> None:
    """Connections were not limited: past the process's open-file limit (1024 by default)
    new ones were reset and nobody was answered. uvicorn's limit_concurrency (setting
    max_connections) now answers a request beyond it 503; max_connections connections are
    served (uvicorn counts the asking one: passed as is, it served one fewer)."""
    live = start_server(max_connections=11, sse_max_clients=1)
    try:
        port = int(live.url.rsplit(":", 1)[1])
        idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(10)]
        try:
            wait_until(lambda: len(live.server.server_state.connections) >= 10)
            health = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
            assert _raw_answer(port, health).startswith(b"HTTP/1.1 200 ")  # the 11th is served
            idle.append(socket.create_connection(("127.0.0.1", port)))
            wait_until(lambda: len(live.server.server_state.connections) >= 11)
            answer = _raw_answer(port, health)
            assert answer.startswith(b"HTTP/1.1 503 ")
        finally:
            for s in idle:
                s.close()
        wait_until(lambda: len(live.server.server_state.connections) == 0)
        assert live.client.get("/healthz").status_code == 200
    finally:
        live.stop()


def test_a_key_given_twice_in_a_body_is_refused_naming_it(live: LiveServer) -> None:
    """HTTP took a JSON body with a key twice and acted on the last ("side" SHORT then LONG
    entered LONG; "mode" twice set the second), where stdio refuses it: the same check
    (dita._files.one_value_each), at any depth, answers 422 naming the key."""
    c = live.client
    twice = ('{"action":"ENTER","asset":"BTCUSDT","side":"SHORT","side":"LONG",'
             '"reference_price":100,"target_size":1}')  # fmt: skip
    res = c.post("/v1/intents", content=twice, headers=JSON_AUTH)
    assert res.status_code == 422
    assert res.json()["detail"] == [
        {
            "loc": ["body", "side"],
            "msg": "the key 'side' is given more than once",
            "type": "duplicate_key",
            "input": "LONG",
        }
    ]
    assert res.json()["message"] == "side: the key 'side' is given more than once (got 'LONG')"
    nested = ('{"action":"ENTER","asset":"BTCUSDT","side":"LONG","reference_price":100,'
              '"target_size":1,"metadata":{"k":1,"k":2}}')  # fmt: skip
    res = c.post("/v1/intents", content=nested, headers=JSON_AUTH)
    assert res.status_code == 422 and res.json()["detail"][0]["loc"] == ["body", "metadata", "k"]
    assert {s["fsm_state"] for s in c.get("/v1/slots").json()} == {"IDLE"}  # nothing entered
    mode = c.get("/v1/control").json()["mode"]
    res = c.put("/v1/control", content='{"mode":"HALTED","mode":"PAPER"}', headers=JSON_AUTH)
    assert res.status_code == 422 and res.json()["detail"][0]["loc"] == ["body", "mode"]
    assert c.get("/v1/control").json()["mode"] == mode
    # The token still comes first.
    assert c.put("/v1/control", content='{"mode":"HALTED","mode":"PAPER"}').status_code == 401


def test_an_exit_or_cancel_whose_side_is_not_the_slots_is_refused(live: LiveServer) -> None:
    """EXIT side=LONG on a SHORT slot is a 422 naming side, the value and the slot's side, as
    a wrong asset or trade_id is refused: accepted with its side ignored (the kernel closes the
    slot's side), a client that meant another slot would close this one unseen. The slot's own
    side (or none) is taken."""
    c = live.client
    slot = enter(c, side="SHORT", target_size=10)["slot_id"]
    exit_size = {"reference_price": 100, "target_size": 1}
    for action, size in (("EXIT", exit_size), ("CANCEL", {})):
        body = {"action": action, "slot_id": slot, "side": "LONG", **size}
        res = c.post("/v1/intents", json=body, headers=AUTH)
        assert res.status_code == 422
        (problem,) = res.json()["detail"]
        assert problem["loc"] == ["body", "side"] and problem["input"] == "LONG"
        assert f"side LONG is not the side of slot {slot}, which holds SHORT" in problem["msg"]
    assert c.get(f"/v1/slots/{slot}").json()["size"] == 10
    body = {"action": "EXIT", "slot_id": slot, "side": "SHORT", "reference_price": 100, "target_size": 1}
    assert c.post("/v1/intents", json=body, headers=AUTH).json()["accepted"] is True
    assert c.get(f"/v1/slots/{slot}").json()["size"] == 9


def test_a_lone_surrogate_echoed_in_a_422_is_strict_json(live: LiveServer) -> None:
    """A lone surrogate a client sent ("\\ud800", legal as a JSON escape) is shown in the
    422's input as the escape's text: echoed back as that escape, strict parsers (orjson,
    serde_json) would refuse it, and the client could not read why it was refused."""
    import orjson

    c = live.client
    for body in ('{"action":"CANCEL","slot_id":0,"reason":"\\ud800"}',
                 '{"action":"CANCEL","slot_id":0,"metadata":{"\\udc00x":[1]}}'):  # fmt: skip
        res = c.post("/v1/intents", content=body, headers=JSON_AUTH)
        assert res.status_code == 422
        assert orjson.loads(res.content)["detail"]  # strict JSON
    body = '{"action":"CANCEL","slot_id":0,"reason":"a\\ud800"}'
    res = c.post("/v1/intents", content=body, headers=JSON_AUTH)
    assert orjson.loads(res.content)["detail"][0]["input"] == "a\\ud800"  # the escape as text


def test_a_long_number_is_echoed_short(live: LiveServer) -> None:
    """A 4000-digit number in a price was echoed whole (an 8 KB answer) where the schema says
    input is a short copy, and refused as "not a valid number" where 1e309 is "not finite"."""
    body = '{"action":"ENTER","asset":"X","side":"LONG","target_size":1,"reference_price":%s}' % ("9" * 4000)
    res = live.client.post("/v1/intents", content=body, headers=JSON_AUTH)
    assert res.status_code == 422 and len(res.content) < 500
    (problem,) = res.json()["detail"]
    assert problem["type"] == "finite_number" and problem["input"] == "9" * 61 + "..."


class _ResendsAndPassesOnStaleReports:
    """Rests the first order. With the second it reports the first's fill, its own fill, that
    fill again, an overfill and a reject of an order the kernel never sent."""

    def __init__(self) -> None:
        self.first: Any = None

    def submit(self, order: Any) -> list[VenueEvent]:
        def event(o: Any, kind: str, event_id: str, **fields: Any) -> VenueEvent:
            return VenueEvent(
                event_id, o.trade_id, o.slot_id, kind, venue_client_id=o.client_order_id, **fields
            )

        ack = event(order, "ORDER_ACK", f"ack-{order.client_order_id}")
        if self.first is None:
            self.first = order
            return [ack]
        whole = {"price": 100.0, "size": 1.0, "filled_size": 1.0}
        return [
            ack,
            event(self.first, "FILL", "f0", **whole),
            event(order, "FILL", "f1", **whole),
            event(order, "FILL", "f1", **whole),
            event(order, "FILL", "f2", price=100.0, size=5.0, filled_size=6.0),
            VenueEvent("rj", "old-trade", -1, "REJECT", venue_client_id="k-old", reason="stale report"),
        ]

    def cancel(self, order: Any) -> list[VenueEvent]:
        return []


def test_only_the_venue_events_the_kernel_applied_are_counted_published_and_told() -> None:
    """Every FILL of a venue's answer was counted (`fills`, dita_gateway_fills_total), a fill
    sent twice and an overfill the kernel refused among them; a stale reject of an unknown
    order was counted as a venue reject and listed in first_outcome's venue_events, which
    tells a retrying client nothing was placed (it would send the order again while it
    rests); and the resting order filled in the same answer got no `slot` event."""
    live = start_server(venue=_ResendsAndPassesOnStaleReports)
    try:
        c = live.client
        body = ENTER_ONE
        assert (
            c.post("/v1/intents", json={**body, "slot_id": 0}, headers=AUTH).json()["state"]
            == "ENTRY_WORKING"
        )
        with c.stream("GET", "/v1/events") as stream:
            lines = stream.iter_lines()
            out = c.post("/v1/intents", json={**body, "intent_id": "buy-1"}, headers=AUTH).json()
            c.put("/v1/control", json={"verbosity": "NORMAL"}, headers=AUTH)  # the end of what it published
            published: list[Any] = []
            while not published or published[-1].event != "control":
                published += read_sse(lines, 1)
        assert out["slot_id"] == 1 and out["details"]["venue_event_refused"]
        outcome, *rest, _ = published
        assert outcome.data["fills"] == 2
        assert sorted((e.event, e.data.get("slot_id")) for e in rest) == [
            ("account", None), ("slot", 0), ("slot", 1)
        ]  # fmt: skip
        assert next(e for e in rest if e.data.get("slot_id") == 0).data["size"] == 1.0
        text = c.get("/metrics").text
        assert metric(text, "dita_gateway_fills_total") == 2
        assert metric(text, "dita_gateway_venue_rejects_total", kind="REJECT") == 0
        again = c.post("/v1/intents", json={**body, "intent_id": "buy-1"}, headers=AUTH).json()
        assert again["details"]["first_outcome"]["venue_events"] == ["ORDER_ACK", "FILL"]
        assert [s["size"] for s in c.get("/v1/slots").json()[:2]] == [1.0, 1.0]
    finally:
        live.stop()


def test_a_cancel_or_exit_naming_another_asset_than_the_slots_is_refused() -> None:
    """A CANCEL with "asset": "ETHUSDT" took the slot's BTCUSDT order off the book. It is a 422
    naming asset, as a wrong side is, and so is an EXIT's (the kernel's own refusal of it was a
    200)."""
    live = start_server(venue=lambda: MockVenueAdapter(fill_rate=0.0))
    try:
        c = live.client
        slot = enter(c)["slot_id"]
        body = {"action": "CANCEL", "slot_id": slot, "asset": "ETHUSDT"}
        res = c.post("/v1/intents", json=body, headers=AUTH)
        assert res.status_code == 422
        (problem,) = res.json()["detail"]
        assert problem["loc"] == ["body", "asset"] and problem["input"] == "ETHUSDT"
        assert f"asset ETHUSDT is not the asset of slot {slot}, which holds BTCUSDT" in problem["msg"]
        assert c.get(f"/v1/slots/{slot}").json()["fsm_state"] == "ENTRY_WORKING"
        exit_ = c.post("/v1/intents", json={**body, "action": "EXIT"}, headers=AUTH)
        assert exit_.status_code == 422 and "EXIT takes the slot's asset" in exit_.json()["message"]
        ok = c.post("/v1/intents", json={**body, "asset": "BTCUSDT"}, headers=AUTH).json()
        assert ok["accepted"] is True and c.get("/v1/orders").json() == []
    finally:
        live.stop()


@pytest.mark.parametrize(
    ("literal", "shown"), [("NaN", "nan"), ("Infinity", "inf"), ("-Infinity", "-inf"), ("1e999", "1e999")]
)
def test_a_non_finite_number_is_echoed_as_its_text_not_null(
    shared: LiveServer, literal: str, shown: str
) -> None:
    """A NaN or infinite target_size was echoed as "input": null, as if the field had been sent
    as null, while the message said "(got nan)"."""
    body = f'{{"action":"ENTER","asset":"X","side":"LONG","reference_price":1,"target_size":{literal}}}'
    res = shared.client.post("/v1/intents", content=body, headers=JSON_AUTH)
    assert res.status_code == 422
    (problem,) = res.json()["detail"]
    assert (problem["loc"], problem["type"], problem["input"]) == (
        ["body", "target_size"],
        "finite_number",
        shown,
    )
    assert res.json()["message"] == f"target_size: Input should be a finite number (got {shown!r})"


class _FillsLater:
    """Acknowledges each order and reports its fill only when polled, as a REST venue learns a
    resting order's fills. ``faults``: what the next polls do instead (raise, or give junk)."""

    def __init__(self) -> None:
        self.owed: list[VenueEvent] = []
        self.faults: list[str] = []
        self.polls = 0

    def submit(self, order: Any) -> list[VenueEvent]:
        def event(kind: str, event_id: str, **fields: Any) -> VenueEvent:
            return VenueEvent(
                event_id, order.trade_id, order.slot_id, kind, venue_client_id=order.client_order_id, **fields
            )

        whole = {"price": order.reference_price, "size": order.size, "filled_size": order.size}
        self.owed.append(event("FILL", f"fill-{order.client_order_id}", **whole))
        return [event("ORDER_ACK", f"ack-{order.client_order_id}")]

    def cancel(self, order: Any) -> list[VenueEvent]:
        return []

    def poll_events(self) -> list[Any]:
        self.polls += 1
        if self.faults:
            fault = self.faults.pop(0)
            if fault == "raise":
                raise ConnectionError("exchange unreachable")
            return ["not an event"]
        owed, self.owed = self.owed, []
        return owed


_V = TypeVar("_V")


def _serving(venue: Callable[[], _V], **settings: Any) -> tuple[LiveServer, _V]:
    """A server whose kernel's venue ``venue()`` makes (in the server's thread), and that venue."""
    live = start_server(venue=venue, **settings)
    made: _V = live.app.state.kernel.venue
    return live, made


def test_a_venue_that_reports_later_is_polled_and_its_fills_booked_and_published() -> None:
    """Nothing polled a venue with poll_events: a resting order's fill, reported only there,
    never reached the kernel, whose slot stayed ENTRY_WORKING for ever."""
    live, late = _serving(_FillsLater, venue_poll_seconds=0.05)
    try:
        c = live.client
        with c.stream("GET", "/v1/events") as stream:
            lines = stream.iter_lines()
            out = enter(c, slot_id=0)
            assert out["state"] == "ENTRY_WORKING"
            published = read_sse(lines, 1, skip=("outcome", "slot"))
        (told,) = published
        assert told.event == "venue_event"
        assert {k: told.data[k] for k in ("kind", "slot_id", "accepted", "fills", "state")} == {
            "kind": "FILL", "slot_id": 0, "accepted": True, "fills": 1, "state": "POSITION_OPEN"
        }  # fmt: skip
        assert c.get("/v1/slots/0").json()["fsm_state"] == "POSITION_OPEN"
        assert metric(c.get("/metrics").text, "dita_gateway_fills_total") == 1
        # A poll that raises, and one that gives what is not an event: each logged and counted,
        # and the polling goes on (the next order's fill is booked).
        late.faults += ["raise", "junk"]
        enter(c, slot_id=1)
        wait_until(lambda: c.get("/v1/slots/1").json()["fsm_state"] == "POSITION_OPEN", timeout=10)
        text = c.get("/metrics").text
        assert metric(text, "dita_gateway_venue_poll_errors_total") == 2
        assert metric(text, "dita_gateway_fills_total") == 2
    finally:
        live.stop()
    polls = late.polls
    time.sleep(0.2)
    assert late.polls == polls  # the stop ended the polling


def test_the_polling_runs_under_a_server_that_runs_the_apps_lifespan() -> None:
    """`dita serve` starts the polling itself; an app served otherwise (uvicorn's own server
    with its lifespan on) starts it through its lifespan, and its end stops it."""
    import asyncio

    from dita import ExecutionKernel, KernelIntent
    from dita.gateway.app import create_app
    from dita.gateway.config import GatewaySettings

    venue = _FillsLater()
    kernel = ExecutionKernel(max_slots=2, venue=venue)
    app = create_app(kernel, GatewaySettings(token=TOKEN, max_slots=2, venue_poll_seconds=0.02))

    async def serve() -> None:
        async with app.router.lifespan_context(app):
            intent = KernelIntent("i1", "t1", 0, "BTCUSDT", "LONG", "ENTER", 100.0, 1.0)
            assert kernel.process_intent(intent).state.name == "ENTRY_WORKING"
            for _ in range(500):
                if kernel.slot_state(0).fsm_state.name == "POSITION_OPEN":
                    break
                await asyncio.sleep(0.02)
            assert kernel.slot_state(0).fsm_state.name == "POSITION_OPEN"
        polls = venue.polls
        await asyncio.sleep(0.1)
        assert venue.polls == polls

    try:
        asyncio.run(serve())
    finally:
        kernel.close()


@pytest.mark.parametrize("venue", ["mock", "polled"])
def test_a_control_change_made_elsewhere_is_sent_to_the_event_stream(venue: str) -> None:
    """A HALTED set through the cluster's control plane (or by any other way than PUT
    /v1/control) was never sent as a `control` event: the operator page showed the mode it had
    loaded, PAPER, while the kernel was halted. The gateway sends it once, within a second,
    whether or not its venue is polled; a PUT's own event is not sent twice."""
    import asyncio

    from dita import ExecutionKernel
    from dita.gateway.app import create_app
    from dita.gateway.config import GatewaySettings

    kernel = ExecutionKernel(max_slots=1, venue=_FillsLater() if venue == "polled" else None)
    app = create_app(kernel, GatewaySettings(token=TOKEN, max_slots=1, venue_poll_seconds=3600))
    sent: list[dict[str, Any]] = []
    publish = app.state.gateway.publish

    def recording(event_type: str, data: dict[str, Any]) -> None:
        if event_type == "control":
            sent.append(data)
        publish(event_type, data)

    app.state.gateway.publish = recording

    async def serve() -> None:
        async with app.router.lifespan_context(app):
            await asyncio.sleep(0.7)
            assert sent == []  # nothing changed: nothing sent
            kernel.update_control(mode="HALTED", source="hazelcast:*")
            for _ in range(500):  # the next round (every 0.5 s) sends it; 10 s for a loaded host
                if sent:
                    break
                await asyncio.sleep(0.02)
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://localhost"
            ) as c:
                res = await c.put("/v1/control", json={"mode": "PAPER"}, headers=AUTH)
                assert res.status_code == 200, res.text
            await asyncio.sleep(0.7)

    try:
        asyncio.run(serve())
    finally:
        kernel.close()
    assert [(c["mode"], c["source"]) for c in sent] == [("HALTED", "hazelcast:*"), ("PAPER", "gateway")]


class _AnswersLate(_FillsLater):
    """Its poll with a fill owed waits for ``answer`` before giving it (a slow exchange)."""

    def __init__(self) -> None:
        super().__init__()
        self.asked = threading.Event()
        self.answer = threading.Event()

    def poll_events(self) -> list[Any]:
        if self.owed:
            self.asked.set()
            self.answer.wait(10)
        return super().poll_events()


def test_a_poll_under_way_at_the_stop_is_applied_before_the_kernel_closes() -> None:
    """The stop canceled the polling task: the worker thread went on, and the fills it
    returned (a venue reports each once) were dropped, the kernel closed without them."""
    live, late = _serving(_AnswersLate, venue_poll_seconds=0.02)
    kernel = live.app.state.kernel
    assert enter(live.client, slot_id=0)["state"] == "ENTRY_WORKING"
    assert late.asked.wait(10)
    stopping = threading.Thread(target=live.stop)
    stopping.start()
    time.sleep(0.2)  # the stop is under way while the venue has not answered
    late.answer.set()
    stopping.join(15)
    assert not stopping.is_alive()
    assert kernel.slot_state(0).fsm_state.name == "POSITION_OPEN"


def test_no_request_is_taken_once_the_stop_began_while_a_poll_is_awaited() -> None:
    """The stop waited for a poll under way (up to stop_grace_seconds) before it closed the
    listening socket and the idle connections: for those seconds after SIGTERM the gateway
    took new connections and requests, and an ENTER placed an order at the venue that the
    stopping server then left there."""
    # A grace past the poll's own 10 s: a stop that closed only after the poll does so at 10 s.
    live, late = _serving(_AnswersLate, venue_poll_seconds=0.02, stop_grace_seconds=60)
    kernel = live.app.state.kernel
    kept = httpx.Client(base_url=live.url, headers=AUTH, timeout=5)  # a connection kept alive
    fresh = httpx.Client(base_url=live.url, headers=AUTH, timeout=5)  # and a new one
    stopping = threading.Thread(target=live.stop)
    try:
        assert kept.get("/healthz").status_code == 200
        assert enter(live.client, slot_id=0)["state"] == "ENTRY_WORKING"
        assert late.asked.wait(10)
        stopping.start()
        # The stop under way (uvicorn looks every 0.1 s) closes its listening socket and the idle
        # connections in one step, then awaits the poll: well before the poll ends by itself.
        wait_until(lambda: live.server.servers and not any(s.is_serving() for s in live.server.servers), 5)
        for client in (kept, fresh):
            with pytest.raises(httpx.TransportError):
                client.post("/v1/intents", json={**ENTER_ONE, "slot_id": 1})
    finally:
        late.answer.set()
        kept.close()
        fresh.close()
        if stopping.ident is None:  # failed before the stop: do not leave the server behind
            live.stop()
    stopping.join(15)
    assert not stopping.is_alive()
    assert kernel.slot_state(1).fsm_state.name == "IDLE"
    assert kernel.slot_state(0).fsm_state.name == "POSITION_OPEN"  # the poll's fill, as before


def test_a_refused_event_sharing_an_applied_ones_id_is_not_counted_or_told() -> None:
    """The ack's transition was paired with the last event of its id, the refused reject:
    counted as a venue reject, and first_outcome's venue_events said REJECT, which tells a
    retrying client nothing was placed while the order rests."""
    live = start_server(venue=OneIdVenue)
    try:
        c = live.client
        body = ENTER_ONE
        first = c.post("/v1/intents", json={**body, "intent_id": "one-id"}, headers=AUTH).json()
        assert first["state"] == "ENTRY_WORKING"
        again = c.post("/v1/intents", json={**body, "intent_id": "one-id"}, headers=AUTH).json()
        assert again["details"]["first_outcome"]["venue_events"] == ["ORDER_ACK"]
        assert metric(c.get("/metrics").text, "dita_gateway_venue_rejects_total", kind="REJECT") == 0
    finally:
        live.stop()


@pytest.mark.parametrize("seconds", [0.0, 0.001, -1.0, float("nan"), float("inf")])
def test_a_poll_interval_below_10_ms_or_not_finite_is_refused_naming_it(seconds: float) -> None:
    # Below 10 ms the gateway polled without pause, each submit waiting behind a poll.
    from pydantic import ValidationError

    from dita.gateway.config import GatewaySettings

    with pytest.raises(ValidationError, match="venue_poll_seconds"):
        GatewaySettings(venue_poll_seconds=seconds)


def test_a_control_change_the_kernel_refuses_is_503_naming_it() -> None:
    """Under a plane of the process, a kernel that stopped taking input (closing) refuses a
    change: the answer says it was not applied and why, not that the plane is away."""
    import asyncio

    from dita import ExecutionKernel, InMemoryControlPlane
    from dita.gateway.app import create_app
    from dita.gateway.config import GatewaySettings

    kernel = ExecutionKernel(max_slots=1, kernel_id="gw", control_plane=InMemoryControlPlane())
    app = create_app(kernel, GatewaySettings(token=TOKEN))
    kernel.stop_input()

    async def put() -> httpx.Response:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://localhost"
        ) as c:
            return await c.put("/v1/control", json={"mode": "HALTED"}, headers=AUTH)

    res = asyncio.run(put())
    assert res.status_code == 503, res.text
    assert "control change not applied" in res.text and "kernel 'gw'" in res.text
    assert "nothing changed" not in res.text


class _StoresOnly:
    """A cluster control plane whose write is stored but that the kernel has not applied (its
    listener late, or a cluster-wide entry stamped later holding another value)."""

    def __init__(self) -> None:
        self.written: list[dict[str, Any]] = []

    def attach(self, kernel: Any) -> None:
        pass

    def release(self, kernel: Any) -> None:
        pass

    def set(self, kernel_id: str | None = None, **change: Any) -> dict[str, Any]:
        self.written.append(change)
        return change


def test_a_control_change_the_kernel_has_not_applied_in_time_is_503_not_200(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """After the 2 s wait the answer was 200, the change counted and published as made, for a
    HALTED the kernel was not running: an operator's halt taken for done while it traded on."""
    import asyncio

    from dita import ExecutionKernel
    from dita.gateway.app import create_app
    from dita.gateway.config import GatewaySettings
    from dita.gateway.routes import control

    monkeypatch.setattr(control, "CONTROL_APPLY_S", 0.05)
    plane = _StoresOnly()
    kernel = ExecutionKernel(max_slots=1, kernel_id="gw", control_plane=plane)
    app = create_app(kernel, GatewaySettings(token=TOKEN))
    events_before = app.state.broadcaster.last_id

    async def put() -> tuple[httpx.Response, str]:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://localhost"
        ) as c:
            res = await c.put("/v1/control", json={"mode": "HALTED"}, headers=AUTH)
            return res, (await c.get("/metrics")).text

    try:
        res, metrics = asyncio.run(put())
    finally:
        kernel.close()
    assert plane.written == [{"mode": "HALTED"}]
    assert kernel.control()["mode"] != "HALTED"
    assert res.status_code == 503, res.text
    detail = res.json()["detail"]
    assert "not applied" in detail and "kernel 'gw'" in detail and "HALTED" in detail
    assert metric(metrics, "dita_gateway_control_changes_total") == 0
    assert app.state.broadcaster.last_id == events_before  # no `control` event of a change not made


class _WriteUnconfirmed(_StoresOnly):
    """A cluster control plane whose member left the write unanswered (frozen): it went out, or
    it did not, as the error's ``sent`` says."""

    def __init__(self, sent: bool) -> None:
        super().__init__()
        self.sent = sent

    def set(self, kernel_id: str | None = None, **change: Any) -> dict[str, Any]:
        from dita.control.hazelcast import ControlWriteUnconfirmed

        raise ControlWriteUnconfirmed(
            key=kernel_id or "*", change=change, waited_for="the write", sent=self.sent, timeout=10.0
        )


@pytest.mark.parametrize("sent", [True, False])
def test_a_control_write_left_unanswered_says_whether_it_went_out(sent: bool) -> None:
    """Every error of the plane's write was answered "control plane unavailable, nothing
    changed": false for a write that went out unconfirmed, which the member may still apply."""
    import asyncio

    from dita import ExecutionKernel
    from dita.gateway.app import create_app
    from dita.gateway.config import GatewaySettings

    kernel = ExecutionKernel(max_slots=1, kernel_id="gw", control_plane=_WriteUnconfirmed(sent))
    app = create_app(kernel, GatewaySettings(token=TOKEN))

    async def put() -> httpx.Response:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://localhost"
        ) as c:
            return await c.put("/v1/control", json={"mode": "HALTED"}, headers=AUTH)

    try:
        res = asyncio.run(put())
    finally:
        kernel.close()
    assert res.status_code == 503, res.text
    detail = res.json()["detail"]
    assert "mode=HALTED" in detail or "nothing was written" in detail
    if sent:
        assert "nothing changed" not in detail and "may still take effect" in detail
    else:
        assert "nothing changed" in detail
