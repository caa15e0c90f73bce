"""PaperVenue.restore_book refuses orders no paper venue could have held, naming the field and
its value, and changes nothing: restored, such an order worked on for good (a size of 0 never
filled, its kernel slot held) or filled at a price no market offered (a sell limit at 0)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from venue_helpers import make_order

from dita import KernelEventKind
from dita.venues import PaperVenue


def _book(*, filled: bool = False, canceling: bool = False) -> dict[str, Any]:
    venue = PaperVenue(slippage_bps=0.0, latency_ms=100.0 if canceling else 0.0)
    venue.on_quote("BTCUSDT", 99.0, 100.0, 0.5 if filled else 5.0, 0.5 if filled else 5.0, ts=1.0)
    if filled:
        # Marketable, filled 0.5 of 1.0 by the quoted size; the rest works on.
        order = make_order("o1", order_type="LIMIT", price=101.0, size=1.0)
    else:
        order = make_order("o1", side="SELL", order_type="LIMIT", price=102.0, size=1.0)
    venue.submit(order)
    if canceling:
        venue.cancel(order)
    return venue.book()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"size": 0.0}, "order 'o1': size 0.0 is not above 0"),
        ({"price": 0.0}, "order 'o1': price 0.0 of a LIMIT order is not above 0"),
        ({"asset": ""}, "order 'o1': asset '' is not a market"),
        ({"venue_order_id": ""}, "order 'o1': venue_order_id '' is empty"),
        ({"filled_cost": 50.0}, "order 'o1': filled_cost 50.0 with nothing filled"),
        ({"fills": 2}, "order 'o1': fills 2 with nothing filled"),
        # Refused already; still named by field and value.
        ({"size": -1.0}, "invalid size: -1"),
        ({"side": "SIDEWAYS"}, 'invalid side: unknown side "SIDEWAYS"; expected one of BUY, SELL'),
        ({"filled": 2.0}, "order 'o1': filled 2.0 of 1.0, more than its size"),
    ],
)
def test_an_impossible_resting_order_is_refused_naming_it(change: dict[str, Any], message: str) -> None:
    book = _book()
    book["orders"][0].update(change)
    fresh = PaperVenue()
    with pytest.raises(ValueError, match=f"paper book: orders .*{re.escape(message)}"):
        fresh.restore_book(book)
    assert fresh.open_orders() == [] and fresh.now() == 0.0 and fresh.positions() == {}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        # Its next fill took the id of the first ("paper-1-f1"): the kernel dropped it as a
        # duplicate, a fill lost.
        ({"fills": 0}, "order 'o1': fills 0 with 0.5 filled"),
        ({"filled_cost": 0.0}, "order 'o1': filled_cost 0.0 for 0.5 filled"),
    ],
)
def test_a_part_filled_order_whose_fills_do_not_add_up_is_refused(
    change: dict[str, Any], message: str
) -> None:
    book = _book(filled=True)
    assert book["orders"][0]["filled"] == 0.5 and book["orders"][0]["fills"] == 1
    book["orders"][0].update(change)
    fresh = PaperVenue()
    with pytest.raises(ValueError, match=f"paper book: orders .*{re.escape(message)}"):
        fresh.restore_book(book)
    assert fresh.open_orders() == [] and fresh.now() == 0.0


def test_a_cancel_on_its_way_without_its_time_or_a_time_without_the_cancel_is_refused() -> None:
    """``canceling`` lists exactly the orders with a ``cancel_at``: one listed without it was
    never acknowledged (the kernel's cancel pending for good), one with it but not listed was
    never canceled."""
    book = _book(canceling=True)
    assert book["canceling"] == ["o1"] and book["orders"][0]["cancel_at"] is not None
    untimed = {**book, "orders": [{**book["orders"][0], "cancel_at": None}]}
    fresh = PaperVenue(latency_ms=100.0)
    with pytest.raises(ValueError, match=re.escape("cancel of 'o1' with no cancel_at")):
        fresh.restore_book(untimed)
    unlisted = {**book, "canceling": []}
    with pytest.raises(ValueError, match=re.escape("order 'o1': cancel_at 1.1 with no cancel on its way")):
        fresh.restore_book(unlisted)
    assert fresh.open_orders() == [] and fresh.now() == 0.0
    # As book() wrote it, it is taken, and the cancel arrives.
    fresh.restore_book(book)
    done = fresh.on_quote("BTCUSDT", 99.0, 100.0, 5.0, 5.0, ts=1.2)
    assert [e.kind for e in done] == [KernelEventKind.CANCEL_ACK]


def test_a_consistent_book_still_restores_with_its_part_fill() -> None:
    book = _book(filled=True)
    fresh = PaperVenue(slippage_bps=0.0)
    assert fresh.restore_book(book) == []
    (order,) = fresh.open_orders()
    assert (order.filled_size, order.size) == (0.5, 1.0)
    events = fresh.on_quote("BTCUSDT", 99.0, 100.0, 5.0, 5.0, ts=2.0)
    assert [(e.kind, e.fill_id, e.filled_size) for e in events] == [(KernelEventKind.FILL, "paper-1-f2", 1.0)]
