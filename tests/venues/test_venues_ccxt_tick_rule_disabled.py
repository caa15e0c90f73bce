"""Binance's PRICE_FILTER: "Any of the variables can be set to 0, which disables that rule" (spot
API docs, filters.md). With tickSize 0, ccxt's precision.price is 0: the kernel rounds no price
(tick_size 0), and the venue's own check of the exchange's rounding is skipped (ccxt's rounding
asserts on a step of 0), so a limit order goes out instead of being rejected unsent."""

from __future__ import annotations

from collections.abc import Callable

from recorded_exchange import RecordedExchange
from venue_helpers import make_order

from dita import VenueOrderStatus
from dita.venues import CcxtVenue

VenueFactory = Callable[..., CcxtVenue]


def _tick_rule_disabled(exchange: RecordedExchange) -> None:
    """The exchange's markets as recorded, BTCUSDT's PRICE_FILTER with tickSize 0."""
    info = exchange.fixture("binance/spot_exchange_info.json")
    for rule in info["symbols"][0]["filters"]:
        if rule["filterType"] == "PRICE_FILTER":
            rule.update(tickSize="0.00000000")
    exchange.script("GET", "/api/v3/exchangeInfo", payload=info)


def test_a_limit_order_on_a_market_whose_tick_rule_is_disabled_is_sent(
    make_venue: VenueFactory, exchange: RecordedExchange
) -> None:
    _tick_rule_disabled(exchange)
    exchange.script("POST", "/api/v3/order", "binance/spot_order_limit_new.json")
    venue = make_venue()
    assert venue.load_markets()["BTCUSDT"].tick_size == 0.0
    events = venue.submit(
        make_order(
            "tick0-1", order_type="LIMIT", price=90000.0, size=0.001, side="SELL", reference_price=90000.0
        )
    )
    assert events and events[0].status != VenueOrderStatus.REJECTED, events[0].reason
    assert len(exchange.calls("POST", "/api/v3/order")) == 1


def test_a_size_off_the_lot_is_still_refused_where_the_tick_rule_is_disabled(
    make_venue: VenueFactory, exchange: RecordedExchange
) -> None:
    _tick_rule_disabled(exchange)
    venue = make_venue()
    (event,) = venue.submit(
        make_order("tick0-2", order_type="LIMIT", price=90000.0, size=0.0011111111, reference_price=90000.0)
    )
    assert event.status == VenueOrderStatus.REJECTED and "lot step" in event.reason
    assert exchange.calls("POST", "/api/v3/order") == []
