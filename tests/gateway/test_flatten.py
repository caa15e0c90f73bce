"""Closing the book over HTTP: a slot's exit at market, and flatten all (halt, cancel every
working order, close every position by reduce-only market orders), with what was refused."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from dita import VenueEvent
from gateway.helpers import (
    AUTH,
    ExitsRest,
    LimitsRest,
    LiveServer,
    enter,
    serving_an_order_in_doubt,
    start_server,
)


@pytest.fixture
def book() -> Iterator[tuple[LiveServer, LimitsRest]]:
    """Slot 0 long 0.5 BTCUSDT, slot 1 an ETHUSDT limit entry resting, slot 2 short 2 SOLUSDT,
    slot 3 idle."""
    venues: list[LimitsRest] = []

    def venue() -> LimitsRest:
        venues.append(LimitsRest())
        return venues[0]

    live = start_server(max_slots=4, venue=venue)
    try:
        c = live.client
        assert enter(c, asset="BTCUSDT")["state"] == "POSITION_OPEN"
        rest = enter(c, asset="ETHUSDT", order_type="LIMIT", limit_price=2_000.0, reference_price=2_100.0)
        assert rest["state"] == "ENTRY_WORKING"
        short = enter(c, asset="SOLUSDT", side="SHORT", target_size=2.0, reference_price=150.0)
        assert short["state"] == "POSITION_OPEN"
        yield live, venues[0]
    finally:
        live.stop()


def test_a_slots_exit_closes_its_whole_position_at_market(book: tuple[LiveServer, LimitsRest]) -> None:
    live, venue = book
    c = live.client
    res = c.post("/v1/slots/0/exit", json={"intent_id": "exit-0", "reason": "operator"}, headers=AUTH)
    assert res.status_code == 200, res.text
    out = res.json()
    assert out["accepted"] is True and out["slot_id"] == 0
    slot = c.get("/v1/slots/0").json()
    assert slot["fsm_state"] == "CLOSED" and slot["size"] == 0.0
    exit_order = [coid for coid, reduce in venue.reduce_only.items() if reduce]
    assert len(exit_order) == 1, venue.reduce_only


def test_a_slots_exit_in_live_mode_carries_the_operator_as_its_source_run(
    book: tuple[LiveServer, LimitsRest],
) -> None:
    """In LIVE the kernel refuses an exit that names no research run (provenance); the page's
    exit is the operator's."""
    live, _venue = book
    c = live.client
    kernel = live.app.state.kernel
    kernel.set_risk_limits({"require_source_run_in_live": True})
    kernel.update_control(mode="LIVE", source="test")
    res = c.post("/v1/slots/2/exit", json={"intent_id": "exit-2"}, headers=AUTH)
    assert res.status_code == 200 and res.json()["accepted"] is True, res.text
    assert c.get("/v1/slots/2").json()["fsm_state"] == "CLOSED"


def test_an_exit_with_no_position_is_the_kernels_refusal(book: tuple[LiveServer, LimitsRest]) -> None:
    c = book[0].client
    idle = c.post("/v1/slots/3/exit", json={"reference_price": 100}, headers=AUTH).json()
    assert idle["accepted"] is False and idle["diagnostic_code"] == "NO_POSITION"
    # Nothing to price an exit of an idle slot at: the field is named.
    unpriced = c.post("/v1/slots/3/exit", headers=AUTH)
    assert unpriced.status_code == 422 and "reference_price" in unpriced.text, unpriced.text
    # An entry still working: the kernel asks for a cancel first.
    working = c.post("/v1/slots/1/exit", headers=AUTH).json()
    assert working["accepted"] is False and working["diagnostic_code"] == "INVALID_TRANSITION"
    assert "cancel it first" in working["details"]["reason"]
    assert c.post("/v1/slots/9/exit", headers=AUTH).status_code == 404
    assert c.post("/v1/slots/0/exit").status_code == 401
    bad = c.post("/v1/slots/0/exit", json={"reference_price": -1}, headers=AUTH)
    assert bad.status_code == 422 and "reference_price" in bad.text


def test_the_flatten_plan_names_what_it_would_do(book: tuple[LiveServer, LimitsRest]) -> None:
    plan = book[0].client.get("/v1/flatten").json()
    assert plan == {
        "working_orders": 1,
        "positions": 2,
        "cancel_slots": [1],
        "exit_slots": [0, 2],
        "closing_slots": [],
    }


def test_flatten_all_halts_cancels_and_closes_every_position(book: tuple[LiveServer, LimitsRest]) -> None:
    live, venue = book
    c = live.client
    res = c.post("/v1/flatten", json={"confirm": True}, headers=AUTH)
    assert res.status_code == 200, res.text
    out = res.json()
    assert out["halted"] is True and out["mode"] == "HALTED" and out["mode_error"] is None
    assert (out["orders_cancelled"], out["exits_placed"], out["refused"]) == (1, 2, 0)
    assert [(s["slot_id"], s["action"], s["accepted"]) for s in out["steps"]] == [
        (1, "CANCEL", True),
        (0, "EXIT", True),
        (2, "EXIT", True),
    ]
    slots = c.get("/v1/slots").json()
    assert [s["fsm_state"] for s in slots] == ["CLOSED", "IDLE", "CLOSED", "IDLE"]
    assert c.get("/v1/account").json()["open_positions"] == 0
    assert c.get("/v1/control").json()["mode"] == "HALTED"
    # Both closes went out reduce-only.
    assert sum(venue.reduce_only.values()) == 2
    # Nothing left: a second flatten does nothing and refuses nothing.
    again = c.post("/v1/flatten", json={"confirm": True}, headers=AUTH).json()
    assert again["steps"] == [] and again["refused"] == 0


def test_flatten_reports_what_the_kernel_refused() -> None:
    """An exit the kernel cannot size (no mark, no entry price on record) is refused, named, and
    the rest of the book is still closed."""
    live = start_server(max_slots=2, venue=LimitsRest)
    try:
        c = live.client
        assert enter(c, asset="BTCUSDT")["accepted"] is True
        # An exit leg already working at a limit: cancelled, then replaced by a market exit.
        leg = c.post(
            "/v1/intents",
            json={"action": "EXIT", "slot_id": 0, "order_type": "LIMIT", "limit_price": 60_000,
                  "reference_price": 60_000, "target_size": 0.5},
            headers=AUTH,
        ).json()  # fmt: skip
        assert leg["state"] == "EXIT_WORKING"
        assert c.get("/v1/flatten").json()["cancel_slots"] == [0]
        out = c.post("/v1/flatten", json={"confirm": True}, headers=AUTH).json()
        assert [(s["action"], s["accepted"]) for s in out["steps"]] == [("CANCEL", True), ("EXIT", True)]
        assert c.get("/v1/slots/0").json()["fsm_state"] == "CLOSED"
    finally:
        live.stop()


def test_flatten_refusals_carry_the_kernels_reason() -> None:
    """A market exit already working is left to close its position; a position whose entry
    still works after its cancel was asked (a venue that has not answered the cancel) is refused
    with the kernel's reason."""

    class SlowCancels(LimitsRest):
        def cancel(self, order: Any) -> list[VenueEvent]:
            return []

    live = start_server(max_slots=2, venue=SlowCancels)
    try:
        c = live.client
        out = enter(c, asset="BTCUSDT", order_type="LIMIT", limit_price=49_000.0)
        assert out["state"] == "ENTRY_WORKING"
        flat = c.post("/v1/flatten", json={"confirm": True}, headers=AUTH).json()
        assert [(s["action"], s["accepted"]) for s in flat["steps"]] == [("CANCEL", True)]
        # The cancel is asked: a second flatten has nothing more to cancel.
        assert c.get("/v1/flatten").json()["working_orders"] == 0
    finally:
        live.stop()


def test_flatten_closes_what_an_entry_filled_while_its_cancel_was_on_its_way() -> None:
    """Nothing of the entry is filled when the plan is read; the venue filled half of it before
    the cancel arrived, and says so in the cancel's answer (the fill, then the rest's cancel)."""

    class FillsHalfBeforeTheCancel(LimitsRest):
        def cancel(self, order: Any) -> list[VenueEvent]:
            coid, half = order.client_order_id, order.size / 2
            fill = VenueEvent(f"fill-{coid}", order.trade_id, order.slot_id, "FILL", venue_client_id=coid,
                              price=order.price, size=half, filled_size=half)  # fmt: skip
            return [fill, *super().cancel(order)]

    live = start_server(max_slots=2, venue=FillsHalfBeforeTheCancel)
    try:
        c = live.client
        rest = enter(c, asset="ETHUSDT", order_type="LIMIT", limit_price=2_000.0, reference_price=2_100.0)
        assert rest["state"] == "ENTRY_WORKING"
        assert c.get("/v1/flatten").json()["exit_slots"] == []
        out = c.post("/v1/flatten", json={"confirm": True}, headers=AUTH).json()
        assert [(s["slot_id"], s["action"], s["accepted"]) for s in out["steps"]] == [
            (0, "CANCEL", True),
            (0, "EXIT", True),
        ]
        assert c.get("/v1/slots/0").json()["fsm_state"] == "CLOSED"
        assert c.get("/v1/account").json()["open_positions"] == 0
    finally:
        live.stop()


def _market_exit(client: Any, **extra: Any) -> dict[str, Any]:
    body = {"action": "EXIT", "slot_id": 0, "reference_price": 50_000.0, **extra}
    out: dict[str, Any] = client.post("/v1/intents", json=body, headers=AUTH).json()
    assert out["accepted"] is True and out["state"] == "EXIT_WORKING", out
    return out


@pytest.mark.parametrize(
    "entry, exit_",
    [
        ({"target_size": 1.0}, {"target_size": 0.3}),  # an EXIT of part of the position
        ({"target_size": 1.0, "exit_leg_ratios": [0.5, 0.5]}, {}),  # the trade's first exit leg
    ],
    ids=["part", "leg"],
)
def test_flatten_closes_what_a_market_exit_of_part_of_the_position_leaves_open(
    entry: dict[str, Any], exit_: dict[str, Any]
) -> None:
    live = start_server(max_slots=2, venue=ExitsRest)
    try:
        c = live.client
        assert enter(c, **entry)["state"] == "POSITION_OPEN"
        part = _market_exit(c, **exit_)
        assert part["state"] == "EXIT_WORKING"
        assert c.get("/v1/slots/0").json()["active_exit_order"]["size"] < 1.0
        plan = c.get("/v1/flatten").json()
        assert (plan["cancel_slots"], plan["exit_slots"], plan["closing_slots"]) == ([0], [0], []), plan
        out = c.post("/v1/flatten", json={"confirm": True}, headers=AUTH).json()
        assert [(s["action"], s["accepted"]) for s in out["steps"]] == [("CANCEL", True), ("EXIT", True)]
        working = c.get("/v1/slots/0").json()["active_exit_order"]
        assert (working["size"], working["order_type"], working["reduce_only"]) == (1.0, "MARKET", True)
    finally:
        live.stop()


def test_flatten_leaves_a_market_exit_of_the_whole_position_to_fill() -> None:
    live = start_server(max_slots=2, venue=ExitsRest)
    try:
        c = live.client
        assert enter(c, target_size=1.0)["state"] == "POSITION_OPEN"
        whole = _market_exit(c, target_size=1.0)
        plan = c.get("/v1/flatten").json()
        assert (plan["cancel_slots"], plan["exit_slots"], plan["closing_slots"]) == ([], [], [0]), plan
        out = c.post("/v1/flatten", json={"confirm": True}, headers=AUTH).json()
        assert out["steps"] == [] and out["refused"] == 0
        working = c.get("/v1/slots/0").json()["active_exit_order"]
        assert working["size"] == 1.0 and working["client_order_id"] in str(whole)
    finally:
        live.stop()


def test_flatten_does_not_count_a_market_exit_whose_cancel_is_asked_as_the_close() -> None:
    """Its cancel asked, the exit may end unfilled at any time: the position is no longer
    closing, and flatten says it will close it (the kernel refuses the exit while the order
    works, and says so)."""

    class SlowCancels(ExitsRest):
        def cancel(self, order: Any) -> list[VenueEvent]:
            return []

    live = start_server(max_slots=2, venue=SlowCancels)
    try:
        c = live.client
        assert enter(c, target_size=1.0)["state"] == "POSITION_OPEN"
        _market_exit(c, target_size=1.0)
        assert c.post("/v1/slots/0/cancel", headers=AUTH).json()["accepted"] is True
        plan = c.get("/v1/flatten").json()
        assert (plan["cancel_slots"], plan["exit_slots"], plan["closing_slots"]) == ([], [0], []), plan
        out = c.post("/v1/flatten", json={"confirm": True}, headers=AUTH).json()
        assert [(s["action"], s["accepted"], s["diagnostic_code"]) for s in out["steps"]] == [
            ("EXIT", False, "SLOT_BUSY")
        ]
        assert out["refused"] == 1, out
    finally:
        live.stop()


def test_flatten_all_cancels_an_order_in_doubt_again() -> None:
    """An order in doubt (rate limited before its ack, with a cancel asked) may still work at the
    venue: flatten counts it, and sends its cancel again."""
    with serving_an_order_in_doubt() as (live, venue, coid):
        c = live.client
        plan = c.get("/v1/flatten").json()
        assert (plan["working_orders"], plan["cancel_slots"], plan["exit_slots"]) == (1, [0], []), plan
        out = c.post("/v1/flatten", json={"confirm": True}, headers=AUTH).json()
        assert [(s["slot_id"], s["action"]) for s in out["steps"]] == [(0, "CANCEL")], out
        assert out["steps"][0]["details"]["order_in_doubt"] is True
        assert venue.cancels == [coid, coid]


def test_flatten_counts_a_cancel_the_venue_throttles_again_as_refused() -> None:
    """The kernel refuses the throttle of a cancel sent again (its order has ended in its books)
    and lists it in ``venue_refusals``: the order may still work, so nothing was cancelled."""
    with serving_an_order_in_doubt() as (live, venue, coid):
        c = live.client
        out = c.post("/v1/flatten", json={"confirm": True}, headers=AUTH).json()
        (cancel,) = out["steps"]
        assert (cancel["accepted"], cancel["diagnostic_code"]) == (False, "RATE_LIMITED"), cancel
        assert "throttled" in cancel["details"]["reason"], cancel
        assert (out["orders_cancelled"], out["refused"]) == (0, 1), out
        assert venue.cancels == [coid, coid]


class RefusesCancels(ExitsRest):
    """Refuses every cancel (CANCEL_REJECT): the order works on."""

    def cancel(self, order: Any) -> list[VenueEvent]:
        coid = order.client_order_id
        return [VenueEvent(f"rej-{coid}", order.trade_id, order.slot_id, "CANCEL_REJECT",
                           venue_client_id=coid, reason="too late to cancel")]  # fmt: skip


def test_flatten_counts_a_cancel_the_venue_refuses_as_refused() -> None:
    live = start_server(max_slots=2, venue=RefusesCancels)
    try:
        c = live.client
        assert enter(c, target_size=1.0)["state"] == "POSITION_OPEN"
        _market_exit(c, target_size=0.3)
        out = c.post("/v1/flatten", json={"confirm": True}, headers=AUTH).json()
        cancel = out["steps"][0]
        assert (cancel["action"], cancel["accepted"], cancel["diagnostic_code"]) == (
            "CANCEL",
            False,
            "CANCEL_REJECTED",
        )
        assert cancel["details"]["reason"] == "the venue refused the cancel: too late to cancel"
        assert out["orders_cancelled"] == 0, out
        assert c.get("/v1/slots/0").json()["active_exit_order"]["size"] == 0.3
    finally:
        live.stop()


def test_a_slots_cancel_the_venue_throttles_again_answers_rate_limited() -> None:
    with serving_an_order_in_doubt() as (live, venue, coid):
        out = live.client.post("/v1/slots/0/cancel", headers=AUTH).json()
        assert (out["accepted"], out["diagnostic_code"]) == (False, "RATE_LIMITED"), out
        assert out["details"]["kernel_reason"] == "late event for an order that already ended"
        assert venue.cancels == [coid, coid]


def test_a_cancel_intent_the_venue_refuses_answers_cancel_rejected() -> None:
    live = start_server(max_slots=2, venue=RefusesCancels)
    try:
        c = live.client
        assert enter(c, target_size=1.0)["state"] == "POSITION_OPEN"
        _market_exit(c, target_size=1.0)
        out = c.post("/v1/intents", json={"action": "CANCEL", "slot_id": 0}, headers=AUTH).json()
        assert (out["accepted"], out["diagnostic_code"]) == (False, "CANCEL_REJECTED"), out
        assert out["details"]["reason"] == "the venue refused the cancel: too late to cancel"
    finally:
        live.stop()


def test_flatten_leaves_the_kernels_whole_close_of_a_position_off_the_lot_grid() -> None:
    """The kernel sends a whole close rounded down to the lot step (1.0005 at a step of 0.001
    goes out as 1.0): that exit is the close, not an exit of part, and flatten leaves it."""

    cancels: list[str] = []

    class CancelsLate(ExitsRest):
        def cancel(self, order: Any) -> list[VenueEvent]:
            cancels.append(order.client_order_id)
            return []

    live = start_server(max_slots=2, venue=CancelsLate)
    try:
        c = live.client
        assert enter(c, target_size=1.0005)["state"] == "POSITION_OPEN"
        # The venue's lot step learned after the entry (a market-limits refresh).
        live.app.state.kernel.set_market_limits("BTCUSDT", {"lot_step": 0.001})
        assert c.post("/v1/slots/0/exit", json={}, headers=AUTH).json()["accepted"] is True
        assert c.get("/v1/slots/0").json()["active_exit_order"]["size"] == 1.0
        plan = c.get("/v1/flatten").json()
        assert (plan["cancel_slots"], plan["exit_slots"], plan["closing_slots"]) == ([], [], [0]), plan
        out = c.post("/v1/flatten", json={"confirm": True}, headers=AUTH).json()
        assert out["steps"] == [] and cancels == [], out
    finally:
        live.stop()


@pytest.mark.parametrize("body", [None, {}, {"confirm": False}, {"confirm": "yes"}, {"confirm": 1}])
def test_flatten_needs_confirm_true(live: LiveServer, body: dict[str, Any] | None) -> None:
    res = live.client.post("/v1/flatten", json=body, headers=AUTH)
    assert res.status_code == 422, res.text
    assert "confirm" in res.text or body is None
    assert live.client.get("/v1/control").json()["mode"] != "HALTED"


def test_flatten_needs_the_token(live: LiveServer) -> None:
    assert live.client.post("/v1/flatten", json={"confirm": True}).status_code == 401
