"""Helpers shared by the venue tests (imported by name, so kept out of conftest.py)."""

from __future__ import annotations

from typing import Any

from recorded_exchange import RecordedExchange

from dita import VenueOrder

# The client's HTTP timeout in the recorded-exchange tests: far above a local answer even on a
# loaded machine, so only the answers held back on purpose (HOLD) time out.
CLIENT_TIMEOUT_MS = 1500
# Hold an answer until the server closes: the client always times out first.
HOLD = 120.0

API_KEY = "test-api-key-7f3a9c"
API_SECRET = "test-api-secret-d41e02"


class ManualClock:
    """A clock that moves only when told, so throttling and grace periods are tested exactly."""

    def __init__(self, start: float = 1_763_679_600.0) -> None:
        self.now = start
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def make_order(
    client_order_id: str,
    *,
    asset: str = "BTCUSDT",
    side: str = "BUY",
    order_type: str = "MARKET",
    price: float = 0.0,
    size: float = 1.0,
    reference_price: float = 0.0,
    slot_id: int = 0,
    trade_id: str = "t-1",
    reduce_only: bool = False,
    timestamp: float = 1_000.0,
    is_entry: bool | None = None,
) -> VenueOrder:
    return VenueOrder(
        client_order_id,
        slot_id,
        trade_id,
        asset,
        side,
        order_type,
        price,
        size,
        reduce_only=reduce_only,
        reference_price=reference_price,
        timestamp=timestamp,
        is_entry=is_entry,
    )


def closed_part_filled(exchange: RecordedExchange) -> dict[str, Any]:
    """The exchange's answer about a resting limit buy of 0.02 BTCUSDT (order 28457200): over,
    with 0.008 executed. ccxt reads Binance's FILLED as "closed", the status some exchanges give
    an order whose rest they dropped (an IOC or market remainder); Binance itself says EXPIRED."""
    closed: dict[str, Any] = exchange.fixture("binance/spot_query_limit_partial.json")
    closed["status"] = "FILLED"
    return closed
