"""An ORDER over stdio is matched against every slot of the kernel, those holding a position or
an order when the session started too (an embedder's kernel, a session on a replayed log): a
SELL against such a LONG closes it, rather than opening a SHORT beside it."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from dita import KernelIntent, MockVenueAdapter
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


def test_a_buy_against_a_short_entry_working_from_before_the_session_is_refused() -> None:
    """The entry's order is not one of the session's: the refusal does not tell the client to
    CANCEL it by a client id the session does not know."""
    with ExecutionKernel(max_slots=2, venue=MockVenueAdapter(fill_rate=0.0)) as kernel:
        _enter(kernel, 0, "SHORT", order_type="LIMIT", limit_price=100.0)
        events = _session(kernel, "ORDER BUY BTCUSDT 1 100 b1\nQUERY SLOTS\n")
        assert kernel.slot_state(0).fsm_state.name == "ENTRY_WORKING"
    (update,) = [e for e in events if e["type"] == "order_update"]
    assert (update["status"], update["diagnostic"], update["slot_id"]) == ("REJECTED", "ENTRY_WORKING", None)
    assert "slot 0" in update["reason"] and "before this session" in update["reason"], update
    assert "CANCEL" not in update["reason"], update
    assert _engaged(events) == [(0, "ENTRY_WORKING", "SHORT", 0.0)]


def test_a_sell_against_a_long_whose_exit_works_from_before_the_session_is_refused() -> None:
    """The exit's order is not one of the session's: the refusal does not ask the client to
    cancel it."""
    with ExecutionKernel(max_slots=2, venue=LimitsRest()) as kernel:
        _enter(kernel, 0, "LONG")
        exit_order = KernelIntent("x0", "t0", 0, "BTCUSDT", "LONG", "EXIT", 100.0, 1.0,
                                  order_type="LIMIT", limit_price=120.0)  # fmt: skip
        assert kernel.process_intent(exit_order).accepted
        events = _session(kernel, "ORDER SELL BTCUSDT 1 110 s1\nQUERY SLOTS\n")
    (update,) = [e for e in events if e["type"] == "order_update"]
    assert (update["status"], update["diagnostic"]) == ("REJECTED", "EXIT_WORKING"), update
    assert "slot 0" in update["reason"] and "before this session" in update["reason"], update
    assert "cancel" not in update["reason"].lower(), update
    assert _engaged(events) == [(0, "EXIT_WORKING", "LONG", 1.0)]
