"""Helpers shared by the venue tests (imported by name, so kept out of conftest.py)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from recorded_exchange import RecordedExchange

from dita import ExecutionKernel, KernelIntent, VenueOrder
from together import together

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


# The grace the restart tests give a submit in doubt (``unknown_order_grace_s``).
RESTART_GRACE_S = 30.0


def not_found(exchange: RecordedExchange) -> None:
    """The exchange's next answer about an order: Binance's "no such order"."""
    exchange.script("GET", "/api/v3/order", "binance/error_order_does_not_exist.json", status=400)


def account_holding(exchange: RecordedExchange, btc: str) -> None:
    """The exchange's next account: ``btc`` BTC free."""
    account = exchange.fixture("binance/spot_account.json")
    account["balances"][0]["free"] = btc
    exchange.script("GET", "/api/v3/account", payload=account)


def on_the_log(venue: Any, wal: Path) -> ExecutionKernel:
    """Kernel "k" of one slot on the write-ahead log in ``wal``, trading through ``venue``."""
    return ExecutionKernel(max_slots=1, venue=venue, kernel_id="k", wal_dir=str(wal), fsync="always")


def limit_entry(at: float) -> KernelIntent:
    """A limit buy of 0.02 BTCUSDT at 90,000, trade tr-1 on slot 0, stamped ``at``."""
    return KernelIntent(
        "i1", "tr-1", 0, "BTCUSDT", "LONG", "ENTER", 90000.0, 0.02,
        order_type="LIMIT", limit_price=90000.0, timestamp=at,
    )  # fmt: skip


def entries_from_threads_agree(venue: Any, kernel_id: str, *, threads: int, per_thread: int) -> None:
    """A kernel on ``venue`` takes ``threads`` x ``per_thread`` entries of 1 BTCUSDT from as many
    threads at once: the kernel holds nothing while ``submit`` runs, so they reach the venue at
    once. The venue's position counts each, and reconciliation finds no mismatch."""
    kernel = ExecutionKernel(max_slots=threads * per_thread, venue=venue, kernel_id=kernel_id)
    kernel.set_seed_capital(1e12)

    def enter(first: int) -> Callable[[], None]:
        def run() -> None:
            for slot in range(first, first + per_thread):
                intent = KernelIntent(
                    f"i{slot}", f"t{slot}", slot, "BTCUSDT", "LONG", "ENTER", 100.0, 1.0, timestamp=1.0
                )
                assert kernel.process_intent(intent).accepted

        return run

    try:
        together(*(enter(t * per_thread) for t in range(threads)))
        assert venue.positions() == {"BTCUSDT": float(threads * per_thread)}
        assert kernel.reconcile_with_venue().position_mismatches == []
    finally:
        kernel.close()


def wait_for(predicate: Callable[[], bool], what: str, timeout_s: float = 30.0) -> None:
    """Waits (polling every 10 ms) until ``predicate`` holds; an AssertionError naming ``what``
    after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def reroute(router: Any, asset: str, venue_name: str) -> None:
    """Route ``asset`` to ``venue_name`` with an order of it working elsewhere, as a router built
    with other ``routes`` after a restart does: ``route()`` refuses to move an asset while a trade
    of it is open on another venue."""
    router._routes[asset] = venue_name
