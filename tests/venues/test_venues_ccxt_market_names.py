"""A ccxt market is taken under its market id (``BTCUSDT``) and its ccxt symbol (``BTC/USDT``),
while the kernel keys market rules, per-asset caps and positions by the asset's text: the
rules are given under both names, and entries go under one name per market."""

from __future__ import annotations

from collections.abc import Callable

from recorded_exchange import RecordedExchange
from venue_helpers import make_order

from dita import ExecutionKernel, KernelEventKind, KernelIntent, VenueOrderStatus
from dita.venues import CcxtVenue

VenueFactory = Callable[..., CcxtVenue]


def test_market_rules_are_given_under_the_market_id_and_the_ccxt_symbol(make_venue: VenueFactory) -> None:
    venue = make_venue()
    limits = venue.market_metadata()
    assert set(limits) == {"BTCUSDT", "BTC/USDT", "ETHUSDT", "ETH/USDT", "DOGEUSDT", "DOGE/USDT"}
    assert limits["BTC/USDT"] == limits["BTCUSDT"] and limits["BTC/USDT"].min_notional == 5.0
    futures = make_venue("linear").market_metadata()
    assert futures["BTC/USDT:USDT"] == futures["BTCUSDT"] and futures["BTCUSDT"].min_notional == 100.0

    # A kernel given them refuses an entry below the minimum notional under either name.
    kernel = ExecutionKernel(max_slots=2, kernel_id="k")
    for asset, rules in limits.items():
        kernel.set_market_limits(asset, rules.model_dump())
    for slot, asset in enumerate(("BTCUSDT", "BTC/USDT")):
        tiny = KernelIntent(f"i{slot}", f"t{slot}", slot, asset, "LONG", "ENTER", 91_000.0, 0.00001)
        refused = kernel.process_intent(tiny)
        assert not refused.accepted and refused.diagnostic_code.name == "BELOW_MIN_NOTIONAL", asset


def test_an_entry_under_a_second_name_of_a_market_traded_here_is_refused_naming_both(
    make_venue: VenueFactory, exchange: RecordedExchange
) -> None:
    """Under a second name the kernel would give the market a second per-asset cap and a
    second position. Exits go under any name: a position is never kept from closing."""
    venue = make_venue()
    exchange.script("POST", "/api/v3/order", "binance/spot_order_market_buy_full.json")
    assert venue.submit(make_order("k-1", size=0.015, reference_price=91_000.0))[-1].status == (
        VenueOrderStatus.FILLED
    )
    [refused] = venue.submit(make_order("k-2", asset="BTC/USDT", size=0.015, reference_price=91_000.0))
    assert refused.kind == KernelEventKind.REJECT and refused.status == VenueOrderStatus.REJECTED
    assert refused.reason == (
        "'BTC/USDT' is the market BTC/USDT on binance-spot, entered here as 'BTCUSDT': the kernel "
        "keeps a per-asset cap and a position for each asset name, so enter it as 'BTCUSDT'"
    )
    assert len(exchange.calls("POST", "/api/v3/order")) == 1

    exchange.script("POST", "/api/v3/order", "binance/spot_order_market_buy_full.json")
    venue.submit(make_order("k-3", asset="BTC/USDT", side="SELL", size=0.015, is_entry=False))
    assert len(exchange.calls("POST", "/api/v3/order")) == 2
    # Another market's first entry names it as it likes.
    exchange.script("POST", "/api/v3/order", "binance/spot_order_market_buy_full.json")
    venue.submit(make_order("k-4", asset="ETH/USDT", size=0.5, reference_price=3_000.0))
    assert len(exchange.calls("POST", "/api/v3/order")) == 3
