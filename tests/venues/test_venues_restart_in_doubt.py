"""Reconciliation after a restart of a submit in doubt (sent, never answered), through ccxt.

The exchange often shows a just-placed order only after a while: the restarted adapter gives
such an order ``unknown_order_grace_s`` from when it was sent (its ``created_at``, which the
log keeps across the restart), as the process that sent it did, before calling it never sent.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from pathlib import Path

import pytest
from recorded_exchange import RecordedExchange
from venue_helpers import (
    HOLD,
    ManualClock,
    account_holding,
    limit_entry,
    not_found,
    on_the_log,
)
from venue_helpers import (
    RESTART_GRACE_S as GRACE_S,
)

from dita import ExecutionKernel, TradeStage
from dita.venues import CcxtVenue


def sent_in_doubt_then_down(
    make_venue: Callable[..., CcxtVenue],
    exchange: RecordedExchange,
    clock: ManualClock,
    wal: Path,
    down_s: float,
) -> tuple[ExecutionKernel, CcxtVenue, str]:
    """A kernel on a log sends a limit entry whose submit times out (the exchange not finding
    it yet), and the process goes down for ``down_s``; returns the restarted kernel, its fresh
    adapter (no record of the order) and the order's client id."""
    first = on_the_log(make_venue(markets=["BTCUSDT"], unknown_order_grace_s=GRACE_S), wal)
    exchange.script("POST", "/api/v3/order", "binance/spot_order_limit_new.json", delay=HOLD)
    for _ in range(2):
        not_found(exchange)
    outcome = first.process_intent(limit_entry(clock()))
    assert outcome.details.get("submit_outcome") == "unknown" and outcome.order is not None, outcome.to_dict()
    coid = outcome.order.client_order_id
    first.close()
    del first
    gc.collect()
    clock.advance(down_s)
    venue = make_venue(markets=["BTCUSDT"], unknown_order_grace_s=GRACE_S)
    kernel = on_the_log(venue, wal)
    assert kernel.slot_state(0).fsm_state == TradeStage.ORDER_SENT
    return kernel, venue, coid


def test_a_submit_in_doubt_sent_just_before_a_restart_is_not_ended_at_the_first_no_such_order(
    make_venue: Callable[..., CcxtVenue], exchange: RecordedExchange, clock: ManualClock, tmp_path: Path
) -> None:
    """Sent 3 s before the restart, the order is not listed yet: ended as a lost submit at the
    first "no such order", its ack and fill, once the exchange showed it, reached a kernel that
    had freed the slot, and the position bought was never booked."""
    kernel, venue, coid = sent_in_doubt_then_down(make_venue, exchange, clock, tmp_path, down_s=3.0)
    exchange.script("GET", "/api/v3/openOrders", payload=[])
    not_found(exchange)
    account_holding(exchange, "0.00000000")

    report = kernel.reconcile_with_venue()
    assert report.lost_submits == [] and report.events_applied == 0
    (left,) = report.unresolved
    assert left["client_order_id"] == coid and "no such order for 3.0s" in left["reason"]
    assert kernel.slot_state(0).fsm_state == TradeStage.ORDER_SENT
    assert venue.unresolved_orders() == [coid] and venue.following()

    # The exchange shows it, part filled: its ack and fill reach the slot.
    clock.advance(2.0)
    found = exchange.fixture("binance/spot_query_limit_partial.json")  # 0.008 of 0.02
    exchange.script(
        "GET", "/api/v3/order", payload=dict(found, clientOrderId=CcxtVenue.venue_client_id(coid))
    )
    exchange.script("GET", "/api/v3/myTrades", "binance/spot_trades_limit_partial.json")
    events = venue.poll_events()
    assert [e.kind.name for e in events] == ["ORDER_ACK", "FILL"]
    for event in events:
        assert kernel.on_venue_event(event).accepted
    slot = kernel.slot_state(0)
    assert slot.fsm_state == TradeStage.ENTRY_WORKING and slot.size == pytest.approx(0.008)


def test_a_submit_in_doubt_the_exchange_never_shows_is_ended_once_the_grace_from_its_send_passes(
    make_venue: Callable[..., CcxtVenue], exchange: RecordedExchange, clock: ManualClock, tmp_path: Path
) -> None:
    """Left unresolved at reconciliation, the order is followed: the exchange saying "no such
    order" until the grace from its send has passed ends it (REJECT), the slot freed."""
    kernel, venue, coid = sent_in_doubt_then_down(make_venue, exchange, clock, tmp_path, down_s=3.0)
    exchange.script("GET", "/api/v3/openOrders", payload=[])
    not_found(exchange)
    account_holding(exchange, "0.00000000")
    assert [u["client_order_id"] for u in kernel.reconcile_with_venue().unresolved] == [coid]

    clock.advance(GRACE_S - 3.0)  # the grace runs from the send, not from the restart
    not_found(exchange)
    (end,) = venue.poll_events()
    assert end.kind.name == "REJECT" and "never reached the exchange" in end.reason
    assert kernel.on_venue_event(end).accepted
    assert kernel.slot_state(0).fsm_state in (TradeStage.IDLE, TradeStage.CLOSED)
    assert venue.unresolved_orders() == [] and not venue.following()


def test_a_submit_in_doubt_sent_long_before_a_restart_is_a_lost_submit_at_the_first_no_such_order(
    make_venue: Callable[..., CcxtVenue], exchange: RecordedExchange, clock: ManualClock, tmp_path: Path
) -> None:
    kernel, venue, coid = sent_in_doubt_then_down(make_venue, exchange, clock, tmp_path, down_s=GRACE_S + 1.0)
    exchange.script("GET", "/api/v3/openOrders", payload=[])
    not_found(exchange)
    account_holding(exchange, "0.00000000")

    report = kernel.reconcile_with_venue()
    assert [lost["client_order_id"] for lost in report.lost_submits] == [coid]
    assert report.unresolved == [] and kernel.open_orders() == []
    assert venue.unresolved_orders() == [] and not venue.following()


def test_a_submit_in_doubt_found_at_reconciliation_has_its_fill_booked_once(
    make_venue: Callable[..., CcxtVenue], exchange: RecordedExchange, clock: ManualClock, tmp_path: Path
) -> None:
    """The adapter follows the order before reconciliation asks about it: found part filled,
    reconciliation books its ack and fill, and the adapter's next poll reports nothing again."""
    kernel, venue, coid = sent_in_doubt_then_down(make_venue, exchange, clock, tmp_path, down_s=3.0)
    found = exchange.fixture("binance/spot_query_limit_partial.json")  # 0.008 of 0.02
    found["clientOrderId"] = CcxtVenue.venue_client_id(coid)
    exchange.script("GET", "/api/v3/openOrders", payload=[])
    exchange.script("GET", "/api/v3/order", payload=found)
    exchange.script("GET", "/api/v3/myTrades", "binance/spot_trades_limit_partial.json")
    account_holding(exchange, "0.00800000")

    report = kernel.reconcile_with_venue()
    assert [m["qty"] for m in report.missed_fills] == [pytest.approx(0.008)]
    assert report.unresolved == [] and report.position_mismatches == []
    assert kernel.slot_state(0).size == pytest.approx(0.008)

    exchange.script("GET", "/api/v3/order", payload=found)
    exchange.script("GET", "/api/v3/myTrades", "binance/spot_trades_limit_partial.json")
    assert venue.poll_events() == []  # its ack and fill were reported again, then refused
    assert venue.unresolved_orders() == [] and venue.following()
    assert kernel.slot_state(0).size == pytest.approx(0.008)


def test_a_submit_in_doubt_found_filled_at_reconciliation_is_booked_once(
    make_venue: Callable[..., CcxtVenue], exchange: RecordedExchange, clock: ManualClock, tmp_path: Path
) -> None:
    """Found over (filled) by reconciliation, the order the adapter followed before asking is
    booked once: what the adapter's poll reports of it after, the kernel knows already."""
    kernel, venue, coid = sent_in_doubt_then_down(make_venue, exchange, clock, tmp_path, down_s=3.0)
    filled = exchange.fixture("binance/spot_query_limit_filled.json")
    filled["clientOrderId"] = CcxtVenue.venue_client_id(coid)
    exchange.script("GET", "/api/v3/openOrders", payload=[])
    exchange.script("GET", "/api/v3/order", payload=filled)
    exchange.script("GET", "/api/v3/myTrades", "binance/spot_trades_limit_filled.json")
    account_holding(exchange, "0.02000000")
    report = kernel.reconcile_with_venue()
    assert [m["qty"] for m in report.missed_fills] == pytest.approx([0.008, 0.012])
    assert kernel.open_orders() == [] and kernel.slot_state(0).size == pytest.approx(0.02)

    exchange.script("GET", "/api/v3/order", payload=filled)
    exchange.script("GET", "/api/v3/myTrades", "binance/spot_trades_limit_filled.json")
    assert not any(kernel.on_venue_event(event).accepted for event in venue.poll_events())
    assert kernel.slot_state(0).size == pytest.approx(0.02)
