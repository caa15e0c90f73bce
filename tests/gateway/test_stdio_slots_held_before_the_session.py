"""An ORDER over stdio is matched against every slot of the kernel, those holding a position or
an order when the session started too (an embedder's kernel, a session on a replayed log): a
SELL against such a LONG closes it, rather than opening a SHORT beside it. An order working when
the session started is the session's as one it placed: listed under the kernel's client order
id, cancelled by CANCEL of that id, and cancelled at a clean stop, unless the embedder asks
run_stdio to leave such orders working (``leave_prior_orders``)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from dita import KernelIntent, MockVenueAdapter, VenueEvent
from dita.gateway.stdio import run_stdio
from dita.kernel import ExecutionKernel
from gateway.helpers import LimitsRest


def _session(kernel: ExecutionKernel, script: str) -> list[dict[str, Any]]:
    out = io.BytesIO()
    assert run_stdio(kernel, io.BytesIO(script.encode()), out) == 0
    return [json.loads(line) for line in out.getvalue().splitlines()]


def _enter(kernel: ExecutionKernel, slot_id: int, side: str, asset: str = "BTCUSDT", **order: Any) -> None:
    entry = KernelIntent(f"i{slot_id}", f"t{slot_id}", slot_id, asset, side, "ENTER", 100.0, 1.0, **order)
    assert kernel.process_intent(entry).accepted


def _received(events: list[dict[str, Any]]) -> list[tuple[str, str, int | None]]:
    return [(e["client_id"], e["action"], e["slot_id"]) for e in events if e["type"] == "order_received"]


def _engaged(events: list[dict[str, Any]]) -> list[tuple[int, str, str, float]]:
    slots = [e["result"] for e in events if e["type"] == "query_received"][-1]
    return [(s["slot_id"], s["fsm_state"], s["side"], s["size"]) for s in slots if s["fsm_state"] != "IDLE"]


def test_a_sell_closes_a_long_the_kernel_held_before_the_session() -> None:
    with ExecutionKernel(max_slots=3) as kernel:
        _enter(kernel, 0, "LONG")
        events = _session(
            kernel, "ORDER SELL BTCUSDT 0.4 110 c1\nORDER SELL BTCUSDT 0.6 MKT c2\nQUERY SLOTS\n"
        )
    assert _received(events) == [("c1", "EXIT", 0), ("c2", "EXIT", 0)]
    assert _engaged(events) == [(0, "CLOSED", "LONG", 0.0)]


def test_a_session_on_a_replayed_log_closes_the_position_an_earlier_session_opened(tmp_path: Path) -> None:
    with ExecutionKernel(max_slots=2, wal_dir=str(tmp_path)) as kernel:
        _session(kernel, "ORDER BUY BTCUSDT 1 100 b1\n")
    with ExecutionKernel(max_slots=2, wal_dir=str(tmp_path)) as kernel:
        assert kernel.slot_state(0).size == 1.0
        events = _session(kernel, "ORDER SELL BTCUSDT 1 110 s1\nQUERY SLOTS\n")
    assert _received(events) == [("s1", "EXIT", 0)]
    assert _engaged(events) == [(0, "CLOSED", "LONG", 0.0)]


def test_a_sell_closes_a_long_held_before_under_a_lower_case_spelling_of_its_symbol() -> None:
    with ExecutionKernel(max_slots=2) as kernel:
        _enter(kernel, 0, "LONG", asset="btcusdt")
        events = _session(kernel, "ORDER SELL BTCUSDT 1 110 s1\nQUERY SLOTS\n")
    assert not [e for e in events if e["type"] == "error" or e.get("status") == "REJECTED"], events
    assert _received(events) == [("s1", "EXIT", 0)]
    assert _engaged(events) == [(0, "CLOSED", "LONG", 0.0)]


def test_a_sell_past_a_long_held_before_is_refused_not_turned_into_a_short() -> None:
    with ExecutionKernel(max_slots=2) as kernel:
        _enter(kernel, 0, "LONG")
        events = _session(kernel, "ORDER SELL BTCUSDT 2 110 s1\nQUERY SLOTS\n")
    (update,) = [e for e in events if e["type"] == "order_update"]
    refused = (update["status"], update["diagnostic"], update["slot_id"])
    assert refused == ("REJECTED", "QTY_EXCEEDS_POSITION", 0), update
    assert _engaged(events) == [(0, "POSITION_OPEN", "LONG", 1.0)]


def test_the_oldest_position_is_closed_first_also_when_it_was_held_before_the_session() -> None:
    with ExecutionKernel(max_slots=3) as kernel:
        _enter(kernel, 1, "LONG")
        events = _session(kernel, "ORDER BUY BTCUSDT 1 100 b1\nORDER SELL BTCUSDT 1 110 s1\nQUERY SLOTS\n")
    assert _received(events) == [("b1", "ENTER", 0), ("s1", "EXIT", 1)]
    assert _engaged(events) == [(0, "POSITION_OPEN", "LONG", 1.0), (1, "CLOSED", "LONG", 0.0)]


def _cancelled(events: list[dict[str, Any]]) -> list[tuple[str, str, int]]:
    return [(e["client_id"], e["action"], e["slot_id"]) for e in events if e.get("status") == "CANCELED"]


def test_a_buy_against_a_short_entry_working_from_before_the_session_names_the_entry_to_cancel() -> None:
    with ExecutionKernel(max_slots=2, venue=MockVenueAdapter(fill_rate=0.0)) as kernel:
        _enter(kernel, 0, "SHORT", order_type="LIMIT", limit_price=100.0)
        (entry,) = kernel.open_orders()
        script = f"ORDER BUY BTCUSDT 1 100 b1\nCANCEL {entry.client_order_id}\nORDER BUY BTCUSDT 1 100 b2\n"
        events = _session(kernel, script)
    update = next(e for e in events if e["type"] == "order_update")
    assert (update["status"], update["diagnostic"], update["slot_id"]) == ("REJECTED", "ENTRY_WORKING", None)
    assert f"CANCEL {entry.client_order_id} first" in update["reason"], update
    assert _cancelled(events)[0] == (entry.client_order_id, "ENTER", 0)
    assert _received(events) == [("b1", "ENTER", None), ("b2", "ENTER", 0)]


def test_a_sell_against_a_long_whose_exit_works_from_before_the_session_names_the_exit_to_cancel() -> None:
    with ExecutionKernel(max_slots=2, venue=LimitsRest()) as kernel:
        _enter(kernel, 0, "LONG")
        exit_order = KernelIntent("x0", "t0", 0, "BTCUSDT", "LONG", "EXIT", 100.0, 1.0,
                                  order_type="LIMIT", limit_price=120.0)  # fmt: skip
        assert kernel.process_intent(exit_order).accepted
        (working,) = kernel.open_orders()
        name = working.client_order_id
        script = f"ORDER SELL BTCUSDT 1 110 s1\nCANCEL {name}\nMARK BTCUSDT 110\n"
        events = _session(kernel, script + "ORDER SELL BTCUSDT 1 MKT s2\nQUERY SLOTS\n")
    update = next(e for e in events if e["type"] == "order_update")
    assert (update["status"], update["diagnostic"]) == ("REJECTED", "EXIT_WORKING"), update
    assert f"order {name!r}; wait for it or CANCEL {name} first" in update["reason"], update
    assert _cancelled(events) == [(name, "EXIT", 0)]
    assert _received(events) == [("s1", "ENTER", None), ("s2", "EXIT", 0)]
    assert _engaged(events) == [(0, "CLOSED", "LONG", 0.0)]


def test_query_orders_lists_an_order_working_from_before_the_session_under_its_kernel_order_id() -> None:
    with ExecutionKernel(max_slots=2, venue=MockVenueAdapter(fill_rate=0.0)) as kernel:
        _enter(kernel, 1, "SHORT", order_type="LIMIT", limit_price=101.0)
        (entry,) = kernel.open_orders()
        events = _session(kernel, f"QUERY ORDERS\nQUERY {entry.client_order_id}\n")
    listed, one = [e["result"] for e in events if e["type"] == "query_received"]
    record = {"client_id": entry.client_order_id, "side": "SELL", "symbol": "BTCUSDT", "qty": 1.0,
              "price": 101.0, "action": "ENTER", "slot_id": 1, "trade_id": "t1", "status": "ACKNOWLEDGED",
              "filled_qty": 0.0, "avg_price": 0.0, "diagnostic": "", "reason": ""}  # fmt: skip
    assert listed == [record]
    assert one == record


def test_a_clean_stop_cancels_an_order_working_from_before_the_session_as_it_cancels_its_own() -> None:
    with ExecutionKernel(max_slots=3, venue=MockVenueAdapter(fill_rate=0.0)) as kernel:
        _enter(kernel, 0, "LONG", order_type="LIMIT", limit_price=99.0)
        (entry,) = kernel.open_orders()
        events = _session(kernel, "ORDER BUY ETHUSDT 1 10 e1\n")
        assert kernel.open_orders() == []
    assert sorted(_cancelled(events)) == sorted([(entry.client_order_id, "ENTER", 0), ("e1", "ENTER", 1)])
    assert not [e for e in events if e["type"] == "cancel_received"]


def _protected_long(kernel: ExecutionKernel) -> str:
    """A LONG on slot 0 with a resting exit protecting it; the exit's kernel order id."""
    _enter(kernel, 0, "LONG")
    exit_order = KernelIntent("x0", "t0", 0, "BTCUSDT", "LONG", "EXIT", 100.0, 1.0,
                              order_type="LIMIT", limit_price=90.0)  # fmt: skip
    assert kernel.process_intent(exit_order).accepted
    (working,) = kernel.open_orders()
    return working.client_order_id


def _session_leaving_prior_orders(kernel: ExecutionKernel, script: str) -> list[dict[str, Any]]:
    out = io.BytesIO()
    assert run_stdio(kernel, io.BytesIO(script.encode()), out, leave_prior_orders=True) == 0
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_a_clean_stop_cancels_a_protective_exit_working_from_before_the_session_by_default() -> None:
    with ExecutionKernel(max_slots=3, venue=LimitsRest()) as kernel:
        exit_id = _protected_long(kernel)
        events = _session(kernel, "ORDER BUY ETHUSDT 1 10 e1\n")
        assert kernel.open_orders() == []
    assert sorted(_cancelled(events)) == sorted([(exit_id, "EXIT", 0), ("e1", "ENTER", 1)])


def test_a_clean_stop_asked_to_leave_the_orders_from_before_the_session_cancels_only_its_own() -> None:
    with ExecutionKernel(max_slots=3, venue=LimitsRest()) as kernel:
        exit_id = _protected_long(kernel)
        _enter(kernel, 2, "SHORT", asset="SOLUSDT", order_type="LIMIT", limit_price=101.0)
        before = sorted(o.client_order_id for o in kernel.open_orders())
        events = _session_leaving_prior_orders(kernel, "ORDER BUY ETHUSDT 1 10 e1\nQUERY ORDERS\n")
        left = sorted(o.client_order_id for o in kernel.open_orders())
        assert kernel.slot_state(0).size == 1.0
    listed = next(e["result"] for e in events if e["type"] == "query_received")
    assert sorted(r["client_id"] for r in listed) == sorted([*before, "e1"])
    assert exit_id in before and left == before
    assert _cancelled(events) == [("e1", "ENTER", 1)]
    assert events[-1]["type"] == "engine_stopped" and events[-1]["reason"] == "eof"


def test_a_prior_order_a_client_cancels_is_cancelled_also_when_prior_orders_are_left_working() -> None:
    with ExecutionKernel(max_slots=2, venue=LimitsRest()) as kernel:
        exit_id = _protected_long(kernel)
        events = _session_leaving_prior_orders(kernel, f"CANCEL {exit_id}\n")
        assert kernel.open_orders() == []
    assert _cancelled(events) == [(exit_id, "EXIT", 0)]


def test_a_session_on_a_replayed_log_cancels_at_its_stop_the_order_an_earlier_session_left_working(
    tmp_path: Path,
) -> None:
    with ExecutionKernel(max_slots=2, wal_dir=str(tmp_path), venue=LimitsRest()) as kernel:
        # The process dies: nothing cancels it.
        _enter(kernel, 0, "LONG", order_type="LIMIT", limit_price=95.0)
        (left,) = kernel.open_orders()
    with ExecutionKernel(max_slots=2, wal_dir=str(tmp_path), venue=LimitsRest()) as kernel:
        assert [o.client_order_id for o in kernel.open_orders()] == [left.client_order_id]
        events = _session(kernel, "QUERY SLOTS\n")
        assert kernel.open_orders() == []
    assert _cancelled(events) == [(left.client_order_id, "ENTER", 0)]


def test_an_order_from_before_the_session_whose_kernel_id_no_command_can_send_is_named_by_its_slot() -> None:
    with ExecutionKernel(max_slots=2, kernel_id="desk/btc", venue=MockVenueAdapter(fill_rate=0.0)) as kernel:
        _enter(kernel, 1, "LONG", order_type="LIMIT", limit_price=99.0)
        events = _session(kernel, "QUERY ORDERS\nCANCEL slot-1-entry\n")
        assert kernel.open_orders() == []
    listed = next(e["result"] for e in events if e["type"] == "query_received")
    assert [(r["client_id"], r["trade_id"]) for r in listed] == [("slot-1-entry", "t1")]
    assert _cancelled(events) == [("slot-1-entry", "ENTER", 1)]
    assert not [e for e in events if e["type"] == "error"], events


class _FillsOnPoll(LimitsRest):
    """A limit order rests until the next poll, which fills it in full, without a fee."""

    def __init__(self) -> None:
        super().__init__()
        self.resting: list[Any] = []

    def submit(self, order: Any) -> list[VenueEvent]:
        if str(order.order_type).upper().endswith("LIMIT"):
            self.resting.append(order)
        return super().submit(order)

    def poll_events(self) -> list[VenueEvent]:
        orders, self.resting = self.resting, []
        fills = []
        for o in orders:
            coid = o.client_order_id
            fills.append(VenueEvent(f"fill-{coid}", o.trade_id, o.slot_id, "FILL", venue_client_id=coid,
                                    price=o.price, size=o.size, filled_size=o.size))  # fmt: skip
        return fills


def test_a_polled_fill_of_an_exit_working_from_before_the_session_is_told_with_its_own_fee() -> None:
    with ExecutionKernel(max_slots=2, venue=_FillsOnPoll()) as kernel:
        _enter(kernel, 0, "LONG")
        entry_fee = kernel.slot_state(0).fees_paid
        exit_order = KernelIntent("x0", "t0", 0, "BTCUSDT", "LONG", "EXIT", 100.0, 1.0,
                                  order_type="LIMIT", limit_price=120.0)  # fmt: skip
        assert kernel.process_intent(exit_order).accepted
        (working,) = kernel.open_orders()
        events = _session(kernel, "QUERY SLOTS\n")
        exit_fee = kernel.slot_state(0).fees_paid - entry_fee
    assert entry_fee > 0.0 and exit_fee > 0.0
    (fill,) = [e for e in events if e["type"] == "fill"]
    assert (fill["client_id"], fill["qty"], fill["price"]) == (working.client_order_id, 1.0, 120.0)
    assert fill["fee"] == exit_fee


def test_a_cancel_of_an_entry_held_before_under_a_lower_case_spelling_of_its_symbol_cancels_it() -> None:
    """The session lists the order under its symbol upper-cased; the kernel refuses a CANCEL
    naming another asset than the slot's, so the cancel names the slot's own spelling."""
    with ExecutionKernel(max_slots=2, venue=MockVenueAdapter(fill_rate=0.0)) as kernel:
        _enter(kernel, 0, "LONG", asset="btcusdt", order_type="LIMIT", limit_price=100.0)
        (entry,) = kernel.open_orders()
        events = _session(kernel, f"CANCEL {entry.client_order_id}\n")
        assert kernel.open_orders() == []
    assert not [e for e in events if e["type"] == "error" or e.get("status") == "REJECTED"], events
    assert _cancelled(events) == [(entry.client_order_id, "ENTER", 0)]
