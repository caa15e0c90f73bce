"""``dita.venues.ccxt`` under the module path ``from dita.venues.ccxt_venue import CcxtVenue``
imports; the code lives in that package, one module per part of the venue."""

from dita.venues.ccxt import MAX_RETRY_AFTER_S, CcxtSettings, CcxtVenue, TopOfBook, market_limits
from dita.venues.ccxt.tracking import TrackedOrder
from dita.venues.ccxt.trades import _gate_next_page as _gate_next_page
from dita.venues.ccxt.trades import _time_ranges as _time_ranges

_Tracked = TrackedOrder  # the name the tests of trade reading build an order record by

__all__ = ["MAX_RETRY_AFTER_S", "CcxtSettings", "CcxtVenue", "TopOfBook", "market_limits"]
