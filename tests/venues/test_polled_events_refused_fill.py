"""A venue reports each trade once (``CcxtVenue`` counts a trade reported when it makes its
fill): a polled fill the kernel refuses is never booked, and ``PolledEvents`` names it at ERROR,
with its trade, for reconciliation. A duplicate, booked already, is no such loss."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from dita import ExecutionKernel, KernelIntent, KernelOutcome, VenueEvent
from dita.venues._events import PolledEvents


class _Silent:
    name = "silent"

    def submit(self, order: Any) -> list[VenueEvent]:
        return []

    def cancel(self, order: Any) -> list[VenueEvent]:
        return []


def _entered() -> tuple[ExecutionKernel, str]:
    kernel = ExecutionKernel(max_slots=1, venue=_Silent())
    kernel.set_seed_capital(10_000.0)
    entry = KernelIntent(
        intent_id="i1", trade_id="t1", slot_id=0, asset="BTCUSDT", side="LONG", action="ENTER",
        reference_price=100.0, target_size=1.0, timestamp=1_700_000_000.0,
    )  # fmt: skip
    out = kernel.process_intent(entry)
    assert out.accepted, out.details
    order = kernel.slot_state(0).active_entry_order
    assert order is not None
    return kernel, order.client_order_id


def _fill(event_id: str, coid: str, **metadata: Any) -> VenueEvent:
    return VenueEvent(
        event_id, "t1", 0, "FILL", asset="BTCUSDT", venue_client_id=coid, price=100.0, size=0.5,
        filled_size=0.5, fill_id=f"trade-{event_id}", metadata=metadata,
    )  # fmt: skip


def _take(kernel: ExecutionKernel, events: list[VenueEvent]) -> list[KernelOutcome]:
    outcomes: list[KernelOutcome] = []

    def unfit(event: Any, exc: Exception) -> None:
        raise AssertionError(f"unfit {event!r}: {exc}")

    PolledEvents().take(kernel, events, lambda _e, out: outcomes.append(out), unfit)
    return outcomes


def test_a_polled_fill_the_kernel_refuses_is_named_at_error_with_its_trade(
    caplog: pytest.LogCaptureFixture,
) -> None:
    kernel, coid = _entered()
    with caplog.at_level(logging.ERROR, logger="dita.venues._events"):
        [out] = _take(kernel, [_fill("f1", coid, base_fee_qty=0.5)])
    assert not out.accepted
    [record] = caplog.records
    assert record.levelno == logging.ERROR
    assert "trade-f1" in record.getMessage() and "refused" in record.getMessage()
    assert "metadata.base_fee_qty" in record.getMessage()


def test_a_polled_fill_booked_already_is_not_named_at_error(caplog: pytest.LogCaptureFixture) -> None:
    kernel, coid = _entered()
    with caplog.at_level(logging.ERROR, logger="dita.venues._events"):
        first, again = _take(kernel, [_fill("f1", coid), _fill("f1", coid)])
    assert first.accepted and not again.accepted
    assert caplog.records == []
