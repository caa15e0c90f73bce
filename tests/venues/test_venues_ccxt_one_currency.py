"""CcxtVenue trades markets of one quote (spot) or settle (futures) currency: the kernel counts its
capital, PnL, fees and caps in one currency, and a fill of SOLBTC would be booked at its price in
BTC into a USDT capital (2,000 SOL, 5 BTC, judged a notional of 5 by a 1,000 USDT cap). A
``markets`` setting of two currencies is refused when the venue is built; without one, an entry
in a market of another currency than the capital's is rejected before sending."""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest
from recorded_exchange import RecordedExchange
from venue_helpers import make_order

from dita import KernelEventKind, VenueOrderStatus
from dita.venues import CcxtVenue

VenueFactory = Callable[..., CcxtVenue]


def with_solbtc(exchange: RecordedExchange) -> None:
    """Answer the markets requests with SOLBTC (quoted in BTC) beside the recorded USDT markets."""
    info = exchange.fixture("binance/spot_exchange_info.json")
    solbtc = copy.deepcopy(next(s for s in info["symbols"] if s["symbol"] == "ETHUSDT"))
    solbtc.update(symbol="SOLBTC", baseAsset="SOL", quoteAsset="BTC")
    for rule in solbtc["filters"]:
        if rule["filterType"] == "PRICE_FILTER":
            rule.update(minPrice="0.00001000", tickSize="0.00001000")
        if rule["filterType"] == "NOTIONAL":
            rule.update(minNotional="0.00010000")
    info["symbols"].append(solbtc)
    exchange.script("GET", "/api/v3/exchangeInfo", payload=info, repeat=True)


def test_a_venue_over_markets_of_two_quote_currencies_is_refused_naming_each(
    make_venue: VenueFactory, exchange: RecordedExchange
) -> None:
    with_solbtc(exchange)
    with pytest.raises(ValueError, match=r"quote currencies differ: 'ETHUSDT' in USDT, 'SOLBTC' in BTC"):
        make_venue(markets=["ETHUSDT", "SOLBTC"])


def test_a_venue_whose_markets_are_not_in_the_account_currency_is_refused(
    make_venue: VenueFactory, exchange: RecordedExchange
) -> None:
    with pytest.raises(ValueError, match=r"account_currency 'USDC' differ: 'BTCUSDT' in USDT"):
        make_venue(markets=["BTCUSDT"], account_currency="USDC")


def test_trade_only_refuses_markets_of_two_quote_currencies(
    make_venue: VenueFactory, exchange: RecordedExchange
) -> None:
    with_solbtc(exchange)
    venue = make_venue()
    with pytest.raises(ValueError, match="quote currencies differ"):
        venue.trade_only(["ETHUSDT", "SOLBTC"])
    assert venue.settings.markets is None


def test_without_markets_an_entry_in_another_currency_than_the_first_entered_is_rejected_unsent(
    make_venue: VenueFactory, exchange: RecordedExchange
) -> None:
    with_solbtc(exchange)
    venue = make_venue()
    exchange.script("POST", "/api/v3/order", "binance/spot_order_market_buy_full.json")
    venue.submit(make_order("s1-entry-1", size=0.015))
    (event,) = venue.submit(make_order("s1-entry-2", asset="SOLBTC", size=2_000.0, reference_price=0.0025))
    assert (event.kind, event.status) == (KernelEventKind.REJECT, VenueOrderStatus.REJECTED)
    assert "quote currency is BTC" in event.reason
    assert "counts its capital in USDT" in event.reason and "'BTCUSDT', traded first" in event.reason
    assert len(exchange.calls("POST", "/api/v3/order")) == 1


def test_without_markets_an_entry_outside_the_account_currency_is_rejected_unsent(
    make_venue: VenueFactory, exchange: RecordedExchange
) -> None:
    with_solbtc(exchange)
    venue = make_venue(account_currency="USDT")
    (event,) = venue.submit(make_order("s1-entry-1", asset="SOLBTC", size=2_000.0, reference_price=0.0025))
    assert event.kind == KernelEventKind.REJECT
    assert "counts its capital in USDT (the account_currency setting)" in event.reason
    assert exchange.calls("POST", "/api/v3/order") == []


def test_an_exit_in_another_currency_goes_out_so_a_position_is_never_kept_from_closing(
    make_venue: VenueFactory, exchange: RecordedExchange
) -> None:
    with_solbtc(exchange)
    venue = make_venue(account_currency="USDT")
    answer = exchange.fixture("binance/spot_order_market_buy_full.json")
    answer.update(symbol="SOLBTC", clientOrderId="s1-exit-1", side="SELL")
    exchange.script("POST", "/api/v3/order", payload=answer)
    events = venue.submit(
        make_order("s1-exit-1", asset="SOLBTC", side="SELL", size=1.0, reference_price=0.0025, is_entry=False)
    )
    assert events and events[0].kind != KernelEventKind.REJECT, events[0].reason
    assert len(exchange.calls("POST", "/api/v3/order")) == 1
