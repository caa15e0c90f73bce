"""CcxtVenue: an exchange's time past the last one a datetime holds (a time in microseconds, not
milliseconds) is read as no time. The kernel refuses such a time, and the event or order stamped
with it could not be made: each poll of the order raised, so its fill was never reported, and a
listing of the exchange's orders raised for reconciliation."""

from __future__ import annotations

from collections.abc import Callable

from recorded_exchange import RecordedExchange
from venue_helpers import HOLD, ManualClock, make_order

from dita import VenueOrderStatus
from dita.venues import CcxtVenue, VenueTimeout

VenueFactory = Callable[..., CcxtVenue]
IN_MICROSECONDS = 1_763_679_660_000_000


def test_an_order_answer_timed_in_microseconds_is_reported_at_the_poll_s_time(
    make_venue: VenueFactory, exchange: RecordedExchange, clock: ManualClock
) -> None:
    venue = make_venue(resolve_attempts=1)
    exchange.script("POST", "/api/v3/order", "binance/spot_order_limit_new.json", delay=HOLD)
    exchange.script("GET", "/api/v3/order", "binance/error_order_does_not_exist.json", status=400)
    order = make_order("s7-entry-1", asset="ETHUSDT", order_type="LIMIT", price=2900.0, size=0.5)
    try:
        venue.submit(order)
    except VenueTimeout:
        pass
    clock.advance(1.0)
    answer = exchange.fixture("binance/spot_query_timeout_new.json")
    answer["time"] = answer["updateTime"] = answer["workingTime"] = IN_MICROSECONDS
    exchange.script("GET", "/api/v3/order", payload=answer)
    (ack,) = venue.poll_events()
    assert ack.kind.name == "ORDER_ACK" and ack.timestamp_s == clock()


def test_an_order_listed_with_a_time_in_microseconds_is_listed_without_one(
    make_venue: VenueFactory, exchange: RecordedExchange
) -> None:
    venue = make_venue()
    listed = exchange.fixture("binance/spot_open_orders.json")
    listed[0]["time"] = listed[0]["updateTime"] = listed[0]["workingTime"] = IN_MICROSECONDS
    exchange.script("GET", "/api/v3/openOrders", payload=listed)
    (working,) = venue.open_orders()
    assert working.venue_order_id == "BTCUSDT:28457200"
    assert working.status == VenueOrderStatus.PARTIALLY_FILLED and working.created_at < 253_402_300_799
