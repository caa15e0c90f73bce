"""The Interactive Brokers venue (``IbkrVenue``): TWS or IB Gateway through ib_async, which the
``ibkr`` extra installs. See docs/guides/ibkr.md."""

from __future__ import annotations

try:
    import ib_async  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("IbkrVenue needs ib_async: pip install 'dita[ibkr]'") from exc

from dita.venues.ibkr.settings import IbkrContract, IbkrSettings
from dita.venues.ibkr.venue import IbkrVenue

__all__ = ["IbkrContract", "IbkrSettings", "IbkrVenue"]
