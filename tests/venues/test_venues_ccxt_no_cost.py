"""CcxtVenue: an order answer stating a cost below 0, Binance's "no figure" (its
``cummulativeQuoteQty`` of some orders is -1: "the data is not available"), has no average fill
price. Read as one, its average was negative, and the VenueOrder built from it was refused:
``order_status`` and ``open_orders`` raised "invalid avg_fill_price: -50 (must not be negative)",
naming no order, so reconciliation could not book the order's fill (nor start, for a listing)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from recorded_exchange import RecordedExchange

from dita import VenueOrderStatus
from dita.venues import CcxtVenue

VenueFactory = Callable[..., CcxtVenue]


def test_order_status_of_an_order_answered_without_a_cost_has_no_average(
    make_venue: VenueFactory, exchange: RecordedExchange
) -> None:
    venue = make_venue()
    answer = exchange.fixture("binance/spot_query_limit_filled.json")
    answer["cummulativeQuoteQty"] = "-1.00000000"
    exchange.script("GET", "/api/v3/order", payload=answer)
    order = venue.order_status("s2-entry-1", "BTCUSDT")
    assert order is not None
    assert (order.status, order.venue_order_id) == (VenueOrderStatus.FILLED, "BTCUSDT:28457200")
    # No average: reconciliation prices the fill by the order's limit (or its reference).
    assert (order.filled_size, order.avg_fill_price, order.price) == (pytest.approx(0.02), 0.0, 90000.0)


def test_open_orders_list_an_order_answered_without_a_cost(
    make_venue: VenueFactory, exchange: RecordedExchange
) -> None:
    venue = make_venue()
    listed = exchange.fixture("binance/spot_open_orders.json")
    listed[0]["cummulativeQuoteQty"] = "-1.00000000"
    exchange.script("GET", "/api/v3/openOrders", payload=listed)
    (working,) = venue.open_orders()
    assert working.venue_order_id == "BTCUSDT:28457200"
    assert (working.filled_size, working.avg_fill_price) == (pytest.approx(0.008), 0.0)
    assert working.status == VenueOrderStatus.PARTIALLY_FILLED


def test_an_average_the_answer_states_stands(make_venue: VenueFactory, exchange: RecordedExchange) -> None:
    venue = make_venue()
    exchange.script("GET", "/api/v3/openOrders", "binance/spot_open_orders.json")
    (working,) = venue.open_orders()
    assert working.avg_fill_price == pytest.approx(90000.0)  # 720 USDT for 0.008
