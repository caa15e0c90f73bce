"""The paper venue: fills from quotes or bars, deterministic, so paper results are not rosier
than live. ``PaperVenue`` and its rules are in ``venue``."""

from dita.venues.paper.settings import MAX_LATENCY_MS, MAX_LEVERAGE, PaperSettings
from dita.venues.paper.venue import BOOK_FORMAT, BookedFill, CaughtUp, PaperVenue

__all__ = [
    "BOOK_FORMAT",
    "MAX_LATENCY_MS",
    "MAX_LEVERAGE",
    "BookedFill",
    "CaughtUp",
    "PaperSettings",
    "PaperVenue",
]
