"""A session on a kernel recovered from its write-ahead log has no records of an earlier
session's orders: what guards their client ids is the kernel's memory of the intents it took.
An ORDER under such an id is refused as within a session, a DUPLICATE_CLIENT_ID error that
changes nothing, whether it would have opened a trade or closed one."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from dita.gateway.engine import OrderEngine
from dita.gateway.protocol import parse_line
from dita.gateway.stdio import run_stdio
from dita.kernel import ExecutionKernel


def _session(kernel: ExecutionKernel, script: str) -> list[dict[str, Any]]:
    out = io.BytesIO()
    assert run_stdio(kernel, io.BytesIO(script.encode()), out) == 0
    return [json.loads(line) for line in out.getvalue().splitlines()]


def _told(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] not in ("engine_started", "engine_stopped")]


def test_an_order_reusing_a_client_id_of_an_earlier_session_is_refused_duplicate_client_id(
    tmp_path: Path,
) -> None:
    with ExecutionKernel(max_slots=2, wal_dir=str(tmp_path)) as kernel:
        earlier = "ORDER BUY BTCUSDT 1 100 b1\nORDER BUY ETHUSDT 2 10 b2\nORDER SELL ETHUSDT 2 11 s2\n"
        _session(kernel, earlier)
    with ExecutionKernel(max_slots=2, wal_dir=str(tmp_path)) as kernel:
        slots = [kernel.slot_dict(i) for i in range(2)]
        # b1 would open a second BTCUSDT long, s2 close the first: each is refused, twice.
        events = _session(
            kernel, "ORDER BUY BTCUSDT 1 100 b1\nORDER SELL BTCUSDT 1 110 s2\nORDER BUY BTCUSDT 1 100 b1\n"
        )
        assert [kernel.slot_dict(i) for i in range(2)] == slots, "a refused line changed a slot"
    told = [(e["type"], e.get("code"), e.get("field"), e.get("value"), e.get("line")) for e in _told(events)]
    assert told == [
        ("error", "DUPLICATE_CLIENT_ID", "client_id", "b1", 1),
        ("error", "DUPLICATE_CLIENT_ID", "client_id", "s2", 2),
        ("error", "DUPLICATE_CLIENT_ID", "client_id", "b1", 3),
    ], events
    assert "'b1' was already used" in _told(events)[0]["message"]


def test_the_refused_line_leaves_the_session_free_to_trade_under_a_new_client_id(tmp_path: Path) -> None:
    with ExecutionKernel(max_slots=2, wal_dir=str(tmp_path)) as kernel:
        _session(kernel, "ORDER BUY BTCUSDT 1 100 b1\n")
    with ExecutionKernel(max_slots=2, wal_dir=str(tmp_path)) as kernel:
        events = _session(kernel, "ORDER SELL BTCUSDT 1 110 b1\nORDER SELL BTCUSDT 1 110 s1\nQUERY ORDERS\n")
        assert kernel.slot_state(0).fsm_state.name == "CLOSED"
    received = [(e["client_id"], e["action"], e["slot_id"]) for e in events if e["type"] == "order_received"]
    assert received == [("s1", "EXIT", 0)]
    assert [e["code"] for e in events if e["type"] == "error"] == ["DUPLICATE_CLIENT_ID"]
    assert next(e["result"] for e in events if e["type"] == "query_received") == []


def test_the_refused_line_forgets_no_order_of_this_session(tmp_path: Path) -> None:
    """At the engine's ``remember`` limit, a new order pushes the oldest ended one out; a line
    refused as a reused client id is no order, and pushes none out."""
    with ExecutionKernel(max_slots=4, wal_dir=str(tmp_path)) as kernel:
        _session(kernel, "ORDER BUY BTCUSDT 1 100 x1\n")
    told: list[tuple[str, dict[str, Any]]] = []
    with ExecutionKernel(max_slots=4, wal_dir=str(tmp_path)) as kernel:
        engine = OrderEngine(kernel, lambda kind, fields: told.append((kind, fields)), remember=1)
        for line in ("ORDER BUY ETHUSDT 1 10 c1", "ORDER BUY BTCUSDT 1 100 x1", "QUERY c1"):
            command = parse_line(line)
            assert command is not None
            engine.handle(command)
    assert [(kind, f.get("code")) for kind, f in told if kind == "error"] == [
        ("error", "DUPLICATE_CLIENT_ID")
    ]
    (answer,) = [f for kind, f in told if kind == "query_received"]
    assert answer["result"]["client_id"] == "c1", answer
