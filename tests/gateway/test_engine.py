"""The stdio engine in-process, on venues the subprocess cannot choose: resting orders,
cancels, partial fills and venue rejects."""

from __future__ import annotations

import contextlib
import io
import json
import os
import select
import threading
from collections.abc import Iterator
from typing import Any, BinaryIO, cast

import pytest

from dita import ExecutionKernel, MockVenueAdapter, VenueEvent
from dita.gateway import stdio
from dita.gateway.engine import OrderEngine
from dita.gateway.protocol import parse_line
from dita.gateway.stdio import run_stdio
from gateway.helpers import OneIdVenue


def session(kernel: ExecutionKernel, script: str | Chunks) -> list[dict[str, Any]]:
    out = io.BytesIO()
    stdin = io.BytesIO(script.encode()) if isinstance(script, str) else script
    assert run_stdio(kernel, cast(BinaryIO, stdin), out) == 0
    return [json.loads(line) for line in out.getvalue().splitlines()]


class Chunks:
    """A stdin that hands out its bytes in the pieces given, one per read, as a pipe may."""

    def __init__(self, *pieces: bytes) -> None:
        self.pieces = list(pieces)

    def read(self, size: int = -1) -> bytes:
        return self.pieces.pop(0) if self.pieces else b""


def of(events: list[dict[str, Any]], client_id: str) -> list[tuple[str, Any]]:
    return [(e["type"], e.get("status")) for e in events if e.get("client_id") == client_id]


def test_resting_order_is_listed_and_cancelled() -> None:
    kernel = ExecutionKernel(max_slots=2, venue=MockVenueAdapter(fill_rate=0.0))
    events = session(
        kernel,
        "ORDER BUY BTC 1 49000 r1\nQUERY ORDERS\nQUERY r1\nCANCEL r1\nQUERY ORDERS\nCANCEL r1\nQUERY SLOTS\n",
    )
    assert not [e for e in events if e["type"] == "error"]
    r1 = of(events, "r1")
    assert r1[0] == ("order_received", None)
    assert r1[1] == ("order_update", "ACKNOWLEDGED")
    queries = [e for e in events if e["type"] == "query_received"]
    working = queries[0]["result"]
    assert [o["client_id"] for o in working] == ["r1"] and working[0]["status"] == "ACKNOWLEDGED"
    assert queries[1]["result"]["status"] == "ACKNOWLEDGED" and queries[1]["result"]["filled_qty"] == 0.0
    cancels = [e for e in events if e["type"] == "cancel_received"]
    assert [c["client_id"] for c in cancels] == ["r1", "r1"]
    updates = [e for e in events if e["type"] == "order_update" and e["client_id"] == "r1"]
    assert updates[1]["status"] == "CANCELED" and updates[1]["stage"] == "IDLE"
    # The second cancel finds the order already ended and is not sent to the kernel.
    assert updates[2]["status"] == "CANCELED" and updates[2]["diagnostic"] == "ORDER_CLOSED"
    assert queries[2]["result"] == []
    assert {s["fsm_state"] for s in queries[3]["result"]} == {"IDLE"}
    assert kernel.open_orders() == []


def test_partial_fill_then_cancel_keeps_the_filled_part() -> None:
    venue = MockVenueAdapter(partial_fill_rate=1.0, partial_fill_ratio=0.4)
    kernel = ExecutionKernel(max_slots=2, venue=venue)
    events = session(kernel, "ORDER SELL ETH 10 3000 p1\nCANCEL p1\nQUERY SLOTS\nORDER BUY ETH 4 2900 p2\n")
    assert not [e for e in events if e["type"] == "error"]
    fills = [e for e in events if e["type"] == "fill" and e["client_id"] == "p1"]
    assert len(fills) == 1 and fills[0]["qty"] == 4.0 and fills[0]["remaining_qty"] == 6.0
    p1 = [e for e in events if e["type"] == "order_update" and e["client_id"] == "p1"]
    assert [u["status"] for u in p1] == ["ACKNOWLEDGED", "PARTIALLY_FILLED", "CANCELED"]
    assert p1[1]["stage"] == "ENTRY_WORKING" and fills[0]["fee"] > 0  # the kernel's predicted fee
    assert p1[-1]["filled_qty"] == 4.0 and p1[-1]["stage"] == "POSITION_OPEN"
    slots = next(e for e in events if e["type"] == "query_received")["result"]
    assert (
        slots[0]["fsm_state"] == "POSITION_OPEN" and slots[0]["side"] == "SHORT" and slots[0]["size"] == 4.0
    )
    # The BUY covers the 4 that filled.
    p2 = next(e for e in events if e["type"] == "order_received" and e["client_id"] == "p2")
    assert p2["action"] == "EXIT" and p2["slot_id"] == 0


def test_venue_reject_is_a_rejected_order_update() -> None:
    kernel = ExecutionKernel(max_slots=2, venue=MockVenueAdapter(reject_rate=1.0))
    events = session(kernel, "ORDER BUY BTC 1 50000 x1\nQUERY x1\n")
    updates = [e for e in events if e["type"] == "order_update"]
    assert updates[-1]["status"] == "REJECTED"
    assert next(e for e in events if e["type"] == "query_received")["result"]["status"] == "REJECTED"
    assert kernel.slot_state(0).fsm_state.name == "IDLE"


def test_venue_reject_update_says_why_as_query_does() -> None:
    # The venue's reason must reach the event a client reacts to, not only a later QUERY.
    kernel = ExecutionKernel(max_slots=2, venue=MockVenueAdapter(reject_rate=1.0))
    events = session(kernel, "ORDER BUY BTC 1 50000 x1\nQUERY x1\n")
    update = [e for e in events if e["type"] == "order_update"][-1]
    record = next(e for e in events if e["type"] == "query_received")["result"]
    assert update["status"] == "REJECTED" and update["reason"] == "mock reject"
    assert record["reason"] == "mock reject"


def test_halted_kernel_refuses_orders_with_the_kernels_diagnostic() -> None:
    kernel = ExecutionKernel(max_slots=2)
    kernel.update_control(mode="HALTED")
    events = session(kernel, "ORDER BUY BTC 1 50000 h1\n")
    update = next(e for e in events if e["type"] == "order_update")
    assert update["status"] == "REJECTED" and update["diagnostic"] == "MODE_BLOCKED"
    assert update["details"]["mode"] == "HALTED"


def test_second_close_while_an_exit_rests_is_refused_not_a_new_short() -> None:
    venue = MockVenueAdapter(fill_rate=0.0)  # every order rests until filled by hand
    kernel = ExecutionKernel(max_slots=3, venue=venue)
    events: list[tuple[str, dict[str, Any]]] = []
    engine = OrderEngine(kernel, lambda kind, fields: events.append((kind, fields)))

    def send(line: str) -> dict[str, Any]:
        command = parse_line(line)
        assert command is not None
        engine.handle(command)
        return next(f for k, f in reversed(events) if k == "order_update")

    send("ORDER BUY BTC 1 100 a1")
    (entry,) = kernel.open_orders()
    for event in venue.fill_open_order(entry.client_order_id):
        assert kernel.on_venue_event(event).accepted
    assert kernel.slot_state(0).fsm_state.name == "POSITION_OPEN"

    closing = send("ORDER SELL BTC 1 110 a2")  # rests: the exit stays working
    assert closing["status"] == "ACKNOWLEDGED" and closing["action"] == "EXIT" and closing["slot_id"] == 0
    assert kernel.slot_state(0).fsm_state.name in ("EXIT_SENT", "EXIT_WORKING")

    again = send("ORDER SELL BTC 1 110 a3")
    assert again["status"] == "REJECTED" and again["diagnostic"] == "EXIT_WORKING"
    assert "CANCEL a2" in again["reason"], again  # the exit in the way, by its client id
    assert kernel.slot_state(1).fsm_state.name == "IDLE"  # no SHORT was opened


class ThrottlingVenue:
    """Acknowledges every order; a throttle after the ack (the venue holds the order) and on
    every cancel."""

    name = "throttling"

    def _event(self, kind: str, order: Any, tag: str) -> VenueEvent:
        cid = order.client_order_id
        return VenueEvent(
            f"{tag}-{cid}", "", -1, kind, venue_client_id=cid, venue_order_id=f"V-{cid}", retry_after=1.0
        )

    def submit(self, order: Any) -> list[VenueEvent]:
        return [self._event("ORDER_ACK", order, "ack"), self._event("RATE_LIMITED", order, "rl")]

    def cancel(self, order: Any) -> list[VenueEvent]:
        return [self._event("RATE_LIMITED", order, f"crl{order.cancel_requested}")]


def test_a_throttle_on_an_order_the_venue_holds_leaves_it_working() -> None:
    kernel = ExecutionKernel(max_slots=2, venue=ThrottlingVenue())
    events = session(kernel, "ORDER BUY BTC 1 49000 t1\nCANCEL t1\nQUERY t1\n")
    # The last update answers the stop's cancel, throttled too.
    *updates, at_stop = [e for e in events if e["type"] == "order_update" and e["client_id"] == "t1"]
    # Neither the throttle after the ack nor the throttled cancels end the order.
    assert all(u["status"] == "ACKNOWLEDGED" for u in [*updates, at_stop]), updates
    assert updates[-1]["diagnostic"] == "RATE_LIMITED" and updates[-1]["reason"] == "cancel refused"
    assert next(e for e in events if e["type"] == "query_received")["result"]["status"] == "ACKNOWLEDGED"
    working = kernel.slot_state(0).active_entry_order
    assert working is not None and [o.client_order_id for o in kernel.open_orders()] == [
        working.client_order_id
    ]


def test_a_mark_the_kernel_refuses_is_a_field_error_and_prices_nothing() -> None:
    kernel = ExecutionKernel(max_slots=2)
    events = session(kernel, "MARK BTC 1e16\nORDER BUY BTC 1 MKT m1\n")
    (error,) = [e for e in events if e["type"] == "error"]
    # Named as sent (the text "1e16"), refused before the kernel is asked.
    assert (error["code"], error["field"], error["value"]) == ("INVALID_FIELD", "price", "1e16")
    assert error["line"] == 1
    assert "at most 1e+15" in error["message"]
    # The market order finds no price: the refused mark did not become the reference.
    update = next(e for e in events if e["type"] == "order_update")
    assert update["status"] == "REJECTED" and update["diagnostic"] == "NO_REFERENCE_PRICE"
    assert not [e for e in events if e["type"] == "account"]


def test_a_refused_priced_order_does_not_price_later_market_orders() -> None:
    kernel = ExecutionKernel(max_slots=2)
    updates: dict[str, dict[str, Any]] = {}
    engine = OrderEngine(
        kernel, lambda kind, f: updates.update({f["client_id"]: f} if kind == "order_update" else {})
    )

    def send(line: str) -> str:
        command = parse_line(line)
        assert command is not None
        engine.handle(command)
        return str(updates[line.split()[-1]]["diagnostic"])

    assert send("ORDER BUY BTC 1e-10 100 p1") == "INVALID_INTENT"  # under the kernel's smallest size
    kernel.update_control(mode="HALTED")
    assert send("ORDER BUY ETH 1 3000 p2") == "MODE_BLOCKED"
    kernel.update_control(mode="PAPER")
    # Neither refused price became the reference: no price is known for either symbol.
    assert send("ORDER BUY BTC 1 MKT m1") == "NO_REFERENCE_PRICE"
    assert send("ORDER BUY ETH 1 MKT m2") == "NO_REFERENCE_PRICE"
    assert {s["fsm_state"] for s in kernel.slots()} == {"IDLE"}


class FillBeforeAckVenue:
    """Reports a part fill of each order before the order's ack, as venues that reorder do."""

    name = "reordering"

    def submit(self, order: Any) -> list[VenueEvent]:
        cid = order.client_order_id
        fill = VenueEvent(
            f"fill-{cid}",
            "",
            -1,
            "FILL",
            "PARTIALLY_FILLED",
            venue_client_id=cid,
            price=order.price,
            size=order.size * 0.4,
            filled_size=order.size * 0.4,
        )
        ack = VenueEvent(f"ack-{cid}", "", -1, "ORDER_ACK", venue_client_id=cid, venue_order_id=f"V-{cid}")
        return [fill, ack]

    def cancel(self, order: Any) -> list[VenueEvent]:
        return []


def test_an_ack_after_a_part_fill_does_not_take_the_order_back_to_acknowledged() -> None:
    kernel = ExecutionKernel(max_slots=2, venue=FillBeforeAckVenue())
    events = session(kernel, "ORDER BUY BTC 10 100 f1\nQUERY f1\n")
    updates = [e for e in events if e["type"] == "order_update" and e["client_id"] == "f1"]
    assert updates and all(u["status"] == "PARTIALLY_FILLED" for u in updates), updates
    query = next(e for e in events if e["type"] == "query_received")["result"]
    assert query["status"] == "PARTIALLY_FILLED" and query["filled_qty"] == 4.0


def test_a_rate_limited_order_says_the_venues_words_and_when_to_retry() -> None:
    # The refusal's reason was the diagnostic again ("RATE_LIMITED"): the venue's text was lost.
    kernel = ExecutionKernel(max_slots=2, venue=MockVenueAdapter(rate_limit_rate=1.0, retry_after=2.5))
    events = session(kernel, "ORDER BUY BTC 1 50000 x1\nQUERY x1\nQUERY ORDERS\n")
    update = next(e for e in events if e["type"] == "order_update")
    assert (update["status"], update["diagnostic"]) == ("REJECTED", "RATE_LIMITED")
    assert update["reason"] == "mock rate limit" and update["details"]["retry_after"] == 2.5
    record, working = [e["result"] for e in events if e["type"] == "query_received"]
    assert record["reason"] == "mock rate limit" and working == []
    assert kernel.slot_state(0).fsm_state.name == "IDLE"


def test_an_order_over_the_kernels_bound_is_a_field_error_and_leaves_the_client_id_free() -> None:
    # It went to the kernel, came back REJECTED naming reference_price or target_size, and
    # used the client id up; MARK refuses such a price up front.
    kernel = ExecutionKernel(max_slots=2)
    events = session(kernel, "ORDER BUY BTC 1 1e16 b1\nORDER BUY BTC 2e15 MKT b1\nORDER BUY BTC 1 100 b1\n")
    errors = [e for e in events if e["type"] == "error"]
    assert [(e["code"], e["field"], e["value"], e["line"]) for e in errors] == [
        ("INVALID_FIELD", "price", "1e16", 1),
        ("INVALID_FIELD", "qty", "2e15", 2),  # as sent, not the float made of it
    ]
    assert all("at most 1e+15" in e["message"] for e in errors)
    assert [(e["type"], e.get("status")) for e in events if e.get("client_id") == "b1"][-1] == (
        "order_update",
        "FILLED",
    )
    assert kernel.slot_state(0).size == 1.0


def test_an_opposite_order_while_a_part_filled_entry_works_is_refused_not_a_new_short() -> None:
    kernel = ExecutionKernel(
        max_slots=3, venue=MockVenueAdapter(partial_fill_rate=1.0, partial_fill_ratio=0.5)
    )
    script = "ORDER BUY BTC 1 100 p1\nORDER SELL BTC 0.5 100 p2\nCANCEL p1\nORDER SELL BTC 0.5 100 p3\n"
    events = session(kernel, script)
    refused = [e for e in events if e["type"] == "order_update" and e["client_id"] == "p2"]
    assert [(u["status"], u["diagnostic"]) for u in refused] == [("REJECTED", "ENTRY_WORKING")]
    assert "CANCEL p1" in refused[0]["reason"]
    # Canceled, the entry leaves its filled half as the position, which the next SELL closes.
    p3 = next(e for e in events if e["type"] == "order_received" and e["client_id"] == "p3")
    assert (p3["action"], p3["slot_id"]) == ("EXIT", 0)
    assert {s["side"] for s in kernel.slots()} <= {"LONG", "FLAT"}


QUERY_LINE = ("QUERY " + "\u20ac" * 2007).encode()  # 2013 characters, 6027 bytes


def test_an_overlong_line_gets_one_answer_however_it_arrives() -> None:
    answers = []
    for pieces in [
        (QUERY_LINE + b"\n",),
        (QUERY_LINE[:2000], QUERY_LINE[2000:] + b"\n"),
        (QUERY_LINE[:5000], QUERY_LINE[5000:] + b"\n"),
        (QUERY_LINE,),  # no newline before EOF
        (b"#" + QUERY_LINE + b"\n",),  # a comment too
    ]:
        (error,) = [e for e in session(ExecutionKernel(max_slots=1), Chunks(*pieces)) if e["type"] == "error"]
        answers.append({k: v for k, v in error.items() if k not in ("seq", "ts")})
    expected = {"type": "error", "code": "LINE_TOO_LONG", "line": 1, "field": "line", "value": None}
    assert answers == [
        *[{**expected, "message": f"line is {len(QUERY_LINE)} bytes; the limit is 4096"}] * 4,
        {**expected, "message": f"line is {len(QUERY_LINE) + 1} bytes; the limit is 4096"},
    ]


def test_a_byte_order_mark_at_the_start_is_ignored() -> None:
    bom = b"\xef\xbb\xbf"
    for pieces in [(bom + b"QUERY ORDERS\n",), (bom[:1], bom[1:2], bom[2:] + b"QUERY ORDERS\n"), (bom,)]:
        events = session(ExecutionKernel(max_slots=1), Chunks(*pieces))
        assert not [e for e in events if e["type"] == "error"], pieces
    # Only at the very start: one later is an unknown command.
    events = session(ExecutionKernel(max_slots=1), Chunks(b"QUERY ORDERS\n" + bom + b"QUERY ORDERS\n"))
    assert [(e["code"], e["line"]) for e in events if e["type"] == "error"] == [("UNKNOWN_COMMAND", 2)]


class UnreachableVenue:
    """Every submit and cancel raises, as a venue whose connection is down does."""

    name = "unreachable"

    def submit(self, order: Any) -> list[VenueEvent]:
        raise ConnectionError("exchange unreachable")

    def cancel(self, order: Any) -> list[VenueEvent]:
        raise ConnectionError("cancel lost")


def test_a_venue_that_raises_is_named_in_the_orders_update_and_the_session_goes_on() -> None:
    # The update said NEW and nothing else: the client could not tell a venue that had not
    # answered yet from one that failed, as the HTTP gateway's outcome (its details) tells it.
    kernel = ExecutionKernel(max_slots=2, venue=UnreachableVenue())
    events = session(kernel, "ORDER BUY BTC 1 100 u1\nCANCEL u1\nQUERY u1\nMARK BTC 101\n")
    assert not [e for e in events if e["type"] == "error"]
    sent, canceled = [e for e in events if e["type"] == "order_update" and e["client_id"] == "u1"][:2]
    assert (sent["status"], sent["stage"], sent["diagnostic"]) == ("NEW", "ORDER_SENT", "VENUE_ERROR")
    assert sent["reason"] == "ConnectionError: exchange unreachable"
    assert sent["details"] == {
        "submit_outcome": "unknown",
        "venue_error": "ConnectionError: exchange unreachable",
    }
    assert (canceled["diagnostic"], canceled["reason"]) == ("VENUE_ERROR", "ConnectionError: cancel lost")
    assert canceled["details"]["cancel_outcome"] == "unknown"
    record = next(e for e in events if e["type"] == "query_received")["result"]
    assert (record["status"], record["diagnostic"]) == ("NEW", "VENUE_ERROR")
    assert any(e["type"] == "account" and e["mark_price"] == 101.0 for e in events)  # still running
    assert kernel.slot_state(0).fsm_state.name == "ORDER_SENT"  # in doubt, not assumed rejected


class LateFillVenue:
    """Acknowledges each order at once and reports its fill only when polled, the
    ``polls_before_fill``-th poll after the submit, as a venue that reports later does."""

    name = "late"

    def __init__(self, polls_before_fill: int = 1, fee: float | None = None) -> None:
        self.polls_before_fill = polls_before_fill
        self.fee = fee
        self.resting: dict[str, tuple[Any, int]] = {}
        self.polls = 0

    def submit(self, order: Any) -> list[VenueEvent]:
        cid = order.client_order_id
        self.resting[cid] = (order, 0)
        return [VenueEvent(f"ack-{cid}", "", -1, "ORDER_ACK", venue_client_id=cid, venue_order_id=f"V-{cid}")]

    def cancel(self, order: Any) -> list[VenueEvent]:
        cid = order.client_order_id
        self.resting.pop(cid, None)
        return [VenueEvent(f"cx-{cid}", "", -1, "CANCEL_ACK", venue_client_id=cid, venue_order_id=f"V-{cid}")]

    def poll_events(self) -> list[VenueEvent]:
        self.polls += 1
        events = []
        for cid, (order, polls) in list(self.resting.items()):
            if polls + 1 < self.polls_before_fill:
                self.resting[cid] = (order, polls + 1)
                continue
            del self.resting[cid]
            events.append(self.filled(cid, order))
        return events

    def filled(self, cid: str, order: Any) -> VenueEvent:
        """The full fill of resting order ``cid``."""
        return VenueEvent(
            f"fill-{cid}",
            "",
            -1,
            "FILL",
            venue_client_id=cid,
            venue_order_id=f"V-{cid}",
            price=order.price,
            size=order.size,
            filled_size=order.size,
            fee=self.fee,
        )


def test_a_fill_the_venue_reports_later_is_applied_and_told() -> None:
    # run_stdio never called poll_events: the order stayed ACKNOWLEDGED and the slot empty.
    kernel = ExecutionKernel(max_slots=2, venue=LateFillVenue(fee=0.05))
    events = session(kernel, "ORDER BUY BTC 2 100 l1\nQUERY l1\n")
    assert of(events, "l1") == [
        ("order_received", None),
        ("order_update", "ACKNOWLEDGED"),
        ("fill", None),
        ("order_update", "FILLED"),
    ]
    fill = next(e for e in events if e["type"] == "fill")
    assert (fill["qty"], fill["price"], fill["remaining_qty"], fill["fee"]) == (2.0, 100.0, 0.0, 0.05)
    filled = [e for e in events if e["type"] == "order_update"][-1]
    assert filled["stage"] == "POSITION_OPEN" and filled["avg_price"] == 100.0
    types = [e["type"] for e in events]
    assert types.index("fill") > types.index("query_received")  # polled after the commands read
    assert types[types.index("fill") + 2] == "account"
    assert kernel.slot_state(0).size == 2.0 and kernel.open_orders() == []


class _FilledShort(LateFillVenue):
    """Fills each order in part and says it is over: FILLED, nothing remaining, 0.5 of 2."""

    def filled(self, cid: str, order: Any) -> VenueEvent:
        return VenueEvent(
            f"fill-{cid}", "", -1, "FILL", "FILLED", venue_client_id=cid, venue_order_id=f"V-{cid}",
            price=100.0, size=0.5, filled_size=0.5, remaining_size=0.0,
        )  # fmt: skip


def test_an_order_the_venue_ends_short_with_its_fill_is_told_ended_not_working() -> None:
    """A fill stating FILLED with nothing remaining short of the order's size ends the order:
    the kernel books the fill and expires the order. The engine tells the order ended, not
    PARTIALLY_FILLED and listed as working for good."""
    kernel = ExecutionKernel(max_slots=2, venue=_FilledShort())
    events = session(kernel, "ORDER BUY BTC 2 100 s1\n")
    told = of(events, "s1")
    assert told[:4] == [
        ("order_received", None),
        ("order_update", "ACKNOWLEDGED"),
        ("fill", None),
        ("order_update", "PARTIALLY_FILLED"),
    ]
    assert told[-1] == ("order_update", "EXPIRED")
    ended = [e for e in events if e["type"] == "order_update"][-1]
    assert ended["filled_qty"] == 0.5 and ended["stage"] == "POSITION_OPEN"
    assert kernel.slot_state(0).size == 0.5 and kernel.open_orders() == []


class _CancelsLater(LateFillVenue):
    """Never fills; answers a cancel only at the next poll, as a venue that reports later."""

    def __init__(self) -> None:
        super().__init__(polls_before_fill=10**9)
        self.canceled: list[str] = []

    def cancel(self, order: Any) -> list[VenueEvent]:
        self.resting.pop(order.client_order_id, None)
        self.canceled.append(order.client_order_id)
        return []

    def poll_events(self) -> list[VenueEvent]:
        done, self.canceled = self.canceled, []
        return [
            VenueEvent(f"cx-{cid}", "", -1, "CANCEL_ACK", venue_client_id=cid, venue_order_id=f"V-{cid}")
            for cid in done
        ]


def test_the_stops_cancels_are_followed_by_a_last_poll() -> None:
    # Nothing polled the venue after the stop's cancels: an answer it gives later went untold,
    # and the session ended with the order still working in the kernel.
    kernel = ExecutionKernel(max_slots=2, venue=_CancelsLater())
    events = session(kernel, "ORDER BUY BTC 1 100 s1\n")
    assert of(events, "s1")[-1] == ("order_update", "CANCELED")
    assert [e["type"] for e in events][-1] == "engine_stopped"
    assert kernel.open_orders() == [] and kernel.slot_state(0).fsm_state.name == "IDLE"


def test_a_polled_fill_without_a_venue_fee_gets_the_kernels_fee() -> None:
    kernel = ExecutionKernel(max_slots=2, venue=LateFillVenue())
    events = session(kernel, "ORDER BUY BTC 2 100 l1\n")
    fill = next(e for e in events if e["type"] == "fill")
    assert fill["fee"] == kernel.slot_state(0).fees_paid > 0.0


def test_a_venue_polled_while_stdin_is_idle_reports_its_fill_before_the_next_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Nothing polled the venue while the client waited for its fill, so it never came. The
    # venue fills at its second poll: the first after the command is not the one.
    monkeypatch.setattr(stdio, "POLL_SECONDS", 0.01, raising=False)
    venue = LateFillVenue(polls_before_fill=2)
    kernel = ExecutionKernel(max_slots=2, venue=venue)
    seen, rest, codes = _on_pipes(kernel, 4, after=b"ORDER BUY BTC 1 100 i1\n")
    assert [e["type"] for e in seen] == ["engine_started", "order_received", "order_update", "fill"]
    assert venue.polls >= 2
    assert codes == [0]
    assert [e["type"] for e in rest] == ["order_update", "account", "engine_stopped"]
    assert rest[0]["status"] == "FILLED"


class _Clock:
    """A fake ``time.monotonic``: it moves only when a test moves it."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class _SlowPolls(LateFillVenue):
    """Each poll takes ``seconds`` of ``clock``, as a throttled exchange's does; notes when it
    began and how many answers to a QUERY the client (the pipe ``out``) had been sent by then."""

    def __init__(self, clock: _Clock, seconds: float, out: int) -> None:
        super().__init__(polls_before_fill=10**9)
        self.clock, self.seconds, self.out = clock, seconds, out
        self.output = b""
        self.began: list[tuple[float, int]] = []

    def poll_events(self) -> list[VenueEvent]:
        with contextlib.suppress(BlockingIOError):
            while chunk := os.read(self.out, 1 << 16):
                self.output += chunk
        self.began.append((self.clock.now, self.output.count(b'"type":"query_received"')))
        self.clock.now += self.seconds
        return super().poll_events()


class _PacedChunks(Chunks):
    """A client sending one piece at a time, each ``gap`` seconds of ``clock`` after the last read."""

    def __init__(self, clock: _Clock, gap: float, *pieces: bytes) -> None:
        super().__init__(*pieces)
        self.clock, self.gap = clock, gap

    def read(self, size: int = -1) -> bytes:
        self.clock.now += self.gap
        return super().read(size)


def test_a_slow_venue_is_polled_an_interval_after_its_last_poll_ended_not_after_every_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A read polls only once POLL_SECONDS have passed since the last poll ended, and its
    commands are answered before that poll begins: polled after every read, a venue slower
    than the poll interval (a throttled exchange) would run back to back with a client's
    commands, each answer held until the poll after its read ends."""
    clock = _Clock()
    monkeypatch.setattr(stdio.time, "monotonic", clock)
    out_read, out_write = os.pipe()
    os.set_blocking(out_read, False)
    venue = _SlowPolls(clock, seconds=3.0, out=out_read)
    kernel = ExecutionKernel(max_slots=2, venue=venue)
    stdin = _PacedChunks(clock, 0.4, *[b"QUERY ACCOUNT\n"] * 10)
    with open(out_write, "wb") as stdout:
        assert run_stdio(kernel, cast(BinaryIO, stdin), stdout) == 0
    with os.fdopen(out_read, "rb") as rest:
        output = venue.output + rest.read()
    reads, stop = venue.began[:-2], venue.began[-2:]  # the stop polls twice, around its cancels
    # Reads 1, 4, 7 and 10 poll (0.4 s apart; a poll takes 3 s and the next is due 1 s after).
    assert reads == [(pytest.approx(1000.4 + 4.2 * n), 1 + 3 * n) for n in range(4)]
    assert [t for t, _ in stop] == [pytest.approx(1016.4), pytest.approx(1019.4)]
    events = [json.loads(line) for line in output.splitlines()]
    assert [e["type"] for e in events].count("query_received") == 10
    assert events[-1]["type"] == "engine_stopped" and events[-1]["errors"] == 0


def _on_pipes(
    kernel: ExecutionKernel, first: int, *, before: bytes = b"", after: bytes = b""
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[int]]:
    """A stdio session on pipes: ``before`` is written before it starts and ``after`` once it
    runs. Gives the ``first`` events (read with stdin still open, so none came from its end),
    the events after stdin closed, and the exit code."""
    in_read, in_write = os.pipe()
    out_read, out_write = os.pipe()
    os.write(in_write, before)
    codes: list[int] = []
    with open(in_read, "rb") as stdin, open(out_write, "wb") as stdout:
        worker = threading.Thread(target=lambda: codes.append(run_stdio(kernel, stdin, stdout)))
        worker.start()
        try:
            os.write(in_write, after)
            lines = _lines(out_read)
            seen = [json.loads(next(lines)) for _ in range(first)]
        finally:
            os.close(in_write)
            worker.join(timeout=10)
    rest = [json.loads(line) for line in lines]
    os.close(out_read)
    return seen, rest, codes


def test_a_read_that_fills_the_chunk_still_has_the_venue_polled_while_stdin_is_idle(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A read that gave as many bytes as it asked for (a client's burst of exactly 64 KiB, what
    # a full pipe holds) was taken to leave bytes in the stream's buffer: the next read waited
    # for more input without polling, and the client waiting for its fill never got it.
    monkeypatch.setattr(stdio, "POLL_SECONDS", 0.01, raising=False)
    burst = b"ORDER BUY BTC 1 100 i1\n# padding\n"
    monkeypatch.setattr(stdio, "_CHUNK", len(burst), raising=False)  # the burst fills one read
    kernel = ExecutionKernel(max_slots=2, venue=LateFillVenue(polls_before_fill=2))
    seen, rest, codes = _on_pipes(kernel, 4, before=burst)
    assert [e["type"] for e in seen] == ["engine_started", "order_received", "order_update", "fill"]
    assert codes == [0]
    assert [e["type"] for e in rest] == ["order_update", "account", "engine_stopped"]


def test_bytes_the_stream_buffered_before_the_session_are_answered_while_stdin_is_idle(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Every read after the first was taken to leave the stream's buffer empty; a first read
    # asking less than the buffer held (a buffer over 64 KiB the caller had read into) left the
    # rest there, and the session waited on the quiet descriptor instead of answering it.
    monkeypatch.setattr(stdio, "POLL_SECONDS", 0.01, raising=False)
    monkeypatch.setattr(stdio, "_CHUNK", 8, raising=False)  # less than the stream buffered
    kernel = ExecutionKernel(max_slots=2, venue=LateFillVenue())
    in_read, in_write = os.pipe()
    out_read, out_write = os.pipe()
    os.write(in_write, b"# taken into the stream's buffer\nQUERY ACCOUNT\n")
    codes: list[int] = []
    with open(in_read, "rb") as stdin, open(out_write, "wb") as stdout:
        assert stdin.peek().endswith(b"QUERY ACCOUNT\n")  # buffered before the session
        worker = threading.Thread(target=lambda: codes.append(run_stdio(kernel, stdin, stdout)))
        worker.start()
        try:
            lines = _lines(out_read)
            seen = [json.loads(next(lines))["type"] for _ in range(2)]  # stdin still open
        finally:
            os.close(in_write)
            worker.join(timeout=10)
    rest = [json.loads(line)["type"] for line in lines]
    os.close(out_read)
    assert seen == ["engine_started", "query_received"]
    assert codes == [0] and rest == ["engine_stopped"]


class _FillsOneWhenReleased(LateFillVenue):
    """Fills one resting order at the first poll after ``release`` is set (once); counts cancels."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.cancels = 0

    def poll_events(self) -> list[VenueEvent]:
        self.polls += 1
        if not self.release.is_set() or not self.resting:
            return []
        self.release.clear()
        cid, (order, _) = next(iter(self.resting.items()))
        del self.resting[cid]
        return [self.filled(cid, order)]

    def cancel(self, order: Any) -> list[VenueEvent]:
        self.cancels += 1
        return super().cancel(order)


def test_a_stdout_reset_while_stdin_is_idle_is_a_reader_gone_not_the_end_of_input(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Writing a polled fill to a stdout socket its client reset raised ConnectionResetError
    # inside stdin's read, which took it for stdin's end: a clean stop, canceling the orders
    # still working, where a reader gone (as a closed pipe) ends the session and cancels none.
    import socket
    import struct

    monkeypatch.setattr(stdio, "POLL_SECONDS", 0.01, raising=False)
    venue = _FillsOneWhenReleased()
    kernel = ExecutionKernel(max_slots=2, venue=venue)
    with socket.create_server(("127.0.0.1", 0)) as server:
        client = socket.create_connection(server.getsockname())
        engine_end, _ = server.accept()
    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    client.settimeout(10)  # bounds the wait for the answers, as _lines does
    in_read, in_write = os.pipe()
    os.write(in_write, b"ORDER BUY BTC 1 100 r1\nORDER BUY ETH 1 100 r2\n")
    codes: list[int] = []
    with open(in_read, "rb") as stdin, engine_end, engine_end.makefile("wb") as stdout:
        worker = threading.Thread(target=lambda: codes.append(run_stdio(kernel, stdin, stdout)))
        worker.start()
        try:
            with client.makefile("rb") as answers:
                seen = [json.loads(answers.readline())["type"] for _ in range(5)]
            assert seen == ["engine_started", *["order_received", "order_update"] * 2]
            client.close()  # a reset: the client went away while stdin stays open
            venue.release.set()  # the next idle poll's fill is written to the reset socket
            worker.join(timeout=10)
            assert not worker.is_alive()
        finally:
            os.close(in_write)
            worker.join(timeout=10)
    assert codes == [0]
    assert venue.cancels == 0 and len(kernel.open_orders()) == 1


def _lines(fd: int) -> Iterator[bytes]:
    """The lines written to the pipe ``fd``, each as it arrives, until its writer closes it."""
    pending = b""
    while True:
        ready, _, _ = select.select([fd], [], [], 10.0)
        assert ready, "no output within 10 s"
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            return
        *whole, pending = (pending + chunk).split(b"\n")
        yield from whole


class BrokenPollVenue(LateFillVenue):
    def poll_events(self) -> list[VenueEvent]:
        raise ConnectionError("stream down")


def test_a_poll_that_raises_is_an_error_event_and_the_session_goes_on() -> None:
    kernel = ExecutionKernel(max_slots=2, venue=BrokenPollVenue())
    events = session(kernel, "ORDER BUY BTC 1 100 b1\nQUERY b1\n")
    errors = [e for e in events if e["type"] == "error"]
    assert errors and {e["code"] for e in errors} == {"VENUE_ERROR"}
    assert errors[0]["message"] == "the venue's poll_events raised ConnectionError: stream down"
    assert "line" not in errors[0]  # no input line caused it
    assert next(e for e in events if e["type"] == "query_received")["result"]["status"] == "ACKNOWLEDGED"
    assert events[-1]["type"] == "engine_stopped"


class NonListPollVenue(LateFillVenue):
    def __init__(self, answer: Any) -> None:
        super().__init__()
        self.answer = answer

    def poll_events(self) -> Any:
        return self.answer


@pytest.mark.parametrize("answer", [None, VenueEvent("e1", "", -1, "ORDER_ACK")])
def test_a_poll_that_answers_no_list_is_an_error_event_and_the_session_goes_on(answer: Any) -> None:
    # Iterating None raised TypeError out of run_stdio: no engine_stopped, the order left working.
    kernel = ExecutionKernel(max_slots=2, venue=NonListPollVenue(answer))
    events = session(kernel, "ORDER BUY BTC 1 100 b1\n")
    errors = [e for e in events if e["type"] == "error"]
    assert errors and {e["code"] for e in errors} == {"VENUE_ERROR"}
    assert (
        errors[0]["message"] == f"the venue's poll_events gave {type(answer).__name__}, not a list of events"
    )
    assert of(events, "b1")[-1] == ("order_update", "CANCELED")  # the stop's cancel
    assert events[-1]["type"] == "engine_stopped"


def test_the_stop_cancels_the_orders_still_working_and_keeps_the_positions() -> None:
    # They were left working at the venue, with nobody to manage them once the session ended.
    venue = MockVenueAdapter(partial_fill_rate=1.0, partial_fill_ratio=0.4)
    kernel = ExecutionKernel(max_slots=3, venue=venue)
    events = session(kernel, "ORDER BUY BTC 10 100 s1\nORDER SELL ETH 5 3000 s2\nQUERY ORDERS\n")
    query = next(i for i, e in enumerate(events) if e["type"] == "query_received")
    assert [o["client_id"] for o in events[query]["result"]] == ["s1", "s2"]
    at_stop = events[query + 1 : -1]
    assert [(e["type"], e["client_id"], e["status"]) for e in at_stop] == [
        ("order_update", "s1", "CANCELED"),
        ("order_update", "s2", "CANCELED"),
    ]
    assert [e["stage"] for e in at_stop] == ["POSITION_OPEN", "POSITION_OPEN"]
    assert kernel.open_orders() == []
    assert [(s.side.name, s.size) for s in (kernel.slot_state(0), kernel.slot_state(1))] == [
        ("LONG", 4.0),
        ("SHORT", 2.0),
    ]


def test_the_stop_first_takes_the_venues_late_news() -> None:
    # A fill the venue reported is told, not canceled over.
    kernel = ExecutionKernel(max_slots=2, venue=LateFillVenue(polls_before_fill=2))
    events = session(kernel, "ORDER BUY BTC 1 100 f1\n")
    assert of(events, "f1")[-2:] == [("fill", None), ("order_update", "FILLED")]
    assert kernel.slot_state(0).size == 1.0


@pytest.mark.parametrize(
    ("script", "diagnostic"),
    [
        ("ORDER BUY BTC 1 MKT n1\n", "NO_REFERENCE_PRICE"),  # refused by the engine
        ("ORDER BUY BTC 1e-10 100 n1\n", "INVALID_INTENT"),  # refused by the kernel
    ],
)
def test_a_refused_order_claims_no_slot(script: str, diagnostic: str) -> None:
    # order_received named the free slot the order would have taken, which it never did.
    kernel = ExecutionKernel(max_slots=2)
    events = session(kernel, script + "QUERY n1\nORDER BUY BTC 1 100 n2\n")
    received = next(e for e in events if e["type"] == "order_received" and e["client_id"] == "n1")
    update = next(e for e in events if e["type"] == "order_update" and e["client_id"] == "n1")
    record = next(e for e in events if e["type"] == "query_received")["result"]
    assert (update["status"], update["diagnostic"]) == ("REJECTED", diagnostic)
    assert received["slot_id"] is None and update["slot_id"] is None and record["slot_id"] is None
    # The slot stays free for the next order, which names it.
    n2 = next(e for e in events if e["type"] == "order_received" and e["client_id"] == "n2")
    assert n2["slot_id"] == 0


def test_a_refused_exit_names_the_position_it_was_matched_against() -> None:
    kernel = ExecutionKernel(max_slots=2)
    events = session(kernel, "ORDER BUY BTC 1 100 e1\nORDER SELL BTC 2 100 e2\n")
    received = next(e for e in events if e["type"] == "order_received" and e["client_id"] == "e2")
    update = next(e for e in events if e["type"] == "order_update" and e["client_id"] == "e2")
    assert (received["action"], received["slot_id"]) == ("EXIT", 0)
    assert (update["diagnostic"], update["slot_id"]) == ("QTY_EXCEEDS_POSITION", 0)


class ResendingVenue:
    """Acknowledges, fills half, sends that fill again, overfills, and passes on a stale reject
    of an order the kernel never sent: only the first fill is the kernel's to book."""

    def submit(self, order: Any) -> list[VenueEvent]:
        def event(kind: str, event_id: str, **fields: Any) -> VenueEvent:
            return VenueEvent(event_id, order.trade_id, order.slot_id, kind,
                              venue_client_id=order.client_order_id, **fields)  # fmt: skip

        half = {"price": 100.0, "size": 0.5, "filled_size": 0.5, "status": "PARTIALLY_FILLED"}
        return [
            event("ORDER_ACK", "ack"),
            event("FILL", "f1", **half),
            event("FILL", "f1", **half),
            event("FILL", "f2", price=200.0, size=5.0, filled_size=5.5),
            VenueEvent("rj", "old-trade", -1, "REJECT", venue_client_id="k-old", reason="stale report"),
        ]

    def cancel(self, order: Any) -> list[VenueEvent]:
        return []


def test_events_the_kernel_refused_are_not_reported_as_fills_or_an_end() -> None:
    # Every FILL of the venue's answer went out as a fill of the order (three, avg 150), and
    # the stale reject marked it REJECTED: forgotten by QUERY ORDERS and beyond CANCEL while
    # the kernel still worked it at the venue.
    kernel = ExecutionKernel(max_slots=2, venue=ResendingVenue())
    events = session(kernel, "ORDER BUY BTC 1 100 r1\nQUERY ORDERS\nCANCEL r1\n")
    fills = [e for e in events if e["type"] == "fill"]
    assert [(f["qty"], f["price"], f["filled_qty"], f["remaining_qty"]) for f in fills] == [
        (0.5, 100.0, 0.5, 0.5)
    ]
    updates = [e for e in events if e["type"] == "order_update" and e["client_id"] == "r1"]
    assert "REJECTED" not in {u["status"] for u in updates}, updates
    working = next(e for e in events if e["type"] == "query_received")["result"]
    assert [(o["client_id"], o["status"], o["avg_price"]) for o in working] == [
        ("r1", "PARTIALLY_FILLED", 100.0)
    ]
    assert updates[-1].get("diagnostic") != "ORDER_CLOSED"  # the cancel went to the kernel
    assert kernel.slot_state(0).size == 0.5


class RacingVenue:
    """Rests each order; reports its events later, when polled: what ``later`` queued. With
    ``fill_first`` set, the second order's submit answer also fills the first one."""

    name = "racing"

    def __init__(self, fill_first: bool = False) -> None:
        self.fill_first = fill_first
        self.orders: list[Any] = []
        self.later: list[VenueEvent] = []

    def event(self, order: Any, kind: str, event_id: str, **fields: Any) -> VenueEvent:
        return VenueEvent(event_id, order.trade_id, order.slot_id, kind,
                          venue_client_id=order.client_order_id, **fields)  # fmt: skip

    def submit(self, order: Any) -> list[VenueEvent]:
        self.orders.append(order)
        answer = [self.event(order, "ORDER_ACK", f"ack-{len(self.orders)}")]
        if self.fill_first and len(self.orders) == 2:
            first = self.orders[0]
            answer.append(
                self.event(first, "FILL", "f-first", price=100.0, size=first.size, filled_size=first.size)
            )
        return answer

    def cancel(self, order: Any) -> list[VenueEvent]:
        return [self.event(order, "CANCEL_ACK", f"cx-{order.client_order_id}")]

    def poll_events(self) -> list[VenueEvent]:
        events, self.later = self.later, []
        return events


def engine_on(kernel: ExecutionKernel, *lines: str) -> tuple[OrderEngine, list[dict[str, Any]]]:
    """An engine on ``kernel`` that has handled ``lines``, and the events it told."""
    told: list[dict[str, Any]] = []
    engine = OrderEngine(kernel, lambda kind, fields: told.append({"type": kind, **fields}))
    for line in lines:
        engine.handle(cast(Any, parse_line(line)))
    return engine, told


def test_a_fill_after_the_cancel_is_told_as_the_canceled_orders() -> None:
    # The kernel booked the fill that raced the cancel (the slot LONG 1) but the order was no
    # longer working, so the poll told nobody: the client believed itself flat.
    venue = RacingVenue()
    kernel = ExecutionKernel(max_slots=2, venue=venue)
    engine, told = engine_on(kernel, "ORDER BUY BTC 1 100 c1", "CANCEL c1")
    venue.later.append(venue.event(venue.orders[0], "FILL", "late", price=100.0, size=1.0, filled_size=1.0))
    engine.poll()
    assert of(told, "c1")[-3:] == [("order_update", "CANCELED"), ("fill", None), ("order_update", "FILLED")]
    fill = next(e for e in told if e["type"] == "fill")
    assert (fill["qty"], fill["filled_qty"], fill["remaining_qty"]) == (1.0, 1.0, 0.0)
    assert told[-1]["type"] == "account"
    assert kernel.slot_state(0).size == 1.0 and engine.orders["c1"].status == "FILLED"


def test_a_late_part_fill_of_a_canceled_order_leaves_it_canceled() -> None:
    venue = RacingVenue()
    kernel = ExecutionKernel(max_slots=2, venue=venue)
    engine, told = engine_on(kernel, "ORDER BUY BTC 2 100 c1", "CANCEL c1")
    venue.later.append(venue.event(venue.orders[0], "FILL", "late", price=100.0, size=0.5, filled_size=0.5))
    engine.poll()
    assert of(told, "c1")[-2:] == [("fill", None), ("order_update", "CANCELED")]
    assert (engine.orders["c1"].status, engine.orders["c1"].filled_qty) == ("CANCELED", 0.5)
    assert kernel.slot_state(0).size == 0.5


def test_a_fill_of_another_slots_order_in_a_submit_answer_is_told_as_that_orders() -> None:
    # The kernel booked the first order's fill, reported with the second's ack, but only
    # the second order's slot was told: the first stayed ACKNOWLEDGED, and the stop's cancel
    # of it was refused (no working order to cancel).
    kernel = ExecutionKernel(max_slots=2, venue=RacingVenue(fill_first=True))
    events = session(kernel, "ORDER BUY BTC 1 100 a1\nORDER BUY ETH 2 50 b1\nQUERY ORDERS\n")
    assert of(events, "a1") == [
        ("order_received", None),
        ("order_update", "ACKNOWLEDGED"),
        ("fill", None),
        ("order_update", "FILLED"),
    ]
    fill = next(e for e in events if e["type"] == "fill")
    assert (fill["slot_id"], fill["symbol"], fill["qty"], fill["fee"]) == (
        0,
        "BTC",
        1.0,
        kernel.slot_state(0).fees_paid,
    )
    working = next(e for e in events if e["type"] == "query_received")["result"]
    assert [o["client_id"] for o in working] == ["b1"]
    assert not [e for e in events if e.get("diagnostic")]  # no refused cancel at the stop
    assert kernel.slot_state(0).size == 1.0


def test_an_entrys_late_fill_while_its_exit_works_is_the_entrys() -> None:
    # It went to the order working on the slot, the exit: a BUY told as a SELL fill of x1,
    # filled 1.5 of 1.
    venue = RacingVenue()
    kernel = ExecutionKernel(max_slots=2, venue=venue)
    engine, told = engine_on(kernel, "ORDER BUY BTC 2 100 e1")
    entry = venue.orders[0]
    venue.later.append(venue.event(entry, "FILL", "f1", price=100.0, size=1.0, filled_size=1.0))
    engine.poll()
    engine.handle(cast(Any, parse_line("CANCEL e1")))
    engine.handle(cast(Any, parse_line("ORDER SELL BTC 1 101 x1")))
    venue.later.append(venue.event(entry, "FILL", "f2", price=100.0, size=0.5, filled_size=1.5))
    engine.poll()
    fills = [(e["client_id"], e["side"], e["qty"], e["filled_qty"]) for e in told if e["type"] == "fill"]
    assert fills == [("e1", "BUY", 1.0, 1.0), ("e1", "BUY", 0.5, 1.5)]
    assert engine.orders["x1"].filled_qty == 0.0 and engine.orders["x1"].status == "ACKNOWLEDGED"
    assert kernel.slot_state(0).size == 1.5


def test_a_ctrl_c_as_the_stops_poll_books_a_fill_still_has_it_told() -> None:
    # The stop's last poll was not taken whole as a command is: a Ctrl-C handled as the kernel
    # returned from booking the fill ended it there, and the fill was never told.
    import signal

    from dita._signals import sigterm_as_interrupt

    class InterruptedKernel(ExecutionKernel):
        def on_venue_event(self, event: VenueEvent) -> Any:
            outcome = super().on_venue_event(event)
            signal.raise_signal(signal.SIGINT)  # handled here, after the booking
            return outcome

    kernel = InterruptedKernel(max_slots=2, venue=LateFillVenue(polls_before_fill=2))
    restore = sigterm_as_interrupt()
    try:
        events = session(kernel, "ORDER BUY BTC 1 100 f1\n")
    finally:
        restore()
    assert kernel.slot_state(0).size == 1.0
    assert of(events, "f1")[-2:] == [("fill", None), ("order_update", "FILLED")]
    assert events[-1]["type"] == "engine_stopped"


def test_an_event_the_kernel_refused_under_an_applied_ones_id_is_not_told() -> None:
    # The ack's transition was paired with the reject (the last event of its id): the order
    # was told REJECTED and dropped from the working orders while the kernel worked it.
    kernel = ExecutionKernel(max_slots=2, venue=OneIdVenue())
    events = session(kernel, "ORDER BUY BTC 1 100 o1\nQUERY ORDERS\n")
    assert of(events, "o1")[:2] == [("order_received", None), ("order_update", "ACKNOWLEDGED")]
    working = next(e for e in events if e["type"] == "query_received")["result"]
    assert [(o["client_id"], o["status"]) for o in working] == [("o1", "ACKNOWLEDGED")]
    assert kernel.slot_state(0).fsm_state.name == "ENTRY_WORKING"


def test_an_entrys_late_fill_is_charged_its_own_fee_not_its_exits_told_meanwhile() -> None:
    # The fee of a fill the venue gives none for is what the slot paid since it was last told;
    # kept per order, the entry's late fill was charged the exit's part fill's fee too.
    venue = RacingVenue()
    kernel = ExecutionKernel(max_slots=2, venue=venue)
    engine, told = engine_on(kernel, "ORDER BUY BTC 2 100 e1")
    entry = venue.orders[0]
    venue.later.append(venue.event(entry, "FILL", "f1", price=100.0, size=0.5, filled_size=0.5))
    engine.poll()
    engine.handle(cast(Any, parse_line("CANCEL e1")))
    engine.handle(cast(Any, parse_line("ORDER SELL BTC 0.5 100 x1")))
    venue.later.append(venue.event(venue.orders[1], "FILL", "fx", price=100.0, size=0.2, filled_size=0.2))
    engine.poll()
    paid = kernel.slot_state(0).fees_paid
    venue.later.append(venue.event(entry, "FILL", "f2", price=100.0, size=0.5, filled_size=1.0))
    engine.poll()
    fills = [(e["client_id"], e["qty"], e["fee"]) for e in told if e["type"] == "fill"]
    assert [f[:2] for f in fills] == [("e1", 0.5), ("x1", 0.2), ("e1", 0.5)]
    assert fills[2][2] == pytest.approx(kernel.slot_state(0).fees_paid - paid)
    assert fills[2][2] == pytest.approx(fills[0][2])  # the same size at the same price


def test_a_fill_booked_in_part_is_told_with_the_part_of_its_fee_the_kernel_charged() -> None:
    # A fill resent merged with the next (0.7 after 0.5) books 0.2 and is charged 0.2/0.7 of
    # its fee: told with the whole fee, a client summing its fills' fees paid 0.12, not 0.07.
    venue = RacingVenue()
    kernel = ExecutionKernel(max_slots=2, venue=venue)
    engine, told = engine_on(kernel, "ORDER BUY BTC 1 100 e1")
    entry = venue.orders[0]
    for event_id, size in (("f1", 0.5), ("f2", 0.7)):
        fill = venue.event(entry, "FILL", event_id, price=100.0, size=size, filled_size=size, fee=size / 10)
        venue.later.append(fill)
        engine.poll()
    fills = [e for e in told if e["type"] == "fill"]
    assert [f["qty"] for f in fills] == pytest.approx([0.5, 0.2])
    assert [f["fee"] for f in fills] == pytest.approx([0.05, 0.02])
    assert kernel.slot_state(0).fees_paid == pytest.approx(0.07)


class OverfillThenFillUnderOneId:
    """Answers each order with a fill beyond it and then the right one, under one id and one
    price: the kernel refuses the first (its id stays free) and books the second."""

    def submit(self, order: Any) -> list[VenueEvent]:
        def fill(size: float, fee: float, fill_id: str) -> VenueEvent:
            return VenueEvent("f-1", order.trade_id, order.slot_id, "FILL",
                              venue_client_id=order.client_order_id, price=100.0, size=size,
                              filled_size=size, fee=fee, fill_id=fill_id)  # fmt: skip

        return [fill(5 * order.size, 9.9, "refused"), fill(order.size, 0.05, "booked")]

    def cancel(self, order: Any) -> list[VenueEvent]:
        return []


def test_a_fill_is_told_with_the_event_the_kernel_booked_not_a_refused_one_of_its_id() -> None:
    # Paired by id and price alone, the fill was told with the refused event's fee and fill id.
    kernel = ExecutionKernel(max_slots=2, venue=OverfillThenFillUnderOneId())
    events = session(kernel, "ORDER BUY BTC 1 100 o1\n")
    (fill,) = [e for e in events if e["type"] == "fill"]
    assert (fill["qty"], fill["fee"], fill["fill_id"]) == (1.0, 0.05, "booked")
    assert kernel.slot_state(0).fees_paid == 0.05


class ThrottlesCancelsSaying(ThrottlingVenue):
    """As ``ThrottlingVenue``, without the throttle after the ack; its cancel's throttle says why."""

    def submit(self, order: Any) -> list[VenueEvent]:
        return [self._event("ORDER_ACK", order, "ack")]

    def cancel(self, order: Any) -> list[VenueEvent]:
        throttled = self._event("RATE_LIMITED", order, "crl").to_dict()
        return [VenueEvent(**throttled | {"reason": "too many requests, retry in 1s"})]


def test_a_throttled_cancel_is_told_with_the_venues_words() -> None:
    """The throttled cancel moves the order as a refused cancel does (CANCEL_REJECT) under the
    rate limit's id: its event was never paired, and the venue's words were never told."""
    kernel = ExecutionKernel(max_slots=2, venue=ThrottlesCancelsSaying())
    events = session(kernel, "ORDER BUY BTC 1 49000 t1\nCANCEL t1\n")
    told = [e for e in events if e["type"] == "order_update" and e["client_id"] == "t1"]
    canceled = next(u for u in told if u.get("diagnostic") == "RATE_LIMITED")
    assert canceled["status"] == "ACKNOWLEDGED" and canceled["reason"] == "too many requests, retry in 1s"


def test_a_throttled_cancels_transition_is_paired_with_its_event() -> None:
    from dita import KernelIntent
    from dita.gateway.engine import applied_events

    kernel = ExecutionKernel(max_slots=1, venue=ThrottlesCancelsSaying())
    args = ("t0", 0, "BTC", "LONG")
    assert kernel.process_intent(
        KernelIntent("e1", *args, "ENTER", 100.0, 1.0, order_type="LIMIT", limit_price=99.0)
    ).accepted
    out = kernel.process_intent(KernelIntent("c1", *args, "CANCEL", 100.0, 0.0))
    [(transition, event)] = applied_events(out)
    assert (transition.trigger, event.kind.name) == ("CANCEL_REJECT", "RATE_LIMITED")


class AnswersLater(RacingVenue):
    """Answers a submit with nothing: all of it comes from a poll."""

    def submit(self, order: Any) -> list[VenueEvent]:
        self.orders.append(order)
        return []


def test_a_throttle_a_poll_reports_is_told_as_the_orders_end() -> None:
    """The kernel refuses a rate limit (its outcome says RATE_LIMITED), yet it ended the order:
    a polled one was never told, and the client waited on an order the kernel had freed."""
    venue = AnswersLater()
    kernel = ExecutionKernel(max_slots=2, venue=venue)
    engine, told = engine_on(kernel, "ORDER BUY BTC 1 100 t1")
    venue.later.append(venue.event(venue.orders[0], "RATE_LIMITED", "rl-1", retry_after=1.0))
    engine.poll()
    update = [e for e in told if e["type"] == "order_update" and e["client_id"] == "t1"][-1]
    assert (update["status"], update["stage"]) == ("REJECTED", "IDLE")
    assert kernel.slot_state(0).fsm_state.name == "IDLE"


def ended(kernel: ExecutionKernel, stdin: Any) -> tuple[int, list[dict[str, Any]]]:
    """run_stdio's exit status and events, the kernel closed after (a failed log raises then)."""
    out = io.BytesIO()
    try:
        code = run_stdio(kernel, cast(BinaryIO, stdin), out)
    finally:
        with contextlib.suppress(Exception):
            kernel.close()
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[-1]["type"] == "engine_stopped" and events[-1]["events"] == len(events)
    return code, events


@pytest.mark.parametrize(
    "message",
    [
        "kernel busy in another call for 10 s (is a thread stuck inside it?)",
        "kernel 'k' is closed: it takes no more input (open a new one on its wal_dir)",
    ],
)
def test_a_runtime_error_of_the_kernel_is_an_engine_error_and_the_session_goes_on(message: str) -> None:
    """Each command the kernel raised a RuntimeError on (busy in another call, closed) gets
    ENGINE_ERROR, as ValueError, TypeError, IndexError and OverflowError do: unanswered, it
    would end the session with a traceback, no engine_stopped, the orders left working."""

    class Busy(ExecutionKernel):
        def process_intent(self, intent: Any) -> Any:
            if intent.intent_id == "b1":
                raise RuntimeError(message)
            return super().process_intent(intent)

        def mark_price(self, symbol: str, price: float) -> None:
            raise RuntimeError(message)

    kernel = Busy(max_slots=2, venue=MockVenueAdapter(fill_rate=0.0))
    code, events = ended(
        kernel, io.BytesIO(b"ORDER BUY BTC 1 100 b1\nMARK BTC 101\nORDER BUY BTC 1 100 b2\n")
    )
    assert code == 0
    errors = [(e["code"], e["line"], e["message"]) for e in events if e["type"] == "error"]
    assert errors == [
        ("ENGINE_ERROR", 1, f"RuntimeError: {message}"),
        ("ENGINE_ERROR", 2, f"RuntimeError: {message}"),
    ]
    assert of(events, "b2")[-1] == ("order_update", "CANCELED")  # the stop's cancel
    assert events[-1]["reason"] == "eof" and events[-1]["lines"] == 3


def test_a_runtime_error_on_the_stops_cancel_is_an_engine_error_naming_the_order() -> None:
    """The stop's cancels answered the same four exceptions only: a RuntimeError there left
    engine_stopped unwritten. Each order's cancel is tried and told."""

    class ClosedAtStop(ExecutionKernel):
        def process_intent(self, intent: Any) -> Any:
            if intent.action.name == "CANCEL":
                raise RuntimeError("kernel 'k' is closed: it takes no more input")
            return super().process_intent(intent)

    kernel = ClosedAtStop(max_slots=2, venue=MockVenueAdapter(fill_rate=0.0))
    code, events = ended(kernel, io.BytesIO(b"ORDER BUY BTC 1 100 s1\nORDER SELL ETH 1 100 s2\n"))
    assert code == 0
    errors = [(e["code"], e["client_id"], "line" in e) for e in events if e["type"] == "error"]
    assert errors == [("ENGINE_ERROR", "s1", False), ("ENGINE_ERROR", "s2", False)]
    assert events[-1]["reason"] == "eof" and events[-1]["errors"] == 2


class StdinThen:
    """A stdin handing out its pieces one per read, calling ``between`` before the second."""

    def __init__(self, between: Any, *pieces: bytes) -> None:
        self.between, self.pieces, self.reads = between, list(pieces), 0

    def read(self, size: int = -1) -> bytes:
        self.reads += 1
        if self.reads == 2:
            self.between()
        return self.pieces.pop(0) if self.pieces else b""


def test_a_write_ahead_log_that_fails_ends_the_session_in_order(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """A log that cannot be written (a full disk; here an immutable directory) makes the kernel
    refuse every input with WalError: the line is an ENGINE_ERROR, no more input is read, the
    cancels are tried (refused by the kernel too: told), and engine_stopped says kernel_failed;
    exit status 1. Not a traceback with no answer to the line, no engine_stopped, the working
    orders left at the venue."""
    import subprocess

    wal = tmp_path / "wal"
    kernel = ExecutionKernel(
        max_slots=2,
        venue=MockVenueAdapter(fill_rate=0.0),
        wal_dir=str(wal),
        fsync="always",
        wal_segment_bytes=1024,
    )

    def freeze() -> None:
        if subprocess.run(["chattr", "+i", str(wal)], capture_output=True).returncode != 0:
            pytest.skip("chattr +i is not permitted here, so no log can be made to fail: NOT tested")

    marks = b"".join(b"MARK BTC %d\n" % (100 + i) for i in range(200))
    try:
        code, events = ended(kernel, StdinThen(freeze, b"ORDER BUY BTC 1 99 w1\n", marks))
    finally:
        subprocess.run(["chattr", "-i", str(wal)], capture_output=True)
    errors = [e for e in events if e["type"] == "error"]
    assert [(e["code"], e.get("client_id")) for e in errors] == [
        ("ENGINE_ERROR", None),
        ("ENGINE_ERROR", "w1"),
    ]
    failed, cancel = errors
    assert failed["message"].startswith(
        "WalError: the kernel refuses input because its write-ahead log failed"
    )
    assert events.index(failed) == len(events) - 3  # nothing answers a line after it
    assert cancel["message"].startswith("WalError: ") and "line" not in cancel
    stopped = events[-1]
    assert (stopped["reason"], stopped["lines"], stopped["errors"]) == ("kernel_failed", failed["line"], 2)
    assert stopped["message"] == failed["message"]
    assert code == 1
    assert "dita stdio: the kernel takes no more input: WalError: " in capsys.readouterr().err


def test_an_oserror_of_the_kernels_log_ends_the_session_in_order_not_as_an_output_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The kernel raises OSError for the log write that failed (ENOSPC): it was taken for an
    error writing stdout, exit 1 with no engine_stopped and the working orders not canceled."""
    import errno

    class DiskFull(ExecutionKernel):
        poisoned: str | None = None

        def mark_price(self, symbol: str, price: float) -> None:
            self.poisoned = "write of seg-1.wal: No space left on device (os error 28)"
            raise OSError(errno.ENOSPC, self.poisoned)

        def wal_info(self) -> dict[str, Any] | None:
            return {"poisoned": self.poisoned}

    kernel = DiskFull(max_slots=2, venue=MockVenueAdapter(fill_rate=0.0))
    code, events = ended(kernel, io.BytesIO(b"ORDER BUY BTC 1 99 d1\nMARK BTC 100\nQUERY ORDERS\n"))
    assert code == 1
    [failed] = [e for e in events if e["type"] == "error"]
    assert (failed["code"], failed["line"]) == ("ENGINE_ERROR", 2)
    assert of(events, "d1")[-1] == ("order_update", "CANCELED")  # the stop's cancel, tried
    assert not [e for e in events if e["type"] == "query_received"]  # line 3 is not read
    assert (events[-1]["reason"], events[-1]["lines"]) == ("kernel_failed", 2)
    err = capsys.readouterr().err
    assert "dita stdio: the kernel takes no more input: OSError: " in err and "I/O error" not in err


class LotShortVenue:
    """Fills each order a lot short of its size and says it still works the last lot."""

    name = "lot-short"

    def submit(self, order: Any) -> list[VenueEvent]:
        cid = order.client_order_id
        ack = VenueEvent(f"ack-{cid}", "", -1, "ORDER_ACK", venue_client_id=cid, venue_order_id=f"V-{cid}")
        short = order.size - 1.0
        fill = VenueEvent(
            f"fill-{cid}",
            "",
            -1,
            "FILL",
            "PARTIALLY_FILLED",
            venue_client_id=cid,
            price=order.price,
            size=short,
            filled_size=short,
            remaining_size=1.0,
        )
        return [ack, fill]

    def cancel(self, order: Any) -> list[VenueEvent]:
        return []


def test_an_order_of_a_billion_filled_a_lot_short_is_told_partially_filled_and_kept() -> None:
    """1e9 units on a lot of 1: the last lot is within 1e-9 of the size, and the kernel keeps
    the order working for it; the client hears it working, and can query and cancel it."""
    kernel = ExecutionKernel(max_slots=2, venue=LotShortVenue())
    kernel.set_seed_capital(1e7)
    kernel.set_market_limits("PEPE", {"lot_step": 1.0})
    events = session(kernel, "ORDER BUY PEPE 1000000000 0.00001 b1\nQUERY ORDERS\n")
    assert not [e for e in events if e["type"] == "error"], events
    fill = next(e for e in events if e["type"] == "fill")
    assert fill["filled_qty"] == 1e9 - 1.0 and fill["remaining_qty"] == 1.0
    updates = [e["status"] for e in events if e["type"] == "order_update" and e["client_id"] == "b1"]
    assert updates[0] == "ACKNOWLEDGED" and set(updates[1:]) == {"PARTIALLY_FILLED"}, updates
    working = next(e for e in events if e["type"] == "query_received")["result"]
    assert [(o["client_id"], o["status"]) for o in working] == [("b1", "PARTIALLY_FILLED")]
    assert kernel.slot_state(0).fsm_state.name == "ENTRY_WORKING"
