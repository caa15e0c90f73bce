"""``ForgottenIds`` (the client ids `dita stdio` forgot, still refused as used) against a plain
model: the newest ``capacity`` distinct ids are in, every older one and every never added one
is out, at every step. Small capacities fill the cuckoo table to its load, so ids move between
their two buckets, wrap round the ring and, with few moves allowed, go to the set beside it."""

from __future__ import annotations

import random
from collections import OrderedDict
from typing import Any

import pytest

from dita import ExecutionKernel
from dita.gateway.engine import OrderEngine
from dita.gateway.forgotten_ids import ForgottenIds
from dita.gateway.protocol import parse_line


class _FewMoves(ForgottenIds):
    _KICKS = 1


@pytest.mark.parametrize("kind", [ForgottenIds, _FewMoves])
@pytest.mark.parametrize("capacity", [1, 2, 7, 8, 9, 50, 333])
def test_forgotten_ids_hold_exactly_the_newest_capacity(kind: type[ForgottenIds], capacity: int) -> None:
    rng = random.Random(capacity)
    ids = kind(capacity=capacity)
    model: OrderedDict[str, None] = OrderedDict()
    seen: list[str] = []
    for step in range(capacity * 12 + 40):
        if seen and rng.random() < 0.3:
            client_id = rng.choice(seen)  # added again: kept, dropped or long gone
        else:
            client_id = f"id-{step}"
            seen.append(client_id)
        ids.add(client_id)
        if client_id not in model:
            model[client_id] = None
            if len(model) > capacity:
                model.popitem(last=False)
        assert len(ids) == len(model), step
        probe = seen if len(seen) <= 400 else rng.sample(seen, 400)
        wrong = [c for c in probe if (c in ids) != (c in model)]
        assert not wrong, (step, wrong[:5])
        assert f"never-{step}" not in ids
    assert 42 not in ids  # not a str: never an id


def test_an_id_forgotten_past_the_memory_is_still_refused_while_the_kernel_remembers_its_intent() -> None:
    """The engine's table forgets its oldest ids; the kernel's memory of the intents it took
    still refuses one of those, naming it as the kernel's."""
    kernel = ExecutionKernel(max_slots=8)
    try:
        engine = OrderEngine(kernel, lambda kind, fields: told.append((kind, fields)), remember=1)
        engine.forgotten = ForgottenIds(capacity=2)
        told: list[tuple[str, dict[str, Any]]] = []
        for n in range(5):  # c0 to c3 forgotten; the memory holds c2 and c3
            command = parse_line(f"ORDER BUY BTC 1 100 c{n}")
            assert command is not None
            engine.handle(command)
        assert [c for c in ("c0", "c1", "c2", "c3") if c in engine.forgotten] == ["c2", "c3"]
        told.clear()
        for client_id in ("c2", "c0"):
            command = parse_line(f"ORDER BUY BTC 1 100 {client_id}")
            assert command is not None
            engine.handle(command)
        errors = [(f["code"], f["value"]) for kind, f in told if kind == "error"]
        assert errors == [("DUPLICATE_CLIENT_ID", "c2"), ("DUPLICATE_CLIENT_ID", "c0")], told
        assert "by an intent the kernel took" in told[-1][1]["message"]
        assert "c0" not in engine.orders and not any(kind == "order_received" for kind, _ in told)
    finally:
        kernel.close()
