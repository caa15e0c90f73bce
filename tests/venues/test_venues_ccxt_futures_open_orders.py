"""A USD-M futures venue on Binance (``exchange="binance"``, ``market_type="linear"``) lists the
futures orders working at the exchange, against the local futures exchange
(``binance_futures_streams.py``, which serves the futures API only): ccxt's binance asks for spot
orders when no market is named, whatever its defaultType, so a futures venue listed none of its
orders, and reconciliation could not run on futures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from binance_futures_streams import BinanceFuturesServer, futures_streaming
from venue_helpers import ManualClock

from dita import ExecutionKernel, KernelEventKind, KernelIntent, TradeStage, VenueOrder
from dita.venues import CcxtVenue


@pytest.fixture
def server() -> Iterator[BinanceFuturesServer]:
    with futures_streaming() as server:
        yield server


@pytest.fixture
def venue(server: BinanceFuturesServer, binance_keys: None) -> Iterator[CcxtVenue]:
    clock = ManualClock()
    venue = CcxtVenue(
        clock=clock, sleep=clock.sleep, exchange="binance", market_type="linear", base_url=server.url,
        api_key_env="DITA_TEST_BINANCE_KEY", secret_env="DITA_TEST_BINANCE_SECRET", markets=["BTCUSDT"],
        timeout_ms=3000, rate_limit_ms=1, resolve_delay_ms=0,
    )  # fmt: skip
    venue.load_markets()
    yield venue
    venue.close()


def short_entry(kernel: ExecutionKernel, n: int, slot: int) -> str:
    """A limit sell of 0.02 BTCUSDT at 90,000 on ``slot``, resting at the exchange: its client id."""
    kernel.process_intent(
        KernelIntent(
            f"i{n}", f"tr-{n}", slot, "BTCUSDT", "SHORT", "ENTER", 90000.0, 0.02,
            order_type="LIMIT", limit_price=90000.0, timestamp=1.0,
        )
    )  # fmt: skip
    order = kernel.slot_state(slot).active_entry_order
    assert order is not None and kernel.slot_state(slot).fsm_state == TradeStage.ENTRY_WORKING
    return order.client_order_id


def test_a_futures_venues_open_orders_are_the_futures_orders_working_at_the_exchange(
    server: BinanceFuturesServer, venue: CcxtVenue
) -> None:
    kernel = ExecutionKernel(max_slots=1, venue=venue, kernel_id="k")
    kernel.set_seed_capital(1e7)
    client_id = short_entry(kernel, 1, 0)
    working = server.order(venue.listed_client_order_id(kernel.slot_state(0).active_entry_order))
    (listed,) = venue.open_orders()
    assert (listed.client_order_id, listed.order_side.name, listed.size) == (client_id, "SELL", 0.02)
    assert listed.venue_order_id == f"BTCUSDT:{working.order_id}"
    assert server.rest_calls("GET", "/fapi/v1/openOrders") == 1


def test_reconciliation_on_futures_books_a_fill_the_exchange_made_and_cancels_an_order_the_kernel_lost(
    server: BinanceFuturesServer, venue: CcxtVenue
) -> None:
    """A short entry rests at the exchange and fills in part while nobody polls; beside it works
    an order under a client id of the kernel's that the kernel has no record of (sent by the
    process before a restart, its record lost)."""
    kernel = ExecutionKernel(max_slots=2, venue=venue, kernel_id="k")
    kernel.set_seed_capital(1e7)
    kept = short_entry(kernel, 1, 0)
    server.fill(venue.listed_client_order_id(kernel.slot_state(0).active_entry_order), 0.008)
    lost = VenueOrder("k-99", 1, "tr-99", "BTCUSDT", "SELL", "LIMIT", 91000.0, 0.01)
    assert [e.kind for e in venue.submit(lost)] == [KernelEventKind.ORDER_ACK]
    report = kernel.reconcile_with_venue()
    assert [(m["client_order_id"], m["qty"]) for m in report.missed_fills] == [(kept, pytest.approx(0.008))]
    assert [o["client_order_id"] for o in report.unknown_at_venue_canceled] == ["k-99"]
    assert report.unresolved == [] and report.position_mismatches == []
    assert kernel.slot_state(0).size == pytest.approx(0.008)
    assert [o.client_id for o in server.orders.values() if o.status in ("NEW", "PARTIALLY_FILLED")] == [
        venue.listed_client_order_id(kernel.slot_state(0).active_entry_order)
    ]
