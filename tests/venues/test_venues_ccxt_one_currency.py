"""CcxtVenue trades markets of one quote (spot) or settle (futures) currency: the kernel counts its
capital, PnL, fees and caps in one currency, and a fill of SOLBTC would be booked at its price in
BTC into a USDT capital (2,000 SOL, 5 BTC, judged a notional of 5 by a 1,000 USDT cap). A
``markets`` setting of two currencies is refused when the venue is built, and with
``account_currency`` an entry in a market of another currency is rejected before sending. With
neither, kernels of different currencies may share the venue: entries in two currencies go out,
with a warning."""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable

import pytest
from recorded_exchange import RecordedExchange
from venue_helpers import make_order

from dita import KernelEventKind
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


def solbtc_answer(exchange: RecordedExchange, client_order_id: str) -> dict[str, object]:
    answer = exchange.fixture("binance/spot_order_market_buy_full.json")
    answer.update(symbol="SOLBTC", clientOrderId=client_order_id)
    return answer


def test_without_account_currency_or_markets_entries_in_two_currencies_go_out_with_one_warning(
    make_venue: VenueFactory, exchange: RecordedExchange, caplog: pytest.LogCaptureFixture
) -> None:
    """A venue shared by a kernel counting USDT and one counting BTC: each one's entries go out,
    and the operator is told once that the venue's entries are in two currencies."""
    with_solbtc(exchange)
    venue = make_venue()
    exchange.script("POST", "/api/v3/order", "binance/spot_order_market_buy_full.json")
    exchange.script("POST", "/api/v3/order", payload=solbtc_answer(exchange, "s2-entry-1"))
    exchange.script("POST", "/api/v3/order", payload=solbtc_answer(exchange, "s2-entry-2"))
    with caplog.at_level(logging.WARNING, logger="dita.venues.ccxt"):
        (first,) = venue.submit(make_order("s1-entry-1", size=0.015))[:1]
        assert not [r for r in caplog.records if "more than one" in r.getMessage()]
        second = venue.submit(make_order("s2-entry-1", asset="SOLBTC", size=2.0, reference_price=0.0025))
        third = venue.submit(make_order("s2-entry-2", asset="SOLBTC", size=2.0, reference_price=0.0025))
    assert KernelEventKind.REJECT not in {first.kind, second[0].kind, third[0].kind}
    assert len(exchange.calls("POST", "/api/v3/order")) == 3
    (warning,) = [r.getMessage() for r in caplog.records if "more than one" in r.getMessage()]
    assert "quote currency (BTC, USDT; 'SOLBTC', the market SOL/BTC, is in BTC)" in warning
    assert "set account_currency or the markets setting" in warning


def test_an_entry_the_exchange_refused_does_not_fix_the_venues_currency(
    make_venue: VenueFactory, exchange: RecordedExchange
) -> None:
    """Nothing was bought in BTC, so nothing of the account is counted in it: the entry in USDT,
    the capital's currency, goes out."""
    with_solbtc(exchange)
    venue = make_venue()
    exchange.script("POST", "/api/v3/order", "binance/error_insufficient_balance.json", status=400)
    (refused,) = venue.submit(make_order("s1-entry-1", asset="SOLBTC", size=2.0, reference_price=0.0025))
    assert refused.kind == KernelEventKind.REJECT and "insufficient balance" in refused.reason
    exchange.script("POST", "/api/v3/order", "binance/spot_order_market_buy_full.json")
    (event,) = venue.submit(make_order("s1-entry-2", size=0.015))[:1]
    assert event.kind != KernelEventKind.REJECT, event.reason


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
