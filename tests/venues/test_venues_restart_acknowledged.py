"""Reconciliation after a restart of an order the exchange acknowledged, through ccxt.

An exchange's order query may not show an order it acknowledged a moment ago. The restarted
adapter, told to follow the order before it is asked about, gives it ``unknown_order_grace_s``
from its send (its ``created_at``, which the log keeps), as it gives a submit in doubt
(tests/venues/test_venues_restart_in_doubt.py), before its "no such order" ends it as purged.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from pathlib import Path

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

from dita import ExecutionKernel, TradeStage, VenueEvent, VenueOrder
from dita.venues import CcxtVenue


class Acknowledges:
    """The venue before the restart: it acknowledges the order as Binance's order 28457200."""

    def submit(self, order: VenueOrder) -> list[VenueEvent]:
        coid = order.client_order_id
        ack = VenueEvent(
            f"ack-{coid}", order.trade_id, order.slot_id, "ORDER_ACK",
            venue_order_id="BTCUSDT:28457200", venue_client_id=coid,
        )  # fmt: skip
        return [ack]

    def cancel(self, order: VenueOrder) -> list[VenueEvent]:
        return []

    def open_orders(self) -> list[VenueOrder]:
        return []

    def positions(self) -> dict[str, float]:
        return {}


def acknowledged_then_down(
    make_venue: Callable[..., CcxtVenue], clock: ManualClock, wal: Path, down_s: float
) -> tuple[ExecutionKernel, CcxtVenue, str]:
    """A kernel on a log sends a limit entry the venue acknowledges; the process goes down for
    ``down_s``. Returns the restarted kernel, its fresh ccxt adapter and the client id."""
    first = on_the_log(Acknowledges(), wal)
    sent = first.process_intent(limit_entry(clock()))
    assert sent.accepted and sent.order is not None, sent.to_dict()
    assert first.slot_state(0).fsm_state == TradeStage.ENTRY_WORKING
    first.close()
    del first
    gc.collect()
    clock.advance(down_s)
    venue = make_venue(markets=["BTCUSDT"], unknown_order_grace_s=GRACE_S)
    kernel = on_the_log(venue, wal)
    return kernel, venue, sent.order.client_order_id


def test_an_order_acknowledged_just_before_a_restart_is_not_ended_at_the_first_no_such_order(
    make_venue: Callable[..., CcxtVenue], exchange: RecordedExchange, clock: ManualClock, tmp_path: Path
) -> None:
    """Acknowledged 3 s before the restart, the order is not shown yet: ended as purged at the
    first "no such order", its slot was freed, and its fill, once the exchange showed it, was
    refused for an order the kernel had ended (the position bought, unknown to the kernel)."""
    kernel, venue, coid = acknowledged_then_down(make_venue, clock, tmp_path, down_s=3.0)
    exchange.script("GET", "/api/v3/openOrders", payload=[])
    not_found(exchange)
    account_holding(exchange, "0.00000000")

    report = kernel.reconcile_with_venue()
    assert report.purged_at_venue == [] and report.events_applied == 0
    (left,) = report.unresolved
    assert left["client_order_id"] == coid and "3.0s" in left["reason"], left
    assert kernel.slot_state(0).fsm_state == TradeStage.ENTRY_WORKING
    assert venue.following()

    # The exchange shows it, part filled: its fill reaches the slot.
    clock.advance(2.0)
    found = exchange.fixture("binance/spot_query_limit_partial.json")  # 0.008 of 0.02
    exchange.script(
        "GET", "/api/v3/order", payload=dict(found, clientOrderId=CcxtVenue.venue_client_id(coid))
    )
    exchange.script("GET", "/api/v3/myTrades", "binance/spot_trades_limit_partial.json")
    events = venue.poll_events()
    assert [e.kind.name for e in events] == ["FILL"]
    assert kernel.on_venue_event(events[0]).accepted
    assert kernel.slot_state(0).size == pytest.approx(0.008)


def test_an_order_acknowledged_long_before_a_restart_is_purged_at_the_first_no_such_order(
    make_venue: Callable[..., CcxtVenue], exchange: RecordedExchange, clock: ManualClock, tmp_path: Path
) -> None:
    kernel, venue, coid = acknowledged_then_down(make_venue, clock, tmp_path, down_s=GRACE_S + 1.0)
    exchange.script("GET", "/api/v3/openOrders", payload=[])
    not_found(exchange)
    account_holding(exchange, "0.00000000")

    report = kernel.reconcile_with_venue()
    assert [(p["client_order_id"], p["ended_as"]) for p in report.purged_at_venue] == [(coid, "EXPIRED")]
    assert report.unresolved == [] and kernel.open_orders() == []
    assert not venue.following()


def test_an_acknowledged_order_listed_part_filled_has_its_fill_booked_once(
    make_venue: Callable[..., CcxtVenue], exchange: RecordedExchange, clock: ManualClock, tmp_path: Path
) -> None:
    """Followed before it is asked about, then found part filled: reconciliation books the fill,
    and the adapter's next poll does not report it again (refused as a duplicate)."""
    kernel, venue, coid = acknowledged_then_down(make_venue, clock, tmp_path, down_s=3.0)
    found = dict(
        exchange.fixture("binance/spot_query_limit_partial.json"),
        clientOrderId=CcxtVenue.venue_client_id(coid),
    )
    exchange.script("GET", "/api/v3/openOrders", payload=[found])
    exchange.script("GET", "/api/v3/myTrades", "binance/spot_trades_limit_partial.json")
    account_holding(exchange, "0.00800000")
    report = kernel.reconcile_with_venue()
    assert [m["qty"] for m in report.missed_fills] == [pytest.approx(0.008)]
    assert report.unresolved == [] and report.position_mismatches == []

    refused = kernel.stats()["venue_events_refused"]
    exchange.script("GET", "/api/v3/order", payload=found)
    exchange.script("GET", "/api/v3/myTrades", "binance/spot_trades_limit_partial.json")
    assert venue.poll_events() == []
    assert kernel.stats()["venue_events_refused"] == refused
    assert kernel.slot_state(0).size == pytest.approx(0.008) and venue.following()
