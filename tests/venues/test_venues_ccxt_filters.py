"""CcxtVenue: every filter of a market is checked before an order is sent, the refusal naming the
filter and the values. The lot step, tick size, minQty and minNotional were the only rules checked
(by the kernel, and the exchange's rounding here): an order above LOT_SIZE's maxQty, a market order
off MARKET_LOT_SIZE, a notional above NOTIONAL's maxNotional, a price outside PRICE_FILTER or
PERCENT_PRICE_BY_SIDE's band, or one more order than MAX_NUM_ORDERS went out, to be refused by
the exchange (-1013 "Filter failure"). The filters are Binance's documented exchangeInfo filters
(``fixtures/binance/spot_exchange_info.json``, ``usdm_exchange_info.json``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from recorded_exchange import RecordedExchange
from venue_helpers import make_order

from dita import KernelEventKind, VenueOrderStatus
from dita.venues import CcxtVenue
from dita.venues.ccxt.filters import MarketFilters, market_filters

VenueFactory = Callable[..., CcxtVenue]

# BTCUSDT's spot filters: LOT_SIZE maxQty 9000, MARKET_LOT_SIZE maxQty 85.83511249, NOTIONAL
# maxNotional 9,000,000 (not applied to market orders), PRICE_FILTER 0.01..1,000,000,
# PERCENT_PRICE_BY_SIDE 0.2..5 x the average price either side.
REFUSED = [
    (
        dict(order_type="LIMIT", price=100.0, size=9000.00001, reference_price=100.0),
        "LOT_SIZE of BTCUSDT: size 9000.00001 is above maxQty 9000.0",
    ),
    (
        dict(size=86.0, reference_price=91000.0),
        "MARKET_LOT_SIZE of BTCUSDT: market order size 86.0 is above maxQty 85.83511249",
    ),
    (
        dict(order_type="LIMIT", price=91000.0, size=100.0, reference_price=91000.0),
        "NOTIONAL of BTCUSDT: notional 9100000.0 (size 100.0 x price 91000.0) is above maxNotional 9000000.0",
    ),
    (
        dict(order_type="LIMIT", price=1000000.01, size=0.001),
        "PRICE_FILTER of BTCUSDT: price 1000000.01 is above maxPrice 1000000.0",
    ),
    (
        dict(order_type="LIMIT", price=500000.0, size=0.001, reference_price=91000.0),
        "PERCENT_PRICE_BY_SIDE of BTCUSDT: buy price 500000.0 is above 5.0 x the market price 91000.0",
    ),
    (
        dict(side="SELL", order_type="LIMIT", price=18000.0, size=0.001, reference_price=91000.0),
        "PERCENT_PRICE_BY_SIDE of BTCUSDT: sell price 18000.0 is below 0.2 x the market price 91000.0",
    ),
]


@pytest.mark.parametrize(("shape", "reason"), REFUSED, ids=[r.split(":")[0] for _, r in REFUSED])
def test_an_order_breaking_a_filter_is_refused_unsent_naming_it(
    make_venue: VenueFactory, exchange: RecordedExchange, shape: dict[str, Any], reason: str
) -> None:
    venue = make_venue()
    [refused] = venue.submit(make_order("f1-entry-1", **shape))
    assert (refused.kind, refused.status) == (KernelEventKind.REJECT, VenueOrderStatus.REJECTED)
    assert refused.reason.startswith(reason), refused.reason
    assert exchange.calls("POST", "/api/v3/order") == []


def test_a_market_orders_notional_is_not_capped_unless_the_filter_applies_it_to_market_orders(
    make_venue: VenueFactory, exchange: RecordedExchange
) -> None:
    exchange.script("POST", "/api/v3/order", "binance/spot_order_market_buy_full.json")
    venue = make_venue()
    # 85 x 110,000 is above maxNotional, but applyMaxToMarket is false: sent.
    events = venue.submit(make_order("s1-entry-1", size=85.0, reference_price=110000.0))
    assert KernelEventKind.REJECT not in [e.kind for e in events]
    assert len(exchange.calls("POST", "/api/v3/order")) == 1


def _btcusdt_filter(info: dict[str, Any], filter_type: str) -> dict[str, Any]:
    [market] = [s for s in info["symbols"] if s["symbol"] == "BTCUSDT"]
    [found] = [f for f in market["filters"] if f["filterType"] == filter_type]
    return found


def _with_filters(exchange: RecordedExchange, **changes: dict[str, Any]) -> None:
    """The spot exchange info with BTCUSDT's filters changed, answered from the start."""
    info = exchange.fixture("binance/spot_exchange_info.json")
    for filter_type, fields in changes.items():
        _btcusdt_filter(info, filter_type).update(fields)
    exchange.script("GET", "/api/v3/exchangeInfo", payload=info, repeat=True)


def test_a_market_orders_notional_is_capped_when_the_filter_applies_it_to_market_orders(
    make_venue: VenueFactory, exchange: RecordedExchange
) -> None:
    _with_filters(exchange, NOTIONAL={"applyMaxToMarket": True})
    venue = make_venue()
    [refused] = venue.submit(make_order("f1-entry-1", size=85.0, reference_price=110000.0))
    assert refused.kind == KernelEventKind.REJECT
    assert refused.reason == (
        "NOTIONAL of BTCUSDT: notional 9350000.0 (size 85.0 x reference price 110000.0) "
        "is above maxNotional 9000000.0"
    )
    assert exchange.calls("POST", "/api/v3/order") == []


def test_a_market_order_off_the_market_lot_step_is_refused(
    make_venue: VenueFactory, exchange: RecordedExchange
) -> None:
    _with_filters(exchange, MARKET_LOT_SIZE={"minQty": "0.00100000", "stepSize": "0.00100000"})
    venue = make_venue()
    # On LOT_SIZE's step (0.00001), off MARKET_LOT_SIZE's.
    [off_step] = venue.submit(make_order("f1-entry-1", size=0.0015, reference_price=91000.0))
    assert off_step.reason == (
        "MARKET_LOT_SIZE of BTCUSDT: market order size 0.0015 is not a multiple of stepSize 0.001"
    )
    [below] = venue.submit(make_order("f1-entry-2", size=0.0005, reference_price=91000.0))
    assert below.reason == "MARKET_LOT_SIZE of BTCUSDT: market order size 0.0005 is below minQty 0.001"
    assert exchange.calls("POST", "/api/v3/order") == []


def test_an_order_beyond_max_num_orders_is_refused(
    make_venue: VenueFactory, exchange: RecordedExchange
) -> None:
    _with_filters(exchange, MAX_NUM_ORDERS={"maxNumOrders": 1})
    venue = make_venue()
    exchange.script("POST", "/api/v3/order", "binance/spot_order_limit_new.json")
    first = venue.submit(make_order("s2-entry-1", order_type="LIMIT", price=90000.0, size=0.02))
    assert [e.kind for e in first] == [KernelEventKind.ORDER_ACK]
    [refused] = venue.submit(make_order("f1-entry-2", order_type="LIMIT", price=90000.0, size=0.02))
    assert refused.reason == (
        "MAX_NUM_ORDERS of BTCUSDT: 1 orders of this venue work there already, the most the "
        "exchange takes is maxNumOrders 1"
    )
    assert len(exchange.calls("POST", "/api/v3/order")) == 1


def test_a_futures_limit_price_outside_percent_price_is_refused(
    make_venue: VenueFactory, exchange: RecordedExchange
) -> None:
    venue = make_venue("linear")
    order = make_order("f1-entry-1", order_type="LIMIT", price=96000.0, size=0.01, reference_price=91000.0)
    [refused] = venue.submit(order)
    assert refused.reason.startswith(
        "PERCENT_PRICE of BTCUSDT: buy price 96000.0 is above 1.05 x the market price 91000.0"
    )
    [low] = venue.submit(make_order("f1-entry-2", order_type="LIMIT", price=261.0, size=1.0))
    assert low.reason == "PRICE_FILTER of BTCUSDT: price 261.0 is below minPrice 261.1"
    assert exchange.calls("POST", "/fapi/v1/order") == []


def test_a_market_stating_only_ccxts_limits_is_checked_by_them_named_so() -> None:
    market = {"id": "BTC-USD", "limits": {"amount": {"max": 10}, "price": {"min": 1, "max": 1e6}}}
    filters = market_filters(market)
    assert filters == MarketFilters("BTC-USD", max_qty=10.0, min_price=1.0, max_price=1e6)
    order = make_order("f1-entry-1", asset="BTC-USD", size=11.0)
    assert filters.refusal(order, 0) == "limits.amount.max of BTC-USD: size 11.0 is above maxQty 10.0"


def test_a_filter_figure_that_is_not_a_number_is_an_error_naming_it() -> None:
    market = {"id": "BTCUSDT", "info": {"filters": [{"filterType": "MARKET_LOT_SIZE", "stepSize": "x"}]}}
    with pytest.raises(ValueError, match=r"'BTCUSDT' field 'info.filters.MARKET_LOT_SIZE.stepSize': 'x'"):
        market_filters(market)
