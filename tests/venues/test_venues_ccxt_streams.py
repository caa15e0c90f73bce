"""The ccxt venue's user-data stream (``user_stream=True``) through the kernel, against a local
Binance that speaks the WebSocket API's user-data stream and REST (``binance_streams.py``), with
its faults: frames duplicated, reordered or never sent, the connection dropped, gone stale or
its subscription ended. Whatever the stream loses, REST recovers: no fill lost, none booked twice,
the kernel's position the exchange's. The session and the faulty sessions here serve the USD-M
futures stream's tests too (``test_venues_ccxt_futures_stream.py``)."""

from __future__ import annotations

import logging
import os
import random
import re
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
from aiohttp import web
from binance_futures_streams import futures_streaming
from binance_streams import FAULT_KINDS, BinanceStreamServer, StreamFaults, _Connection, streaming
from venue_helpers import API_KEY, API_SECRET, ManualClock, wait_for

from dita import (
    ExecutionKernel,
    KernelEventKind,
    KernelIntent,
    OrderSide,
    OrderType,
    TradeSide,
    TradeStage,
    VenueEvent,
    VenueOrder,
)
from dita.venues import CcxtVenue
from dita.venues.ccxt.streams import StreamedPolling
from dita.venues.ccxt.tracking import TrackedOrder

SWEEP_S = 30.0
HEARTBEAT_S = 0.6


@pytest.fixture(autouse=True)
def _keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DITA_TEST_BINANCE_KEY", API_KEY)
    monkeypatch.setenv("DITA_TEST_BINANCE_SECRET", API_SECRET)


def streamed_venue(
    server: BinanceStreamServer,
    clock: ManualClock,
    *,
    start: bool = True,
    market_type: str = "spot",
    **settings: Any,
) -> CcxtVenue:
    """The venue on ``server`` (``settings`` over the tests'); with ``start``, its markets loaded
    and its stream started."""
    tests_settings: dict[str, Any] = {
        "timeout_ms": 3000,
        "rate_limit_ms": 1,
        "resolve_delay_ms": 0,
        "user_stream": True,
        "user_stream_heartbeat_s": HEARTBEAT_S,
        "user_stream_backoff_s": 0.02,
        "user_stream_backoff_max_s": 0.2,
        "user_stream_rest_sweep_s": SWEEP_S,
    }
    venue = CcxtVenue(
        clock=clock,
        sleep=clock.sleep,
        exchange="binance",
        market_type=market_type,
        base_url=server.url,
        api_key_env="DITA_TEST_BINANCE_KEY",
        secret_env="DITA_TEST_BINANCE_SECRET",
        markets=["BTCUSDT"],
        **(tests_settings | settings),
    )
    if start:
        venue.load_markets()
    return venue


@dataclass
class Session:
    """A kernel trading through a streamed venue, and every fill the venue reported to it."""

    server: BinanceStreamServer
    venue: CcxtVenue
    kernel: ExecutionKernel
    clock: ManualClock
    reported_fills: list[str] = field(default_factory=list)
    refused_fills: list[str] = field(default_factory=list)
    entries_refused: int = 0
    market_type: str = "spot"

    @property
    def entry_side(self) -> str:
        """The side the shared scenarios enter: a futures account sells first, a spot one buys."""
        return "SHORT" if self.market_type == "linear" else "LONG"

    def signed(self, size: float) -> float:
        """``size`` as the position an entry on ``entry_side`` holds."""
        return -size if self.entry_side == "SHORT" else size

    def state(self) -> str:
        status = self.venue.stream_status()
        assert status is not None
        return status.state

    def wait_state(self, state: str) -> None:
        wait_for(lambda: self.state() == state, f"the stream {state}")

    def poll(self) -> list[VenueEvent]:
        events = self.venue.poll_events()
        for event in events:
            outcome = self.kernel.on_venue_event(event)
            if event.kind == KernelEventKind.FILL:
                (self.reported_fills if outcome.accepted else self.refused_fills).append(event.fill_id)
        return events

    def bring_up(self) -> None:
        """Wait for the stream to subscribe, then poll it up (its reconciliation by REST)."""
        wait_for(lambda: self.state() != "down", "the stream to subscribe")
        self.poll()
        assert self.state() == "up", self.venue.stream_status()

    def position(self) -> float:
        """The kernel's net position: its slots' sizes, a short's negative."""
        slots = [self.kernel.slot_state(slot) for slot in range(self.kernel.max_slots)]
        return sum(-s.size if s.side == TradeSide.SHORT else s.size for s in slots)


@pytest.fixture
def session(request: pytest.FixtureRequest) -> Iterator[Session]:
    """A session on spot; on USD-M futures for a test parametrized ``session`` "linear"."""
    market_type = getattr(request, "param", "spot")
    with futures_streaming() if market_type == "linear" else streaming() as server:
        session = start_session(server, market_type)
        try:
            yield session
        finally:
            session.kernel.close()
            session.venue.close()


def start_session(server: BinanceStreamServer, market_type: str = "spot") -> Session:
    clock = ManualClock()
    venue = streamed_venue(server, clock, market_type=market_type)
    kernel = ExecutionKernel(max_slots=2, venue=venue, kernel_id="k")
    kernel.set_seed_capital(1e7)
    session = Session(server, venue, kernel, clock, market_type=market_type)
    submit = venue.submit

    def recorded_submit(order: VenueOrder) -> list[VenueEvent]:
        events = submit(order)
        session.reported_fills.extend(e.fill_id for e in events if e.kind == KernelEventKind.FILL)
        return events

    venue.submit = recorded_submit  # type: ignore[method-assign]
    return session


def entry(
    session: Session, n: int | str, slot: int = 0, size: float = 0.02, side: str = "LONG"
) -> tuple[bool, str]:
    """A limit entry (a buy, a sell for ``side`` SHORT) of ``size`` BTCUSDT at 90,000 on ``slot``:
    whether it was sent, and its client id."""
    intent = KernelIntent(
        f"i{n}", f"tr-{n}", slot, "BTCUSDT", side, "ENTER", 90000.0, size,
        order_type="LIMIT", limit_price=90000.0, timestamp=session.clock(),
    )  # fmt: skip
    outcome = session.kernel.process_intent(intent)
    slot_state = session.kernel.slot_state(slot)
    order = slot_state.active_entry_order
    if order is None or slot_state.fsm_state != TradeStage.ENTRY_WORKING:
        return False, outcome.to_dict().get("reason", "") or str(outcome.to_dict())
    return True, order.client_order_id


def server_position(server: BinanceStreamServer) -> float:
    return server.position("BTCUSDT")


def settle(session: Session, filled: float, slot: int = 0) -> None:
    """Poll until the kernel holds ``filled`` on ``slot``; the REST sweep is let run (the clock
    moved past it) when the stream alone has not brought it."""
    deadline = time.monotonic() + 15
    tries = 0
    while abs(session.kernel.slot_state(slot).size - filled) > 1e-12:
        if time.monotonic() > deadline:
            raise AssertionError(f"slot {slot} holds {session.kernel.slot_state(slot).size}, not {filled}")
        session.poll()
        tries += 1
        if tries % 20 == 0:
            session.clock.advance(SWEEP_S)
        time.sleep(0.01)


# The scenarios that hold alike on spot and on USD-M futures (trading short there).
BOTH_MARKETS = pytest.mark.parametrize("session", ["spot", "linear"], indirect=True)


# -- the stream books fills ---------------------------------------------------------------


def test_a_fill_arrives_by_stream_and_is_booked_without_a_rest_order_query(session: Session) -> None:
    session.bring_up()
    sent, client_id = entry(session, 1)
    assert sent, client_id
    queries = session.server.rest_calls("GET", "/api/v3/order")
    trades_asked = session.server.rest_calls("GET", "/api/v3/myTrades")
    session.server.fill(client_id, 0.008)
    session.server.fill(client_id)
    settle(session, 0.02)
    assert session.kernel.slot_state(0).fsm_state == TradeStage.POSITION_OPEN
    # Booked from the stream: no order query, no trade list asked for.
    assert session.server.rest_calls("GET", "/api/v3/order") == queries
    assert session.server.rest_calls("GET", "/api/v3/myTrades") == trades_asked
    assert sorted(session.reported_fills) == sorted(f"BTCUSDT:{t.trade_id}" for t in session.server.trades)
    assert session.position() == pytest.approx(server_position(session.server))
    status = session.venue.stream_status()
    assert status is not None and status.lag_s is not None and status.lag_s < 5.0
    assert status.balances is not None and status.balances["BTC"] == pytest.approx(0.02)


def test_an_order_goes_through_while_a_killed_process_still_holds_a_connection(session: Session) -> None:
    """A process killed mid-frame leaves a connection that reads open while its writes raise
    ConnectionResetError: the exchange loses that frame, and the order whose execution report it
    was is still taken and answered (raised, it would fail the order call though the order stands)."""
    session.bring_up()

    class Gone:
        closed = False

        async def send_str(self, data: str) -> None:
            raise ConnectionResetError("Cannot write to closing transport")

        async def close(self) -> None:
            self.closed = True

    ghost = _Connection(Gone(), subscribed=True)  # type: ignore[arg-type]
    session.server._call(lambda: session.server._connections.insert(0, ghost))
    sent, client_id = entry(session, 1)
    assert sent, client_id
    session.server.fill(client_id)
    settle(session, 0.02)
    assert session.position() == pytest.approx(server_position(session.server))


@BOTH_MARKETS
def test_a_duplicated_and_a_reordered_frame_book_once(session: Session) -> None:
    session.bring_up()
    sent, client_id = entry(session, 1, size=0.03, side=session.entry_side)
    assert sent
    session.server.inject("duplicate")
    session.server.fill(client_id, 0.01)  # its frame sent twice
    session.server.inject("reorder")
    session.server.fill(client_id, 0.01)  # held back until the next order update
    session.server.fill(client_id)
    settle(session, 0.03)
    assert session.server.faults_injected == {"duplicate": 1, "reorder": 1}
    trade_ids = [f"BTCUSDT:{t.trade_id}" for t in session.server.trades]
    assert sorted(session.reported_fills) == sorted(trade_ids)
    assert session.refused_fills == []
    assert (
        session.position()
        == pytest.approx(server_position(session.server))
        == pytest.approx(session.signed(0.03))
    )


@BOTH_MARKETS
def test_a_dropped_connection_reconnects_reconciles_by_rest_and_refuses_entries_meanwhile(
    session: Session,
) -> None:
    session.bring_up()
    sent, client_id = entry(session, 1, side=session.entry_side)
    assert sent
    session.server.inject("drop")
    session.server.fill(client_id)  # its frame lost with the connection
    session.wait_state("reconciling")
    status = session.venue.stream_status()
    assert status is not None and status.reconnects == 1
    # An entry while the venue reconciles is refused, naming the stream.
    events = session.venue.submit(
        VenueOrder("other-1", 1, "tr-9", "BTCUSDT", "BUY", "LIMIT", 90000.0, 0.01, is_entry=True)
    )
    assert [e.kind for e in events] == [KernelEventKind.REJECT]
    assert "user-data stream reconciles" in events[0].reason
    sent_meanwhile, reason = entry(session, 2, slot=1)
    assert not sent_meanwhile and "user-data stream reconciles" in reason
    # The poll reconciles by REST: the lost fill booked, the stream up, entries go again.
    session.poll()
    assert session.state() == "up"
    assert (
        session.position()
        == pytest.approx(server_position(session.server))
        == pytest.approx(session.signed(0.02))
    )
    sent_after, _ = entry(session, 3, slot=1)
    assert sent_after
    status = session.venue.stream_status()
    assert status is not None and status.entries_refused == 2


class RestFailing(BinanceStreamServer):
    """The local Binance, its next ``order_queries_failing`` order queries and
    ``trade_lists_failing`` trade lists answered HTTP 503 (Binance's -1008 "server busy")."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.order_queries_failing = 0
        self.trade_lists_failing = 0
        super().__init__(*args, **kwargs)

    def _busy(self) -> web.Response:
        return self._error(-1008, "Server is currently overloaded with other requests.", 503)

    async def _query_order(self, request: web.Request) -> web.Response:
        if self.order_queries_failing:
            self.order_queries_failing -= 1
            return self._busy()
        return await super()._query_order(request)

    async def _my_trades(self, request: web.Request) -> web.Response:
        if self.trade_lists_failing:
            self.trade_lists_failing -= 1
            return self._busy()
        return await super()._my_trades(request)


@pytest.mark.parametrize("unanswered", ["order_queries_failing", "trade_lists_failing"])
def test_a_reconnect_is_not_reconciled_while_a_followed_order_could_not_be_asked_about(
    unanswered: str,
) -> None:
    """A fill's frame is lost with the dropped connection. The REST round after the reconnect
    could not ask about the order (its query, or its trade list, answered 503): the stream stays
    reconciling (were it up, REST would ask about the order only at the next sweep, the lost
    fill unbooked meanwhile), and the next round books the fill and reconciles."""
    server = RestFailing()
    session = start_session(server)
    try:
        session.bring_up()
        sent, client_id = entry(session, 1)
        assert sent
        session.server.inject("drop")
        session.server.fill(client_id)  # its frame lost with the connection
        session.wait_state("reconciling")
        setattr(server, unanswered, 1)
        session.poll()
        assert session.state() == "reconciling"
        assert session.kernel.slot_state(0).size == 0.0
        session.poll()  # the clock short of the sweep: a reconciling stream asks about every order
        assert session.state() == "up"
        assert (
            session.kernel.slot_state(0).size == pytest.approx(0.02) == pytest.approx(server_position(server))
        )
    finally:
        session.kernel.close()
        session.venue.close()
        server.close()


class RestRefusing(BinanceStreamServer):
    """The local Binance, its order query answering ``query_refusal`` and its trade list
    ``trades_refusal`` (code, message, HTTP status) while set."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.query_refusal: tuple[int, str, int] | None = None
        self.trades_refusal: tuple[int, str, int] | None = None
        super().__init__(*args, **kwargs)

    async def _query_order(self, request: web.Request) -> web.Response:
        if self.query_refusal:
            return self._error(*self.query_refusal)
        return await super()._query_order(request)

    async def _my_trades(self, request: web.Request) -> web.Response:
        if self.trades_refusal:
            return self._error(*self.trades_refusal)
        return await super()._my_trades(request)


@pytest.mark.parametrize(
    ("refused", "refusal", "asked"),
    [
        ("query_refusal", (-1121, "Invalid symbol.", 400), "/api/v3/order"),  # a delisted market
        ("query_refusal", (-2026, "Order was canceled or expired; archived.", 400), "/api/v3/order"),
        ("trades_refusal", (-1008, "Server is currently overloaded.", 503), "/api/v3/myTrades"),
    ],
)
def test_an_order_never_answered_about_holds_entries_up_for_one_sweep_then_is_asked_about_at_every_poll(
    refused: str, refusal: tuple[int, str, int], asked: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A fill's frame is lost with the dropped connection, and the exchange answers no question
    about that order any more (its query refused, or its trade list failing, for good). Entries
    are refused naming the order while the stream reconciles, for ``user_stream_rest_sweep_s``
    at most: then the stream is up with a warning naming the order, entries go, and the order is
    asked about at every poll until it answers, its fill then booked."""
    server = RestRefusing()
    session = start_session(server)
    try:
        session.bring_up()
        sent, client_id = entry(session, 1)
        assert sent
        server.inject("drop")
        server.fill(client_id, 0.005)  # its frame lost with the connection
        session.wait_state("reconciling")
        setattr(server, refused, refusal)
        session.poll()
        refused_meanwhile, reason = entry(session, 2, slot=1)
        assert not refused_meanwhile and f"no answer yet about {client_id}" in reason
        session.clock.advance(SWEEP_S - 1.0)
        session.poll()
        assert session.state() == "reconciling"

        session.clock.advance(1.0)
        with caplog.at_level(logging.WARNING, logger="dita.venues.ccxt"):
            session.poll()
        assert session.state() == "up"
        assert any(
            "reconciled with REST" in r.getMessage() and client_id in r.getMessage() for r in caplog.records
        )
        sent_after, _ = entry(session, 3, slot=1)
        assert sent_after
        before = server.rest_calls("GET", asked)
        session.poll()  # the clock short of the sweep
        assert server.rest_calls("GET", asked) > before

        setattr(server, refused, None)
        session.poll()
        assert session.kernel.slot_state(0).size == pytest.approx(0.005)
    finally:
        session.kernel.close()
        session.venue.close()
        server.close()


def test_with_no_order_followed_a_reconciling_stream_takes_entries_at_once(session: Session) -> None:
    """A runtime polls only while the venue follows an order: with none followed there is
    nothing for REST to catch up on, so the reconciliation completes and the entry goes."""
    wait_for(lambda: session.state() != "down", "the stream to subscribe")
    assert session.state() == "reconciling"
    assert not session.venue.following()
    sent, reason = entry(session, 1)
    assert sent, reason
    assert session.state() == "up"
    status = session.venue.stream_status()
    assert status is not None and status.entries_refused == 0


def test_a_streamed_update_is_matched_by_client_id_then_by_exchange_id_within_its_market() -> None:
    """Binance's order ids are unique only within a market: our ETHUSDT order's update is not
    booked on our BTCUSDT order of the same id."""

    def tracked(client_id: str, symbol: str) -> TrackedOrder:
        market_id = symbol.replace("/", "")
        order = VenueOrder(client_id, 0, "t", market_id, OrderSide.BUY, OrderType.LIMIT, 100.0, 1.0)
        return TrackedOrder(order, client_id, symbol, market_id, exchange_order_id="5")

    btc, eth = tracked("a", "BTC/USDT"), tracked("b", "ETH/USDT")
    polling = StreamedPolling.__new__(StreamedPolling)
    polling._orders = SimpleNamespace(tracked={"a": btc, "b": eth})  # type: ignore[assignment]
    assert polling._tracked({"id": "5", "clientOrderId": "b", "symbol": "ETH/USDT"}) is eth
    assert polling._tracked({"id": "5", "clientOrderId": "", "symbol": "ETH/USDT"}) is eth
    assert polling._tracked({"id": "5", "clientOrderId": "x", "symbol": "SOL/USDT"}) is None


@pytest.mark.parametrize("interrupted", ["the REST round", "reading an update"])
def test_a_poll_interrupted_loses_no_streamed_fill(
    session: Session, monkeypatch: pytest.MonkeyPatch, interrupted: str
) -> None:
    """Ctrl-C in a poll after the stream's fill was counted as reported (in the REST round), or
    while its update was read: the next poll returns the fill, without the REST sweep."""
    session.bring_up()
    sent, client_id = entry(session, 1)
    assert sent
    stream = session.venue._stream
    assert stream is not None
    session.server.fill(client_id)
    wait_for(lambda: not stream.updates.empty(), "the fill's frame")
    time.sleep(0.2)
    target: object = session.venue._poller if interrupted == "the REST round" else session.venue._reporter
    name = "poll" if interrupted == "the REST round" else "order_events"

    original = getattr(target, name)
    calls = []

    def interrupt_once(*args: object, **kwargs: object) -> object:
        calls.append(args)
        if len(calls) == 1:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(target, name, interrupt_once)
    with pytest.raises(KeyboardInterrupt):
        session.poll()
    session.poll()
    assert session.kernel.slot_state(0).size == pytest.approx(0.02)
    assert sorted(session.reported_fills) == sorted(f"BTCUSDT:{t.trade_id}" for t in session.server.trades)


@BOTH_MARKETS
def test_a_fill_frame_that_never_comes_is_recovered_from_rest(session: Session) -> None:
    session.bring_up()
    sent, client_id = entry(session, 1, side=session.entry_side)
    assert sent
    session.server.inject("lose_fill")
    session.server.fill(client_id)
    time.sleep(0.2)
    session.poll()
    assert session.kernel.slot_state(0).size == 0.0  # the stream never said
    session.clock.advance(SWEEP_S)  # the REST sweep is due
    session.poll()
    assert session.kernel.slot_state(0).size == pytest.approx(0.02)
    assert session.server.faults_injected == {"lose_fill": 1}
    assert session.position() == pytest.approx(server_position(session.server))


def a_fill_frame_lost(session: Session, server: RestFailing, trade_lists_failing: int) -> None:
    """A working order whose fill of 0.008 comes with no frame, then one of 0.006 whose frame
    says 0.014 filled, while the next ``trade_lists_failing`` trade lists answer 503; the order
    works on, so it owes no trades by its end."""
    session.bring_up()
    sent, client_id = entry(session, 1)
    assert sent
    server.inject("lose_fill")
    server.fill(client_id, 0.008)
    server.trade_lists_failing = trade_lists_failing
    server.fill(client_id, 0.006)


def test_a_lost_fill_frame_is_asked_for_at_the_next_poll_when_the_trade_list_could_not_be_read() -> None:
    """A fill's frame never comes; the next fill's frame says more filled than its trade, and the
    trade list asked for the rest answers 503. REST asks about the order (working on) again at
    the next poll, the stream up and its sweep not due, and books the lost fill."""
    server = RestFailing()
    session = start_session(server)
    try:
        a_fill_frame_lost(session, server, trade_lists_failing=1)
        # Polled with the clock still: the REST sweep is not due.
        deadline = time.monotonic() + 5
        while session.kernel.slot_state(0).size < 0.014 - 1e-12 and time.monotonic() < deadline:
            session.poll()
            time.sleep(0.01)
        assert session.kernel.slot_state(0).size == pytest.approx(0.014)
        assert server.rest_calls("GET", "/api/v3/myTrades") == 2  # the one that failed, and again
        assert server.faults_injected == {"lose_fill": 1}
    finally:
        session.kernel.close()
        session.venue.close()
        server.close()


class RestLagging(RestFailing):
    """``RestFailing``, its order query answering ``lagging_filled`` as the order's filled size
    while set: an answer from before the stream's last frame."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.lagging_filled: float | None = None
        super().__init__(*args, **kwargs)

    async def _query_order(self, request: web.Request) -> web.Response:
        order = self._found(await self._params(request))
        if self.lagging_filled is None or order is None:
            return await super()._query_order(request)
        answer = self._order_answer(order)
        answer["executedQty"] = f"{self.lagging_filled:.8f}"
        answer["cummulativeQuoteQty"] = f"{self.lagging_filled * order.price:.8f}"
        return web.json_response(answer)


def test_a_rest_answer_lagging_the_stream_leaves_a_trade_list_not_read_asked_for_at_the_next_poll() -> None:
    """A fill's frame never comes; the next fill's frame says more filled than its trade, and the
    trade list asked for the rest answers 503. REST's next answer about the order lags the stream
    (it says only the trade the frame showed filled): owing nothing by it, the list is still
    unread, and the poll after asks again and books the lost fill, the REST sweep not due."""
    server = RestLagging()
    session = start_session(server)
    try:
        a_fill_frame_lost(session, server, trade_lists_failing=2)  # the frame's, and REST's at once
        deadline = time.monotonic() + 5
        while server.rest_calls("GET", "/api/v3/myTrades") < 2 and time.monotonic() < deadline:
            session.poll()
            time.sleep(0.01)
        assert session.kernel.slot_state(0).size == pytest.approx(0.006)
        server.lagging_filled = 0.006
        session.poll()  # the clock still: the REST sweep is not due
        assert session.kernel.slot_state(0).size == pytest.approx(0.006)
        server.lagging_filled = None
        session.poll()
        assert session.kernel.slot_state(0).size == pytest.approx(0.014)
    finally:
        session.kernel.close()
        session.venue.close()
        server.close()


@pytest.mark.parametrize("fault", ["stale", "terminate", "expire_listen_key"])
def test_a_stale_or_ended_stream_is_down_and_dialled_again(session: Session, fault: str) -> None:
    """A connection gone silent (no frame within the heartbeat) and a subscription the exchange
    ended (``eventStreamTerminated``; ``listenKeyExpired``, its listen key stale) are down, and
    connected again; the fill whose frame never came is booked by the reconciliation."""
    session.bring_up()
    sent, client_id = entry(session, 1)
    assert sent
    session.server.inject(fault)
    session.server.fill(client_id)
    session.wait_state("reconciling")
    status = session.venue.stream_status()
    assert status is not None and status.reconnects == 1 and status.last_error
    session.poll()
    assert session.state() == "up"
    assert session.kernel.slot_state(0).size == pytest.approx(0.02)


def test_rest_polls_while_the_stream_is_down(session: Session) -> None:
    """Down (the exchange's stream endpoint gone), the venue polls REST as without a stream."""
    session.bring_up()
    sent, client_id = entry(session, 1)
    assert sent
    session.venue._stream._settings = session.venue.settings.model_copy(  # type: ignore[union-attr]
        update={"user_stream_backoff_s": 60.0, "user_stream_backoff_max_s": 60.0}
    )
    session.server.drop_connections()
    session.wait_state("down")
    session.server.fill(client_id)
    session.poll()
    assert session.kernel.slot_state(0).size == pytest.approx(0.02)


def test_a_ban_holds_orders_and_nothing_is_sent_until_it_ends(session: Session) -> None:
    """A ban (HTTP 418, Retry-After 7200 s, Binance's -1003) answered to a REST poll: the whole
    Retry-After is waited out, an entry is held (RATE_LIMITED, not sent), nothing reaches the
    address until the ban ends, and then the fills made meanwhile are booked once."""
    session.server.ban_clock = session.clock
    session.bring_up()
    sent, client_id = entry(session, 1)
    assert sent
    session.server.inject("lose_fill")
    session.server.fill(client_id, 0.01)  # its frame never comes: REST must find it
    session.server.ban(7200.0)
    session.clock.advance(SWEEP_S)  # the sweep asks REST, and is answered by the ban
    session.poll()
    assert session.venue._client.throttle_wait() == pytest.approx(7200.0 - SWEEP_S, abs=1.0)
    requests = len(session.server.requests)
    held, reason = entry(session, 2, slot=1)
    assert not held and "throttling" in reason
    session.server.fill(client_id)  # streamed while banned: the stream is not REST
    session.clock.advance(3600.0)
    for _ in range(3):
        session.poll()
    assert len(session.server.requests) == requests and session.server.sent_while_banned == 0
    session.clock.advance(3600.0)
    settle(session, 0.02)
    assert sorted(session.reported_fills) == sorted(f"BTCUSDT:{t.trade_id}" for t in session.server.trades)
    assert session.refused_fills == []
    assert session.position() == pytest.approx(server_position(session.server))
    assert session.server.sent_while_banned == 0


def test_every_rest_answer_carries_the_minute_s_used_weight() -> None:
    """Binance's weights are added per request and answered in X-MBX-USED-WEIGHT-1M."""
    with streaming() as server:
        used = []
        for path in ("time", "exchangeInfo", "openOrders", "openOrders?symbol=BTCUSDT"):
            with urllib.request.urlopen(f"{server.url}/api/v3/{path}") as answer:
                used.append(int(answer.headers["X-MBX-USED-WEIGHT-1M"]))
        weights = [1, 20, 80, 6]
        # The count is the minute's: it starts again at a minute's turn.
        for before, after, weight in zip([0, *used], used, weights, strict=False):
            assert after in (before + weight, weight), used
        assert server.weight_used == sum(weights)


def test_the_stream_is_not_dialled_while_the_exchange_bans_the_address() -> None:
    with streaming() as server:
        clock = ManualClock()
        venue = streamed_venue(server, clock, start=False)
        try:
            venue._client.throttled_until = clock() + 3600.0  # a 418 ban noted by REST
            sent = len(server.requests)
            venue._start_stream()
            time.sleep(0.5)
            assert len(server.requests) == sent and server.subscriptions == 0
            assert venue.stream_status().state == "down"  # type: ignore[union-attr]
            clock.advance(3600.0)
            wait_for(lambda: venue.stream_status().state != "down", "the stream to subscribe")  # type: ignore[union-attr]
        finally:
            venue.close()


def test_a_throttle_answered_to_the_stream_is_waited_out_by_rest_and_the_stream() -> None:
    with streaming() as server:
        server.subscribe_refusal = {
            "status": 429,
            "error": {"code": -1003, "msg": "Too many requests; current limit is 6000 request weight."},
        }
        clock = ManualClock()
        venue = streamed_venue(server, clock)
        try:
            # The stream notes the throttle on the client, then says why it is down.
            wait_for(
                lambda: venue._client.throttled() and "RateLimitExceeded" in venue.stream_status().last_error,  # type: ignore[union-attr]
                "the stream's throttle noted on the client and named by the stream",
            )
            assert venue.stream_status().state == "down"  # type: ignore[union-attr]
            server.subscribe_refusal = None
            time.sleep(0.3)
            assert server.subscriptions == 0  # still waiting it out
            clock.advance(venue._client.throttle_wait() + 1.0)
            wait_for(lambda: venue.stream_status().state != "down", "the stream to subscribe")  # type: ignore[union-attr]
        finally:
            venue.close()


def test_a_ban_answered_to_the_stream_s_subscription_is_waited_out_in_full(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The address banned (by another process on the host, say) while the stream is up: its next
    dial is refused with the WebSocket API's 418, whose end is in the answer, not a header. REST
    and the stream wait all of it out: an entry is refused unsent, nothing is dialled, and the
    ban is logged as one."""
    with streaming() as server:
        clock = ManualClock()
        server.ban_clock = clock
        venue = streamed_venue(server, clock)
        try:
            wait_for(lambda: venue.stream_status().state != "down", "the stream to subscribe")  # type: ignore[union-attr]
            venue.poll_events()
            with caplog.at_level(logging.ERROR, logger="dita"):
                server.ban(600.0)
                server.drop_connections()
                wait_for(lambda: venue._client.throttled(), "the ban answered to the stream noted")
            assert venue._client.throttle_wait() == pytest.approx(600.0, abs=5.0)
            assert any("banned this address until" in r.getMessage() for r in caplog.records)
            clock.advance(5.0)
            time.sleep(0.5)
            order = VenueOrder("e-1", 0, "tr-1", "BTCUSDT", "BUY", "LIMIT", 90000.0, 0.01, is_entry=True)
            assert [e.kind for e in venue.submit(order)] == [KernelEventKind.RATE_LIMITED]
            venue.poll_events()
            assert server.sent_while_banned == 0 and server.subscribes_while_banned == 0
        finally:
            venue.close()


# Binance's WebSocket API answers (its docs, "Rate limits"): a ban said in its message alone, and
# a throttle (429) whose data.retryAfter is when requests may go again.
ANSWERED_WAITS = [
    pytest.param(
        lambda now_ms: {
            "status": 418,
            "error": {
                "code": -1003,
                "msg": f"Way too much request weight used; IP banned until {now_ms + 300_000}. "
                "Please use WebSocket Streams for live updates to avoid bans.",
            },
        },
        300.0,
        id="ban-in-its-message",
    ),
    pytest.param(
        lambda now_ms: {
            "status": 429,
            "error": {
                "code": -1003,
                "msg": "Too much request weight used; current limit is 6000 request weight per 1 MINUTE. "
                "Please use WebSocket Streams for live updates to avoid polling the API.",
                "data": {"serverTime": now_ms, "retryAfter": now_ms + 30_000},
            },
        },
        30.0,
        id="throttle-with-retry-after",
    ),
]


@pytest.mark.parametrize(("refusal", "wait_s"), ANSWERED_WAITS)
def test_the_wait_the_stream_s_subscription_is_answered_with_is_read_from_the_answer(
    refusal: Callable[[int], dict[str, Any]], wait_s: float
) -> None:
    with streaming() as server:
        server.subscribe_refusal = refusal(server._server_ms())
        clock = ManualClock()
        venue = streamed_venue(server, clock)
        try:
            wait_for(lambda: venue._client.throttled(), "the answered wait noted on the client")
            assert venue._client.throttle_wait() == pytest.approx(wait_s, abs=5.0)
        finally:
            venue.close()


def test_a_subscription_refused_for_its_timestamp_is_named_and_the_clock_synced_before_the_next_dial() -> (
    None
):
    """The exchange's clock steps 30 s back while the stream is up: each dial is refused -1021.
    The stream said only ccxt.pro's cleanup error (``KeyError: 'spot'``) and stayed down until a
    REST request (the next entry) was refused and synced the clock. It names the exchange's
    refusal, syncs the clock, and is up again at the next dial; REST signs with that clock too."""
    with streaming() as server:
        venue = streamed_venue(server, ManualClock())
        try:
            wait_for(lambda: venue.stream_status().state != "down", "the stream to subscribe")  # type: ignore[union-attr]
            server.clock_offset_s = -30.0
            server.drop_connections()
            # The server counts the subscription before the venue sees its answer.
            wait_for(
                lambda: server.subscriptions >= 2 and venue.stream_status().state != "down",  # type: ignore[union-attr]
                "the stream to subscribe again",
            )
            status = venue.stream_status()
            assert status is not None
            assert "InvalidNonce" in status.last_error and '"code":-1021' in status.last_error, status
            # The offset found counts the time answer's way back as well: a few ms on a busy machine.
            found = re.search(r"clock is (\d+)ms ahead", status.last_error)
            assert found is not None and int(found[1]) == pytest.approx(30_000, abs=1_000), status
            assert venue._exchange.options["timeDifference"] == pytest.approx(30_000, abs=1_000)
        finally:
            venue.close()


def test_a_throttle_answered_to_the_stream_s_clock_sync_is_waited_out_by_rest_and_the_stream() -> None:
    """The stream's dial refused -1021, the exchange's time it then asks for is answered 429: the
    throttle was said as "the clock could not be synced" only, and REST and the stream's next dial
    sent on into it, which Binance answers with a ban of the address."""
    with streaming() as server:
        clock = ManualClock()
        venue = streamed_venue(server, clock)
        try:
            wait_for(lambda: venue.stream_status().state != "down", "the stream to subscribe")  # type: ignore[union-attr]
            too_many = {"code": -1003, "msg": "Too many requests; current limit is 6000 request weight."}
            server.time_failing.append((429, too_many, {"Retry-After": "30"}))
            subscribed = server.subscriptions
            server.clock_offset_s = -30.0
            server.drop_connections()
            wait_for(lambda: "-1003" in venue.stream_status().last_error, "the throttle said")  # type: ignore[union-attr]
            status = venue.stream_status()
            assert status is not None and status.state == "down"
            assert "the clock could not be synced" in status.last_error and "429" in status.last_error
            assert venue._client.throttle_wait() == pytest.approx(30.0)
            time.sleep(0.3)
            assert server.subscriptions == subscribed  # still waiting it out
            clock.advance(30.0)
            wait_for(lambda: server.subscriptions > subscribed, "the stream to subscribe again")
        finally:
            venue.close()


def test_a_subscription_refused_for_its_api_key_names_the_exchange_s_refusal() -> None:
    with streaming() as server:
        server.subscribe_refusal = {
            "status": 401,
            "error": {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."},
        }
        venue = streamed_venue(server, ManualClock())
        try:
            wait_for(lambda: "-2015" in venue.stream_status().last_error, "the refusal named")  # type: ignore[union-attr]
            status = venue.stream_status()
            assert status is not None and status.state == "down"
            assert status.last_error.startswith("AuthenticationError: "), status
            assert "Invalid API-key, IP, or permissions" in status.last_error
        finally:
            venue.close()


def test_the_stream_signs_with_the_clock_synced_by_rest() -> None:
    """The exchange's clock 10 s behind this machine's: REST syncs with it as markets load, and
    the stream's subscription is signed by that synced clock, not refused for its timestamp."""
    with streaming() as server:
        server.clock_offset_s = -10.0
        venue = streamed_venue(server, ManualClock())
        try:
            wait_for(lambda: venue.stream_status().state != "down", "the stream to subscribe", 5.0)  # type: ignore[union-attr]
        finally:
            venue.close()


def test_a_stream_that_cannot_be_made_is_retried_with_its_error_kept() -> None:
    with streaming() as server:
        venue = streamed_venue(server, ManualClock(), start=False)
        stream = venue._stream
        assert stream is not None
        made = stream._new_exchange
        calls = []

        def fails_once() -> object:
            calls.append(1)
            if len(calls) == 1:
                raise ValueError("credentials unreadable")
            return made()

        stream._new_exchange = fails_once  # type: ignore[method-assign]
        try:
            venue.load_markets()
            wait_for(lambda: venue.stream_status().state != "down", "the stream to subscribe")  # type: ignore[union-attr]
            assert "credentials unreadable" in venue.stream_status().last_error  # type: ignore[union-attr]
        finally:
            venue.close()


def test_stopping_a_stream_whose_loop_just_closed_does_not_raise() -> None:
    class ClosingLoop:
        def is_closed(self) -> bool:
            return False  # closed right after this answer

        def call_soon_threadsafe(self, *args: object) -> None:
            raise RuntimeError("Event loop is closed")

    venue = CcxtVenue(exchange="binance", user_stream=True)
    stream = venue._stream
    assert stream is not None
    stream._loop = ClosingLoop()  # type: ignore[assignment]
    stream._wake = SimpleNamespace(set=lambda: None)  # type: ignore[assignment]
    stream.stop()


@pytest.mark.parametrize(
    ("exchange", "market_type"), [("okx", "spot"), ("binanceus", "spot"), ("binanceusdm", "linear")]
)
def test_user_stream_is_refused_where_it_is_not_supported(exchange: str, market_type: str) -> None:
    """Binance's descendants (binanceus, binanceusdm) are refused too: ccxt.pro's WebSocket API
    address for them is still binance.com's."""
    supported = "supported for Binance spot and USD-M futures"
    with pytest.raises(
        ValueError, match=rf"{supported} \(market_type linear\) only, not exchange='{exchange}'"
    ):
        CcxtVenue(exchange=exchange, market_type=market_type, user_stream=True)


# -- faulty sessions ----------------------------------------------------------------------


def wait_out_ban(session: Session) -> bool:
    """Move the clock past the throttle or ban the venue is waiting out; whether there was one."""
    wait = session.venue._client.throttle_wait()
    if wait > 0:
        session.clock.advance(wait + 1.0)
    return wait > 0


def held_by_ban(reason: str) -> bool:
    return "throttling" in reason


def send_entry(session: Session, n: int, side: str = "LONG") -> str:
    """The round trip's limit entry on slot 0, sent again while refused (the stream reconciling,
    the address banned); its client id."""
    for attempt in range(200):
        sent, said = entry(session, f"{n}-{attempt}", side=side)
        if sent:
            return said
        if "user-data stream reconciles" in said:
            session.entries_refused += 1
            session.poll()
            time.sleep(0.01)
        else:
            assert held_by_ban(said), said
            session.poll()  # nothing is sent while the ban lasts
            wait_out_ban(session)
    raise AssertionError(f"entry {n} never sent")


def probe_entry(session: Session, rng: random.Random, n: int) -> None:
    """An entry on slot 1 at a seeded moment (often just after a fault): refused while the
    stream reconciles, else sent and cancelled (the cancel sent again while the ban holds it)."""
    time.sleep(rng.uniform(0.0, 0.3))
    sent, said = entry(session, f"p{n}", slot=1, size=0.01)
    if not sent:
        if "user-data stream reconciles" in said:
            session.entries_refused += 1
        else:
            assert held_by_ban(said), said
        return
    trade_id = session.kernel.slot_state(1).trade_id
    for attempt in range(200):
        if session.kernel.slot_state(1).fsm_state in (TradeStage.IDLE, TradeStage.CLOSED):
            return
        if session.kernel.slot_state(1).active_entry_order is not None:
            cancel = KernelIntent(
                f"c{n}-{attempt}", trade_id, 1, "BTCUSDT", "LONG", "CANCEL", 90000.0, 0.0,
                timestamp=session.clock(),
            )  # fmt: skip
            session.kernel.process_intent(cancel)
        session.poll()
        if not wait_out_ban(session):
            time.sleep(0.01)
    raise AssertionError(f"probe {n} never cancelled: {session.kernel.slot_state(1)}")


def exit_position(session: Session, n: int) -> None:
    """A market exit of slot 0's position, sent again while the ban holds it."""
    for attempt in range(200):
        state = session.kernel.slot_state(0)
        if state.size == 0.0 or state.active_exit_order is not None:
            return
        intent = KernelIntent(
            f"x{n}-{attempt}", state.trade_id, 0, "BTCUSDT", state.side, "EXIT", 90000.0, state.size,
            timestamp=session.clock(),
        )  # fmt: skip
        outcome = session.kernel.process_intent(intent)
        if outcome.accepted and session.kernel.slot_state(0).size == 0.0:
            return
        session.poll()
        wait_out_ban(session)
    raise AssertionError(f"exit {n} never sent")


def settle_through_bans(session: Session, filled: float) -> None:
    """``settle``, the clock moved past a ban once a poll has been held by it."""
    deadline = time.monotonic() + 30
    tries = 0
    while abs(session.kernel.slot_state(0).size - filled) > 1e-12:
        if time.monotonic() > deadline:
            raise AssertionError(f"slot 0 holds {session.kernel.slot_state(0).size}, not {filled}")
        session.poll()
        tries += 1
        if not wait_out_ban(session) and tries % 20 == 0:
            session.clock.advance(SWEEP_S)
        time.sleep(0.01)


@dataclass
class SessionFigures:
    """What one faulty session showed."""

    fills: int
    lost: int
    booked_twice: int
    positions_equal: bool
    entries_refused: int
    faults: dict[str, int]
    sent_while_banned: int
    subscribes_while_banned: int


@dataclass(frozen=True)
class FaultyMarket:
    """What faulty sessions run against: the venue's market type, its local exchange under a
    seed's faults, the fault kinds drawn there, and whether a round trip may sell first."""

    market_type: str
    serve: Callable[[int], AbstractContextManager[BinanceStreamServer]]
    fault_kinds: tuple[str, ...]
    shorts: bool = False


SPOT = FaultyMarket("spot", lambda seed: streaming(StreamFaults.seeded(seed, rate=0.1)), FAULT_KINDS)


def faulty_session(seed: int, market: FaultyMarket = SPOT) -> SessionFigures:
    """One session under seeded faults: two round trips (a limit entry filled in one to three
    trades, then a market exit; a short one where the market takes them, by the seed), with
    entries on a second slot at seeded moments, which are refused while the stream reconciles
    after a fault. Every trade is to be reported once and the kernel's position is to be the
    exchange's after each step."""
    rng = random.Random(seed)
    with market.serve(seed) as server:
        session = start_session(server, market.market_type)
        server.ban_clock = session.clock
        positions_equal = True
        try:
            # A futures stream's first dial asks REST for its listen key: a ban may answer it.
            subscribed = lambda: not wait_out_ban(session) and session.state() != "down"  # noqa: E731
            wait_for(subscribed, "the stream to subscribe")
            for n in range(2):
                side = rng.choice(("LONG", "SHORT")) if market.shorts else "LONG"
                client_id = send_entry(session, n, side)
                parts = rng.randint(1, 3)
                for part in range(parts):
                    server.fill(client_id, None if part == parts - 1 else 0.005)
                    if rng.random() < 0.5:
                        session.poll()
                    if rng.random() < 0.5:
                        probe_entry(session, rng, 10 * n + part)
                settle_through_bans(session, 0.02)
                positions_equal &= session.position() == pytest.approx(server_position(server), abs=1e-9)
                exit_position(session, n)
                settle_through_bans(session, 0.0)
                positions_equal &= session.position() == pytest.approx(server_position(server), abs=1e-9)
            trade_ids = [f"BTCUSDT:{t.trade_id}" for t in server.trades]
            reported = session.reported_fills + session.refused_fills
            status = session.venue.stream_status()
            assert status is not None and status.entries_refused == session.entries_refused, seed
            return SessionFigures(
                fills=len(trade_ids),
                lost=len(set(trade_ids) - set(session.reported_fills)),
                booked_twice=len(reported) - len(set(reported)) + len(session.refused_fills),
                positions_equal=positions_equal,
                entries_refused=session.entries_refused,
                faults=dict(server.faults_injected),
                sent_while_banned=server.sent_while_banned,
                subscribes_while_banned=server.subscribes_while_banned,
            )
        finally:
            session.kernel.close()
            session.venue.close()


def run_faulty_sessions(seeds: range, market: FaultyMarket = SPOT) -> None:
    """Run the sessions of ``seeds``, print their figures, and require 0 fills lost, 0 booked
    twice, every position the exchange's, no REST request sent into an answered ban nor more than
    the one subscription that may cross its answer, every fault kind drawn, and over fifty
    sessions or more, an entry refused while reconciling.

    The faults share one random stream with the bans drawn per REST request, whose number follows
    the polls, so how often each kind comes depends on timing (a rare kind twice in one run, seven
    times in another): further seeds, as many again at most, run until each kind was drawn (and an
    entry refused), under the same checks."""
    refusal_due = len(seeds) >= 50  # a probe lands in a reconciliation by timing: a few in fifty

    def drawn(figures: dict[int, SessionFigures]) -> dict[str, int]:
        return {kind: sum(f.faults.get(kind, 0) for f in figures.values()) for kind in market.fault_kinds}

    def covered(figures: dict[int, SessionFigures]) -> bool:
        refused = sum(f.entries_refused for f in figures.values())
        return all(drawn(figures).values()) and (refused > 0 or not refusal_due)

    started = time.perf_counter()
    figures = {seed: faulty_session(seed, market) for seed in seeds}
    for seed in range(seeds.stop, seeds.stop + len(seeds)):
        if covered(figures):
            break
        figures[seed] = faulty_session(seed, market)
    wall_s = time.perf_counter() - started
    faults = drawn(figures)
    total = {
        "fills": sum(f.fills for f in figures.values()),
        "lost": sum(f.lost for f in figures.values()),
        "booked twice": sum(f.booked_twice for f in figures.values()),
        "positions equal": sum(f.positions_equal for f in figures.values()),
        "entries refused while reconciling": sum(f.entries_refused for f in figures.values()),
        "REST requests into an answered ban": sum(f.sent_while_banned for f in figures.values()),
        "subscriptions into an answered ban": sum(f.subscribes_while_banned for f in figures.values()),
    }
    print(
        f"\n{len(figures)} faulty {market.market_type} sessions in {wall_s:.1f}s: "
        + ", ".join(f"{k} {v}" for k, v in total.items())
        + "\nfaults drawn: "
        + ", ".join(f"{k} {v}" for k, v in faults.items())
    )
    failed = {seed: f for seed, f in figures.items() if f.lost or f.booked_twice or not f.positions_equal}
    assert not failed, failed
    assert total["REST requests into an answered ban"] == 0
    # One subscription may cross a ban's answer to REST in flight (another thread sends it); a
    # stream redialling into the ban sends one each second of it.
    assert all(f.subscribes_while_banned <= 1 for f in figures.values()), total
    assert all(faults.values()), f"fault kinds never drawn: {faults}"
    if refusal_due:
        assert total["entries refused while reconciling"] > 0


# 30 draw every kind of fault; the soak run below takes 200 more.
SESSIONS = int(os.environ.get("DITA_STREAM_SESSIONS", "30"))


def test_faulty_sessions_lose_no_fill_and_book_none_twice() -> None:
    run_faulty_sessions(range(SESSIONS))


@pytest.mark.soak
def test_two_hundred_faulty_sessions_lose_no_fill_and_book_none_twice() -> None:
    run_faulty_sessions(range(1000, 1200))
