"""Fills of an order the ccxt venue took over after a restart, through the kernel against the local
Binance: the trades the kernel booked before are known by their ids (what it booked without one
is matched to the oldest trades left), so a trade that comes on the user stream while the trade
list cannot be read (REST banned, or the list answered with a server error) waits for the list,
and is then booked, not taken for one booked before."""

from __future__ import annotations

import gc
import itertools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from binance_streams import BinanceStreamServer
from venue_helpers import ManualClock, limit_entry, on_the_log, wait_for

from dita import ExecutionKernel, KernelEventKind
from dita.venues import CcxtVenue

SWEEP_S = 30.0


class TradeListFailing(BinanceStreamServer):
    """The local Binance, its trade list answered HTTP 503 (-1008 "server busy") while
    ``trade_list_failing``, and for the next ``trade_lists_failing`` asks."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.trade_list_failing = False
        self.trade_lists_failing = 0
        super().__init__(*args, **kwargs)

    async def _my_trades(self, request: web.Request) -> web.Response:
        if self.trade_list_failing or self.trade_lists_failing:
            self.trade_lists_failing = max(self.trade_lists_failing - 1, 0)
            return self._error(-1008, "Server is currently overloaded with other requests.", 503)
        return await super()._my_trades(request)


def venue_on(server: BinanceStreamServer, clock: ManualClock, **settings: Any) -> CcxtVenue:
    venue = CcxtVenue(
        clock=clock, sleep=clock.sleep, exchange="binance", market_type="spot", base_url=server.url,
        api_key_env="DITA_TEST_BINANCE_KEY", secret_env="DITA_TEST_BINANCE_SECRET", markets=["BTCUSDT"],
        timeout_ms=2000, rate_limit_ms=1, resolve_delay_ms=0, **settings,
    )  # fmt: skip
    venue.load_markets()
    return venue


def feed(kernel: ExecutionKernel, venue: CcxtVenue, accepted: list[str], refused: list[str]) -> None:
    for event in venue.poll_events():
        outcome = kernel.on_venue_event(event)
        if event.kind == KernelEventKind.FILL:
            (accepted if outcome.accepted else refused).append(event.fill_id)


def ban(server: TradeListFailing) -> Callable[[bool], None]:
    """Binance's 418: REST refused for 10 s (by the test's clock), the stream goes on."""

    def cut(cut_off: bool) -> None:
        if cut_off:
            server.ban(10.0)

    return cut


def trade_list_failing(server: TradeListFailing) -> Callable[[bool], None]:
    def cut(cut_off: bool) -> None:
        server.trade_list_failing = cut_off

    return cut


def booked_before_a_restart(server: TradeListFailing, clock: ManualClock, tmp_path: Path, size: float) -> Any:
    """A 0.02 limit buy of which ``size`` fills and is booked, then the process dies: the order's
    client id and the trade booked."""
    first_venue = venue_on(server, clock)
    first = on_the_log(first_venue, tmp_path)
    first.set_seed_capital(1e7)
    assert first.process_intent(limit_entry(clock())).accepted
    client_id = server.orders[max(server.orders)].client_id
    booked = server.fill(client_id, size)
    feed(first, first_venue, [], [])
    assert first.slot_state(0).size == pytest.approx(size)
    first.close()
    first_venue.close()
    del first
    gc.collect()
    return client_id, booked


def taken_over_on_the_stream(server: TradeListFailing, clock: ManualClock, tmp_path: Path) -> Any:
    """The restarted kernel on its log, with a venue on the user stream that took the order over
    (reconciled, the stream up)."""
    venue = venue_on(
        server, clock, user_stream=True, user_stream_heartbeat_s=0.6, user_stream_backoff_s=0.02,
        user_stream_backoff_max_s=0.2, user_stream_rest_sweep_s=SWEEP_S,
    )  # fmt: skip
    kernel = on_the_log(venue, tmp_path)
    kernel.set_market_limits("BTCUSDT", venue.market_metadata()["BTCUSDT"].model_dump())
    kernel.reconcile_with_venue()
    wait_for(lambda: venue.stream_status().state != "down", "the stream to subscribe")  # type: ignore[union-attr]
    heard: list[str] = []
    feed(kernel, venue, heard, heard)
    assert heard == []  # nothing filled since the restart
    assert venue.stream_status().state == "up"  # type: ignore[union-attr]
    return venue, kernel


@pytest.mark.parametrize("rest_failing", [ban, trade_list_failing])
def test_a_streamed_fill_of_an_order_taken_over_is_booked_when_its_trade_list_cannot_be_read(
    rest_failing: Callable[[TradeListFailing], Callable[[bool], None]],
    clock: ManualClock,
    tmp_path: Path,
    binance_keys: None,
) -> None:
    """0.01 of a 0.02 limit buy fills and is booked; the process restarts and takes the order over
    (booked 0.01). The rest (0.01, a new trade) comes on the user stream while the trade list
    cannot be read: nothing is booked meanwhile, REST asks about the order at each poll, and once
    the list reads, the new trade is booked and the old one is not reported again."""
    server = TradeListFailing()
    server.ban_clock = clock
    cut = rest_failing(server)
    client_id, _ = booked_before_a_restart(server, clock, tmp_path, 0.01)
    venue, kernel = taken_over_on_the_stream(server, clock, tmp_path)
    accepted: list[str] = []
    refused: list[str] = []
    try:
        assert kernel.slot_state(0).size == pytest.approx(0.01)
        cut(True)
        new = server.fill(client_id)
        wait_for(lambda: not venue._streamed._stream.updates.empty(), "the fill's frame")  # type: ignore[union-attr]
        feed(kernel, venue, accepted, refused)
        assert accepted == [] and kernel.slot_state(0).size == pytest.approx(0.01)

        cut(False)
        clock.advance(11.0)  # the ban over; the REST sweep not due
        trades_asked = server.rest_calls("GET", "/api/v3/myTrades")
        feed(kernel, venue, accepted, refused)
        assert server.rest_calls("GET", "/api/v3/myTrades") > trades_asked  # asked for, the stream up
        assert accepted == [f"BTCUSDT:{new.trade_id}"]
        assert refused == []
        assert server.order(client_id).executed == pytest.approx(0.02)
        assert kernel.slot_state(0).size == pytest.approx(0.02)
    finally:
        kernel.close()
        venue.close()
        server.close()


def test_trades_of_one_millisecond_are_matched_to_what_was_booked_by_their_ids_as_numbers(
    clock: ManualClock, tmp_path: Path, binance_keys: None
) -> None:
    """0.01 of a 0.02 limit buy fills as trade 9999999 and is booked; the process dies; the rest
    fills as trade 10000000 in the same millisecond. Oldest first, 9999999 is the trade booked
    before the restart (as text "10000000" sorts first, and would be taken for it): 10000000 is
    the fill reconciliation books, and the venue reports nothing more."""
    server = TradeListFailing()
    server._trade_ids = itertools.count(9_999_999)
    client_id, booked = booked_before_a_restart(server, clock, tmp_path, 0.01)
    rest = server.fill(client_id)
    rest.time_ms = booked.time_ms

    venue = venue_on(server, clock)
    kernel = on_the_log(venue, tmp_path)
    kernel.set_market_limits("BTCUSDT", venue.market_metadata()["BTCUSDT"].model_dump())
    accepted: list[str] = []
    refused: list[str] = []
    try:
        report = kernel.reconcile_with_venue()
        assert [m.get("fill_id") for m in report.missed_fills] == [f"BTCUSDT:{rest.trade_id}"]
        feed(kernel, venue, accepted, refused)
        assert accepted == [] and refused == []
        assert kernel.slot_state(0).size == pytest.approx(0.02)
    finally:
        kernel.close()
        venue.close()
        server.close()


def test_two_streamed_fills_of_an_order_taken_over_in_one_poll_are_both_booked(
    clock: ManualClock, tmp_path: Path, binance_keys: None
) -> None:
    """0.005 of a 0.02 limit buy fills and is booked; the process restarts and takes the order
    over (booked 0.005). Two more trades of 0.005 come on the user stream before one poll: the
    two add up to what the first frame says filled, yet only the trade list shows that the trade
    booked is the older one. Both are booked, the old one is not reported again."""
    server = TradeListFailing()
    client_id, _ = booked_before_a_restart(server, clock, tmp_path, 0.005)
    venue, kernel = taken_over_on_the_stream(server, clock, tmp_path)
    accepted: list[str] = []
    refused: list[str] = []
    try:
        second = server.fill(client_id, 0.005)
        third = server.fill(client_id, 0.005)
        wait_for(lambda: venue._streamed._stream.updates.qsize() >= 2, "both fills' frames")  # type: ignore[union-attr]
        feed(kernel, venue, accepted, refused)
        assert accepted == [f"BTCUSDT:{second.trade_id}", f"BTCUSDT:{third.trade_id}"]
        clock.advance(SWEEP_S + 1)  # a sweep asks about every order: nothing more to report
        feed(kernel, venue, accepted, refused)
        assert refused == []
        assert len(accepted) == 2
        assert kernel.slot_state(0).size == pytest.approx(0.015)
    finally:
        kernel.close()
        venue.close()
        server.close()


@pytest.mark.parametrize("commission_asset", ["BTC", "USDT"])
def test_a_newer_trade_booked_before_a_restart_is_known_by_its_id_and_the_older_booked_with_its_fee(
    commission_asset: str, clock: ManualClock, tmp_path: Path, binance_keys: None
) -> None:
    """Of a limit buy, T1 (0.01) fills and its stream frame is lost; T2 (0.005) fills while the
    trade list answers 503, and the venue reports T2 alone, which the kernel books. The process
    dies before a poll reads T1. After the restart, reconciliation's venue knows T2 booked by its
    id, not as the oldest trade: T1 is booked by its trade, with its commission (in BTC, with its
    base_fee_qty), and T2 is not reported again."""
    server = TradeListFailing(commission_asset=commission_asset)
    first_venue = venue_on(
        server, clock, user_stream=True, user_stream_heartbeat_s=0.6, user_stream_backoff_s=0.02,
        user_stream_backoff_max_s=0.2,
    )  # fmt: skip
    first = on_the_log(first_venue, tmp_path)
    first.set_seed_capital(1e7)
    wait_for(lambda: first_venue.stream_status().state != "down", "the stream to subscribe")  # type: ignore[union-attr]
    first_venue.poll_events()
    assert first.process_intent(limit_entry(clock())).accepted
    client_id = server.orders[max(server.orders)].client_id
    server.inject("lose_fill")
    server.fill(client_id, 0.01, 90000.0)
    server.trade_lists_failing = 2  # the lists asked on T2's frame and by the poll after it
    t2 = server.fill(client_id, 0.005, 89990.0)
    booked: list[str] = []
    deadline = time.monotonic() + 10
    while not booked and time.monotonic() < deadline:
        feed(first, first_venue, booked, [])
        time.sleep(0.01)
    assert booked == [f"BTCUSDT:{t2.trade_id}"]
    first.close()
    first_venue.close()
    del first
    gc.collect()

    venue = venue_on(server, clock)
    kernel = on_the_log(venue, tmp_path)
    kernel.set_market_limits("BTCUSDT", venue.market_metadata()["BTCUSDT"].model_dump())
    accepted: list[str] = []
    refused: list[str] = []
    try:
        report = kernel.reconcile_with_venue()
        t1 = next(t for t in server.trades if t.trade_id != t2.trade_id)
        assert [m.get("fill_id") for m in report.missed_fills] == [f"BTCUSDT:{t1.trade_id}"]
        feed(kernel, venue, accepted, refused)
        assert accepted == [] and refused == []
        slot = kernel.slot_state(0)
        assert slot.size == pytest.approx(server.position(), abs=1e-12)
        charged = sum(t.commission * (t.price if t.commission_asset == "BTC" else 1.0) for t in server.trades)
        assert slot.fees_paid == pytest.approx(charged)
    finally:
        kernel.close()
        venue.close()
        server.close()


def test_an_order_that_filled_while_down_ended_by_reconciliation_is_not_reported_again(
    clock: ManualClock, tmp_path: Path, binance_keys: None
) -> None:
    """Followed before its lookup, then ended by reconciliation with its rest booked from the
    order's status (its trade list unreadable): the venue is told it booked, and stops following it."""
    server = TradeListFailing()
    client_id, _ = booked_before_a_restart(server, clock, tmp_path, 0.01)
    server.fill(client_id)  # the rest fills while the process is down
    venue = venue_on(server, clock)
    kernel = on_the_log(venue, tmp_path)
    kernel.set_market_limits("BTCUSDT", venue.market_metadata()["BTCUSDT"].model_dump())
    accepted: list[str] = []
    refused: list[str] = []
    try:
        server.trade_lists_failing = 5
        report = kernel.reconcile_with_venue()
        assert [m["qty"] for m in report.missed_fills] == [pytest.approx(0.01)]
        assert kernel.slot_state(0).size == pytest.approx(0.02)
        server.trade_lists_failing = 0
        for _ in range(4):
            clock.advance(31.0)
            feed(kernel, venue, accepted, refused)
        assert (accepted, refused) == ([], [])
        assert kernel.slot_state(0).size == pytest.approx(0.02)
        assert not venue.following()
    finally:
        kernel.close()
        venue.close()
        server.close()
