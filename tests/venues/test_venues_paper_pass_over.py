"""PaperVenue.pass_over: the rows a run killed between two saves handled after its book's save,
which the continued replay skips, taken by the restored venue without filling anything (the
kernel's log holds what they filled): its clock, last prices and bar closes move on, and an
order they reached without crossing its limit rests, as in the venue that saw them."""

from __future__ import annotations

from venue_helpers import make_order

from dita.strategy import Bar, Quote
from dita.venues.paper import PaperVenue

T0 = 1_704_067_200.0


def _venue(latency_ms: float = 0.0) -> PaperVenue:
    return PaperVenue(
        taker_rate=0.001, maker_rate=0.0002, slippage_bps=0.0, bar_volume_share=0.1, latency_ms=latency_ms
    )


def _saved_with_a_bid(latency_ms: float = 0.0) -> tuple[dict, PaperVenue]:
    """A bid at 96 sent on the bar at T0, saved before any later bar reached it."""
    venue = _venue(latency_ms)
    venue.on_bar("BTCUSDT", 100.0, 101.0, 99.0, 100.0, 1000.0, T0)
    venue.submit(make_order("a", order_type="LIMIT", price=96.0, timestamp=T0))
    return venue.book(), venue


def _restored(book: dict, latency_ms: float = 0.0) -> PaperVenue:
    venue = _venue(latency_ms)
    venue.restore_book(book)
    venue.catch_up([], [make_order("a", order_type="LIMIT", price=96.0, timestamp=T0)])
    return venue


def _kept(book: dict) -> dict:
    """What a book holds but the ids' marks of a restored venue."""
    orders = [{k: v for k, v in o.items() if k != "venue_order_id"} for o in book["orders"]]
    return {**{k: v for k, v in book.items() if k != "orders"}, "orders": orders}


def test_a_bid_a_passed_bar_did_not_cross_rests_and_then_fills_as_a_maker() -> None:
    book, unbroken = _saved_with_a_bid()
    passed = Bar("BTCUSDT", T0 + 60, 100.0, 101.0, 99.0, 100.0, 1000.0)
    assert unbroken.on_bar(*passed[:1], *passed[2:], passed.ts) == []
    venue = _restored(book)
    assert venue.pass_over([passed]) == 1
    assert _kept(venue.book()) == _kept(unbroken.book())
    nxt = ("BTCUSDT", 95.66, 101.0, 95.0, 100.0, 1000.0, T0 + 120)
    [fill] = venue.on_bar(*nxt)
    [want] = unbroken.on_bar(*nxt)
    assert (fill.price, fill.fee, fill.metadata) == (want.price, want.fee, want.metadata)
    assert fill.price == 96.0 and fill.metadata["liquidity"] == "MAKER"


def test_nothing_fills_on_a_row_passed_over() -> None:
    """A bar that crosses the bid filled it in the killed run: the log says so (``catch_up``);
    passed over, it changes no order, position or cash, and the bid is not taken to rest (the
    close of the bar it was sent on is reached: that is the clock's)."""
    book, _ = _saved_with_a_bid()
    venue = _restored(book)
    before = venue.book()
    venue.pass_over([Bar("BTCUSDT", T0 + 60, 95.0, 101.0, 94.0, 100.0, 1000.0)])
    after = venue.book()
    assert [o["awaits_close"] for o in before["orders"] + after["orders"]] == [True, False]
    clock = {"awaits_close": False, "active_at": T0 + 60}  # live from that close
    assert [{**o, **clock} for o in before["orders"]] == after["orders"]
    assert after["orders"][0]["resting"] is False
    assert (after["positions"], after["cash"], after["fees_paid"]) == (
        before["positions"],
        before["cash"],
        before["fees_paid"],
    )
    assert after["now"] == T0 + 60 and after["quotes"]["BTCUSDT"] == [100.0, 100.0, 0.0, 0.0]


def test_the_close_an_order_sent_on_a_bar_waits_for_is_reached_on_a_row_passed_over() -> None:
    """With a latency, an order sent on a bar goes live a latency after that bar's close, known at
    the next bar's open (no bar length known here): passed over, that bar still closes it."""
    book, unbroken = _saved_with_a_bid(latency_ms=1000.0)
    passed = ("BTCUSDT", 100.0, 101.0, 99.0, 100.0, 1000.0, T0 + 60)
    unbroken.on_bar(*passed)
    venue = _restored(book, latency_ms=1000.0)
    venue.pass_over([Bar(passed[0], passed[-1], *passed[1:-1])])
    assert _kept(venue.book()) == _kept(unbroken.book())


def test_a_quote_passed_over_is_the_market_an_order_then_takes() -> None:
    venue = _venue()
    venue.on_quote("BTCUSDT", 99.0, 100.0, 5.0, 5.0, T0)
    venue2 = _venue()
    venue2.restore_book(venue.book())
    venue2.pass_over([Quote("BTCUSDT", T0 + 60, 102.0, 103.0, 5.0, 5.0)])
    events = venue2.submit(make_order("m", timestamp=T0 + 60))
    fills = [e for e in events if e.kind.name == "FILL"]
    assert [f.price for f in fills] == [103.0]
