"""The clock requests are signed by is synced with the exchange's from two threads: REST's, after
a request refused for its timestamp (-1021), and the user stream's, after a subscription refused
so. Of two such resyncs, the one measured last stands, whichever answer came last: the older
written over the newer, every signed request is refused until the next refusal syncs again.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web
from binance_streams import BinanceStreamServer
from test_venues_ccxt_streams import streamed_venue, wait_for
from venue_helpers import API_KEY, API_SECRET, ManualClock, make_order

from dita import KernelEventKind, VenueEvent

REFUSED_FOR_TIMESTAMP = (
    400,
    {"code": -1021, "msg": "Timestamp for this request was 1000ms ahead of the server's time."},
)


class SlowTimeAnswer(BinanceStreamServer):
    """Binance whose next answer of its time is read at once and held until ``release`` is set (a
    slow network), and whose cancels are refused for a timestamp off its clock, as every signed
    request is."""

    def __init__(self) -> None:
        self.hold_next_time = False
        self.time_read = threading.Event()
        self.release = threading.Event()
        super().__init__()

    async def _server_time(self, request: web.Request) -> web.Response:
        answer = await super()._server_time(request)
        if self.hold_next_time:
            self.hold_next_time = False
            self.time_read.set()
            await asyncio.get_running_loop().run_in_executor(None, self.release.wait, 10.0)
        return answer

    async def _cancel_order(self, request: web.Request) -> web.Response:
        if self._timestamp_refused(await self._params(request)):
            status, body = REFUSED_FOR_TIMESTAMP
            return web.json_response(body, status=status)
        return await super()._cancel_order(request)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[SlowTimeAnswer]:
    monkeypatch.setenv("DITA_TEST_BINANCE_KEY", API_KEY)
    monkeypatch.setenv("DITA_TEST_BINANCE_SECRET", API_SECRET)
    exchange = SlowTimeAnswer()
    try:
        yield exchange
    finally:
        exchange.close()


def test_rest_s_resync_answered_after_the_stream_s_newer_one_does_not_undo_it(server: SlowTimeAnswer) -> None:
    venue = streamed_venue(server, ManualClock())
    try:
        wait_for(lambda: venue.stream_status().state != "down", "the stream to subscribe")  # type: ignore[union-attr]
        order = make_order("k-1", order_type="LIMIT", price=90000.0, size=0.02)
        assert [e.kind for e in venue.submit(order)] == [KernelEventKind.ORDER_ACK]

        # REST's cancel is refused -1021, and the exchange's time it then asks for is read before
        # the exchange's clock steps 30 s back, its answer coming only after the stream's resync.
        server.cancels_failing.append(REFUSED_FOR_TIMESTAMP)
        server.hold_next_time = True
        answers: dict[str, Any] = {}
        rest = threading.Thread(target=lambda: answers.update(cancel=venue.cancel(order)))
        rest.start()
        try:
            assert server.time_read.wait(5.0), "REST did not ask the exchange's time"
            subscribed = server.subscriptions
            server.clock_offset_s = -30.0
            server.drop_connections()
            # Subscribed again only once its refused dial synced the clock with the stepped one.
            wait_for(lambda: server.subscriptions > subscribed, "the stream to subscribe again")
        finally:
            server.release.set()
            rest.join(10.0)
        refused: list[VenueEvent] = answers["cancel"]
        assert [e.kind for e in refused] == [KernelEventKind.CANCEL_REJECT] and "-1021" in refused[0].reason

        # Signed by the clock the stream synced last, the next cancel is carried out.
        (canceled,) = venue.cancel(order)
        assert canceled.kind == KernelEventKind.CANCEL_ACK, canceled.reason
    finally:
        venue.close()


def test_closing_the_venue_while_the_stream_syncs_its_clock_ends_the_stream_at_once(
    server: SlowTimeAnswer,
) -> None:
    """The stream's dial refused -1021, and the exchange's time it then asks for is slow to come:
    closing the venue waited for that answer (up to ccxt's request timeout, here 15 s) and gave up on
    the stream's thread after 10 s, left running. The sync is given up: the thread ends in about a
    second."""
    venue = streamed_venue(server, ManualClock(), timeout_ms=15_000)
    closed = False
    try:
        wait_for(lambda: venue.stream_status().state != "down", "the stream to subscribe")  # type: ignore[union-attr]
        server.hold_next_time = True
        server.clock_offset_s = -30.0
        server.drop_connections()
        assert server.time_read.wait(5.0), "the stream did not ask the exchange's time"
        started = time.monotonic()
        venue.close()
        closed = True
        took = time.monotonic() - started
        thread = venue._stream._thread  # type: ignore[union-attr]
        assert thread is not None and not thread.is_alive()
        assert took < 5.0, f"close took {took:.1f}s"
    finally:
        server.release.set()
        if not closed:
            venue.close()
