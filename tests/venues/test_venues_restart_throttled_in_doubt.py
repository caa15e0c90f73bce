"""Reconciliation after a restart of an order in doubt (rate limited before its ack, with a
cancel asked: ``orders_in_doubt()``), through ccxt.

The throttled request may have been the cancel of a submit that timed out: the order then
reached the exchange, which often shows a just-placed order only after a while. The restarted
adapter gives it ``unknown_order_grace_s`` from its send (its ``created_at``, which the log
keeps), as for a submit in doubt (tests/venues/test_venues_restart_in_doubt.py), before taking
"no such order" for its submit having been the throttled request.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from recorded_exchange import RecordedExchange
from venue_helpers import (
    RESTART_GRACE_S as GRACE_S,
)
from venue_helpers import (
    ManualClock,
    account_holding,
    limit_entry,
    not_found,
    on_the_log,
)

from dita import ExecutionKernel, KernelDiagnosticCode, KernelIntent, TradeStage, VenueEvent, VenueOrder
from dita.venues import CcxtVenue


class ThrottledCancel:
    """The venue before the restart: its submit times out (the order may be at the exchange),
    and its answer to the cancel is a rate limit, which the kernel cannot tell from its
    submit's."""

    def submit(self, order: VenueOrder) -> list[VenueEvent]:
        raise TimeoutError("submit timed out")

    def cancel(self, order: VenueOrder) -> list[VenueEvent]:
        coid = order.client_order_id
        return [VenueEvent("rl-1", order.trade_id, order.slot_id, "RATE_LIMITED", venue_client_id=coid)]

    def open_orders(self) -> list[VenueOrder]:
        return []

    def positions(self) -> dict[str, float]:
        return {}


def in_doubt_then_down(
    make_venue: Callable[..., CcxtVenue], clock: ManualClock, wal: Path, down_s: float
) -> tuple[ExecutionKernel, CcxtVenue, str]:
    """A kernel on a log sends a limit entry whose submit times out, asks to cancel it, and the
    cancel is rate limited: the order is in doubt. The process goes down for ``down_s``; returns
    the restarted kernel, its fresh ccxt adapter (no record of the order) and the client id."""
    first = on_the_log(ThrottledCancel(), wal)
    sent = first.process_intent(limit_entry(clock()))
    assert sent.details.get("submit_outcome") == "unknown" and sent.order is not None, sent.to_dict()
    coid = sent.order.client_order_id
    cancel = KernelIntent("i2", "tr-1", 0, "BTCUSDT", "LONG", "CANCEL", 90000.0, 0.0, timestamp=clock())
    assert first.process_intent(cancel).diagnostic_code == KernelDiagnosticCode.RATE_LIMITED
    assert [o.client_order_id for o in first.orders_in_doubt()] == [coid]
    first.close()
    del first
    gc.collect()
    clock.advance(down_s)
    venue = make_venue(markets=["BTCUSDT"], unknown_order_grace_s=GRACE_S)
    kernel = on_the_log(venue, wal)
    assert [o.client_order_id for o in kernel.orders_in_doubt()] == [coid]
    return kernel, venue, coid


def partial(exchange: RecordedExchange, coid: str, status: str = "PARTIALLY_FILLED") -> dict[str, Any]:
    """The exchange's order for ``coid``: 0.008 of 0.02 filled at 90000."""
    found = exchange.fixture("binance/spot_query_limit_partial.json")
    return dict(found, clientOrderId=CcxtVenue.venue_client_id(coid), status=status)


@pytest.mark.parametrize("only_in_doubt", [False, True])
def test_an_order_in_doubt_sent_just_before_a_restart_is_not_ended_at_the_first_no_such_order(
    make_venue: Callable[..., CcxtVenue],
    exchange: RecordedExchange,
    clock: ManualClock,
    tmp_path: Path,
    only_in_doubt: bool,
) -> None:
    """Sent 3 s before the restart, the order is not shown yet: ended at the first "no such
    order" (its submit taken for the throttled request), its slot was freed, and its fill, once
    the exchange showed it, was never booked (the position bought, unknown to the kernel)."""
    kernel, venue, coid = in_doubt_then_down(make_venue, clock, tmp_path, down_s=3.0)
    exchange.script("GET", "/api/v3/openOrders", payload=[])
    not_found(exchange)
    if not only_in_doubt:
        account_holding(exchange, "0.00000000")

    report = kernel.reconcile_with_venue(only_in_doubt=only_in_doubt)
    assert report.awaited_settled == [] and report.events_applied == 0
    (left,) = report.unresolved
    assert left["client_order_id"] == coid and "no such order for 3.0s" in left["reason"]
    assert [o.client_order_id for o in kernel.orders_in_doubt()] == [coid]
    assert venue.unresolved_orders() == [coid] and venue.following()

    # The exchange shows it, part filled: its fill is booked.
    clock.advance(2.0)
    exchange.script("GET", "/api/v3/order", payload=partial(exchange, coid))
    exchange.script("GET", "/api/v3/myTrades", "binance/spot_trades_limit_partial.json")
    events = venue.poll_events()
    assert [e.kind.name for e in events] == ["ORDER_ACK", "FILL"]
    for event in events:
        assert kernel.on_venue_event(event).applied
    assert kernel.slot_state(0).size == pytest.approx(0.008)

    # Still in doubt (it works at the exchange): reconciled again, it is canceled there.
    exchange.script("GET", "/api/v3/openOrders", payload=[partial(exchange, coid)])
    exchange.script("DELETE", "/api/v3/order", payload=partial(exchange, coid, status="CANCELED"))
    report = kernel.reconcile_with_venue(only_in_doubt=True)
    assert [(a["client_order_id"], a.get("canceled")) for a in report.awaited_settled] == [(coid, True)]
    assert report.missed_fills == [] and report.unresolved == []
    assert kernel.orders_in_doubt() == [] and kernel.slot_state(0).size == pytest.approx(0.008)


def test_an_order_in_doubt_the_exchange_never_shows_is_ended_once_the_grace_from_its_send_passes(
    make_venue: Callable[..., CcxtVenue], exchange: RecordedExchange, clock: ManualClock, tmp_path: Path
) -> None:
    """Left unresolved at reconciliation, the order is followed: the exchange saying "no such
    order" until the grace from its send has passed ends it (the throttled request was its
    submit), and the slot is free again."""
    kernel, venue, coid = in_doubt_then_down(make_venue, clock, tmp_path, down_s=3.0)
    exchange.script("GET", "/api/v3/openOrders", payload=[])
    not_found(exchange)
    report = kernel.reconcile_with_venue(only_in_doubt=True)
    assert [u["client_order_id"] for u in report.unresolved] == [coid]

    clock.advance(GRACE_S - 3.0)  # the grace runs from the send, not from the restart
    not_found(exchange)
    (end,) = venue.poll_events()
    assert end.kind.name == "REJECT" and "never reached the exchange" in end.reason
    assert kernel.on_venue_event(end).applied
    assert kernel.orders_in_doubt() == [] and kernel.awaited_orders() == []
    assert kernel.slot_state(0).fsm_state in (TradeStage.IDLE, TradeStage.CLOSED)
    assert venue.unresolved_orders() == [] and not venue.following()


def test_an_order_in_doubt_sent_long_before_a_restart_is_ended_at_the_first_no_such_order(
    make_venue: Callable[..., CcxtVenue], exchange: RecordedExchange, clock: ManualClock, tmp_path: Path
) -> None:
    kernel, venue, coid = in_doubt_then_down(make_venue, clock, tmp_path, down_s=GRACE_S + 1.0)
    exchange.script("GET", "/api/v3/openOrders", payload=[])
    not_found(exchange)

    report = kernel.reconcile_with_venue(only_in_doubt=True)
    assert [(a["client_order_id"], a["venue_filled_size"]) for a in report.awaited_settled] == [(coid, 0.0)]
    assert report.unresolved == [] and kernel.orders_in_doubt() == []
    assert venue.unresolved_orders() == [] and not venue.following()


@pytest.mark.parametrize("trades", [1, 2])
def test_an_order_in_doubt_found_working_at_reconciliation_has_its_fill_booked_once(
    make_venue: Callable[..., CcxtVenue],
    exchange: RecordedExchange,
    clock: ManualClock,
    tmp_path: Path,
    trades: int,
) -> None:
    """Followed before it is asked about, then found part filled and working: what it filled is
    booked, it is canceled, and the cancel's answer (with the order's trades, one or two) books
    nothing more, nor does the adapter's next poll."""
    kernel, venue, coid = in_doubt_then_down(make_venue, clock, tmp_path, down_s=3.0)
    exchange.script("GET", "/api/v3/openOrders", payload=[])
    exchange.script("GET", "/api/v3/order", payload=partial(exchange, coid))
    exchange.script("DELETE", "/api/v3/order", payload=partial(exchange, coid, status="CANCELED"))
    (trade,) = exchange.fixture("binance/spot_trades_limit_partial.json")  # 0.008 at 90000
    if trades == 2:
        split = [dict(trade, id=4101, qty="0.00500000", quoteQty="450.00000000")]
        split.append(dict(trade, id=4102, qty="0.00300000", quoteQty="270.00000000"))
        exchange.script("GET", "/api/v3/myTrades", payload=split, repeat=True)
    else:
        exchange.script("GET", "/api/v3/myTrades", payload=[trade], repeat=True)

    report = kernel.reconcile_with_venue(only_in_doubt=True)
    # One fill per trade, each with its fee.
    each = [0.008] if trades == 1 else [0.005, 0.003]
    assert [m["qty"] for m in report.missed_fills] == pytest.approx(each)
    assert [(a["client_order_id"], a.get("canceled")) for a in report.awaited_settled] == [(coid, True)]
    assert report.unresolved == [] and kernel.orders_in_doubt() == []
    assert kernel.slot_state(0).size == pytest.approx(0.008)
    assert not any(kernel.on_venue_event(event).accepted for event in venue.poll_events())
    assert kernel.slot_state(0).size == pytest.approx(0.008)
