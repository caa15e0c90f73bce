"""A fill report overlapping one booked already (resent merged with the next, or widened to
cover it) books only its new part and is charged that part's share of its fee. The runtime
(what a strategy hears) and the gateway (what a client is told) each worked out that size and
fee from the kernel's outcome, in two copies of one rule; now one function serves both, and
this drives the same venue through each and checks they tell the same."""

from __future__ import annotations

from typing import Any, cast

import pytest

from dita import ExecutionKernel
from dita.gateway.engine import OrderEngine
from dita.gateway.protocol import parse_line
from dita.runtime import TradingRuntime

from .points import BuysOnce, FillsAsTold, bar

FEE_RATE = 0.001  # of each report's notional, at 100


def heard_by_a_strategy(venue: FillsAsTold) -> tuple[list[tuple[float, float | None]], float]:
    """The size and fee of each fill a strategy buying 1 heard, and the fees the kernel booked."""
    kernel = ExecutionKernel(max_slots=2, venue=venue, kernel_id="heard")
    runtime = TradingRuntime(kernel)
    strategy = BuysOnce()
    runtime.add_strategy(strategy)
    runtime.run([bar(0), bar(1)])  # the second bar polls what came later
    return [(f.size, f.fee) for f in strategy.heard], kernel.slot_state(0).fees_paid


def told_by_the_gateway(venue: FillsAsTold) -> tuple[list[tuple[float, float | None]], float]:
    """The ``qty`` and ``fee`` of each fill the gateway told a client buying 1, and the fees
    the kernel booked."""
    kernel = ExecutionKernel(max_slots=2, venue=venue, kernel_id="told")
    told: list[dict[str, Any]] = []
    engine = OrderEngine(kernel, lambda kind, fields: told.append({"type": kind, **fields}))
    engine.handle(cast(Any, parse_line("ORDER BUY AAA 1 100 e1")))
    engine.poll()
    return [(e["qty"], e["fee"]) for e in told if e["type"] == "fill"], kernel.slot_state(0).fees_paid


@pytest.mark.parametrize("at_once", [True, False], ids=["answer", "poll"])
@pytest.mark.parametrize(
    ("parts", "booked"),
    [
        # 0.7 after 0.5: books 0.2 and is charged 0.2/0.7 of its 0.07.
        ([(0.5, 0.5), (0.7, 0.7), (0.3, 1.0)], [(0.5, 0.05), (0.2, 0.02), (0.3, 0.03)]),
        # 1.0 after 0.4: books 0.6 and is charged 0.6 of its 0.1.
        ([(0.4, 0.4), (1.0, 1.0)], [(0.4, 0.04), (0.6, 0.06)]),
    ],
    ids=["merged-resend", "widened"],
)
def test_a_fill_booked_in_part_is_heard_by_a_strategy_as_a_gateway_client_is_told_it(
    parts: list[tuple[float, float]], booked: list[tuple[float, float]], at_once: bool
) -> None:
    heard, heard_paid = heard_by_a_strategy(FillsAsTold(parts, at_once=at_once, fee_rate=FEE_RATE))
    told, told_paid = told_by_the_gateway(FillsAsTold(parts, at_once=at_once, fee_rate=FEE_RATE))
    assert heard == told
    assert heard == [pytest.approx(fill) for fill in booked]
    # What each summed is what the kernel charged: the overlap was not paid twice.
    assert heard_paid == told_paid == pytest.approx(sum(fee for _, fee in booked))
    assert sum(fee or 0.0 for _, fee in heard) == pytest.approx(heard_paid)


@pytest.mark.parametrize("at_once", [True, False], ids=["answer", "poll"])
def test_a_fill_stating_no_fee_is_heard_without_one_and_told_with_the_prediction(at_once: bool) -> None:
    """Where the two differ, on purpose (docs/reference/stdio-protocol.md): a strategy hears the venue's fee,
    None when it stated none; a gateway client is told the kernel's predicted fee instead,
    for the slot's only fill of the command."""
    heard, heard_paid = heard_by_a_strategy(FillsAsTold([(1.0, 1.0)], at_once=at_once))
    told, told_paid = told_by_the_gateway(FillsAsTold([(1.0, 1.0)], at_once=at_once))
    assert heard == [(1.0, None)]
    assert heard_paid == told_paid > 0.0
    [(qty, fee)] = told
    assert qty == 1.0 and fee == pytest.approx(told_paid)
