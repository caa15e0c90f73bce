"""PaperVenue.catch_up: a book saved before the end of the kernel's log (a run killed between
two saves), restored, then brought forward with the fills the kernel booked after the save and
the orders it works now. It ends as the killed run's venue was: each order's filled size and
fill count, the positions, the cash and the fees; an order placed after the save works again;
an order of the book the kernel no longer works is off the book. What it cannot apply is named
and changes nothing."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from venue_helpers import make_order

from dita import KernelEventKind, VenueEvent, VenueOrder
from dita.strategy import Bar, Quote
from dita.venues.paper import BookedFill, PaperVenue

T0 = 1_704_067_200.0


def _venue() -> PaperVenue:
    return PaperVenue(taker_rate=0.001, maker_rate=0.0002, slippage_bps=0.0, bar_volume_share=0.1)


def _booked(events: list[VenueEvent]) -> list[BookedFill]:
    """The fills among ``events`` as the kernel's journal rows name them."""
    return [
        BookedFill(
            event_id=e.event_id,
            fill_id=e.fill_id,
            client_order_id=e.venue_client_id,
            venue_order_id=e.venue_order_id,
            asset=e.asset,
            side=e.order_side.name,
            price=e.price,
            qty=e.size,
            fee=e.fee or 0.0,
            liquidity=str(e.metadata.get("liquidity", "")),
        )
        for e in events
        if e.kind == KernelEventKind.FILL
    ]


def _held(venue: PaperVenue) -> dict[str, Any]:
    book = venue.book()
    return {
        "positions": {a: pytest.approx(p) for a, p in book["positions"].items() if p},
        "cash": pytest.approx(book["cash"]),
        "fees_paid": pytest.approx(book["fees_paid"]),
        "orders": {
            o["client_order_id"]: (pytest.approx(o["filled"]), pytest.approx(o["filled_cost"]), o["fills"])
            for o in book["orders"]
        },
    }


def _killed_run() -> tuple[dict[str, Any], PaperVenue, list[VenueEvent]]:
    """A venue with a resting bid ``a`` (0.3 of 1.0 filled) and a resting sell ``b`` when its book
    is saved; after the save ``a`` fills 0.5 more, then the rest, ``b`` is canceled, and ``d``, a
    market sell placed then, fills whole, ``c``, a bid placed then too, 0.1 of 1.0 and works on.
    Returns the saved book, the venue as the kill left it, and its events after the save."""
    venue = _venue()
    venue.on_bar("BTCUSDT", 100.0, 101.0, 99.0, 100.0, 1000.0, T0)
    venue.submit(make_order("a", order_type="LIMIT", price=90.0, timestamp=T0))
    venue.submit(make_order("b", side="SELL", order_type="LIMIT", price=150.0, timestamp=T0))
    venue.on_bar("BTCUSDT", 100.0, 101.0, 85.0, 100.0, 3.0, T0 + 60)  # a: 0.3 of 1.0
    book = venue.book()
    after: list[VenueEvent] = []
    after += venue.on_bar("BTCUSDT", 100.0, 101.0, 85.0, 100.0, 5.0, T0 + 120)  # a: 0.5 more
    after += venue.cancel(make_order("b", side="SELL", order_type="LIMIT", price=150.0))
    after += venue.submit(make_order("d", side="SELL", size=0.4, timestamp=T0 + 120))
    after += venue.submit(make_order("c", order_type="LIMIT", price=80.0, timestamp=T0 + 120))
    after += venue.on_bar("BTCUSDT", 100.0, 101.0, 75.0, 100.0, 2.0, T0 + 180)  # a: its last 0.2
    after += venue.on_bar("BTCUSDT", 100.0, 101.0, 75.0, 100.0, 5.0, T0 + 240)  # d: 0.4, c: 0.1
    return book, venue, after


def test_a_book_caught_up_holds_what_the_killed_run_held() -> None:
    book, killed, after = _killed_run()
    assert _held(killed)["orders"].keys() == {"c"}
    fresh = _venue()
    fresh.resume(42)
    assert fresh.restore_book(book) == []
    done = fresh.catch_up(_booked(after), killed.open_orders())
    assert (done.fills, done.working, done.ended, done.not_applied) == (len(_booked(after)), 1, ["b"], [])
    assert _held(fresh) == _held(killed)
    assert fresh.order_status("a") is not None and fresh.order_status("a").status.name == "FILLED"
    # Both go on alike: c's next fill takes what is left in both books, under an id of this run.
    [theirs] = killed.on_bar("BTCUSDT", 100.0, 101.0, 75.0, 100.0, 1000.0, T0 + 300)
    [mine] = fresh.on_bar("BTCUSDT", 100.0, 101.0, 75.0, 100.0, 1000.0, T0 + 300)
    assert (mine.size, mine.filled_size, mine.price, mine.fee) == (
        theirs.size,
        theirs.filled_size,
        theirs.price,
        theirs.fee,
    )
    assert mine.fill_id == f"{theirs.venue_order_id}-s42-f2" != theirs.fill_id
    assert _held(fresh) == _held(killed)


def test_what_cannot_be_applied_is_named_and_changes_nothing() -> None:
    book, _, after = _killed_run()
    a = next(f for f in _booked(after) if f.client_order_id == "a")
    odd = [
        replace(a, event_id="router-e7", fill_id="x1"),  # another venue's event
        replace(a, client_order_id="z", venue_order_id="paper-1", fill_id="x2"),  # an order before the save
        replace(a, side="SELL", fill_id="x3"),  # not the book's order
        replace(a, qty=5.0, fill_id="x4"),  # more than the order has left
        replace(a, venue_order_id="paper-9", fill_id="x5"),  # another venue id than the book's
    ]
    fresh = _venue()
    fresh.restore_book(book)
    before = _held(fresh)
    done = fresh.catch_up(odd, fresh.open_orders())  # the kernel works the book's orders
    assert (done.fills, done.working, done.ended) == (0, 0, [])
    assert done.not_applied == [
        "fill 'x1' of order 'a' (BTCUSDT): event 'router-e7' is not one of paper's",
        "fill 'x2' of order 'z' (BTCUSDT): its order is not in the saved book nor placed after the save",
        "fill 'x3' of order 'a' (BTCUSDT): a SELL of BTCUSDT, the book's order is a BUY of BTCUSDT",
        "fill 'x4' of order 'a' (BTCUSDT): 5.0 is more than the 0.7 the book's order has left",
        "fill 'x5' of order 'a' (BTCUSDT): venue order id 'paper-9', the book's order is 'paper-1'",
    ]
    assert _held(fresh) == before


def test_an_order_the_kernel_works_unknown_to_the_book_and_placed_before_it_is_named() -> None:
    """The book lacks an order the kernel works that the venue placed before the save (its id
    counts within the book's): it cannot be put back from the log, and reconciliation ends it."""
    book, _, _ = _killed_run()
    book["orders"] = [o for o in book["orders"] if o["client_order_id"] != "b"]
    fresh = _venue()
    fresh.restore_book(book)
    b = VenueOrder(
        "b", 0, "t-1", "BTCUSDT", "SELL", "LIMIT", 150.0, 1.0, venue_order_id="paper-2", timestamp=T0
    )
    done = fresh.catch_up([], [*fresh.open_orders(), b])
    assert (done.working, done.ended) == (0, [])
    assert done.not_applied == [
        "order 'b' (BTCUSDT, venue id 'paper-2'): the kernel works it, but it is not in the saved book "
        "nor placed after the save"
    ]
    assert fresh.working_size("b") is None


def test_an_order_sent_after_the_save_whose_answer_the_log_lost_is_taken_and_fills_alike() -> None:
    """The killed run's venue took ``e``, a bid sent after the save, and the run was killed before
    the kernel heard the answer: the kernel works ``e`` with no venue order id, and its log names
    it sent after the save. The venue takes it as ``submit`` did, under an id of this run, and
    fills it as the killed run's venue does. Not named sent after the save, it is left out."""
    book, killed, after = _killed_run()
    e = make_order("e", order_type="LIMIT", price=70.0, timestamp=T0 + 240)
    killed.submit(e)  # the answer is lost with the run
    working = [*(o for o in killed.open_orders() if o.client_order_id != "e"), e]
    fresh = _venue()
    fresh.resume(42)
    fresh.restore_book(book)
    done = fresh.catch_up(_booked(after), working, sent_after_save=["e"])
    assert (done.working, done.taken, done.not_applied) == (2, ["e"], [])
    taken = fresh.order_status("e")
    assert taken is not None and (taken.status.name, taken.venue_order_id) == ("ACKNOWLEDGED", "paper-s42-3")
    assert fresh.submitted == killed.submitted
    assert _held(fresh) == _held(killed)
    theirs = killed.on_bar("BTCUSDT", 100.0, 101.0, 65.0, 100.0, 1000.0, T0 + 300)
    mine = fresh.on_bar("BTCUSDT", 100.0, 101.0, 65.0, 100.0, 1000.0, T0 + 300)
    assert [(e.venue_client_id, e.size, e.price, e.fee) for e in mine] == [
        (e.venue_client_id, e.size, e.price, e.fee) for e in theirs
    ]
    assert "e" in {e.venue_client_id for e in mine} and _held(fresh) == _held(killed)

    left = _venue()
    left.restore_book(book)
    done = left.catch_up(_booked(after), working)
    assert (done.working, done.taken) == (1, [])
    assert done.not_applied == [
        "order 'e' (BTCUSDT, venue id ''): the kernel works it, but it is not in the saved book nor "
        "placed after the save"
    ]


def test_orders_put_back_keep_their_place_in_the_venues_queue() -> None:
    """The venue shares a bar's volume among orders oldest first. Orders placed after the save
    are put back in the order it took them, however the kernel lists them (slot by slot): those
    it answered by their venue order ids, then those whose answer the log lost, in the order the
    log sent them. The next bar fills them as it fills the killed run's."""
    killed = PaperVenue(taker_rate=0.001, slippage_bps=0.0, bar_volume_share=0.1)
    killed.on_bar("BTCUSDT", 100.0, 101.0, 99.0, 100.0, 10.0, T0)
    book = killed.book()
    # Four sells of 0.4 on a bar of 10 at a share of 0.1: 1.0 to share, the first two fill whole.
    orders = [
        make_order(cid, side="SELL", size=0.4, slot_id=slot, trade_id=f"t-{cid}", timestamp=T0)
        for cid, slot in (("k-1", 3), ("k-2", 2), ("k-3", 1), ("k-4", 0))
    ]
    for order in orders:
        killed.submit(order)
    answered = [o for o in killed.open_orders() if o.client_order_id in ("k-1", "k-2")]
    # k-3 and k-4 were sent with their answers lost with the run.
    working = sorted([*answered, *orders[2:]], key=lambda o: o.slot_id)
    fresh = PaperVenue(taker_rate=0.001, slippage_bps=0.0, bar_volume_share=0.1)
    fresh.restore_book(book)
    done = fresh.catch_up([], working, sent_after_save=["k-3", "k-4"])
    assert (done.working, done.taken, done.not_applied) == (4, ["k-3", "k-4"], [])

    theirs = killed.on_bar("BTCUSDT", 100.0, 101.0, 99.0, 100.0, 10.0, T0 + 60)
    mine = fresh.on_bar("BTCUSDT", 100.0, 101.0, 99.0, 100.0, 10.0, T0 + 60)
    filled = [(e.venue_client_id, e.size) for e in theirs if e.kind == KernelEventKind.FILL]
    assert filled == [("k-1", pytest.approx(0.4)), ("k-2", pytest.approx(0.4)), ("k-3", pytest.approx(0.2))]
    assert [(e.venue_client_id, e.size) for e in mine if e.kind == KernelEventKind.FILL] == filled
    assert _held(fresh) == _held(killed)


def test_an_order_sent_after_the_save_the_venue_refuses_is_named_and_not_taken() -> None:
    """Taken as ``submit`` takes it, an order the account cannot carry is refused: named, it is
    left to reconciliation, which ends it in the kernel."""
    venue = PaperVenue(leverage=1.0, starting_balance=100.0, slippage_bps=0.0)
    venue.on_bar("BTCUSDT", 100.0, 101.0, 99.0, 100.0, 1000.0, T0)
    book = venue.book()
    fresh = PaperVenue(leverage=1.0, starting_balance=100.0, slippage_bps=0.0)
    fresh.restore_book(book)
    e = make_order("e", size=5.0, timestamp=T0 + 60)
    done = fresh.catch_up([], [e], sent_after_save=["e"])
    assert (done.working, done.taken) == (0, [])
    [said] = done.not_applied
    assert said.startswith(
        "order 'e' (BTCUSDT): the kernel sent it after the save, its answer is not in the log, and "
        "the venue refuses it: insufficient margin: the order needs 500"
    )
    assert fresh.order_status("e") is None and fresh.book() == {**book, "submitted": 1}


def test_a_sent_order_id_that_is_not_text_is_refused_naming_it() -> None:
    book, killed, after = _killed_run()
    fresh = _venue()
    fresh.restore_book(book)
    with pytest.raises(
        TypeError, match=r"^catch_up\(\): sent_after_save item 1 is 7, not a client order id$"
    ):
        fresh.catch_up(_booked(after), killed.open_orders(), sent_after_save=["c", 7])  # type: ignore[list-item]
    assert fresh.book() == book


def _part_filled_while_saved() -> tuple[dict[str, Any], PaperVenue, list[VenueEvent]]:
    """A market buy of 1.0 the quote fills 0.4 of at submit, the book saved right after: it holds
    the fill, which the kernel logs after the seq saved with the book (a save on another thread
    than the submit's). The next quote fills the rest, after the save. Returns the book, the
    venue as the kill left it, and the fills (the part fill's logged after the saved seq too)."""
    venue = _venue()
    venue.on_quote("BTCUSDT", 99.5, 100.5, 0.4, 0.4, ts=T0)
    answer = venue.submit(make_order("a", timestamp=T0))
    book = venue.book()
    after = venue.on_quote("BTCUSDT", 99.5, 100.5, 5.0, 5.0, ts=T0 + 60)
    return book, venue, [*answer, *after]


def test_a_fill_the_saved_book_holds_already_is_not_applied_again() -> None:
    book, killed, logged = _part_filled_while_saved()
    assert book["positions"] == {"BTCUSDT": 0.4}
    fresh = _venue()
    fresh.resume(42)
    fresh.restore_book(book)
    done = fresh.catch_up(_booked(logged), killed.open_orders())
    assert (done.held, done.fills, done.not_applied) == (1, 1, [])
    assert _held(fresh) == _held(killed)
    assert fresh.positions() == {"BTCUSDT": pytest.approx(1.0)}


def test_a_book_saved_without_its_last_event_applies_every_fill_after_its_seq() -> None:
    """A book an older dita saved names no last event: it still restores, and catch-up applies
    every fill it is given, as it did then."""
    book, killed, logged = _part_filled_while_saved()
    del book["last_event_id"]
    fresh = _venue()
    fresh.restore_book(book)
    done = fresh.catch_up(_booked(logged)[1:], killed.open_orders())  # those after the book
    assert (done.held, done.fills, done.not_applied) == (0, 1, [])
    assert _held(fresh) == _held(killed)


def test_a_restored_venue_counts_its_events_on_from_the_book() -> None:
    """Its events never take a count the book holds, so catch-up never takes one for the book's,
    even under the same marks (a run whose kernel took no input before the next run started)."""
    book, _, logged = _part_filled_while_saved()
    fresh = _venue()
    fresh.restore_book(book)
    assert book["last_event_id"] == _booked(logged)[0].event_id == "paper-e2"  # its ack was paper-e1
    [event] = fresh.submit(make_order("b", order_type="LIMIT", price=90.0, timestamp=T0))
    assert event.event_id == "paper-e3"


@pytest.mark.parametrize("last", ["paper", "paper-e", "paper-ex", 7, "-e3"])
def test_a_saved_last_event_that_is_no_event_id_is_refused_naming_it(last: object) -> None:
    book, _, _ = _part_filled_while_saved()
    book["last_event_id"] = last
    fresh = _venue()
    with pytest.raises(ValueError, match=f"paper book: last_event_id .*{last!r} is not an event id"):
        fresh.restore_book(book)
    assert fresh.positions() == {} and fresh.open_orders() == []


def _bar_at(venue: PaperVenue, minute: int, *, low: float = 99.0, high: float = 101.0) -> list[VenueEvent]:
    return venue.on_bar("BTCUSDT", 100.0, high, low, 100.0, 1000.0, T0 + 60 * minute)


class _CancelPending:
    """``order`` as the kernel's ``open_orders()`` lists it once it asked its cancel: a venue's
    own ``open_orders()`` never says a cancel is pending."""

    cancel_requested = True

    def __init__(self, order: VenueOrder) -> None:
        self._order = order

    def __getattr__(self, name: str) -> Any:
        return getattr(self._order, name)


def _continued(
    latency_ms: float, send: Any, *, bid: bool = False, passed_over: int = 1
) -> tuple[PaperVenue, PaperVenue]:
    """Bars at 100 from minute 0 (a bid ``a`` at 95 sent on it when ``bid``); ``send(venue)``
    on the bar of minute 20, after the book's save at minute 19, returns the cancels it asked;
    then the bars up to minute 20 + ``passed_over`` - 1. Returns the run that was not stopped
    and one whose book is put back from the log, those bars passed over."""
    unbroken = PaperVenue(slippage_bps=0.0, latency_ms=latency_ms, bar_seconds=60)
    for m in range(20):
        _bar_at(unbroken, m)
        if bid and m == 0:
            unbroken.submit(make_order("a", order_type="LIMIT", price=95.0, timestamp=T0))
    book = unbroken.book()
    _bar_at(unbroken, 20)
    asked = send(unbroken)
    working = [_CancelPending(o) if o.client_order_id in asked else o for o in unbroken.open_orders()]
    for m in range(21, 20 + passed_over):
        _bar_at(unbroken, m)
    fresh = PaperVenue(slippage_bps=0.0, latency_ms=latency_ms, bar_seconds=60)
    fresh.restore_book(book)
    done = fresh.catch_up([], working, asked)
    assert done.not_applied == []
    fresh.pass_over(
        [Bar("BTCUSDT", T0 + 60 * m, 100.0, 101.0, 99.0, 100.0, 1000.0) for m in range(20, 20 + passed_over)]
    )
    return unbroken, fresh


def _next_bar(
    unbroken: PaperVenue, continued: PaperVenue, minute: int, **then: float
) -> tuple[list[VenueEvent], list[VenueEvent]]:
    """The events of the bar of ``minute`` (its low or high ``then``) in both runs."""
    return _bar_at(unbroken, minute, **then), _bar_at(continued, minute, **then)


def _cancel_of(venue: PaperVenue, client_order_id: str) -> tuple[float | None, bool]:
    """When ``client_order_id``'s cancel reaches the venue, and whether that waits for a bar's close."""
    [order] = [o for o in venue.book()["orders"] if o["client_order_id"] == client_order_id]
    return order["cancel_at"], order["cancel_awaits_close"]


def _fills(events: list[VenueEvent]) -> list[tuple[str, float, str]]:
    return [(e.kind.name, e.price, str(e.metadata.get("liquidity", ""))) for e in events]


def test_an_order_put_back_goes_live_after_its_bar_closes_and_the_latency() -> None:
    """A sell limit at 150 sent on minute 20 with 20 s latency, put back from the log, filled on
    the bar of minute 21 (which traded through 150): it is live from 21:20 only."""

    def send(venue: PaperVenue) -> dict[str, float]:
        venue.submit(make_order("s", side="SELL", order_type="LIMIT", price=150.0, timestamp=T0 + 1200))
        return {}

    unbroken, continued = _next_bar(*_continued(20_000.0, send), 21, high=160.0)
    assert _fills(continued) == _fills(unbroken) == []


def test_a_marketable_limit_put_back_fills_at_the_next_open_as_a_taker() -> None:
    """A buy limit at 105 sent on minute 20 (the market at 100), put back from the log, filled
    at its limit as a maker: it was taken to rest, not to be marketable as it was sent."""

    def send(venue: PaperVenue) -> dict[str, float]:
        venue.submit(make_order("b", order_type="LIMIT", price=105.0, timestamp=T0 + 1200))
        return {}

    unbroken, continued = _next_bar(*_continued(0.0, send), 21, low=99.0)
    assert _fills(continued) == _fills(unbroken) == [("FILL", 100.0, "TAKER")]


def test_a_pending_cancel_put_back_takes_effect_after_its_bar_closes_and_the_latency() -> None:
    """A cancel asked on minute 20 with 20 s latency, of a bid resting since before the save,
    waits for that bar's close: the bar of minute 21 crosses the bid before the cancel reaches
    the venue (21:20), and fills it as in the run not stopped."""

    def send(venue: PaperVenue) -> dict[str, float]:
        venue.cancel(make_order("a", order_type="LIMIT", price=95.0))
        return {"a": T0 + 1200}

    unbroken, continued = _continued(20_000.0, send, bid=True)
    assert _cancel_of(continued, "a") == _cancel_of(unbroken, "a") == (T0 + 1220, True)
    unbroken_events, continued_events = _next_bar(unbroken, continued, 21, low=90.0)
    assert _fills(continued_events) == _fills(unbroken_events) == [("FILL", 95.0, "MAKER")]


def test_a_pending_cancel_put_back_whose_bar_closed_in_the_rows_passed_over_waits_no_more() -> None:
    """The same cancel, the bar of minute 21 (which closes minute 20's) passed over too: the
    cancel reaches the venue at 21:20, so the bid is canceled at the bar of minute 22, which
    crosses it, as in the run not stopped, and does not wait for minute 21's close as well."""

    def send(venue: PaperVenue) -> dict[str, float]:
        venue.cancel(make_order("a", order_type="LIMIT", price=95.0))
        return {"a": T0 + 1200}

    unbroken, continued = _continued(20_000.0, send, bid=True, passed_over=2)
    assert _cancel_of(continued, "a") == _cancel_of(unbroken, "a") == (T0 + 1280, False)
    unbroken_events, continued_events = _next_bar(unbroken, continued, 22, low=90.0)
    assert _fills(continued_events) == _fills(unbroken_events) == [("CANCEL_ACK", 0.0, "")]


def _mixed_feed(
    sent_on: Bar | Quote, bid_then: float, at_then: float
) -> tuple[list[VenueEvent], list[VenueEvent]]:
    """A venue fed bars and quotes (bars of a minute, a latency of 5 s): a bar at T0, a quote at
    T0 + 10, its book saved; then ``sent_on`` and a sell limit at 101 sent on it; then a quote with
    bid ``bid_then`` at T0 + ``at_then``. Returns that quote's events in the run that was not
    stopped and in one whose book is put back from the log, ``sent_on`` passed over."""
    unbroken = PaperVenue(slippage_bps=0.0, latency_ms=5_000.0, bar_seconds=60)
    unbroken.on_bar("BTCUSDT", 100.0, 101.0, 99.0, 100.0, 1000.0, T0)
    unbroken.on_quote("BTCUSDT", 100.0, 100.5, 10.0, 10.0, T0 + 10)
    book = unbroken.book()
    if isinstance(sent_on, Bar):
        unbroken.on_bar(sent_on.asset, *sent_on[2:], sent_on.ts)
    else:
        unbroken.on_quote(sent_on.asset, *sent_on[2:], sent_on.ts)
    sell = make_order("s", side="SELL", order_type="LIMIT", price=101.0, timestamp=sent_on.ts)
    unbroken.submit(sell)
    fresh = PaperVenue(slippage_bps=0.0, latency_ms=5_000.0, bar_seconds=60)
    fresh.restore_book(book)
    assert fresh.catch_up([], unbroken.open_orders()).not_applied == []
    fresh.pass_over([sent_on])
    then = ("BTCUSDT", bid_then, bid_then + 0.5, 10.0, 10.0, T0 + at_then)
    return unbroken.on_quote(*then), fresh.on_quote(*then)


def test_an_order_put_back_that_was_sent_on_a_quote_goes_live_a_latency_after_it() -> None:
    """A sell limit sent on a quote of a feed of bars and quotes, put back from the log, was
    taken as sent on a bar (the venue had taken bars): it waited for that bar's close, a minute,
    and missed the quote 20 s later that the run not stopped filled it on."""
    unbroken, continued = _mixed_feed(Quote("BTCUSDT", T0 + 20, 100.0, 100.5, 10.0, 10.0), 102.0, 40)
    assert _fills(unbroken) == [("FILL", 102.0, "TAKER")]
    assert _fills(continued) == _fills(unbroken)


def test_an_order_put_back_sent_on_a_bar_waits_for_its_close_though_the_book_ended_on_a_quote() -> None:
    """The saved book's last data is a quote; the order was sent on the bar after it, which the
    venue takes again (``pass_over``): decided at that bar's close, it misses a quote inside the
    bar, as in the run not stopped."""
    bar = Bar("BTCUSDT", T0 + 60, 100.0, 100.5, 99.5, 100.0, 1000.0)
    unbroken, continued = _mixed_feed(bar, 102.0, 90)
    assert _fills(continued) == _fills(unbroken) == []
