"""Reconciliation through ccxt of an order the kernel ended (in doubt, or its cancel acknowledged
while it worked on) that the exchange still works after a restart: what the listing counts is
booked, then the order is canceled there, and the cancel's answer reports only what filled
beyond. The restarted adapter has no record of the order: told what reconciliation booked
before the cancel, it does not report those fills again (the kernel refused each as a
DUPLICATE_EVENT, a WARNING the operator saw for a fill nothing was wrong with), and its events
name the order's own slot and trade (named after the listing, slot 0 and no trade, the kernel
refused a fill that raced the cancel on any other slot as UNKNOWN_ORDER, and it was lost).
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from recorded_exchange import RecordedExchange
from test_venues_restart_throttled_in_doubt import in_doubt_then_down, partial
from venue_helpers import ManualClock, account_holding

from dita import ExecutionKernel, KernelIntent, VenueEvent, VenueOrder
from dita.venues import CcxtVenue


def trades(exchange: RecordedExchange, raced: bool) -> list[dict[str, Any]]:
    """The order's trades: 0.008 at 90000 (trade 4101), and with ``raced`` a trade of 0.004
    (4102) made after the listing, before the cancel reached the order."""
    (trade,) = exchange.fixture("binance/spot_trades_limit_partial.json")
    if not raced:
        return [trade]
    later = dict(trade, id=4102, qty="0.00400000", quoteQty="360.00000000", time=trade["time"] + 5000)
    return [trade, later]


def canceled(exchange: RecordedExchange, coid: str, raced: bool) -> dict[str, Any]:
    """The exchange's answer to the cancel: canceled with 0.008 filled (0.012 with ``raced``)."""
    answer = partial(exchange, coid, status="CANCELED")
    if raced:
        answer.update(executedQty="0.01200000", cummulativeQuoteQty="1080.00000000")
    return answer


@pytest.mark.parametrize("raced", [False, True])
@pytest.mark.parametrize("only_in_doubt", [False, True])
def test_an_order_in_doubt_canceled_by_reconciliation_has_each_fill_booked_once_and_none_refused(
    make_venue: Callable[..., CcxtVenue],
    exchange: RecordedExchange,
    clock: ManualClock,
    tmp_path: Path,
    raced: bool,
    only_in_doubt: bool,
) -> None:
    kernel, venue, coid = in_doubt_then_down(make_venue, clock, tmp_path, down_s=3.0)
    exchange.script("GET", "/api/v3/openOrders", payload=[partial(exchange, coid)])
    exchange.script("DELETE", "/api/v3/order", payload=canceled(exchange, coid, raced))
    exchange.script("GET", "/api/v3/myTrades", payload=trades(exchange, raced), repeat=True)
    if not only_in_doubt:
        account_holding(exchange, "0.01200000" if raced else "0.00800000")

    refused = kernel.stats()["venue_events_refused"]
    report = kernel.reconcile_with_venue(only_in_doubt=only_in_doubt)
    venue_filled = 0.012 if raced else 0.008
    assert [m["qty"] for m in report.missed_fills] == pytest.approx([0.008, 0.004] if raced else [0.008])
    assert [(a["client_order_id"], a.get("canceled")) for a in report.awaited_settled] == [(coid, True)]
    assert report.unresolved == [] and report.position_mismatches == []
    assert kernel.slot_state(0).size == pytest.approx(venue_filled)
    # The fill reconciliation booked is not reported again by the cancel's answer.
    assert kernel.stats()["venue_events_refused"] == refused
    assert not any(kernel.on_venue_event(event).accepted for event in venue.poll_events())
    assert kernel.slot_state(0).size == pytest.approx(venue_filled)


class AcknowledgesThenCancelsEarly:
    """The venue before the restart: it acknowledges the order, and acknowledges its cancel
    stating 0.008 filled, a fill it has not reported yet (the order works on at the exchange)."""

    def submit(self, order: VenueOrder) -> list[VenueEvent]:
        coid = order.client_order_id
        ack = VenueEvent(
            f"ack-{coid}", order.trade_id, order.slot_id, "ORDER_ACK",
            venue_order_id="BTCUSDT:28457200", venue_client_id=coid,
        )  # fmt: skip
        return [ack]

    def cancel(self, order: VenueOrder) -> list[VenueEvent]:
        coid = order.client_order_id
        end = VenueEvent(
            f"cancel-{coid}", order.trade_id, order.slot_id, "CANCEL_ACK",
            venue_order_id=order.venue_order_id, venue_client_id=coid, filled_size=0.008,
        )  # fmt: skip
        return [end]

    def open_orders(self) -> list[VenueOrder]:
        return []

    def positions(self) -> dict[str, float]:
        return {}


def on_two_slots(venue: Any, wal: Path) -> ExecutionKernel:
    return ExecutionKernel(max_slots=2, venue=venue, kernel_id="k", wal_dir=str(wal), fsync="always")


@pytest.mark.parametrize("raced", [False, True])
@pytest.mark.parametrize("slot", [0, 1])
def test_an_awaited_order_canceled_by_reconciliation_books_the_fill_that_raced_its_cancel(
    make_venue: Callable[..., CcxtVenue],
    exchange: RecordedExchange,
    clock: ManualClock,
    tmp_path: Path,
    raced: bool,
    slot: int,
) -> None:
    """The order's cancel was acknowledged before the restart stating 0.008 filled; the exchange
    still works it. Canceled by reconciliation, a trade that raced the cancel (0.004) runs past
    that figure: fed before the cancel's end it was refused as an OVERFILL (and on slot 1, named
    slot 0, as UNKNOWN_ORDER), the end's figure then awaited it for good, and it was lost."""
    first = on_two_slots(AcknowledgesThenCancelsEarly(), tmp_path)
    entry = KernelIntent(
        "i1", "tr-1", slot, "BTCUSDT", "LONG", "ENTER", 90000.0, 0.02,
        order_type="LIMIT", limit_price=90000.0, timestamp=clock(),
    )  # fmt: skip
    sent = first.process_intent(entry)
    assert sent.accepted and sent.order is not None, sent.to_dict()
    coid = sent.order.client_order_id
    cancel = KernelIntent("i2", "tr-1", slot, "BTCUSDT", "LONG", "CANCEL", 90000.0, 0.0, timestamp=clock())
    assert first.process_intent(cancel).accepted
    assert [o.client_order_id for o in first.awaited_orders()] == [coid]
    first.close()
    del first
    gc.collect()
    clock.advance(3.0)
    kernel = on_two_slots(make_venue(markets=["BTCUSDT"]), tmp_path)
    exchange.script("GET", "/api/v3/openOrders", payload=[partial(exchange, coid)])
    exchange.script("DELETE", "/api/v3/order", payload=canceled(exchange, coid, raced))
    exchange.script("GET", "/api/v3/myTrades", payload=trades(exchange, raced), repeat=True)
    account_holding(exchange, "0.01200000" if raced else "0.00800000")

    refused = kernel.stats()["venue_events_refused"]
    report = kernel.reconcile_with_venue()
    assert report.unresolved == [] and report.position_mismatches == []
    assert [m["qty"] for m in report.missed_fills] == pytest.approx([0.008, 0.004] if raced else [0.008])
    assert [(a["client_order_id"], a.get("canceled")) for a in report.awaited_settled] == [(coid, True)]
    assert kernel.slot_state(slot).size == pytest.approx(0.012 if raced else 0.008)
    assert kernel.awaited_orders() == [] and kernel.stats()["venue_events_refused"] == refused
