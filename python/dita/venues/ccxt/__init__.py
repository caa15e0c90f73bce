"""Live exchanges through the ccxt library: ``CcxtVenue`` (``venue``) and the parts it is built
from, one module each (see ``venue``'s docstring for the map)."""

from dita.venues.ccxt.errors import MAX_RETRY_AFTER_S
from dita.venues.ccxt.markets import TopOfBook, market_limits
from dita.venues.ccxt.settings import CcxtSettings
from dita.venues.ccxt.venue import CcxtVenue

__all__ = ["MAX_RETRY_AFTER_S", "CcxtSettings", "CcxtVenue", "TopOfBook", "market_limits"]
