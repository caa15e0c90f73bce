"""Fills a restarted kernel learns of by reconciliation, through ccxt against the local Binance:
each of the exchange's trades is booked with its commission, and with the commission kept in the
base currency (BTC) the slot holds what the account was credited, so the whole position exits.

A limit buy part fills before the process dies and the rest fills while it is down. Booked as
one fill made from the order's status (no fee, no ``base_fee_qty``), the trade the venue then
reported was refused as a duplicate: the slot held the commission the exchange kept, its exit
was refused for insufficient balance, and the fees were the kernel's model, not the exchange's.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from binance_streams import BinanceStreamServer, streaming
from venue_helpers import ManualClock, limit_entry, on_the_log

from dita import ExecutionKernel, KernelIntent, TradeStage
from dita.venues import CcxtVenue


@pytest.fixture(params=["BTC", "USDT"])
def server(request: pytest.FixtureRequest) -> Iterator[BinanceStreamServer]:
    with streaming(commission_asset=request.param) as exchange:
        yield exchange


def venue_on(server: BinanceStreamServer, clock: ManualClock) -> CcxtVenue:
    venue = CcxtVenue(
        clock=clock, sleep=clock.sleep, exchange="binance", market_type="spot", base_url=server.url,
        api_key_env="DITA_TEST_BINANCE_KEY", secret_env="DITA_TEST_BINANCE_SECRET", markets=["BTCUSDT"],
        timeout_ms=2000, rate_limit_ms=1, resolve_delay_ms=0,
    )  # fmt: skip
    venue.load_markets()
    return venue


def feed(kernel: ExecutionKernel, venue: CcxtVenue) -> None:
    for event in venue.poll_events():
        assert kernel.on_venue_event(event).accepted, event


def part_filled_then_rest_filled_while_down(
    server: BinanceStreamServer,
    clock: ManualClock,
    wal: Path,
    while_down: Callable[[str], object] | None = None,
) -> tuple[ExecutionKernel, CcxtVenue]:
    """0.007 of a 0.02 limit buy fills and is booked; the process dies; the rest fills (or
    ``while_down`` trades the order, given its client id). Returns the restarted kernel on a
    fresh adapter."""
    first_venue = venue_on(server, clock)
    first = on_the_log(first_venue, wal)
    first.set_seed_capital(1e7)
    assert first.process_intent(limit_entry(clock())).accepted
    client_id = server.orders[max(server.orders)].client_id
    server.fill(client_id, 0.007, 89990.0)
    feed(first, first_venue)
    assert first.slot_state(0).size > 0
    first.close()
    first_venue.close()
    del first
    gc.collect()
    (while_down or server.fill)(client_id)
    clock.advance(5.0)
    venue = venue_on(server, clock)
    kernel = on_the_log(venue, wal)
    kernel.set_market_limits("BTCUSDT", venue.market_metadata()["BTCUSDT"].model_dump())
    return kernel, venue


def test_a_fill_booked_by_reconciliation_keeps_its_commission_and_the_position_exits_whole(
    server: BinanceStreamServer, clock: ManualClock, tmp_path: Path, binance_keys: None
) -> None:
    kernel, venue = part_filled_then_rest_filled_while_down(server, clock, tmp_path)
    try:
        report = kernel.reconcile_with_venue()
        (rest,) = server.trades[1:]
        assert [(m.get("fill_id"), m["qty"]) for m in report.missed_fills] == [
            (f"BTCUSDT:{rest.trade_id}", pytest.approx(0.013))
        ]
        assert report.position_mismatches == [] and report.unresolved == []
        # The venue's own report of that trade is the fill booked: nothing more, nothing refused.
        refused = kernel.stats()["venue_events_refused"]
        feed(kernel, venue)
        assert kernel.stats()["venue_events_refused"] == refused

        slot = kernel.slot_state(0)
        assert slot.fsm_state == TradeStage.POSITION_OPEN
        assert slot.size == pytest.approx(server.position(), abs=1e-12)
        charged = sum(t.commission * (t.price if t.commission_asset == "BTC" else 1.0) for t in server.trades)
        assert slot.fees_paid == pytest.approx(charged)

        server.market_price = 91000.0
        exit_all = KernelIntent(
            "i2", "tr-1", 0, "BTCUSDT", "LONG", "EXIT", 91000.0, 0.0, order_type="MARKET", timestamp=clock()
        )
        out = kernel.process_intent(exit_all)
        assert [e.kind.name for e in out.emitted_events] == ["ORDER_ACK", "FILL"], out.to_dict()
        assert kernel.slot_state(0).fsm_state == TradeStage.CLOSED
        assert server.position() == pytest.approx(0.0, abs=1e-12)
    finally:
        kernel.close()
        venue.close()


def test_a_fill_the_trade_list_does_not_show_yet_is_booked_from_the_orders_status(
    server: BinanceStreamServer, clock: ManualClock, tmp_path: Path, binance_keys: None
) -> None:
    """The order filled 0.007 (booked), then 0.005 and 0.008 while the process was down; the
    exchange's trade list lags and shows the first two. The trade already booked is no part of
    what was missed: 0.005 is booked by its trade and the 0.008 left from the order's status."""

    def trades_while_down(client_id: str) -> None:
        server.fill(client_id, 0.005, 89995.0)
        server.trades.remove(server.fill(client_id))  # not listed yet

    kernel, venue = part_filled_then_rest_filled_while_down(server, clock, tmp_path, trades_while_down)
    client_id = server.orders[max(server.orders)].client_id
    try:
        report = kernel.reconcile_with_venue()
        assert [m["qty"] for m in report.missed_fills] == [pytest.approx(0.005), pytest.approx(0.008)]
        assert server.order(client_id).executed == pytest.approx(0.007 + 0.005 + 0.008)
    finally:
        kernel.close()
        venue.close()
