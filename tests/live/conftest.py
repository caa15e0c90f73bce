"""The live run's tests use the local Binance exchange of the venue tests (``tests/venues``)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

VENUE_TESTS = str(Path(__file__).resolve().parent.parent / "venues")
if VENUE_TESTS not in sys.path:
    sys.path.append(VENUE_TESTS)

from binance_market import BinanceMarket  # noqa: E402
from binance_streams import BinanceStreamServer, streaming  # noqa: E402


@pytest.fixture
def exchange() -> Iterator[BinanceStreamServer]:
    # Prices swinging over 3 s: a close and the 2-bar average of 1 s bars cross every few bars.
    with streaming(market=BinanceMarket(wave_s=3.0)) as server:
        yield server
