"""PaperVenue: quotes and bars, slippage, partial fills, crossing rules, fees, latency."""

from __future__ import annotations

import json
import math
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from venue_helpers import make_order

from dita import KernelEventKind, VenueOrderStatus
from dita.risk import MarketLimits
from dita.venues import PaperVenue


def kinds(events: list) -> list[str]:
    return [e.kind.name for e in events]


def fills(events: list) -> list:
    return [e for e in events if e.kind == KernelEventKind.FILL]


# -- market orders against quotes ---------------------------------------------------------


def test_market_buy_takes_the_ask_with_slippage_and_taker_fee() -> None:
    venue = PaperVenue(slippage_bps=10, taker_rate=0.001)
    venue.on_quote("BTCUSDT", 99.0, 100.0, 5.0, 5.0, ts=10.0)
    events = venue.submit(make_order("o1", side="BUY", size=2.0))
    assert kinds(events) == ["ORDER_ACK", "FILL"]
    fill = events[1]
    assert fill.price == pytest.approx(100.0 * 1.001)
    assert (fill.size, fill.filled_size, fill.remaining_size) == (2.0, 2.0, 0.0)
    assert fill.status == VenueOrderStatus.FILLED
    assert fill.fee == pytest.approx(100.1 * 2.0 * 0.001)
    assert fill.metadata["liquidity"] == "TAKER"
    assert fill.timestamp_s == 10.0
    assert venue.positions() == {"BTCUSDT": 2.0}


def test_market_sell_takes_the_bid_with_slippage() -> None:
    venue = PaperVenue(slippage_bps=10)
    venue.on_quote("BTCUSDT", 99.0, 100.0, 5.0, 5.0, ts=10.0)
    fill = fills(venue.submit(make_order("o1", side="SELL", size=1.0)))[0]
    assert fill.price == pytest.approx(99.0 * 0.999)
    assert venue.positions() == {"BTCUSDT": -1.0}


def test_market_order_bigger_than_the_quote_fills_partially_then_on_the_next_quotes() -> None:
    venue = PaperVenue(slippage_bps=0)
    venue.on_quote("BTCUSDT", 99.0, 100.0, 5.0, 1.5, ts=1.0)
    events = venue.submit(make_order("o1", side="BUY", size=4.0))
    assert kinds(events) == ["ORDER_ACK", "FILL"]
    assert events[1].size == 1.5 and events[1].status == VenueOrderStatus.PARTIALLY_FILLED
    assert events[1].remaining_size == 2.5

    later = venue.on_quote("BTCUSDT", 100.0, 101.0, 5.0, 2.0, ts=2.0)
    assert [(f.price, f.size, f.filled_size) for f in later] == [(101.0, 2.0, 3.5)]
    last = venue.on_quote("BTCUSDT", 100.0, 102.0, 5.0, 9.0, ts=3.0)
    assert [(f.price, f.size, f.filled_size, f.status) for f in last] == [
        (102.0, 0.5, 4.0, VenueOrderStatus.FILLED)
    ]
    assert venue.on_quote("BTCUSDT", 100.0, 102.0, 5.0, 9.0, ts=4.0) == []
    assert venue.positions() == {"BTCUSDT": 4.0}


def test_market_remainder_expires_when_configured() -> None:
    venue = PaperVenue(slippage_bps=0, market_remainder="expire")
    venue.on_quote("BTCUSDT", 99.0, 100.0, 5.0, 1.5, ts=1.0)
    events = venue.submit(make_order("o1", side="BUY", size=4.0))
    assert kinds(events) == ["ORDER_ACK", "FILL", "EXPIRED"]
    assert events[2].filled_size == 1.5 and events[2].status == VenueOrderStatus.EXPIRED
    assert venue.open_orders() == []


def test_orders_between_quotes_share_the_quoted_size() -> None:
    venue = PaperVenue(slippage_bps=0)
    venue.on_quote("BTCUSDT", 99.0, 100.0, 5.0, 3.0, ts=1.0)
    first = fills(venue.submit(make_order("o1", size=2.0)))
    second = fills(venue.submit(make_order("o2", size=2.0)))
    assert [f.size for f in first] == [2.0]
    assert [f.size for f in second] == [1.0]  # only 1.0 was left at the ask


def test_market_order_before_any_quote_waits_for_one() -> None:
    venue = PaperVenue(slippage_bps=0)
    assert kinds(venue.submit(make_order("o1", size=1.0))) == ["ORDER_ACK"]
    events = venue.on_quote("BTCUSDT", 99.0, 100.0, 5.0, 5.0, ts=1.0)
    assert [(f.price, f.size) for f in events] == [(100.0, 1.0)]


# -- limit orders against quotes ------------------------------------------------------------


def test_resting_limit_buy_fills_only_when_the_ask_crosses_it_as_maker() -> None:
    venue = PaperVenue(slippage_bps=5, maker_rate=0.0002)
    venue.on_quote("BTCUSDT", 99.0, 100.0, 5.0, 5.0, ts=1.0)
    events = venue.submit(make_order("o1", order_type="LIMIT", price=98.0, size=1.0))
    assert kinds(events) == ["ORDER_ACK"]
    # A quote that does not reach the limit fills nothing.
    assert venue.on_quote("BTCUSDT", 97.5, 98.01, 5.0, 5.0, ts=3.0) == []
    crossed = venue.on_quote("BTCUSDT", 97.0, 98.0, 5.0, 0.4, ts=4.0)
    assert [(f.price, f.size, f.status) for f in crossed] == [(98.0, 0.4, VenueOrderStatus.PARTIALLY_FILLED)]
    assert crossed[0].metadata["liquidity"] == "MAKER"
    assert crossed[0].fee == pytest.approx(98.0 * 0.4 * 0.0002)
    rest = venue.on_quote("BTCUSDT", 96.0, 97.0, 5.0, 5.0, ts=5.0)
    # A resting order fills at its own price even when the market gaps through it.
    assert [(f.price, f.size, f.status) for f in rest] == [(98.0, 0.6, VenueOrderStatus.FILLED)]


def test_a_negative_maker_rate_pays_a_rebate_on_a_resting_fill() -> None:
    venue = PaperVenue(slippage_bps=0, taker_rate=0.0005, maker_rate=-0.00025, starting_balance=1_000.0)
    venue.on_quote("BTCUSDT", 99.0, 100.0, 5.0, 5.0, ts=1.0)
    venue.submit(make_order("o1", order_type="LIMIT", price=98.0, size=1.0))
    [fill] = venue.on_quote("BTCUSDT", 97.0, 98.0, 5.0, 5.0, ts=2.0)
    assert fill.metadata["liquidity"] == "MAKER"
    assert fill.fee == pytest.approx(-98.0 * 0.00025)
    assert venue.fees_paid == pytest.approx(-98.0 * 0.00025)
    # The rebate adds to the cash: 1,000 less the 98 paid, plus 0.0245.
    assert venue.balances()["USDT"] == pytest.approx(1_000.0 - 98.0 + 98.0 * 0.00025)
    # A taker fill still pays the taker rate.
    [taker] = fills(venue.submit(make_order("o2", side="SELL", size=1.0)))
    assert taker.fee == pytest.approx(97.0 * 0.0005)


def test_marketable_limit_is_a_taker_never_worse_than_its_limit() -> None:
    venue = PaperVenue(slippage_bps=100, taker_rate=0.001)
    venue.on_quote("BTCUSDT", 99.0, 100.0, 5.0, 5.0, ts=1.0)
    fill = fills(venue.submit(make_order("o1", order_type="LIMIT", price=100.5, size=1.0)))[0]
    assert fill.price == 100.5  # ask 100 + 1 % slippage would be 101, capped at the limit
    assert fill.metadata["liquidity"] == "TAKER"
    sell = fills(venue.submit(make_order("o2", side="SELL", order_type="LIMIT", price=98.5, size=1.0)))[0]
    assert sell.price == 98.5


def test_a_marketable_limit_cut_short_by_the_quoted_size_stays_a_taker_at_the_market() -> None:
    """A buy limit at 96 with the ask at 50 takes the 0.4 quoted, as a taker. Its remainder was
    then taken for resting: the next quote at 50 filled it at 96 as a maker, far above an ask no
    exchange lets a bid rest over. Still marketable, it takes the ask (no worse than its limit),
    as a taker, until the market moves past its limit: then it rests there."""
    venue = PaperVenue(slippage_bps=0, taker_rate=0.001, maker_rate=0.0)
    venue.on_quote("BTCUSDT", 49.0, 50.0, 5.0, 0.4, ts=1.0)
    first = fills(venue.submit(make_order("o1", order_type="LIMIT", price=96.0, size=2.0)))
    assert [(f.price, f.size, f.metadata["liquidity"]) for f in first] == [(50.0, 0.4, "TAKER")]
    more = venue.on_quote("BTCUSDT", 50.0, 51.0, 5.0, 0.6, ts=2.0)
    assert [(f.price, f.size, f.metadata["liquidity"]) for f in more] == [(51.0, 0.6, "TAKER")]
    assert more[0].fee == pytest.approx(51.0 * 0.6 * 0.001)
    # The market moves above the limit: the order rests at 96, and fills there as a maker
    # once the market comes back through it.
    assert venue.on_quote("BTCUSDT", 96.5, 97.0, 5.0, 5.0, ts=3.0) == []
    rest = venue.on_quote("BTCUSDT", 94.0, 95.0, 5.0, 5.0, ts=4.0)
    assert [(f.price, f.size, f.metadata["liquidity"]) for f in rest] == [(96.0, 1.0, "MAKER")]


def test_a_marketable_limit_cut_short_on_bars_takes_the_next_opens_as_a_taker() -> None:
    """On bars: a buy limit at 96 with the market at 50, cut short by the volume share, then
    a zero-volume bar. Its remainder filled at 96 as a maker on bars that never traded above 52."""
    venue = PaperVenue(slippage_bps=0, bar_volume_share=0.1, taker_rate=0.001, maker_rate=0.0)
    venue.on_bar("BTCUSDT", 50.0, 51.0, 49.0, 50.0, volume=10.0, ts=60.0)
    venue.submit(make_order("o1", order_type="LIMIT", price=96.0, size=3.0))
    first = venue.on_bar("BTCUSDT", 50.0, 52.0, 49.0, 51.0, volume=10.0, ts=120.0)
    assert [(f.price, f.size, f.metadata["liquidity"]) for f in first] == [(50.0, 1.0, "TAKER")]
    assert venue.on_bar("BTCUSDT", 51.0, 52.0, 49.0, 50.0, volume=0.0, ts=180.0) == []
    more = venue.on_bar("BTCUSDT", 51.0, 52.0, 49.0, 50.0, volume=100.0, ts=240.0)
    assert [(f.price, f.size, f.metadata["liquidity"]) for f in more] == [(51.0, 2.0, "TAKER")]
    assert more[0].fee == pytest.approx(51.0 * 2.0 * 0.001)


def test_resting_limit_sell_fills_when_the_bid_reaches_it() -> None:
    venue = PaperVenue()
    venue.on_quote("BTCUSDT", 99.0, 100.0, 5.0, 5.0, ts=1.0)
    venue.submit(make_order("o1", side="SELL", order_type="LIMIT", price=101.0, size=1.0))
    assert venue.on_quote("BTCUSDT", 100.5, 101.5, 5.0, 5.0, ts=2.0) == []
    events = venue.on_quote("BTCUSDT", 101.0, 101.5, 5.0, 5.0, ts=3.0)
    assert [(f.price, f.size) for f in events] == [(101.0, 1.0)]
    assert venue.positions() == {"BTCUSDT": -1.0}


# -- reduce-only orders ----------------------------------------------------------------------


def _long(size: float) -> PaperVenue:
    """A venue holding a long of ``size`` BTCUSDT bought at 100, the market 99 / 100."""
    venue = PaperVenue(slippage_bps=0, taker_rate=0.001, maker_rate=0.0)
    venue.on_quote("BTCUSDT", 99.0, 100.0, 50.0, 50.0, ts=1.0)
    assert kinds(venue.submit(make_order("entry", size=size))) == ["ORDER_ACK", "FILL"]
    return venue


def test_a_resting_reduce_only_sell_on_a_long_closed_meanwhile_never_opens_a_short() -> None:
    """The exit of a long rests as a limit; another order closes the long before the market
    reaches it. The venue filled the exit in full all the same, leaving a short no one asked
    for; an exchange expires it, as nothing is left for it to reduce."""
    venue = _long(1.0)
    exit_ = make_order("exit", side="SELL", order_type="LIMIT", price=101.0, size=1.0, reduce_only=True)
    assert kinds(venue.submit(exit_)) == ["ORDER_ACK"]
    assert kinds(venue.submit(make_order("other", side="SELL", size=1.0))) == ["ORDER_ACK", "FILL"]
    assert venue.positions() == {}
    cash = venue.balances()["USDT"]

    [expired] = venue.on_quote("BTCUSDT", 101.0, 101.5, 50.0, 50.0, ts=2.0)
    assert (expired.kind, expired.status) == (KernelEventKind.EXPIRED, VenueOrderStatus.EXPIRED)
    assert (expired.venue_client_id, expired.filled_size, expired.remaining_size) == ("exit", 0.0, 0.0)
    assert expired.reason == (
        "reduce-only sell: the BTCUSDT position is flat, nothing left to reduce; its remaining 1.0 "
        "would open a short (filled 0.0 of 1.0)"
    )
    assert venue.positions() == {} and venue.balances()["USDT"] == cash
    assert venue.open_orders() == []
    ended = venue.order_status("exit")
    assert ended is not None and (ended.status, ended.filled_size) == (VenueOrderStatus.EXPIRED, 0.0)


def test_a_resting_reduce_only_sell_on_a_long_that_shrank_fills_only_what_is_left() -> None:
    venue = _long(2.0)
    exit_ = make_order("exit", side="SELL", order_type="LIMIT", price=101.0, size=2.0, reduce_only=True)
    venue.submit(exit_)
    venue.submit(make_order("other", side="SELL", size=1.5))
    assert venue.positions() == {"BTCUSDT": 0.5}

    fill, expired = venue.on_quote("BTCUSDT", 101.0, 101.5, 50.0, 50.0, ts=2.0)
    assert (fill.kind, fill.status) == (KernelEventKind.FILL, VenueOrderStatus.PARTIALLY_FILLED)
    assert (fill.price, fill.size, fill.filled_size, fill.remaining_size) == (101.0, 0.5, 0.5, 1.5)
    assert (expired.kind, expired.filled_size) == (KernelEventKind.EXPIRED, 0.5)
    assert expired.reason.endswith("its remaining 1.5 would open a short (filled 0.5 of 2.0)")
    assert venue.positions() == {}
    # The cash is that of 2 bought at 100 and sold, 1.5 at 99 and 0.5 at 101, less the fees.
    assert venue.balances()["USDT"] == pytest.approx(-200.2 + 148.5 - 0.1485 + 50.5)


def test_a_reduce_only_buy_on_a_short_fills_to_flat_and_the_rest_expires() -> None:
    venue = PaperVenue(slippage_bps=0)
    venue.on_quote("BTCUSDT", 99.0, 100.0, 50.0, 50.0, ts=1.0)
    venue.submit(make_order("entry", side="SELL", size=1.0))
    events = venue.submit(make_order("exit", size=3.0, reduce_only=True))
    assert kinds(events) == ["ORDER_ACK", "FILL", "EXPIRED"]
    assert (events[1].size, events[2].filled_size) == (1.0, 1.0)
    assert "would open a long (filled 1.0 of 3.0)" in events[2].reason
    assert venue.positions() == {}


def test_a_reduce_only_order_on_the_side_of_the_position_expires_unfilled() -> None:
    venue = _long(1.0)
    events = venue.submit(make_order("wrong", size=1.0, reduce_only=True))
    assert kinds(events) == ["ORDER_ACK", "EXPIRED"]
    assert events[1].reason == (
        "reduce-only buy: the BTCUSDT position is long 1.0, nothing left to reduce; its remaining 1.0 "
        "would grow the long (filled 0.0 of 1.0)"
    )
    assert venue.positions() == {"BTCUSDT": 1.0}


def test_a_reduce_only_market_sell_on_bars_takes_only_what_the_orders_before_it_left() -> None:
    """On a bar the orders fill oldest first: a plain sell closes most of the long, the exit
    after it takes the rest of the long only, and leaves the bar's volume to the next order."""
    venue = PaperVenue(slippage_bps=0, bar_volume_share=1.0)
    venue.on_bar("BTCUSDT", 100.0, 100.0, 100.0, 100.0, 100.0, ts=60.0)
    venue.submit(make_order("entry", size=2.0))
    venue.on_bar("BTCUSDT", 100.0, 100.0, 100.0, 100.0, 100.0, ts=120.0)
    venue.submit(make_order("other", side="SELL", size=1.5))
    venue.submit(make_order("exit", side="SELL", size=2.0, reduce_only=True))
    venue.submit(make_order("late", side="SELL", size=3.0))
    events = venue.on_bar("BTCUSDT", 100.0, 100.0, 100.0, 100.0, 5.0, ts=180.0)
    assert [(e.venue_client_id, e.kind.name, e.size) for e in events] == [
        ("other", "FILL", 1.5),
        ("exit", "FILL", 0.5),
        ("exit", "EXPIRED", 0.0),
        ("late", "FILL", 3.0),
    ]
    assert venue.positions() == {"BTCUSDT": -3.0}


def test_orders_that_are_not_reduce_only_still_fill_past_the_position() -> None:
    venue = _long(1.0)
    venue.submit(make_order("plain", side="SELL", order_type="LIMIT", price=101.0, size=2.0))
    [fill] = venue.on_quote("BTCUSDT", 101.0, 101.5, 50.0, 50.0, ts=2.0)
    assert (fill.size, fill.status) == (2.0, VenueOrderStatus.FILLED)
    assert venue.positions() == {"BTCUSDT": -1.0}
    # An exit of the whole position fills whole, with no EXPIRED after it.
    events = venue.submit(make_order("exit", size=1.0, reduce_only=True))
    assert kinds(events) == ["ORDER_ACK", "FILL"] and events[1].status == VenueOrderStatus.FILLED
    assert venue.positions() == {}


# -- bars ----------------------------------------------------------------------------------


def test_market_order_after_a_bar_fills_at_the_next_bar_open_capped_by_volume_share() -> None:
    venue = PaperVenue(slippage_bps=0, bar_volume_share=0.1)
    venue.on_bar("BTCUSDT", 100.0, 102.0, 99.0, 101.0, volume=50.0, ts=60.0)
    # No look-ahead: nothing fills on submit, the next bar's open is the price.
    assert kinds(venue.submit(make_order("o1", size=8.0))) == ["ORDER_ACK"]
    events = venue.on_bar("BTCUSDT", 103.0, 104.0, 100.0, 100.5, volume=30.0, ts=120.0)
    assert [(f.price, f.size, f.status) for f in events] == [(103.0, 3.0, VenueOrderStatus.PARTIALLY_FILLED)]
    events = venue.on_bar("BTCUSDT", 101.0, 101.0, 100.0, 100.0, volume=100.0, ts=180.0)
    assert [(f.price, f.size, f.status) for f in events] == [(101.0, 5.0, VenueOrderStatus.FILLED)]


def test_limit_order_against_bars_needs_a_strict_cross() -> None:
    venue = PaperVenue(bar_volume_share=1.0)
    venue.on_bar("BTCUSDT", 100.0, 101.0, 99.5, 100.5, volume=10.0, ts=60.0)
    venue.submit(make_order("o1", order_type="LIMIT", price=99.0, size=1.0))
    # The low touches 99.0 but does not trade through it: no fill.
    assert venue.on_bar("BTCUSDT", 100.0, 100.5, 99.0, 99.8, volume=10.0, ts=120.0) == []
    events = venue.on_bar("BTCUSDT", 99.6, 99.9, 98.7, 98.9, volume=10.0, ts=180.0)
    assert [(f.price, f.size) for f in events] == [(99.0, 1.0)]
    assert events[0].metadata["liquidity"] == "MAKER"


def test_limit_order_marketable_at_the_next_open_is_a_taker_at_the_open() -> None:
    venue = PaperVenue(slippage_bps=0, bar_volume_share=1.0)
    venue.on_bar("BTCUSDT", 100.0, 101.0, 99.5, 100.5, volume=10.0, ts=60.0)
    venue.submit(make_order("o1", order_type="LIMIT", price=102.0, size=1.0))
    events = venue.on_bar("BTCUSDT", 101.0, 101.5, 100.0, 101.2, volume=10.0, ts=120.0)
    assert [(f.price, f.metadata["liquidity"]) for f in events] == [(101.0, "TAKER")]


def test_zero_volume_bar_fills_nothing() -> None:
    venue = PaperVenue()
    venue.on_bar("BTCUSDT", 100.0, 101.0, 99.5, 100.5, volume=10.0, ts=60.0)
    venue.submit(make_order("o1", size=1.0))
    assert venue.on_bar("BTCUSDT", 100.0, 101.0, 99.5, 100.5, volume=0.0, ts=120.0) == []
    assert venue.working_size("o1") == (0.0, 1.0)


def test_an_order_sent_after_one_assets_bar_does_not_fill_on_anothers_bar_of_that_time() -> None:
    # Bars are stamped with their open time: an order sent after BTC's 120 bar (its close
    # known) must not fill on ETH's 120 bar, whose open and low are from before the decision.
    venue = PaperVenue(slippage_bps=0, bar_volume_share=1.0)
    venue.on_bar("BTCUSDT", 100.0, 101.0, 99.0, 100.5, volume=10.0, ts=60.0)
    venue.on_bar("ETHUSDT", 10.0, 11.0, 9.0, 10.5, volume=10.0, ts=60.0)
    venue.on_bar("BTCUSDT", 100.0, 110.0, 99.0, 109.0, volume=10.0, ts=120.0)
    venue.submit(make_order("m1", asset="ETHUSDT", size=1.0))
    venue.submit(make_order("l1", asset="ETHUSDT", order_type="LIMIT", price=10.0, size=1.0))
    assert venue.on_bar("ETHUSDT", 10.0, 12.0, 9.5, 11.9, volume=10.0, ts=120.0) == []
    events = venue.on_bar("ETHUSDT", 12.0, 12.5, 11.8, 12.2, volume=10.0, ts=180.0)
    assert [(f.venue_client_id, f.price, f.metadata["liquidity"]) for f in fills(events)] == [
        ("m1", 12.0, "TAKER")
    ]
    assert venue.working_size("l1") == (0.0, 1.0)


# -- latency and cancels -------------------------------------------------------------------


def test_latency_delays_the_order_past_quotes_inside_the_window() -> None:
    venue = PaperVenue(slippage_bps=0, latency_ms=250)
    venue.on_quote("BTCUSDT", 99.0, 100.0, 5.0, 5.0, ts=10.0)
    assert kinds(venue.submit(make_order("o1", size=1.0))) == ["ORDER_ACK"]
    assert venue.on_quote("BTCUSDT", 99.0, 100.0, 5.0, 5.0, ts=10.2) == []
    events = venue.on_quote("BTCUSDT", 100.0, 101.0, 5.0, 5.0, ts=10.25)
    assert [(f.price, f.timestamp_s) for f in events] == [(101.0, 10.25)]


def test_cancel_with_latency_lets_fills_in_the_window_happen_first() -> None:
    venue = PaperVenue(latency_ms=100)
    venue.on_quote("BTCUSDT", 99.0, 100.0, 5.0, 5.0, ts=1.0)
    order = make_order("o1", order_type="LIMIT", price=98.0, size=1.0)
    venue.submit(order)
    venue.on_quote("BTCUSDT", 99.0, 100.0, 5.0, 5.0, ts=1.2)  # now resting
    assert venue.cancel(order) == []  # on its way
    in_window = venue.on_quote("BTCUSDT", 97.0, 98.0, 5.0, 0.3, ts=1.25)
    assert [(e.kind.name, e.size) for e in in_window] == [("FILL", 0.3)]
    done = venue.on_quote("BTCUSDT", 97.0, 98.0, 5.0, 5.0, ts=1.3)
    assert kinds(done) == ["CANCEL_ACK"]
    assert done[0].filled_size == 0.3 and done[0].status == VenueOrderStatus.CANCELED


@pytest.mark.parametrize("data", ["quote", "bar"])
def test_a_cancel_takes_effect_once_its_latency_passed_whatever_asset_moves_the_clock(data: str) -> None:
    """The venue clock is the last data point of any asset. A cancel waited for the next data
    of its own order's asset: in a market gone quiet (or whose feed stopped) the order stayed
    working for good, and asking again changed nothing."""
    venue = PaperVenue(latency_ms=100)
    venue.on_quote("BBB", 99.0, 100.0, 5.0, 5.0, ts=1.0)
    order = make_order("o1", asset="BBB", order_type="LIMIT", price=98.0, size=1.0)
    venue.submit(order)
    assert venue.cancel(order) == []

    def tick(ts: float) -> list[Any]:
        if data == "quote":
            return venue.on_quote("AAA", 9.0, 10.0, 5.0, 5.0, ts=ts)
        return venue.on_bar("AAA", 10.0, 10.0, 9.0, 9.5, 5.0, ts=ts)

    assert tick(1.05) == []  # the cancel is still on its way
    done = tick(1.1)
    assert [(e.kind.name, e.venue_client_id, e.timestamp_s) for e in done] == [("CANCEL_ACK", "o1", 1.1)]
    assert venue.open_orders() == [] and tick(2.0) == []
    assert venue.on_quote("BBB", 97.0, 98.0, 5.0, 5.0, ts=3.0) == []  # nothing left to fill


def _bar(venue: PaperVenue, minute: int, open_: float, low: float | None = None) -> list[Any]:
    low = open_ - 1.0 if low is None else low
    return venue.on_bar("BTCUSDT", open_, open_ + 1.0, low, open_, 1_000.0, ts=60.0 * minute)


@pytest.mark.parametrize(("latency_ms", "filled_at"), [(0, 1), (30_000, 2), (60_000, 2), (59_000, 2)])
def test_latency_on_bars_counts_from_the_close_of_the_bar_the_order_was_sent_on(
    latency_ms: float, filled_at: int
) -> None:
    """A bar is stamped with its open, and an order sent on it is decided at its close. The
    latency counted from the open: up to a bar's length it changed nothing (on minute bars no
    allowed latency did). From the close, 30 s lets the next bar open without the order."""
    venue = PaperVenue(slippage_bps=0, latency_ms=latency_ms)
    opens = [100.0, 102.0, 104.0, 106.0]
    _bar(venue, 0, opens[0])
    venue.submit(make_order("o1", size=1.0))
    fills = {minute: _bar(venue, minute, opens[minute]) for minute in range(1, 4)}
    assert {m: [(f.price, f.timestamp_s) for f in fs] for m, fs in fills.items() if fs} == {
        filled_at: [(opens[filled_at], 60.0 * filled_at)]
    }


@pytest.mark.parametrize(("bar_seconds", "filled_at"), [(60.0, 10), (0.0, 11)])
def test_after_a_gap_a_bar_order_is_live_from_its_bars_close_when_the_length_is_known(
    bar_seconds: float, filled_at: int
) -> None:
    """The close of the bar an order was sent on was taken to be the next bar's open: after a
    gap (bars allowed to miss, a weekend of daily bars) any latency, 1 ms too, skipped the
    first bar after it. With the bars' length (a backtest gives the data's) the close is the
    bar's open + that length; without it the next open stays the close (erring against it)."""
    venue = PaperVenue(slippage_bps=0, latency_ms=1, bar_seconds=bar_seconds)
    _bar(venue, 0, 100.0)
    venue.submit(make_order("o1", size=1.0))
    fills = {m: _bar(venue, m, 100.0 + m) for m in (10, 11)}
    assert [m for m, fs in fills.items() if fs] == [filled_at]


def test_an_order_live_on_quotes_is_not_sent_back_into_latency_by_a_bar() -> None:
    """Quotes of one asset, bars of another: an order sent on a bar goes live on its asset's
    quotes at the bar's close plus the latency, and a later bar does not make it wait again."""
    venue = PaperVenue(slippage_bps=0, latency_ms=30_000)
    venue.on_quote("ETHUSDT", 99.0, 100.0, 1.0, 1.0, ts=0.0)
    venue.on_bar("BTCUSDT", 100.0, 101.0, 99.0, 100.0, 1_000.0, ts=0.0)
    venue.submit(make_order("o1", asset="ETHUSDT", order_type="LIMIT", price=100.0, size=5.0))
    assert venue.on_quote("ETHUSDT", 99.0, 100.0, 1.0, 1.0, ts=30.0) == []  # before the close
    venue.on_bar("BTCUSDT", 100.0, 101.0, 99.0, 100.0, 1_000.0, ts=60.0)
    assert [f.size for f in venue.on_quote("ETHUSDT", 99.0, 100.0, 1.0, 1.0, ts=90.0)] == [1.0]
    venue.on_bar("BTCUSDT", 100.0, 101.0, 99.0, 100.0, 1_000.0, ts=120.0)
    assert [f.size for f in venue.on_quote("ETHUSDT", 99.0, 100.0, 1.0, 1.0, ts=130.0)] == [1.0]


@pytest.mark.parametrize(("latency_ms", "filled_at"), [(0.0, 60.0), (10_000.0, 70.0)])
def test_an_order_sent_on_a_bar_fills_on_no_quote_before_the_bar_closes_and_the_latency(
    latency_ms: float, filled_at: float
) -> None:
    """Bars and quotes of one asset: a limit decided on the bar of 0..60 filled on a quote at
    30, inside that bar, at a price the bar's close (110) had left behind."""
    venue = PaperVenue(slippage_bps=0, latency_ms=latency_ms, bar_seconds=60)
    venue.on_bar("BTCUSDT", 100.0, 110.0, 100.0, 110.0, 1_000.0, ts=0.0)
    venue.submit(make_order("o1", order_type="LIMIT", price=110.0, size=1.0))
    asks = {30.0: 105.0, 59.0: 110.0, filled_at: 110.0}  # 30 and 59: inside the bar
    fills = {ts: venue.on_quote("BTCUSDT", ask - 0.1, ask, 10.0, 10.0, ts=ts) for ts, ask in asks.items()}
    filled = {ts: [(f.price, f.size) for f in fs] for ts, fs in fills.items() if fs}
    assert filled == {filled_at: [(110.0, 1.0)]}


def test_a_cancel_sent_on_a_bar_reaches_the_venue_after_its_close_and_the_latency() -> None:
    """A cancel asked on a bar with a latency of 30 s (minute bars) took effect before the next
    bar was matched, so a fill that bar's prices make was never had; it reaches the venue 30 s
    after the bar's close, the next bar's open, so the next bar still fills the order."""
    venue = PaperVenue(latency_ms=30_000)
    _bar(venue, 0, 100.0)
    order = make_order("o1", order_type="LIMIT", price=95.0, size=1.0)
    venue.submit(order)
    assert _bar(venue, 1, 100.0) == []  # resting: the low stays above the limit
    assert venue.cancel(order) == []
    book = venue.book()
    crossed = _bar(venue, 2, 100.0, low=90.0)
    assert [(e.kind.name, e.price) for e in crossed] == [("FILL", 95.0)]
    # The same from a saved book: the cancel's wait for the close is kept.
    again = PaperVenue(latency_ms=30_000)
    again.restore_book(book)
    assert [(e.kind.name, e.price) for e in _bar(again, 2, 100.0, low=90.0)] == [("FILL", 95.0)]
    # Not crossed, the cancel lands at the bar after the close + latency.
    other = PaperVenue(latency_ms=30_000)
    _bar(other, 0, 100.0)
    resting = make_order("o2", order_type="LIMIT", price=95.0, size=1.0)
    other.submit(resting)
    _bar(other, 1, 100.0)
    other.cancel(resting)
    assert _bar(other, 2, 100.0) == []
    assert kinds(_bar(other, 3, 100.0)) == ["CANCEL_ACK"]


def test_cancel_without_latency_is_immediate_and_unknown_orders_are_cancel_rejected() -> None:
    venue = PaperVenue()
    venue.on_quote("BTCUSDT", 99.0, 100.0, 5.0, 5.0, ts=1.0)
    order = make_order("o1", order_type="LIMIT", price=98.0, size=1.0)
    venue.submit(order)
    assert kinds(venue.cancel(order)) == ["CANCEL_ACK"]
    again = venue.cancel(order)
    assert kinds(again) == ["CANCEL_REJECT"] and "'o1'" in again[0].reason
    assert venue.on_quote("BTCUSDT", 97.0, 98.0, 5.0, 5.0, ts=2.0) == []


# -- exchange rules and bad input ----------------------------------------------------------


def test_market_limits_reject_what_the_exchange_would() -> None:
    limits = {"BTCUSDT": MarketLimits(lot_step=0.001, tick_size=0.1, min_qty=0.001, min_notional=10.0)}
    venue = PaperVenue(market_limits=limits)
    venue.on_quote("BTCUSDT", 99.9, 100.0, 5.0, 5.0, ts=1.0)
    off_lot = venue.submit(make_order("o1", size=0.0015))
    assert kinds(off_lot) == ["REJECT"] and "lot_step" in off_lot[0].reason
    small = venue.submit(make_order("o2", size=0.05))
    assert kinds(small) == ["REJECT"] and "min_notional" in small[0].reason
    off_tick = venue.submit(make_order("o3", order_type="LIMIT", price=99.95, size=1.0))
    assert kinds(off_tick) == ["REJECT"] and "tick_size" in off_tick[0].reason
    # 0.1 + 0.2 lots computed in floats is not a lot multiple, 0.3 is.
    assert kinds(venue.submit(make_order("o4", size=0.3))) == ["ORDER_ACK", "FILL"]
    # Reduce-only exits may be below min notional, as on the exchange.
    assert kinds(venue.submit(make_order("o5", side="SELL", size=0.05, reduce_only=True))) == [
        "ORDER_ACK",
        "FILL",
    ]


def test_an_order_for_an_asset_the_venue_does_not_list_is_rejected_naming_it() -> None:
    # Without data for the asset the order could never fill: it sat working for the whole run,
    # holding a kernel slot. An exchange refuses a symbol it does not list at once.
    venue = PaperVenue(assets=["BTCUSDT"])
    venue.on_quote("BTCUSDT", 99.0, 100.0, 5.0, 5.0, ts=1.0)
    events = venue.submit(make_order("o1", asset="ETHUSDT"))
    assert kinds(events) == ["REJECT"]
    assert events[0].status == VenueOrderStatus.REJECTED
    assert events[0].reason == "unknown asset 'ETHUSDT': paper lists BTCUSDT only"
    assert venue.open_orders() == [] and venue.order_status("o1") is None
    assert kinds(venue.submit(make_order("o2"))) == ["ORDER_ACK", "FILL"]
    # Without a list (a venue built by hand, fed whatever comes) every asset is taken.
    assert kinds(PaperVenue().submit(make_order("o3", asset="ETHUSDT"))) == ["ORDER_ACK"]


def test_duplicate_working_client_id_is_rejected() -> None:
    venue = PaperVenue()
    venue.on_quote("BTCUSDT", 99.0, 100.0, 5.0, 5.0, ts=1.0)
    venue.submit(make_order("o1", order_type="LIMIT", price=90.0, size=1.0))
    events = venue.submit(make_order("o1", order_type="LIMIT", price=90.0, size=1.0))
    assert kinds(events) == ["REJECT"] and "duplicate" in events[0].reason


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ((math.nan, 100.0, 1.0, 1.0, 2.0), "bid"),
        ((99.0, -1.0, 1.0, 1.0, 2.0), "ask"),
        ((99.0, 100.0, -1.0, 1.0, 2.0), "bid_size"),
        ((99.0, 100.0, 1.0, math.inf, 2.0), "ask_size"),
        ((101.0, 100.0, 1.0, 1.0, 2.0), "crossed"),
        ((99.0, 100.0, 1.0, 1.0, 0.5), "earlier than the venue clock"),
    ],
)
def test_bad_quotes_are_refused_and_change_nothing(args: tuple[float, ...], field: str) -> None:
    venue = PaperVenue(slippage_bps=0)
    venue.on_quote("BTCUSDT", 99.0, 100.0, 5.0, 5.0, ts=1.0)
    venue.submit(make_order("o1", order_type="LIMIT", price=95.0, size=1.0))
    with pytest.raises(ValueError, match=field):
        venue.on_quote("BTCUSDT", *args)
    assert venue.now() == 1.0
    assert venue.working_size("o1") == (0.0, 1.0)
    # The book is still the last good quote.
    assert [f.price for f in fills(venue.submit(make_order("o2", size=1.0)))] == [100.0]


def test_bad_bars_are_refused_naming_the_values() -> None:
    venue = PaperVenue()
    with pytest.raises(ValueError, match="asset"):
        venue.on_bar("", 100.0, 101.0, 99.0, 100.5, 10.0, ts=1.0)
    with pytest.raises(ValueError, match=r"high=99\.0"):
        venue.on_bar("BTCUSDT", 100.0, 99.0, 98.0, 99.5, 10.0, ts=1.0)
    with pytest.raises(ValueError, match="volume"):
        venue.on_bar("BTCUSDT", 100.0, 101.0, 99.0, 100.5, -1.0, ts=1.0)
    with pytest.raises(TypeError, match="open"):
        venue.on_bar("BTCUSDT", "100", 101.0, 99.0, 100.5, 1.0, ts=1.0)  # type: ignore[arg-type]


def test_numpy_numbers_are_numbers() -> None:
    """Prices from a float32 column are prices: refusing them as "not a number" broke the
    order that next handed such data to the venue."""
    import numpy as np

    f = np.float32
    venue = PaperVenue(slippage_bps=0)
    venue.on_quote("BTCUSDT", f(99.0), f(100.0), f(5.0), f(5.0), ts=f(1.0))
    venue.on_bar("ETHUSDT", f(10.0), f(11.0), f(9.0), f(10.5), np.int64(7), ts=np.float64(2.0))
    assert [(e.price, e.size) for e in fills(venue.submit(make_order("o1", size=1.0)))] == [(100.0, 1.0)]
    with pytest.raises(TypeError, match="bid must be a number, got True"):
        venue.on_quote("BTCUSDT", True, f(100.0), f(5.0), f(5.0), ts=3.0)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"taker_rate": 0.5}, "taker_rate"),
        # A rebate above the taker fee (0.0005 by default), or a negative taker fee.
        ({"maker_rate": -0.0006}, r"maker_rate=-0\.0006 is a rebate above taker_rate=0\.0005"),
        ({"maker_rate": -0.0001, "taker_rate": 0.0}, "maker_rate=-0.0001"),
        ({"maker_rate": -0.1}, "maker_rate"),
        ({"taker_rate": -0.0001}, "taker_rate"),
        ({"slippage_bps": -1}, "slippage_bps"),
        ({"latency_ms": math.nan}, "latency_ms"),
        # No order would ever become live (the shadow run's latency has the same bound).
        ({"latency_ms": 1e300}, "latency_ms"),
        ({"latency_ms": 60_000.5}, "latency_ms"),
        ({"bar_volume_share": 0}, "bar_volume_share"),
        ({"market_remainder": "cancel"}, "market_remainder"),
        ({"fill_everything": True}, "fill_everything"),
        # A flag is not a number: pydantic alone took True as a slippage of 1 bps.
        ({"slippage_bps": True}, "slippage_bps"),
        # Refused when the venue is built, not by the first order that met them: a submit that
        # raises leaves the order in flight in the kernel.
        ({"market_limits": {"BTCUSDT": 5}}, "market_limits.BTCUSDT"),
        ({"market_limits": {"BTCUSDT": {"lot_step": -1}}}, "market_limits.BTCUSDT.lot_step"),
        ({"assets": "BTCUSDT"}, "assets"),
        ({"assets": ["BTCUSDT", ""]}, "assets"),
        ({"clock": 5}, "clock"),
    ],
)
def test_bad_settings_are_refused_naming_the_field(settings: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        PaperVenue(**settings)


@pytest.mark.parametrize("name", ["\x00", "a\x00b"])
def test_a_name_with_a_nul_is_refused_when_the_venue_is_built(name: str) -> None:
    """The venue names its event and order ids after itself, and the kernel refuses an id
    holding a NUL: `PaperVenue(name="\\0")` was built, and every submit then raised, each
    order left in flight (ORDER_SENT, its outcome unknown)."""
    with pytest.raises(
        ValidationError, match=rf"name\n.*venue name {re.escape(repr(name))} holds a NUL byte"
    ):
        PaperVenue(name=name)


def test_a_latency_of_a_minute_is_the_longest_taken() -> None:
    assert PaperVenue(latency_ms=60_000).settings.latency_ms == 60_000


def test_market_rules_given_as_dicts_are_read_as_market_limits() -> None:
    venue = PaperVenue(market_limits={"BTCUSDT": {"lot_step": 0.1}})
    assert venue.market_metadata() == {"BTCUSDT": MarketLimits(lot_step=0.1)}
    venue.set_market_limits("ETHUSDT", {"min_qty": 2.0})  # type: ignore[arg-type]
    venue.on_quote("BTCUSDT", 99.0, 100.0, 5.0, 5.0, ts=1.0)
    venue.on_quote("ETHUSDT", 9.0, 10.0, 5.0, 5.0, ts=1.0)
    off_lot = venue.submit(make_order("o1", size=0.15))
    assert kinds(off_lot) == ["REJECT"] and "lot_step" in off_lot[0].reason
    small = venue.submit(make_order("o2", asset="ETHUSDT", size=1.0))
    assert kinds(small) == ["REJECT"] and "min_qty" in small[0].reason
    with pytest.raises(ValidationError, match=r"market_limits\.ETHUSDT"):
        venue.set_market_limits("ETHUSDT", 5)  # type: ignore[arg-type]
    assert venue.market_metadata()["ETHUSDT"] == MarketLimits(min_qty=2.0)


# -- accounting and determinism ------------------------------------------------------------


def test_cash_balance_follows_fills_and_fees() -> None:
    venue = PaperVenue(slippage_bps=0, taker_rate=0.001, starting_balance=1000.0)
    venue.on_quote("BTCUSDT", 99.0, 100.0, 5.0, 5.0, ts=1.0)
    venue.submit(make_order("o1", size=2.0))
    venue.on_quote("BTCUSDT", 110.0, 111.0, 5.0, 5.0, ts=2.0)
    venue.submit(make_order("o2", side="SELL", size=2.0))
    fees = 200.0 * 0.001 + 220.0 * 0.001
    assert venue.balances() == {"USDT": pytest.approx(1000.0 - 200.0 + 220.0 - fees)}
    assert venue.fees_paid == pytest.approx(fees)
    assert venue.positions() == {}


def _run(script: list[tuple[str, tuple[float, ...]]]) -> list[dict[str, object]]:
    venue = PaperVenue(slippage_bps=3, latency_ms=50)
    out: list[dict[str, object]] = []
    for n, (what, args) in enumerate(script):
        if what == "quote":
            out.extend(e.to_dict() for e in venue.on_quote("BTCUSDT", *args))
        else:
            side = "BUY" if args[0] > 0 else "SELL"
            order_type = "LIMIT" if args[1] else "MARKET"
            order = make_order(f"o{n}", side=side, order_type=order_type, price=args[1], size=abs(args[0]))
            out.extend(e.to_dict() for e in venue.submit(order))
    return out


quote_steps = st.tuples(
    st.just("quote"),
    st.tuples(
        st.floats(90, 100),
        st.floats(100, 110),
        st.floats(0, 5),
        st.floats(0, 5),
    ),
)
order_steps = st.tuples(
    st.just("order"),
    st.tuples(st.sampled_from([-2.0, -0.5, 0.5, 1.0, 3.0]), st.sampled_from([0.0, 95.0, 100.0, 105.0])),
)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.one_of(quote_steps, order_steps), max_size=30))
def test_same_input_gives_the_same_events_and_fills_never_exceed_orders(
    raw_script: list[tuple[str, tuple[float, ...]]],
) -> None:
    # Timestamps rise by one per quote so the data is in time order.
    script: list[tuple[str, tuple[float, ...]]] = []
    ts = 0.0
    for what, args in raw_script:
        if what == "quote":
            ts += 1.0
            script.append((what, (*args, ts)))
        else:
            script.append((what, args))
    first, second = _run(script), _run(script)
    assert first == second
    filled: dict[str, float] = {}
    for event in first:
        if event["kind"] == "FILL":
            client = str(event["venue_client_id"])
            filled[client] = filled.get(client, 0.0) + float(event["size"])  # type: ignore[arg-type]
            assert float(event["filled_size"]) == pytest.approx(filled[client])  # type: ignore[arg-type]
    sizes = {f"o{n}": abs(args[0]) for n, (what, args) in enumerate(script) if what == "order"}
    for client, total in filled.items():
        assert total <= sizes[client] * (1 + 1e-9)


bar_steps = st.tuples(
    st.floats(95, 105),  # open
    st.floats(0, 5),  # up from the higher of open/close
    st.floats(0, 5),  # down from the lower of open/close
    st.floats(95, 105),  # close
    st.floats(0, 50),  # volume
    st.lists(st.tuples(st.sampled_from([-2.0, 1.0, 4.0]), st.sampled_from([0.0, 97.0, 103.0])), max_size=3),
)


@settings(max_examples=40, deadline=None)
@given(st.lists(bar_steps, max_size=25))
def test_bar_fills_never_exceed_the_volume_share_or_the_orders(bars: list[tuple[Any, ...]]) -> None:
    share = 0.2
    venue = PaperVenue(slippage_bps=2, bar_volume_share=share)
    sizes: dict[str, float] = {}
    filled: dict[str, float] = {}
    n = 0
    for ts, (open_, up, down, close, volume, orders) in enumerate(bars, start=1):
        events = venue.on_bar(
            "BTCUSDT", open_, max(open_, close) + up, min(open_, close) - down, close, volume, float(ts)
        )
        bar_fill = sum(e.size for e in events if e.kind == KernelEventKind.FILL)
        assert bar_fill <= volume * share * (1 + 1e-9)
        for e in events:
            if e.kind == KernelEventKind.FILL:
                assert e.timestamp_s == float(ts)  # never filled on the bar it was sent after
                filled[e.venue_client_id] = filled.get(e.venue_client_id, 0.0) + e.size
        for size, limit in orders:
            n += 1
            client = f"o{n}"
            sizes[client] = abs(size)
            order_type = "LIMIT" if limit else "MARKET"
            side = "BUY" if size > 0 else "SELL"
            events = venue.submit(
                make_order(client, side=side, order_type=order_type, price=limit, size=abs(size))
            )
            assert kinds(events) == ["ORDER_ACK"]  # bars: nothing fills before the next bar
    for client, total in filled.items():
        assert total <= sizes[client] * (1 + 1e-9)


def test_open_orders_carry_what_each_order_filled() -> None:
    """Reconciliation books a fill the kernel missed from ``open_orders()``: a partly filled
    order must say how much it filled, at what price, and that it is partly filled."""
    venue = PaperVenue(slippage_bps=0.0)
    venue.on_quote("BTCUSDT", 99.0, 100.0, 1.0, 0.25, 1.0)
    venue.submit(make_order("o1", size=1.0))
    (working,) = venue.open_orders()
    assert working.filled_size == pytest.approx(0.25)
    assert working.avg_fill_price == pytest.approx(100.0)
    assert working.status == VenueOrderStatus.PARTIALLY_FILLED


def test_order_status_tells_working_ended_and_unknown_orders_apart() -> None:
    """What reconciliation asks about an order the venue no longer lists: None only for an
    order this venue never held (one of an earlier run's, after a restart)."""
    venue = PaperVenue(slippage_bps=0.0)
    venue.on_quote("BTCUSDT", 99.0, 100.0, 5.0, 0.25, 1.0)
    venue.submit(make_order("filled", size=1.0))
    working = venue.order_status("filled")
    assert working is not None and working.status == VenueOrderStatus.PARTIALLY_FILLED
    assert (working.filled_size, working.avg_fill_price) == (0.25, 100.0)
    venue.on_quote("BTCUSDT", 100.0, 102.0, 5.0, 5.0, 2.0)
    filled = venue.order_status("filled")
    assert filled is not None and filled.status == VenueOrderStatus.FILLED
    assert filled.filled_size == 1.0 and filled.avg_fill_price == pytest.approx(101.5)
    assert filled.venue_order_id == "paper-1"
    resting = make_order("canceled", order_type="LIMIT", price=90.0, size=1.0)
    venue.submit(resting)
    venue.cancel(resting)
    canceled = venue.order_status("canceled")
    assert canceled is not None and canceled.status == VenueOrderStatus.CANCELED
    assert venue.order_status("never-sent") is None


def test_order_status_given_another_asset_than_the_orders_finds_nothing() -> None:
    """Reconciliation gives the kernel's asset of the order: an order is in one market, so the
    one this venue holds under that id for another asset is not it (None), working or ended."""
    venue = PaperVenue(slippage_bps=0.0)
    venue.on_quote("BTCUSDT", 99.0, 100.0, 5.0, 5.0, 1.0)
    venue.submit(make_order("filled", size=1.0))
    venue.submit(make_order("working", order_type="LIMIT", price=90.0, size=1.0))
    for coid in ("filled", "working"):
        found = venue.order_status(coid, asset="BTCUSDT")
        assert found is not None and found.to_dict() == venue.order_status(coid).to_dict()
        assert venue.order_status(coid, asset="ETHUSDT") is None
    assert venue.order_status("never-sent", asset="BTCUSDT") is None
    with pytest.raises(TypeError, match=r"paper: order_status: asset=7 must be a str"):
        venue.order_status("filled", asset=7)  # type: ignore[arg-type]


# -- the book kept across a restart ---------------------------------------------------------


def test_a_resting_limit_saved_with_the_book_keeps_working_in_a_new_venue() -> None:
    """The book lived in memory only: a paper run stopped and started again lost its resting
    orders, which an exchange keeps across a client's restart."""
    venue = PaperVenue(slippage_bps=5, maker_rate=0.0002, starting_balance=1_000.0)
    venue.on_quote("BTCUSDT", 99.0, 100.0, 5.0, 5.0, ts=1.0)
    order = make_order("o1", order_type="LIMIT", price=98.0, size=1.0)
    ack = venue.submit(order)[0]
    partial = venue.on_quote("BTCUSDT", 97.0, 98.0, 5.0, 0.4, ts=2.0)
    assert [f.size for f in partial] == [0.4]
    book = venue.book()
    assert json.loads(json.dumps(book)) == book  # it goes into the run's JSON state file

    again = PaperVenue(slippage_bps=5, maker_rate=0.0002, starting_balance=1_000.0)
    again.restore_book(book)
    assert again.working_size("o1") == pytest.approx((0.4, 0.6))
    assert again.positions() == venue.positions() and again.balances() == venue.balances()
    assert again.fees_paid == venue.fees_paid and again.now() == 2.0
    [kept] = again.open_orders()
    assert (kept.venue_order_id, kept.filled_size, kept.avg_fill_price) == (ack.venue_order_id, 0.4, 98.0)
    # Still resting: a maker fill at its own price once the market crosses it again, with
    # a fill id that does not repeat the first run's.
    rest = again.on_quote("BTCUSDT", 96.0, 97.0, 5.0, 5.0, ts=3.0)
    assert [(f.price, f.size, f.status, f.metadata["liquidity"]) for f in rest] == [
        (98.0, 0.6, VenueOrderStatus.FILLED, "MAKER")
    ]
    assert rest[0].fill_id != partial[0].fill_id
    assert again.positions() == {"BTCUSDT": 1.0}
    # Data before the saved clock is refused, as for the venue that saved it.
    later = PaperVenue()
    later.restore_book(book)
    with pytest.raises(ValueError, match="earlier than the venue clock"):
        later.on_quote("BTCUSDT", 99.0, 100.0, 5.0, 5.0, ts=1.5)


def test_a_plain_exit_stays_an_exit_in_the_venues_answers_and_across_a_saved_book() -> None:
    """An exit may go out without reduce-only (its venue nets the slots); the venue's copies
    of it (order_status, open_orders, a restored book) keep ``is_entry`` as sent rather than
    take it from ``not reduce_only`` and read it as an entry. A saved book without the field
    reads so still."""
    venue = PaperVenue()
    venue.on_quote("BTCUSDT", 99.0, 100.0, 5.0, 5.0, ts=1.0)
    exit_ = make_order("x1", side="SELL", order_type="LIMIT", price=105.0, size=1.0, is_entry=False)
    entry = make_order("e1", order_type="LIMIT", price=95.0, size=1.0, slot_id=1)
    venue.submit(exit_)
    venue.submit(entry)
    status = venue.order_status("x1")
    assert status is not None and (status.reduce_only, status.is_entry) == (False, False)
    assert {o.client_order_id: o.is_entry for o in venue.open_orders()} == {"x1": False, "e1": True}
    again = PaperVenue()
    again.restore_book(venue.book())
    assert {o.client_order_id: o.is_entry for o in again.open_orders()} == {"x1": False, "e1": True}
    older = venue.book()
    for o in older["orders"]:
        del o["is_entry"]
    before = PaperVenue()
    before.restore_book(older)
    assert {o.client_order_id: o.is_entry for o in before.open_orders()} == {"x1": True, "e1": True}


def test_a_cancel_on_its_way_is_saved_with_the_book() -> None:
    venue = PaperVenue(latency_ms=100)
    venue.on_quote("BTCUSDT", 99.0, 100.0, 5.0, 5.0, ts=1.0)
    order = make_order("o1", order_type="LIMIT", price=98.0, size=1.0)
    venue.submit(order)
    assert venue.cancel(order) == []
    again = PaperVenue(latency_ms=100)
    again.restore_book(venue.book())
    done = again.on_quote("BTCUSDT", 99.0, 100.0, 5.0, 5.0, ts=1.2)
    assert kinds(done) == ["CANCEL_ACK"] and again.open_orders() == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format": 99}, "book format 99"),
        ({"format": None}, "book format None"),
        ({"orders": "x"}, "orders"),
        # Not as book() writes it, though float() or bool() would have read it: restored, a NaN
        # broke open_orders() at reconciliation, and "no" was taken for resting.
        ({"order": {"filled": math.nan}}, "orders.*filled must be finite, got nan"),
        ({"order": {"filled": 2.0}}, "orders.*filled 2.0 of 1.0"),
        ({"order": {"fills": 1.5}}, "orders.*fills 1.5"),
        ({"order": {"resting": "no"}}, "orders.*resting 'no'"),
        ({"order": {"is_entry": "no"}}, "orders.*is_entry"),
        ({"order": {"cancel_at": "soon"}}, "orders.*cancel_at must be a number, got 'soon'"),
        ({"cash": "5"}, "cash must be a number, got '5'"),
        ({"positions": {"BTCUSDT": math.inf}}, "BTCUSDT must be finite, got inf"),
        ({"quotes": {"BTCUSDT": [99.0, math.nan, 5.0, 5.0]}}, "quotes.*BTCUSDT ask must be finite, got nan"),
        ({"submitted": -1}, "submitted -1"),
        # Two orders of one id: one replaced the other, its fills gone with it.
        ({"twice": True}, "client_order_id 'o1' twice"),
    ],
)
def test_a_book_of_another_format_is_refused_and_changes_nothing(
    change: dict[str, Any], message: str
) -> None:
    venue = PaperVenue()
    venue.on_quote("BTCUSDT", 99.0, 100.0, 5.0, 5.0, ts=1.0)
    venue.submit(make_order("o1", order_type="LIMIT", price=98.0, size=1.0))
    book = venue.book()
    if change.pop("twice", False):
        book["orders"].append(dict(book["orders"][0]))
    book["orders"][0].update(change.pop("order", {}))
    book.update(change)
    fresh = PaperVenue()
    with pytest.raises(ValueError, match=message):
        fresh.restore_book(book)
    assert fresh.open_orders() == [] and fresh.now() == 0.0


@pytest.mark.parametrize(
    ("quote", "message"),
    [
        ([99.0, -1.0, 5.0, 5.0], "BTCUSDT ask must be positive, got -1.0"),
        ([0.0, 0.0, 5.0, 5.0], "BTCUSDT bid must be positive, got 0.0"),
        ([101.0, 99.0, 5.0, 5.0], "BTCUSDT ask 99.0 is below bid 101.0"),
        ([99.0, 100.0, 5.0, -5.0], "BTCUSDT ask_size must not be negative, got -5.0"),
        ([99.0, 100.0, 5.0], "BTCUSDT is not"),
    ],
)
def test_a_saved_quote_no_market_shows_is_refused_not_filled_at(quote: list[float], message: str) -> None:
    """The saved top of book was read as any finite numbers: a negative or zero ask, or a
    crossed quote, which ``on_quote`` refuses, was restored, and the next market buy filled at
    -1.0001 (or 0), a price no market offered."""
    venue = PaperVenue()
    venue.on_quote("BTCUSDT", 99.0, 100.0, 5.0, 5.0, ts=1.0)
    book = venue.book()
    book["quotes"]["BTCUSDT"] = quote
    fresh = PaperVenue()
    with pytest.raises(ValueError, match=f"paper book: quotes .*{re.escape(message)}"):
        fresh.restore_book(book)
    assert fresh.open_orders() == [] and fresh.now() == 0.0 and fresh.positions() == {}
    # As book() writes it (the size the last orders took gone, bid and ask one price) it is read,
    # and a quote with no size left fills nothing.
    book["quotes"]["BTCUSDT"] = [99.5, 99.5, 0.0, 0.0]
    fresh.restore_book(book)
    assert kinds(fresh.submit(make_order("o1", size=1.0))) == ["ORDER_ACK"]


def test_a_book_is_restored_into_an_empty_venue_only() -> None:
    venue = PaperVenue()
    venue.on_quote("BTCUSDT", 99.0, 100.0, 5.0, 5.0, ts=1.0)
    venue.submit(make_order("o1", order_type="LIMIT", price=98.0, size=1.0))
    with pytest.raises(ValueError, match="empty"):
        venue.restore_book(venue.book())


def test_a_restored_book_leaves_out_orders_for_assets_the_venue_does_not_list() -> None:
    """A run continued on other data (another --symbols): no data would ever fill them, so
    they are not taken and reconciliation ends them in the kernel, as for an unlisted asset's
    submit."""
    venue = PaperVenue()
    venue.on_quote("ETHUSDT", 9.0, 10.0, 5.0, 5.0, ts=1.0)
    venue.submit(make_order("o1", asset="ETHUSDT", order_type="LIMIT", price=8.0, size=1.0))
    venue.submit(make_order("o2", order_type="LIMIT", price=8.0, size=1.0))
    again = PaperVenue(assets=["BTCUSDT"])
    assert again.restore_book(venue.book()) == ["o1"]
    assert [o.client_order_id for o in again.open_orders()] == ["o2"]


def test_a_submit_of_something_not_an_order_is_refused_changing_nothing() -> None:
    """Counted and given a venue order id before it raised: the next order's ids moved on,
    and the venue, having seen no order, refused a saved book as one that had."""
    venue = PaperVenue()
    with pytest.raises(TypeError, match=r"VenueOrder.*'o1'"):
        venue.submit("o1")  # type: ignore[arg-type]
    assert venue.submitted == 0
    venue.restore_book(PaperVenue().book())
    venue.on_quote("BTCUSDT", 99.0, 100.0, 5.0, 5.0, ts=1.0)
    assert venue.submit(make_order("o1"))[0].venue_order_id == "paper-1"
