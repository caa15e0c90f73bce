"""A slot's cancel and exit may name the trade they are meant for (``trade_id``, as the operator
page shows it): when the slot holds another trade by then, or none, the answer is a 409 naming
both trades, and nothing reaches the kernel."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gateway.helpers import AUTH, LimitsRest, LiveServer, enter, start_server


@pytest.fixture
def live() -> Iterator[LiveServer]:
    srv = start_server(max_slots=2, venue=LimitsRest)
    try:
        yield srv
    finally:
        srv.stop()


def _resting(live: LiveServer, trade_id: str) -> None:
    limit = {"order_type": "LIMIT", "limit_price": 2_000.0, "reference_price": 2_100.0}
    out = enter(live.client, asset="ETHUSDT", slot_id=0, trade_id=trade_id, **limit)
    assert out["state"] == "ENTRY_WORKING", out


def _open(live: LiveServer, trade_id: str) -> None:
    out = enter(live.client, asset="BTCUSDT", slot_id=0, trade_id=trade_id)
    assert out["state"] == "POSITION_OPEN", out


def test_a_cancel_meant_for_an_older_trade_is_a_409_and_the_newer_order_keeps_working(
    live: LiveServer,
) -> None:
    c = live.client
    _resting(live, "trade-a")
    assert c.post("/v1/slots/0/cancel", json={"trade_id": "trade-a"}, headers=AUTH).json()["accepted"]
    _resting(live, "trade-b")  # the same slot, while a page still shows trade-a there

    stale = c.post("/v1/slots/0/cancel", json={"trade_id": "trade-a", "intent_id": "cxl-1"}, headers=AUTH)
    assert stale.status_code == 409, stale.text
    answer = stale.json()
    assert answer["field"] == "trade_id"
    assert (answer["trade_id"], answer["slot_trade_id"]) == ("trade-a", "trade-b")
    assert "'trade-a'" in answer["detail"] and "'trade-b'" in answer["detail"]
    assert [o["trade_id"] for o in c.get("/v1/orders").json()] == ["trade-b"]
    # The kernel never saw the intent: its id is still free for the cancel meant for trade-b.
    meant = c.post("/v1/slots/0/cancel", json={"trade_id": "trade-b", "intent_id": "cxl-1"}, headers=AUTH)
    assert meant.status_code == 200 and meant.json()["accepted"] is True, meant.text
    assert c.get("/v1/orders").json() == []


def test_an_exit_meant_for_an_older_trade_is_a_409_and_the_newer_position_stays_open(
    live: LiveServer,
) -> None:
    c = live.client
    _open(live, "trade-a")
    assert c.post("/v1/slots/0/exit", json={"trade_id": "trade-a"}, headers=AUTH).json()["accepted"]
    _open(live, "trade-b")

    stale = c.post("/v1/slots/0/exit", json={"trade_id": "trade-a", "intent_id": "exit-1"}, headers=AUTH)
    assert stale.status_code == 409, stale.text
    answer = stale.json()
    assert answer["field"] == "trade_id"
    assert (answer["trade_id"], answer["slot_trade_id"]) == ("trade-a", "trade-b")
    slot = c.get("/v1/slots/0").json()
    assert (slot["trade_id"], slot["fsm_state"], slot["size"]) == ("trade-b", "POSITION_OPEN", 0.5)
    meant = c.post("/v1/slots/0/exit", json={"trade_id": "trade-b", "intent_id": "exit-1"}, headers=AUTH)
    assert meant.status_code == 200 and meant.json()["accepted"] is True, meant.text
    assert c.get("/v1/slots/0").json()["size"] == 0.0


def test_a_cancel_or_exit_naming_a_trade_on_an_idle_slot_is_a_409(live: LiveServer) -> None:
    c = live.client
    for action in ("cancel", "exit"):
        res = c.post(f"/v1/slots/1/{action}", json={"trade_id": "trade-a"}, headers=AUTH)
        assert res.status_code == 409, (action, res.text)
        answer = res.json()
        assert (answer["trade_id"], answer["slot_trade_id"]) == ("trade-a", None)
        assert "holds no trade" in answer["detail"]


def test_a_cancel_or_exit_without_a_trade_id_acts_on_the_slots_trade(live: LiveServer) -> None:
    c = live.client
    _resting(live, "trade-a")
    assert c.post("/v1/slots/0/cancel", headers=AUTH).json()["accepted"] is True
    _open(live, "trade-b")
    assert c.post("/v1/slots/0/exit", headers=AUTH).json()["accepted"] is True
    assert c.get("/v1/slots/0").json()["size"] == 0.0


@pytest.mark.parametrize("action", ["exit", "cancel"])
def test_a_retry_naming_its_trade_after_the_slot_moved_on_is_told_its_first_outcome(
    live: LiveServer, action: str
) -> None:
    """The first answer was lost and the slot took a newer trade since: the retry, under its
    first intent_id, is the kernel's DUPLICATE_INTENT with the first outcome, not a 409 saying
    nothing was sent, and the newer trade is left alone."""
    c = live.client
    (_open if action == "exit" else _resting)(live, "trade-a")
    body = {"trade_id": "trade-a", "intent_id": f"{action}-a"}
    assert c.post(f"/v1/slots/0/{action}", json=body, headers=AUTH).json()["accepted"]
    (_open if action == "exit" else _resting)(live, "trade-b")
    retry = c.post(f"/v1/slots/0/{action}", json=body, headers=AUTH)
    assert retry.status_code == 200, retry.text
    out = retry.json()
    assert out["diagnostic_code"] == "DUPLICATE_INTENT" and out["details"]["first_outcome"]["accepted"]
    assert c.get("/v1/slots/0").json()["trade_id"] == "trade-b"
    assert c.get("/v1/slots/0").json()["fsm_state"] in ("POSITION_OPEN", "ENTRY_WORKING")


def test_a_retry_of_a_refused_cancel_naming_an_older_trade_is_a_409_and_leaves_the_newer_order(
    live: LiveServer,
) -> None:
    """The first cancel was refused (trade-a had no working order): the kernel took nothing
    under its id, so its retry, once trade-b holds the slot, is checked as a first attempt."""
    c = live.client
    _open(live, "trade-a")
    body = {"trade_id": "trade-a", "intent_id": "cxl-a"}
    assert not c.post("/v1/slots/0/cancel", json=body, headers=AUTH).json()["accepted"]
    assert c.post("/v1/slots/0/exit", headers=AUTH).json()["accepted"]
    _resting(live, "trade-b")
    retry = c.post("/v1/slots/0/cancel", json=body, headers=AUTH)
    assert retry.status_code == 409, retry.text
    assert [o["trade_id"] for o in c.get("/v1/orders").json()] == ["trade-b"]
