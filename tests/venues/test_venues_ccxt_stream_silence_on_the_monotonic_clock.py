"""The ccxt streams measure their silence (``since_last_frame_s``, which the dead-man switch reads)
on the monotonic clock: a wall clock set back neither hides a silent stream nor keeps it up."""

from __future__ import annotations

import threading
import time
import types
from pathlib import Path

import pytest
from binance_market import BinanceMarket
from binance_streams import BinanceStreamServer
from test_venues_ccxt_takeover_fills import venue_on
from venue_helpers import ManualClock, on_the_log, wait_for

import dita.venues.ccxt.market_stream as market_stream
import dita.venues.ccxt.streams as streams
from dita.runtime.dead_man import DeadManSettings, DeadManSwitch
from dita.venues.ccxt.market_stream import MarketStream
from dita.venues.ccxt.settings import CcxtSettings


class Steady:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def set_back(module: types.ModuleType, monkeypatch: pytest.MonkeyPatch, by_s: float) -> None:
    """``module``'s wall clock set back ``by_s`` (forward when below 0); its monotonic clock untouched."""
    shifted = types.SimpleNamespace(**{k: getattr(time, k) for k in dir(time) if not k.startswith("_")})
    shifted.time = lambda: time.time() - by_s
    monkeypatch.setattr(module, "time", shifted)


@pytest.mark.parametrize("set_back_s", [0.0, 3600.0], ids=["wall-clock-untouched", "wall-clock-set-back-1h"])
def test_a_user_stream_silent_past_its_limit_trips_the_dead_man_switch_whatever_the_wall_clock_did(
    set_back_s: float, clock: ManualClock, tmp_path: Path, binance_keys: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = BinanceStreamServer()
    venue = venue_on(
        server, clock, user_stream=True, user_stream_heartbeat_s=30.0, user_stream_backoff_s=0.02,
        user_stream_backoff_max_s=0.2,
    )  # fmt: skip
    kernel = on_the_log(venue, tmp_path)
    try:
        kernel.update_control(mode="LIVE", source="operator")
        kernel.set_market_limits("BTCUSDT", venue.market_metadata()["BTCUSDT"].model_dump())
        kernel.reconcile_with_venue()
        wait_for(lambda: venue.stream_status().since_last_frame_s is not None, "a frame")  # type: ignore[union-attr]
        steady = Steady()
        switch = DeadManSwitch(kernel, DeadManSettings(streams_silence_s=0.5), clock=steady)
        assert switch.check() == []
        server.close()  # no frame from here on
        set_back(streams, monkeypatch, set_back_s)
        time.sleep(0.6)
        steady.now += 0.6
        trips = switch.check()
        switch.close()
        assert [t.source for t in trips] == ["streams"]
    finally:
        kernel.close()
        venue.close()


def test_a_market_stream_that_is_alive_is_not_read_silent_when_the_wall_clock_jumps_forward(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = BinanceStreamServer(market=BinanceMarket())
    stream = MarketStream(
        CcxtSettings(exchange="binance", base_url=server.url, timeout_ms=3000),
        ["BTC/USDT"],
        "ticker",
        heartbeat_s=30.0,
        backoff_s=0.05,
        backoff_max_s=0.2,
    )
    stopping = threading.Event()
    threading.Thread(target=lambda: list(stream.feed(stopping.is_set)), daemon=True).start()
    try:
        wait_for(lambda: stream.status().since_last_frame_s is not None, "a frame")
        set_back(market_stream, monkeypatch, -3600.0)  # forward an hour
        silent = stream.status().since_last_frame_s
        assert silent is not None and silent < 60.0
    finally:
        stopping.set()
        stream.stop()
        server.close()
