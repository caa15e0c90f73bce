"""``CcxtVenue.trade_only``: the markets a venue trades, chosen among the exchange's markets
once they are loaded, as the ``markets`` setting chooses them, without loading them again."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from recorded_exchange import RecordedExchange
from venue_helpers import make_order

from dita import KernelEventKind
from dita.venues import CcxtVenue

VenueFactory = Callable[..., CcxtVenue]


def test_markets_chosen_after_loading_are_traded_as_the_markets_setting_and_loaded_once(
    make_venue: VenueFactory, exchange: RecordedExchange
) -> None:
    venue = make_venue()
    exchange.script("GET", "/api/v3/account", "binance/spot_account.json", repeat=True)
    with pytest.raises(RuntimeError, match="set markets"):
        venue.positions()

    venue.trade_only(["BTCUSDT"])
    assert venue.settings.markets == ["BTCUSDT"]
    assert venue.positions() == {"BTCUSDT": 0.035}
    [refused] = venue.submit(make_order("k-1", asset="ETHUSDT", size=0.5, reference_price=3_000.0))
    assert refused.kind == KernelEventKind.REJECT
    assert exchange.calls("POST", "/api/v3/order") == []
    assert len(exchange.calls("GET", "/api/v3/exchangeInfo")) == 1


def test_a_market_the_exchange_does_not_have_is_refused_naming_it_and_nothing_changes(
    make_venue: VenueFactory, exchange: RecordedExchange
) -> None:
    venue = make_venue()
    with pytest.raises(ValueError, match="'XYZUSDT' not among binance-spot's markets"):
        venue.trade_only(["BTCUSDT", "XYZUSDT"])
    with pytest.raises(ValueError, match="markets: names no market"):
        venue.trade_only([])
    assert venue.settings.markets is None
    venue.trade_only(["ETH/USDT"])  # the venue is still open
    exchange.script("GET", "/api/v3/account", "binance/spot_account.json")
    assert venue.positions() == {}


def test_the_markets_traded_are_not_chosen_after_an_order(
    make_venue: VenueFactory, exchange: RecordedExchange
) -> None:
    venue = make_venue()
    exchange.script("POST", "/api/v3/order", "binance/spot_order_market_buy_full.json")
    venue.submit(make_order("k-1", size=0.015))
    with pytest.raises(RuntimeError, match="before any order"):
        venue.trade_only(["BTCUSDT"])
    assert venue.settings.markets is None
