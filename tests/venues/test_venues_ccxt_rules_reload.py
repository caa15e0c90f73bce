"""CcxtVenue: a market's rules are loaded again, periodically (``market_rules_reload_s``) and when
the exchange refuses an order by a filter (Binance's -1013 "Filter failure"), so a changed tick or
lot is picked up: when Binance moves a market's lot step, every order on the old step would go out
and be refused, for good. The exchange
info is Binance's documented one (``fixtures/binance/spot_exchange_info.json``), its BTCUSDT
LOT_SIZE stepSize and minQty then raised to 0.001, as Binance does when it changes a market."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from recorded_exchange import RecordedExchange
from venue_helpers import ManualClock, make_order

from dita import KernelEventKind
from dita.venues import CcxtVenue

VenueFactory = Callable[..., CcxtVenue]


def _lot_raised(exchange: RecordedExchange) -> None:
    """From now on the exchange states BTCUSDT's lot step as 0.001 (it was 0.00001)."""
    info = exchange.fixture("binance/spot_exchange_info.json")
    [btc] = [s for s in info["symbols"] if s["symbol"] == "BTCUSDT"]
    [lot] = [f for f in btc["filters"] if f["filterType"] == "LOT_SIZE"]
    lot.update(stepSize="0.00100000", minQty="0.00100000")
    exchange.replace("GET", "/api/v3/exchangeInfo", info)


def test_a_filter_failure_reloads_the_rules_and_the_next_order_is_checked_by_them(
    make_venue: VenueFactory, exchange: RecordedExchange
) -> None:
    venue = make_venue(market_rules_reload_s=0)
    _lot_raised(exchange)
    exchange.script("POST", "/api/v3/order", "binance/error_filter_failure.json", status=400)
    [refused] = venue.submit(make_order("r1-entry-1", size=0.0155, reference_price=91000.0))
    assert refused.kind == KernelEventKind.REJECT
    assert "Filter failure: LOT_SIZE" in refused.reason
    assert refused.reason.endswith("; the market's rules were reloaded")
    assert venue.market_metadata()["BTCUSDT"].lot_step == 0.001

    # The same order now stops here, naming the new lot step, and one on it goes out.
    [off_lot] = venue.submit(make_order("r1-entry-2", size=0.0155, reference_price=91000.0))
    assert off_lot.kind == KernelEventKind.REJECT and "lot step" in off_lot.reason
    assert len(exchange.calls("POST", "/api/v3/order")) == 1
    exchange.script("POST", "/api/v3/order", "binance/spot_order_market_buy_full.json")
    sent = venue.submit(make_order("s1-entry-1", size=0.015, reference_price=91000.0))
    assert [e.kind for e in sent] == [KernelEventKind.ORDER_ACK, KernelEventKind.FILL, KernelEventKind.FILL]
    assert exchange.calls("POST", "/api/v3/order")[-1].params["quantity"] == "0.015"


def test_filter_failures_in_a_row_reload_the_rules_once_a_minute(
    make_venue: VenueFactory, exchange: RecordedExchange, clock: ManualClock
) -> None:
    venue = make_venue(market_rules_reload_s=0)
    loads = len(exchange.calls("GET", "/api/v3/exchangeInfo"))
    for n in range(3):
        exchange.script("POST", "/api/v3/order", "binance/error_filter_failure.json", status=400)
        venue.submit(make_order(f"r1-entry-{n + 1}", size=0.015, reference_price=91000.0))
    assert len(exchange.calls("GET", "/api/v3/exchangeInfo")) == loads + 1
    clock.advance(60.0)
    exchange.script("POST", "/api/v3/order", "binance/error_filter_failure.json", status=400)
    [refused] = venue.submit(make_order("r1-entry-4", size=0.015, reference_price=91000.0))
    assert refused.reason.endswith("; the market's rules were reloaded")
    assert len(exchange.calls("GET", "/api/v3/exchangeInfo")) == loads + 2


def test_another_refusal_does_not_reload_the_rules(
    make_venue: VenueFactory, exchange: RecordedExchange
) -> None:
    venue = make_venue(market_rules_reload_s=0)
    loads = len(exchange.calls("GET", "/api/v3/exchangeInfo"))
    exchange.script("POST", "/api/v3/order", "binance/error_insufficient_balance.json", status=400)
    [refused] = venue.submit(make_order("r1-entry-1", size=0.015, reference_price=91000.0))
    assert "reloaded" not in refused.reason
    assert len(exchange.calls("GET", "/api/v3/exchangeInfo")) == loads


@pytest.mark.parametrize(("every_s", "reloads"), [(3600.0, True), (0.0, False)])
def test_the_rules_are_reloaded_at_a_submit_once_the_setting_has_passed(
    make_venue: VenueFactory, exchange: RecordedExchange, clock: ManualClock, every_s: float, reloads: bool
) -> None:
    venue = make_venue(market_rules_reload_s=every_s)
    _lot_raised(exchange)
    off_new_lot = make_order("r1-entry-1", size=0.0155, reference_price=91000.0, side="SELL")
    clock.advance(3599.0)
    venue.submit(make_order("r1-entry-0", asset="XRPUSDT", size=1.0))  # refused unsent, no reload yet
    assert venue.market_metadata()["BTCUSDT"].lot_step == 0.00001
    clock.advance(1.0)
    if not reloads:
        assert (
            venue.submit(make_order("r1-entry-0", asset="XRPUSDT", size=1.0))[0].kind
            == KernelEventKind.REJECT
        )
        assert venue.market_metadata()["BTCUSDT"].lot_step == 0.00001
        return
    [refused] = venue.submit(off_new_lot)
    assert refused.kind == KernelEventKind.REJECT and "lot step" in refused.reason
    assert venue.market_metadata()["BTCUSDT"].lot_step == 0.001
    assert exchange.calls("POST", "/api/v3/order") == []


def test_a_reload_that_fails_keeps_the_rules_and_waits_a_minute(
    make_venue: VenueFactory, exchange: RecordedExchange, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    venue = make_venue()
    exchange.replace("GET", "/api/v3/exchangeInfo", {"code": -1001, "msg": "Internal error."}, status=500)
    clock.advance(3600.0)
    exchange.script("POST", "/api/v3/order", "binance/spot_order_market_buy_full.json", repeat=True)
    with caplog.at_level(logging.WARNING, logger="dita.venues.ccxt"):
        venue.submit(make_order("s1-entry-1", size=0.015, reference_price=91000.0))
        venue.submit(make_order("s1-entry-2", size=0.015, reference_price=91000.0))
    assert "market rules not reloaded" in caplog.text
    assert venue.market_metadata()["BTCUSDT"].lot_step == 0.00001
    assert len(exchange.calls("GET", "/api/v3/exchangeInfo")) == 2  # the first load, one retry


def test_a_ban_answering_a_reload_holds_the_order_and_the_next(
    make_venue: VenueFactory, exchange: RecordedExchange, clock: ManualClock
) -> None:
    """A ban answering the markets request bans every request after it: the order that
    reloaded is not sent, and neither is the next, until the ban ends."""
    venue = make_venue(market_rules_reload_s=3600)
    clock.advance(3600.0)
    exchange.script(
        "GET",
        "/api/v3/exchangeInfo",
        "binance/error_ip_banned.json",
        status=418,
        headers={"Retry-After": "7200"},
        replace=True,
    )
    order = make_order("b1-entry-1", size=0.015, reference_price=91000.0)
    assert [e.kind for e in venue.submit(order)] == [KernelEventKind.RATE_LIMITED]
    clock.advance(60.0)
    assert [e.kind for e in venue.submit(order)] == [KernelEventKind.RATE_LIMITED]
    assert exchange.calls("POST", "/api/v3/order") == []
