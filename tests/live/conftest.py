"""The live run's tests use the local Binance exchange of the venue tests (``tests/venues``)."""

from __future__ import annotations

import sys
from pathlib import Path

VENUE_TESTS = str(Path(__file__).resolve().parent.parent / "venues")
if VENUE_TESTS not in sys.path:
    sys.path.append(VENUE_TESTS)
