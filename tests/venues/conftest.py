"""Fixtures for the venue tests: orders, a settable clock and the recorded-Binance server."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from recorded_exchange import RecordedExchange, serving
from venue_helpers import API_KEY, API_SECRET, CLIENT_TIMEOUT_MS, ManualClock

from dita.venues import CcxtVenue


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def exchange() -> Iterator[RecordedExchange]:
    with serving() as server:
        yield server


@pytest.fixture
def binance_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DITA_TEST_BINANCE_KEY", API_KEY)
    monkeypatch.setenv("DITA_TEST_BINANCE_SECRET", API_SECRET)


@pytest.fixture
def make_venue(
    exchange: RecordedExchange, clock: ManualClock, binance_keys: None
) -> Iterator[Callable[..., CcxtVenue]]:
    """A CcxtVenue pointed at the recorded exchange, markets loaded from the fixtures."""
    venues: list[CcxtVenue] = []

    def build(market_type: str = "spot", **settings: Any) -> CcxtVenue:
        info = (
            "binance/spot_exchange_info.json" if market_type == "spot" else "binance/usdm_exchange_info.json"
        )
        path = "/api/v3/exchangeInfo" if market_type == "spot" else "/fapi/v1/exchangeInfo"
        exchange.script("GET", path, info, repeat=True)
        # The venue syncs its clock with the exchange's as markets load: the time now, no offset.
        time_path = "/api/v3/time" if market_type == "spot" else "/fapi/v1/time"
        exchange.script("GET", time_path, payload={"serverTime": int(time.time() * 1000)}, repeat=True)
        options: dict[str, Any] = {
            "exchange": "binance",
            "market_type": market_type,
            "base_url": exchange.url,
            "api_key_env": "DITA_TEST_BINANCE_KEY",
            "secret_env": "DITA_TEST_BINANCE_SECRET",
            "timeout_ms": CLIENT_TIMEOUT_MS,
            "rate_limit_ms": 1,
            "resolve_delay_ms": 0,
        }
        options.update(settings)
        venue = CcxtVenue(clock=clock, sleep=clock.sleep, **options)
        venues.append(venue)
        venue.load_markets()
        return venue

    yield build
    for venue in venues:
        venue.close()
