"""Random command sessions against the stdio engine: whatever the mix of orders, cancels,
queries, marks and garbage, the engine never fails, and positions equal the fills."""

from __future__ import annotations

import io
import json
from collections import defaultdict
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from dita import ExecutionKernel, MockVenueAdapter
from dita.gateway.stdio import run_stdio

SYMBOLS = ["BTC", "ETH", "SOL"]

line = st.one_of(
    st.builds(
        lambda side, sym, qty, price, n: f"ORDER {side} {sym} {qty} {price} c{n}",
        st.sampled_from(["BUY", "SELL"]),
        st.sampled_from(SYMBOLS),
        st.sampled_from(["0.5", "1", "2", "3"]),
        st.sampled_from(["MKT", "90", "100", "110"]),
        st.integers(0, 40),
    ),
    st.builds(lambda n: f"CANCEL c{n}", st.integers(0, 40)),
    st.builds(lambda n: f"QUERY c{n}", st.integers(0, 40)),
    st.sampled_from(["QUERY ORDERS", "QUERY SLOTS", "QUERY ACCOUNT", "MARK BTC 105", "MARK ETH 95"]),
    st.text(max_size=30).map(lambda t: t.replace("\n", " ")),
)


@settings(max_examples=60, deadline=None)
@given(
    lines=st.lists(line, max_size=60),
    seed=st.integers(0, 1000),
    partial=st.sampled_from([0.0, 0.5]),
    fill_rate=st.sampled_from([1.0, 0.7, 0.0]),
    reject=st.sampled_from([0.0, 0.2]),
    rate_limit=st.sampled_from([0.0, 0.2]),
)
def test_random_sessions_keep_positions_equal_to_fills(
    lines: list[str], seed: int, partial: float, fill_rate: float, reject: float, rate_limit: float
) -> None:
    venue = MockVenueAdapter(
        seed=seed,
        partial_fill_rate=partial,
        fill_rate=fill_rate,
        reject_rate=reject,
        rate_limit_rate=rate_limit,
    )
    kernel = ExecutionKernel(max_slots=4, venue=venue)
    script = "\n".join([*lines, "QUERY SLOTS"]) + "\n"
    out = io.BytesIO()
    assert run_stdio(kernel, io.BytesIO(script.encode()), out) == 0
    events: list[dict[str, Any]] = [json.loads(x) for x in out.getvalue().splitlines()]

    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[-1]["type"] == "engine_stopped"
    assert not [e for e in events if e["type"] == "error" and e["code"] == "ENGINE_ERROR"]

    received = {e["client_id"] for e in events if e["type"] == "order_received"}
    updated = {e["client_id"] for e in events if e["type"] == "order_update"}
    assert received <= updated  # every accepted order line gets an answer
    for e in events:
        if e["type"] == "order_update":
            assert e["filled_qty"] >= 0.0
        if e["type"] == "fill":
            assert e["qty"] > 0 and e["remaining_qty"] >= 0

    # Conservation: each symbol's net position in the slots equals its signed fills.
    fills: dict[str, float] = defaultdict(float)
    for e in events:
        if e["type"] == "fill":
            fills[e["symbol"]] += e["qty"] if e["side"] == "BUY" else -e["qty"]
    # The last query: the stop's cancels of the orders still working may come after it.
    slots = [e for e in events if e["type"] == "query_received"][-1]["result"]
    held: dict[str, float] = defaultdict(float)
    for s in slots:
        if s["side"] in ("LONG", "SHORT") and s["fsm_state"] != "CLOSED":
            held[s["asset"]] += s["size"] if s["side"] == "LONG" else -s["size"]
    for sym in set(fills) | set(held):
        assert abs(fills[sym] - held[sym]) < 1e-9, (sym, fills[sym], held[sym])
