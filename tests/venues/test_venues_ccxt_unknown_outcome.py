"""CcxtVenue: an exchange's answer that its request failed on its side (a timeout, a system
error), whatever class ccxt gives it, leaves the request's outcome unknown: the order is looked
up, not taken as refused. Bybit answers such failures in the body of an HTTP 200 (``retCode``),
which ccxt raises as a bare ExchangeError or an InvalidOrder."""

from __future__ import annotations

import pytest
import test_venues_ccxt
from recorded_exchange import RecordedExchange
from test_venues_ccxt import (
    _BYBIT_ORDER_ID,
    _bybit,
    _bybit_limit_buy,
    _bybit_list,
    _bybit_order,
    script_bybit_found_filled,
)

from dita import VenueOrderStatus
from dita.venues import CcxtVenue

# Bybit's codes for a request its servers did not see through (ccxt: ExchangeError, InvalidOrder).
_SUBMIT_UNSEEN_THROUGH = [
    (5004, "Server Timeout"),
    (10016, "System error. Please try again later."),
    (170001, "Internal error."),
    (170146, "Order creation timeout"),
]


# A Bybit spot venue on a unified account: test_venues_ccxt's fixture, taken as it is.
bybit_venue = test_venues_ccxt.bybit_venue


def _failed(code: int, message: str) -> dict:
    return {"retCode": code, "retMsg": message, "result": {}, "retExtInfo": {}, "time": 1763679600000}


@pytest.mark.parametrize(("code", "message"), _SUBMIT_UNSEEN_THROUGH)
def test_a_bybit_submit_answered_with_a_server_failure_is_looked_up_not_rejected(
    bybit_venue: CcxtVenue, exchange: RecordedExchange, code: int, message: str
) -> None:
    """Bybit answered the order with a server timeout, yet placed it, and it filled. Taken for a
    refusal, the order was reported REJECT: the kernel freed its slot while the order worked at
    the exchange, and its fill was never booked. It is looked up by its orderLinkId, as a
    submit that timed out is, and found: its ack and fill."""
    exchange.script("POST", "/v5/order/create", payload=_failed(code, message))
    script_bybit_found_filled(exchange)
    events = bybit_venue.submit(_bybit_limit_buy())
    assert [(e.kind.name, e.venue_order_id) for e in events] == [
        ("ORDER_ACK", f"BTCUSDT:{_BYBIT_ORDER_ID}"),
        ("FILL", f"BTCUSDT:{_BYBIT_ORDER_ID}"),
    ]
    assert events[1].status == VenueOrderStatus.FILLED and events[1].size == pytest.approx(0.02)
    [lookup] = exchange.calls("GET", "/v5/order/history")
    assert lookup.params["orderLinkId"] == "s2-entry-1"


def test_a_bybit_cancel_answered_with_a_timeout_is_looked_up_not_refused(
    bybit_venue: CcxtVenue, exchange: RecordedExchange
) -> None:
    """Bybit answered a cancel "Order cancellation timeout", yet canceled the order. Taken for a
    refusal, it was a CANCEL_REJECT saying the order still worked. It is looked up: canceled."""
    exchange.script(
        "POST", "/v5/order/create", payload=_bybit({"orderId": _BYBIT_ORDER_ID, "orderLinkId": "s2-entry-1"})
    )
    order = _bybit_limit_buy()
    [ack] = bybit_venue.submit(order)
    exchange.script("POST", "/v5/order/cancel", payload=_failed(170147, "Order cancellation timeout"))
    exchange.script("GET", "/v5/order/realtime", payload=_bybit_list())
    exchange.script("GET", "/v5/order/history", payload=_bybit_list(_bybit_order("Cancelled", "0", "0")))
    [end] = bybit_venue.cancel(order)
    assert (end.kind.name, end.status, end.venue_order_id) == (
        "CANCEL_ACK", VenueOrderStatus.CANCELED, ack.venue_order_id
    )  # fmt: skip
    assert not bybit_venue.following()


def test_a_bybit_refusal_is_still_a_reject(bybit_venue: CcxtVenue, exchange: RecordedExchange) -> None:
    """A refusal (insufficient balance) is one: rejected at once, nothing looked up."""
    exchange.script("POST", "/v5/order/create", payload=_failed(170131, "Insufficient balance."))
    [reject] = bybit_venue.submit(_bybit_limit_buy())
    assert reject.kind.name == "REJECT" and "Insufficient balance" in reject.reason
    assert exchange.calls("GET", "/v5/order/history") == []
    assert bybit_venue.unresolved_orders() == []
