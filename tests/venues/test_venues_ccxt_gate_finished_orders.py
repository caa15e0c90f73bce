"""CcxtVenue on Gate: its single-order query finds an order by its client id (Gate's ``text``) only
while it works ("Only order ID can be used after the order is finished"). A finished order is
asked for by its exchange id when known, else found in Gate's list of finished orders; "no
such order" is only said where that list reaches back past the order."""

from __future__ import annotations

import pytest
import test_venues_ccxt
from recorded_exchange import RecordedExchange
from venue_helpers import HOLD, ManualClock, make_order

from dita import VenueOrder
from dita.venues import CcxtVenue, VenueTimeout, VenueUnavailable

gate_venue = test_venues_ccxt.gate_venue

_ORDER_ID = "1852454999"
_MISSING = {"label": "ORDER_NOT_FOUND", "message": "Order not found"}


def _order(clock: ManualClock) -> VenueOrder:
    return make_order(
        "s2-entry-1", asset="BTC_USDT", order_type="LIMIT", price=90000.0, size=0.02, timestamp=clock()
    )


def _gate_order(text: str, order_id: str = _ORDER_ID, **fields: str) -> dict:
    """A limit buy of 0.02 at 90000 as Gate's spot API gives it, filled whole unless ``fields`` say."""
    return {
        "id": order_id, "text": text, "create_time_ms": "1763679601000", "update_time_ms": "1763679601001",
        "status": "closed", "finish_as": "filled", "currency_pair": "BTC_USDT", "type": "limit",
        "account": "spot", "side": "buy", "amount": "0.02", "price": "90000", "time_in_force": "gtc",
        "left": "0", "filled_amount": "0.02", "filled_total": "1800", "avg_deal_price": "90000",
        **fields,
    }  # fmt: skip


def _gate_trade(order_id: str = _ORDER_ID) -> dict:
    return {
        "id": "5001", "create_time_ms": "1763679601000.5", "currency_pair": "BTC_USDT", "side": "buy",
        "role": "taker", "amount": "0.02", "price": "90000", "order_id": order_id, "fee": "1.8",
        "fee_currency": "USDT", "point_fee": "0", "gt_fee": "0",
    }  # fmt: skip


def test_a_gate_submit_that_timed_out_and_filled_at_once_is_found_among_its_finished_orders(
    gate_venue: CcxtVenue, exchange: RecordedExchange
) -> None:
    """The order was placed and filled while its submit's answer was lost. Asked for by its
    ``text``, Gate no longer finds it; taken for "no such order", it was reported REJECT
    ("never reached the exchange") after the grace: the kernel freed the slot while the account
    held the position, its fill never booked. Gate's finished orders list it: its ack and fill."""
    order = _order(ManualClock())
    sent_as = gate_venue.listed_client_order_id(order)
    exchange.script("POST", "/api/v4/spot/orders", payload={}, delay=HOLD)
    exchange.script("GET", f"/api/v4/spot/orders/{sent_as}", payload=_MISSING, status=404)
    others = [_gate_order(f"t-other{n}", order_id=str(n)) for n in range(3)]
    exchange.script("GET", "/api/v4/spot/orders", payload=[*others, _gate_order(sent_as)])
    exchange.script("GET", "/api/v4/spot/my_trades", payload=[_gate_trade()])
    events = gate_venue.submit(order)
    assert [(e.kind.name, e.venue_order_id) for e in events] == [
        ("ORDER_ACK", f"BTC_USDT:{_ORDER_ID}"), ("FILL", f"BTC_USDT:{_ORDER_ID}")
    ]  # fmt: skip
    assert events[1].size == pytest.approx(0.02) and gate_venue.unresolved_orders() == []
    [listed] = exchange.calls("GET", "/api/v4/spot/orders")
    assert (listed.params["status"], listed.params["currency_pair"]) == ("finished", "BTC_USDT")


def test_the_status_of_a_gate_order_that_filled_is_its_fill_not_no_such_order(
    gate_venue: CcxtVenue, exchange: RecordedExchange, clock: ManualClock
) -> None:
    """Reconciliation asks ``order_status`` about an order no longer open. Asked for by its
    ``text``, a Gate order that filled was None, "no such order": reconciliation ended it as
    purged (EXPIRED, filled 0), its fill never booked. Followed, it is asked for by its exchange
    id; from before a restart (no record of it), found among the finished orders."""
    order = _order(clock)
    sent_as = gate_venue.listed_client_order_id(order)
    working = _gate_order(sent_as, status="open", finish_as="open", left="0.02", filled_amount="0",
                          filled_total="0", avg_deal_price="0")  # fmt: skip
    exchange.script("POST", "/api/v4/spot/orders", payload=working)
    assert [e.kind.name for e in gate_venue.submit(order)] == ["ORDER_ACK"]
    clock.advance(600.0)
    exchange.script("GET", f"/api/v4/spot/orders/{_ORDER_ID}", payload=_gate_order(sent_as))
    status = gate_venue.order_status(order.client_order_id, order.asset)
    assert status is not None and status.filled_size == pytest.approx(0.02)
    assert exchange.calls("GET", f"/api/v4/spot/orders/{sent_as}") == []

    restarted = CcxtVenue(**{**gate_venue.settings.model_dump(), "clock": clock, "sleep": clock.sleep})
    try:
        exchange.script("GET", f"/api/v4/spot/orders/{sent_as}", payload=_MISSING, status=404)
        exchange.script("GET", "/api/v4/spot/orders", payload=[_gate_order(sent_as)])
        status = restarted.order_status(order.client_order_id, order.asset)
    finally:
        restarted.close()
    assert status is not None and status.filled_size == pytest.approx(0.02)
    assert status.venue_order_id == f"BTC_USDT:{_ORDER_ID}"


def test_a_gate_order_beyond_the_page_of_finished_orders_searched_is_not_said_never_placed(
    gate_venue: CcxtVenue, exchange: RecordedExchange, clock: ManualClock
) -> None:
    """Gate's finished orders are searched a page (100, newest first) deep: a full page without
    the order leaves it unknown whether Gate has it, and it is not reported REJECT however long
    that lasts; a page that is not full, and lacks it, says it never reached Gate."""
    order = _order(clock)
    sent_as = gate_venue.listed_client_order_id(order)
    full = [_gate_order(f"t-other{n}", order_id=str(n)) for n in range(100)]
    exchange.script("POST", "/api/v4/spot/orders", payload={}, delay=HOLD)
    exchange.script("GET", f"/api/v4/spot/orders/{sent_as}", payload=_MISSING, status=404, repeat=True)
    exchange.script("GET", "/api/v4/spot/orders", payload=full, repeat=True)
    with pytest.raises(VenueTimeout):
        gate_venue.submit(order)
    events = []
    for _ in range(3):
        clock.advance(60.0)
        events += gate_venue.poll_events()
    assert events == [] and gate_venue.unresolved_orders() == [order.client_order_id]
    with pytest.raises(VenueUnavailable, match="whether it has the order is unknown"):
        gate_venue.order_status(order.client_order_id, order.asset)

    exchange.script("GET", "/api/v4/spot/orders", payload=full[:99], replace=True, repeat=True)
    for _ in range(3):
        clock.advance(60.0)
        events += gate_venue.poll_events()
    assert [e.kind.name for e in events] == ["REJECT"]
