"""A paper venue restored from a saved book (``restore_book``) refuses the bar the saved venue
took last, as that venue would: handed again (a run continuing a book fed the data from the
saved clock on, that clock's bar included), it filled its volume share a second time."""

from __future__ import annotations

import json

import pytest
from venue_helpers import make_order

from dita.venues import PaperVenue

T0 = 1_704_067_200.0


def _venue() -> PaperVenue:
    return PaperVenue(slippage_bps=0, latency_ms=0, bar_volume_share=0.5)


def _saved() -> dict[str, object]:
    """The book of a venue whose resting bid took 0.5 of 2.0 on the bar at T0 + 60, its last."""
    venue = _venue()
    venue.on_bar("BTCUSDT", 100.0, 101.0, 99.0, 100.0, 1.0, T0)
    venue.submit(make_order("c1", order_type="LIMIT", price=99.5, size=2.0, reference_price=100.0))
    [fill] = venue.on_bar("BTCUSDT", 100.0, 101.0, 99.0, 100.0, 1.0, T0 + 60)
    assert fill.size == 0.5
    saved: dict[str, object] = json.loads(json.dumps(venue.book()))
    return saved


def test_the_saved_venues_last_bar_handed_to_the_restored_one_is_refused_filling_nothing() -> None:
    restored = _venue()
    restored.restore_book(_saved())
    with pytest.raises(ValueError, match=r"a bar for 'BTCUSDT' at ts 1704067260.0 was handed already"):
        restored.on_bar("BTCUSDT", 100.0, 101.0, 99.0, 100.0, 1.0, T0 + 60)
    (still,) = restored.open_orders()
    assert still.filled_size == 0.5
    # Another asset's bar of that time is no repeat, and the next bar fills as it would have.
    assert restored.on_bar("ETHUSDT", 10.0, 11.0, 9.0, 10.0, 1.0, T0 + 60) == []
    [fill] = restored.on_bar("BTCUSDT", 100.0, 101.0, 99.0, 100.0, 1.0, T0 + 120)
    assert (fill.size, fill.filled_size) == (0.5, 1.0)


def test_a_book_saved_before_the_bars_were_kept_restores_as_before() -> None:
    book = _saved()
    del book["bar_at"]
    restored = _venue()
    restored.restore_book(book)
    [fill] = restored.on_bar("BTCUSDT", 100.0, 101.0, 99.0, 100.0, 1.0, T0 + 120)
    assert fill.filled_size == 1.0


@pytest.mark.parametrize(
    ("bar_at", "message"),
    [
        ({"BTCUSDT": "later"}, r"bar_at.*'later'"),
        ({"BTCUSDT": float("nan")}, r"BTCUSDT must be finite"),
        ({"BTCUSDT": -60.0}, r"BTCUSDT must not be negative"),
        ({"BTCUSDT": T0 + 120}, r"bar of 'BTCUSDT' at 1704067320.0 is after the venue clock 1704067260.0"),
        (["BTCUSDT"], r"bar_at"),
    ],
)
def test_a_saved_last_bar_no_venue_took_is_refused_changing_nothing(bar_at: object, message: str) -> None:
    book = _saved()
    book["bar_at"] = bar_at
    venue = _venue()
    with pytest.raises(ValueError, match=message):
        venue.restore_book(book)
    assert venue.open_orders() == [] and venue.data_time is None
