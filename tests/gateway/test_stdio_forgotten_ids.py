"""`dita stdio` keeps the records of its last orders (``remember``, 100,000 by default); a client
id of an order it has forgotten is still refused DUPLICATE_CLIENT_ID: taken again, a client
tracking its orders by id confused two of them (the kernel's own memory of intent ids is
bounded too, and an order the engine refused never reached it)."""

from __future__ import annotations

from typing import Any

from dita import ExecutionKernel, MockVenueAdapter
from dita.gateway.engine import OrderEngine
from dita.gateway.forgotten_ids import ForgottenIds
from dita.gateway.protocol import parse_line

Told = list[tuple[str, dict[str, Any]]]


def _engine(remember: int, **venue: Any) -> tuple[OrderEngine, Told, ExecutionKernel]:
    kernel = ExecutionKernel(max_slots=8, venue=MockVenueAdapter(**venue) if venue else None)
    told: Told = []
    engine = OrderEngine(kernel, lambda kind, fields: told.append((kind, fields)), remember=remember)
    return engine, told, kernel


def _send(engine: OrderEngine, line: str) -> None:
    command = parse_line(line)
    assert command is not None
    engine.handle(command)


def test_a_client_id_of_a_forgotten_order_is_still_refused() -> None:
    engine, told, kernel = _engine(remember=2)
    try:
        for n in range(4):
            _send(engine, f"ORDER BUY BTC 1 100 c{n}")
        assert "c0" not in engine.orders, "the record of the oldest ended order is kept past remember"
        slots = [kernel.slot_state(i).fsm_state.name for i in range(8)]
        told.clear()
        _send(engine, "ORDER BUY BTC 1 100 c0")
        assert [kind for kind, _ in told] == ["error"], told
        error = told[0][1]
        assert (error["code"], error["field"], error["value"]) == ("DUPLICATE_CLIENT_ID", "client_id", "c0")
        assert "no longer" in error["message"], error["message"]
        assert [kernel.slot_state(i).fsm_state.name for i in range(8)] == slots, "the refusal changed state"
    finally:
        kernel.close()


def test_an_order_the_engine_refused_and_forgot_keeps_its_client_id_taken() -> None:
    """NO_REFERENCE_PRICE never reaches the kernel: only the engine can refuse its id again."""
    engine, told, kernel = _engine(remember=1)
    try:
        _send(engine, "ORDER BUY ETH 1 MKT r0")  # no price known for ETH: refused by the engine
        _send(engine, "ORDER BUY BTC 1 100 r1")
        assert "r0" not in engine.orders
        told.clear()
        _send(engine, "MARK ETH 10")
        _send(engine, "ORDER BUY ETH 1 MKT r0")
        assert [f.get("code") for kind, f in told if kind == "error"] == ["DUPLICATE_CLIENT_ID"], told
        assert kernel.slot_state(1).fsm_state.name == "IDLE"
    finally:
        kernel.close()


def test_query_and_cancel_of_a_forgotten_order_say_it_was_forgotten() -> None:
    engine, told, kernel = _engine(remember=1)
    try:
        _send(engine, "ORDER BUY BTC 1 100 q0")
        _send(engine, "ORDER BUY BTC 1 100 q1")
        told.clear()
        _send(engine, "QUERY q0")
        _send(engine, "CANCEL q0")
        _send(engine, "QUERY never")
        codes = [(f["code"], "forgotten" in f["message"]) for _, f in told]
        assert codes == [("UNKNOWN_CLIENT_ID", True)] * 2 + [("UNKNOWN_CLIENT_ID", False)], told
    finally:
        kernel.close()


def test_a_working_order_is_never_forgotten_and_its_id_is_not_marked_twice() -> None:
    engine, told, kernel = _engine(remember=1, fill_rate=0.0)
    try:
        _send(engine, "ORDER BUY BTC 1 90 w0")  # rests at the venue: working
        _send(engine, "ORDER BUY BTC 1 90 w1")
        assert {"w0", "w1"} <= set(engine.orders)
        told.clear()
        _send(engine, "QUERY w0")
        assert told[0][0] == "query_received", told
    finally:
        kernel.close()


def test_forgotten_ids_hold_at_least_their_capacity_and_then_drop_the_oldest() -> None:
    ids = ForgottenIds(capacity=8)
    for n in range(8):
        ids.add(f"id{n}")
    assert all(f"id{n}" in ids for n in range(8))
    assert "id8" not in ids
    for n in range(8, 20):
        ids.add(f"id{n}")
    assert all(f"id{n}" in ids for n in range(12, 20)), "one of the newest `capacity` ids was dropped"
    assert "id0" not in ids, "the oldest are dropped: the memory is bounded"
    assert len(ids) <= 8 + 8 // 4
