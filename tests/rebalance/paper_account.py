"""A paper venue holding a given account: cash, positions and a deep quote per symbol."""

from __future__ import annotations

from typing import Any

from dita.venues.paper import PaperVenue

PRICES = {"BTC": 50_000.0, "ETH": 2_000.0, "SOL": 100.0}


def paper_venue(cash: float, positions: dict[str, float], **settings: Any) -> PaperVenue:
    """A venue whose book holds ``cash`` and ``positions``, quoted at ``PRICES`` with no spread."""
    book = PaperVenue().book()
    book.update(cash=cash, positions=dict(positions), now=1.0)
    book["quotes"] = {symbol: [price, price, 1e12, 1e12] for symbol, price in PRICES.items()}
    venue = PaperVenue(slippage_bps=0.0, **settings)
    venue.restore_book(book)
    return venue
