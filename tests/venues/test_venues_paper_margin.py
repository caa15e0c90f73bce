"""PaperVenue's margin check (``leverage``): an order that opens or grows a position past
what the account's available margin carries is rejected at submit, as an exchange refuses
it; exits never are. Without it the venue let a position of any size open, its cash going
negative, so paper returns were ones no exchange would have allowed."""

from __future__ import annotations

import math
import re

import pytest
from pydantic import ValidationError
from venue_helpers import make_order

from dita import VenueOrderStatus
from dita.venues import PaperVenue


def kinds(events: list) -> list[str]:
    return [e.kind.name for e in events]


def venue_at(price: float = 100.0, *, balance: float = 1_000.0, leverage: float = 1.0) -> PaperVenue:
    """A venue of ``balance`` USDT at ``leverage``, no slippage, a taker fee of 0.1 %, with a
    BTCUSDT quote of ``price`` on both sides (the mark is that too)."""
    venue = PaperVenue(starting_balance=balance, leverage=leverage, slippage_bps=0, taker_rate=0.001)
    venue.on_quote("BTCUSDT", price, price, 1_000.0, 1_000.0, ts=1.0)
    return venue


def test_an_order_beyond_the_buying_power_is_rejected_naming_needed_and_available() -> None:
    venue = venue_at()
    # 10 x 100 at leverage 1 is the whole balance; its fee of 1 is one too many.
    [reject] = venue.submit(make_order("o1", size=10.0))
    assert reject.kind.name == "REJECT" and reject.status == VenueOrderStatus.REJECTED
    assert reject.reason == (
        "insufficient margin: the order needs 1,001.00 USDT (notional opened 1,000.00 / leverage 1 "
        "+ fee 1.00), available 1,000.00 USDT (equity 1,000.00 - positions' margin 0.00 - "
        "working orders' 0.00)"
    )
    # Refused outright: nothing works, nothing is held, the cash is untouched.
    assert venue.open_orders() == [] and venue.positions() == {}
    assert venue.balances() == {"USDT": 1_000.0}
    # Within it (999 + a fee of 0.999): filled.
    assert kinds(venue.submit(make_order("o2", size=9.99))) == ["ORDER_ACK", "FILL"]
    assert venue.positions() == {"BTCUSDT": 9.99}


def test_leverage_multiplies_the_buying_power() -> None:
    venue = venue_at(balance=100.0, leverage=10.0)
    # 10,000 of notional needs 1,000 at 10x: refused; 9,900 needs 990 + a fee of 9.9.
    [reject] = venue.submit(make_order("o1", size=100.0))
    assert "needs 1,010.00 USDT (notional opened 10,000.00 / leverage 10 + fee 10.00)" in reject.reason
    assert kinds(venue.submit(make_order("o2", size=0.999))) == ["ORDER_ACK", "FILL"]
    assert venue.margin()["position_margin"] == pytest.approx(9.99)


def test_without_leverage_the_venue_lets_any_size_open_as_before() -> None:
    venue = PaperVenue(starting_balance=1_000.0, slippage_bps=0, taker_rate=0.001)
    assert venue.settings.leverage is None
    venue.on_quote("BTCUSDT", 100.0, 100.0, 1_000.0, 1_000.0, ts=1.0)
    assert kinds(venue.submit(make_order("o1", size=100.0))) == ["ORDER_ACK", "FILL"]
    assert venue.balances()["USDT"] == pytest.approx(1_000.0 - 10_000.0 - 10.0)
    # Nothing is reserved: all of the equity counts as available.
    assert venue.margin() == pytest.approx(
        {"equity": 990.0, "position_margin": 0.0, "order_margin": 0.0, "available_margin": 990.0}
    )


def test_an_exit_is_never_refused_for_margin() -> None:
    venue = venue_at(balance=100.0, leverage=10.0)
    assert kinds(venue.submit(make_order("o1", size=9.9))) == ["ORDER_ACK", "FILL"]
    # The price falls: the position's margin is now more than the equity left.
    venue.on_quote("BTCUSDT", 90.0, 90.0, 1_000.0, 1_000.0, ts=2.0)
    assert venue.margin()["available_margin"] < 0
    [reject] = venue.submit(make_order("o2", size=0.01))
    assert reject.kind.name == "REJECT" and "available -89.09 USDT (equity 0.01" in reject.reason
    # A reduce-only exit goes through, and so does a plain sell that only closes part of the long.
    assert kinds(venue.submit(make_order("x1", side="SELL", size=4.9))) == ["ORDER_ACK", "FILL"]
    assert kinds(venue.submit(make_order("x2", side="SELL", size=5.0, reduce_only=True))) == [
        "ORDER_ACK",
        "FILL",
    ]
    assert venue.positions() == {}


def test_a_second_opening_order_counts_the_margin_the_first_reserves() -> None:
    venue = venue_at()
    venue.on_quote("BTCUSDT", 99.0, 100.0, 1_000.0, 1_000.0, ts=1.0)
    # A resting bid (not marketable) reserves 6 x 95 and its fee, 570.57.
    assert kinds(venue.submit(make_order("o1", order_type="LIMIT", price=95.0, size=6.0))) == ["ORDER_ACK"]
    assert venue.margin()["order_margin"] == pytest.approx(570.57)
    # Alone, 5 x 90 + 0.45 would fit in 1,000; beside the first, 429.43 is left.
    [reject] = venue.submit(make_order("o2", order_type="LIMIT", price=90.0, size=5.0))
    assert reject.kind.name == "REJECT"
    assert reject.reason.endswith(
        "available 429.43 USDT (equity 1,000.00 - positions' margin 0.00 - working orders' 570.57)"
    )
    # An offer on the other side grows neither side past the bid's 6: it reserves no more.
    assert kinds(venue.submit(make_order("o3", side="SELL", order_type="LIMIT", price=105.0, size=5.0))) == [
        "ORDER_ACK"
    ]
    assert venue.margin()["order_margin"] == pytest.approx(570.0 + 0.57 + 0.525)
    # The bid canceled, its margin is free again.
    venue.cancel(make_order("o1", order_type="LIMIT", price=95.0, size=6.0))
    assert kinds(venue.submit(make_order("o4", order_type="LIMIT", price=90.0, size=5.0))) == ["ORDER_ACK"]


def test_an_order_beyond_what_it_closes_needs_margin_for_the_part_past_it() -> None:
    venue = venue_at()
    assert kinds(venue.submit(make_order("o1", size=5.0))) == ["ORDER_ACK", "FILL"]  # cash 499.5
    # Selling 10 closes the long of 5 and opens a short of 5: the long's margin carries it.
    assert kinds(venue.submit(make_order("o2", side="SELL", size=10.0))) == ["ORDER_ACK", "FILL"]
    assert venue.positions() == {"BTCUSDT": -5.0}
    # Buying 15 closes the short and opens a long of 10, 500 more than the short held.
    [reject] = venue.submit(make_order("o3", size=15.0))
    assert "needs 501.50 USDT (notional opened 500.00 / leverage 1 + fee 1.50)" in reject.reason


def exiting_a_long_bought_on_a_bar(
    size: float, *, balance: float, leverage: float, close: float
) -> PaperVenue:
    """A venue (no slippage, taker 0.1 %) holding a long of ``size`` bought at the open of the
    second bar (100), whose low and close are ``close``, with its exit, reduce-only, working
    for the next bar: a strategy reversing on a bar closes its long first."""
    venue = PaperVenue(starting_balance=balance, leverage=leverage, slippage_bps=0, taker_rate=0.001)
    venue.on_bar("BTCUSDT", 100.0, 100.0, 100.0, 100.0, 1_000.0, ts=60.0)
    venue.submit(make_order("o1", size=size))
    venue.on_bar("BTCUSDT", 100.0, 100.0, close, close, 1_000.0, ts=120.0)
    assert venue.positions() == {"BTCUSDT": size}
    assert kinds(venue.submit(make_order("x1", side="SELL", size=size, reduce_only=True))) == ["ORDER_ACK"]
    return venue


def test_an_exit_working_beside_a_reversing_entry_leaves_it_the_long_margin() -> None:
    """A strategy reversing on a bar closes its long (reduce-only) and sends the short entry at
    once; both wait for the next bar's open. The short then holds no more than the long did."""
    venue = exiting_a_long_bought_on_a_bar(6.0, balance=1_000.0, leverage=1, close=100.0)
    assert kinds(venue.submit(make_order("o2", side="SELL", size=6.0))) == ["ORDER_ACK"]
    # A second short on top of them would hold 12, more than the account carries.
    assert kinds(venue.submit(make_order("o3", side="SELL", size=6.0))) == ["REJECT"]
    venue.on_bar("BTCUSDT", 100.0, 100.0, 100.0, 100.0, 1_000.0, ts=180.0)
    assert venue.positions() == {"BTCUSDT": -6.0}


def test_an_account_without_margin_left_cannot_reverse_beside_its_exit() -> None:
    """The short beside the exit needs only its fee, but an account whose losses ate its margin
    has not that either: it closes, and opens nothing."""
    venue = exiting_a_long_bought_on_a_bar(9.9, balance=100.0, leverage=10, close=90.0)
    [reject] = venue.submit(make_order("o2", side="SELL", size=9.9))
    assert reject.reason == (
        "insufficient margin: the order needs 0.89 USDT (notional opened 0.00 / leverage 10 + fee 0.89), "
        "available -89.09 USDT (equity 0.01 - positions' margin 89.10 - working orders' 0.00)"
    )


def _long_and_eth() -> PaperVenue:
    """Long 10 BTCUSDT at 100 at leverage 2 (cash -1, position margin 500, available 499), with
    an ETHUSDT quote of 10 to probe the buying power at a price that does not move."""
    venue = venue_at(leverage=2.0)
    assert kinds(venue.submit(make_order("long", size=10.0))) == ["ORDER_ACK", "FILL"]
    venue.on_quote("ETHUSDT", 10.0, 10.0, 1_000.0, 1_000.0, ts=1.0)
    assert venue.margin()["available_margin"] == pytest.approx(499.0)
    return venue


def test_a_profit_grows_the_buying_power() -> None:
    venue = _long_and_eth()
    # 105 ETH at 10 needs 525 + 1.05: more than 499.
    assert kinds(venue.submit(make_order("e1", asset="ETHUSDT", size=105.0))) == ["REJECT"]
    venue.on_quote("BTCUSDT", 110.0, 110.0, 1_000.0, 1_000.0, ts=2.0)
    # Equity 1,099, the position's margin 550: 549 available.
    assert venue.margin()["available_margin"] == pytest.approx(549.0)
    assert kinds(venue.submit(make_order("e2", asset="ETHUSDT", size=105.0))) == ["ORDER_ACK", "FILL"]


def test_a_loss_shrinks_the_buying_power() -> None:
    venue = _long_and_eth()
    venue.on_quote("BTCUSDT", 90.0, 90.0, 1_000.0, 1_000.0, ts=2.0)
    # Equity 899, the position's margin 450: 449 available, and 95 ETH (475.95) no longer fit.
    assert venue.margin()["available_margin"] == pytest.approx(449.0)
    [reject] = venue.submit(make_order("e1", asset="ETHUSDT", size=95.0))
    assert reject.reason == (
        "insufficient margin: the order needs 475.95 USDT (notional opened 950.00 / leverage 2 + fee "
        "0.95), available 449.00 USDT (equity 899.00 - positions' margin 450.00 - working orders' 0.00)"
    )


def test_a_market_order_before_any_quote_is_valued_at_its_reference_price() -> None:
    venue = PaperVenue(starting_balance=1_000.0, leverage=1, slippage_bps=0, taker_rate=0.001)
    assert kinds(venue.submit(make_order("o1", size=20.0, reference_price=100.0))) == ["REJECT"]
    assert kinds(venue.submit(make_order("o2", size=5.0, reference_price=100.0))) == ["ORDER_ACK"]
    # Without one there is nothing to value it at: refused, saying so.
    [reject] = venue.submit(make_order("o3", size=1.0))
    assert reject.kind.name == "REJECT"
    assert reject.reason.startswith("margin not known: no price for 'BTCUSDT'")


def test_a_restored_book_keeps_its_orders_margin() -> None:
    venue = venue_at()
    venue.submit(make_order("o1", order_type="LIMIT", price=95.0, size=6.0))
    again = PaperVenue(starting_balance=0.0, leverage=1, slippage_bps=0, taker_rate=0.001)
    again.restore_book(venue.book())
    assert again.margin() == pytest.approx(venue.margin())
    assert kinds(again.submit(make_order("o2", order_type="LIMIT", price=90.0, size=5.0))) == ["REJECT"]


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (0, "greater than 0"),
        (-1.0, "greater than 0"),
        (math.nan, "a finite number"),
        (math.inf, "a finite number"),
        # Above what any exchange offers.
        (125.5, "less than or equal to 125"),
        (1e300, "less than or equal to 125"),
        # A trader's "10x" is no number; a flag is not one either.
        ("10x", "unable to parse string as a number"),
        (True, "True is a flag, not a number"),
    ],
)
def test_a_bad_leverage_is_refused_naming_it_and_the_value(value: object, why: str) -> None:
    named = rf"leverage\n .*{why}.*input_value={re.escape(repr(value))}"
    with pytest.raises(ValidationError, match=named):
        PaperVenue(leverage=value)


@pytest.mark.parametrize("value", [0.5, 1, 125])
def test_a_leverage_up_to_125_is_taken(value: float) -> None:
    assert PaperVenue(leverage=value).settings.leverage == value
