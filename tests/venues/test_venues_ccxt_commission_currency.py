"""CcxtVenue: a commission paid in a third currency (BNB on Binance) is booked at its value in the
market's quote currency when a price of it is known: the adapter's last top of book of its market,
else the exchange's ticker. Left to the kernel's fee model, a fill was charged the model's estimate
(0.1% of the notional, say) where the exchange took 25% less paid in BNB, or nothing at all with a
zero-fee promotion. The trade is Binance's recorded one with its commission in BNB; BNBUSDT's
market and 24-hour ticker are in the shape Binance's documentation gives."""

from __future__ import annotations

import logging
from collections.abc import Callable
from types import SimpleNamespace

import pytest
from recorded_exchange import RecordedExchange
from venue_helpers import make_order

from dita.venues import CcxtVenue
from dita.venues.ccxt.fees import CommissionPrices, quote_fee

VenueFactory = Callable[..., CcxtVenue]


def _with_bnb_market(exchange: RecordedExchange) -> None:
    """The spot exchange info with a BNBUSDT market (ETHUSDT's filters), answered from the start."""
    info = exchange.fixture("binance/spot_exchange_info.json")
    [eth] = [s for s in info["symbols"] if s["symbol"] == "ETHUSDT"]
    info["symbols"].append({**eth, "symbol": "BNBUSDT", "baseAsset": "BNB"})
    exchange.script("GET", "/api/v3/exchangeInfo", payload=info, repeat=True)


def _fill_paid_in_bnb(venue: CcxtVenue, exchange: RecordedExchange) -> list:
    exchange.script("POST", "/api/v3/order", "binance/spot_order_limit_new.json")
    venue.submit(make_order("s2-entry-1", order_type="LIMIT", price=90000.0, size=0.02))
    trade = exchange.fixture("binance/spot_trades_limit_partial.json")[0]
    trade.update(commission="0.00087000", commissionAsset="BNB")  # 0.075% of 720 USDT at 620.5
    exchange.script("GET", "/api/v3/order", "binance/spot_query_limit_partial.json")
    exchange.script("GET", "/api/v3/myTrades", payload=[trade])
    return venue.poll_events()


def test_a_commission_in_bnb_is_booked_at_its_ticker_price(
    make_venue: VenueFactory, exchange: RecordedExchange
) -> None:
    _with_bnb_market(exchange)
    venue = make_venue()
    exchange.script("GET", "/api/v3/ticker/24hr", "binance/spot_ticker_24hr_bnb.json")
    [fill] = _fill_paid_in_bnb(venue, exchange)
    assert fill.fee == pytest.approx(0.00087 * 620.5)
    assert fill.metadata["fee_currency"] == "BNB" and fill.metadata["fee_native"] == pytest.approx(0.00087)
    assert (fill.metadata["fee_price"], fill.metadata["fee_price_market"]) == (620.5, "BNB/USDT")
    [asked] = exchange.calls("GET", "/api/v3/ticker/24hr")
    assert asked.params["symbol"] == "BNBUSDT"


def test_a_commission_in_bnb_is_booked_at_the_venues_last_top_of_book_without_asking(
    make_venue: VenueFactory, exchange: RecordedExchange
) -> None:
    _with_bnb_market(exchange)
    venue = make_venue()
    depth = {"lastUpdateId": 1, "bids": [["620.00000000", "3.0"]], "asks": [["621.00000000", "2.0"]]}
    exchange.script("GET", "/api/v3/depth", payload=depth)
    venue.fetch_top_of_book("BNBUSDT")
    [fill] = _fill_paid_in_bnb(venue, exchange)
    assert fill.fee == pytest.approx(0.00087 * 620.5)
    assert exchange.calls("GET", "/api/v3/ticker/24hr") == []


def test_a_commission_in_a_currency_no_price_is_known_of_is_left_to_the_model_with_a_warning(
    make_venue: VenueFactory, exchange: RecordedExchange, caplog: pytest.LogCaptureFixture
) -> None:
    venue = make_venue()  # the exchange lists no market between BNB and USDT
    with caplog.at_level(logging.WARNING, logger="dita.venues.ccxt"):
        [fill] = _fill_paid_in_bnb(venue, exchange)
    assert fill.fee is None  # the kernel's model prices it, as it did
    assert fill.metadata["fee_currency"] == "BNB"
    assert "paid its fee in BNB, and no price of BNB in USDT is known" in caplog.text


def test_a_commission_whose_price_the_exchange_does_not_give_is_left_to_the_model(
    make_venue: VenueFactory, exchange: RecordedExchange, caplog: pytest.LogCaptureFixture
) -> None:
    _with_bnb_market(exchange)
    venue = make_venue()
    exchange.script("GET", "/api/v3/ticker/24hr", "binance/error_too_many_requests.json", status=429)
    with caplog.at_level(logging.WARNING, logger="dita.venues.ccxt"):
        [fill] = _fill_paid_in_bnb(venue, exchange)
    assert fill.fee is None
    assert "no price of BNB in USDT is known" in caplog.text


def test_a_futures_commission_paid_in_bnb_warns_once_that_the_wallet_e_does_not_pay_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """On USD-M futures the BNB commission leaves the BNB wallet: the kernel charges it to its USDT
    capital (K, still in PnL), while the USDT wallet the account stream gives (E) never pays it,
    so E stays above K by it; the operator is told why once, not left with an unexplained WARN."""
    market = {"symbol": "BTC/USDT:USDT", "base": "BTC", "quote": "USDT", "settle": "USDT"}
    exchange = SimpleNamespace(
        market=lambda symbol: market, markets={"BTC/USDT:USDT": market, "BNB/USDT:USDT": {}}
    )
    client = SimpleNamespace(exchange=exchange, clock=lambda: 1_000.0, name="binance-linear")
    prices = CommissionPrices(client)  # type: ignore[arg-type]
    prices.note("BNB/USDT:USDT", 600.0)
    trade = {"symbol": "BTC/USDT:USDT", "fee": {"cost": 0.162, "currency": "BNB"}}
    with caplog.at_level(logging.WARNING, logger="dita.venues.ccxt"):
        for _ in range(2):
            fee, note = quote_fee("binance-linear", exchange, trade, 100_000.0, "trade 1", prices)
            assert fee == pytest.approx(97.2) and note["fee_currency"] == "BNB"
    told = [r.getMessage() for r in caplog.records if "wallet (E) does not pay them" in r.getMessage()]
    assert told == [
        "binance-linear: futures fees paid in BNB are charged to the kernel's capital in USDT (K), "
        "while the USDT wallet (E) does not pay them: E stays above K by them (docs: K and E)"
    ]
