"""The paper venue: fills from quotes or bars, deterministic, so paper results are not rosier
than live. ``PaperVenue``, its rules and the map of its modules are in ``venue``."""

from dita.venues.paper.catch_up import BookedFill, CaughtUp
from dita.venues.paper.saved_book import BOOK_FORMAT
from dita.venues.paper.settings import MAX_LATENCY_MS, MAX_LEVERAGE, PaperSettings
from dita.venues.paper.venue import PaperVenue

__all__ = [
    "BOOK_FORMAT",
    "MAX_LATENCY_MS",
    "MAX_LEVERAGE",
    "BookedFill",
    "CaughtUp",
    "PaperSettings",
    "PaperVenue",
]
