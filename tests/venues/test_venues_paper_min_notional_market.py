"""A market order's minimum notional is judged at the market, not at its reference price.

The paper venue judged a MARKET order given a reference price at that reference: one priced
stale above the market passed a minimum notional the exchange, which judges it at the market,
refuses (0.05 at a reference of 500 with the ask at 100: 25 passed a floor of 10, and filled at
100 for 5); one priced below it was refused though the exchange takes it.
"""

from __future__ import annotations

from venue_helpers import make_order

from dita import KernelEventKind
from dita.risk import MarketLimits
from dita.venues import PaperVenue


def _venue() -> PaperVenue:
    limits = {"BTCUSDT": MarketLimits(lot_step=0.001, tick_size=0.1, min_qty=0.001, min_notional=10.0)}
    venue = PaperVenue(market_limits=limits)
    venue.on_quote("BTCUSDT", 99.9, 100.0, 5.0, 5.0, ts=1.0)
    return venue


def test_a_market_order_under_the_floor_at_the_quote_is_refused_whatever_its_reference() -> None:
    venue = _venue()
    buy = venue.submit(make_order("o1", size=0.05, reference_price=500.0))
    assert [e.kind for e in buy] == [KernelEventKind.REJECT]
    assert "min_notional" in buy[0].reason
    sell = venue.submit(make_order("o2", side="SELL", size=0.1, reference_price=500.0))
    assert [e.kind for e in sell] == [KernelEventKind.REJECT], "0.1 at the bid of 99.9 is 9.99"


def test_a_market_order_over_the_floor_at_the_quote_is_taken_whatever_its_reference() -> None:
    venue = _venue()
    events = venue.submit(make_order("o1", size=0.2, reference_price=1.0))
    assert [e.kind for e in events] == [KernelEventKind.ORDER_ACK, KernelEventKind.FILL]


def test_before_any_quote_a_market_order_is_judged_at_its_reference() -> None:
    limits = {"BTCUSDT": MarketLimits(min_notional=10.0)}
    venue = PaperVenue(market_limits=limits)
    assert [e.kind for e in venue.submit(make_order("o1", size=0.05, reference_price=100.0))] == [
        KernelEventKind.REJECT
    ]
    assert [e.kind for e in venue.submit(make_order("o2", size=0.2, reference_price=100.0))] == [
        KernelEventKind.ORDER_ACK
    ]
