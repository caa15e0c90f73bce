"""The dead-man switch watches the user streams behind a VenueRouter (the one silent longest),
and says at WARNING when ``streams_silence_s`` is set over a venue without any stream."""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any

import pytest

from dita import ExecutionKernel, VenueEvent
from dita.runtime.dead_man import DeadManSettings, DeadManSwitch
from dita.venues import PaperVenue, VenueRouter
from dita.venues.ccxt.streams import ExchangeClose, StreamStatus


class StreamedVenue:
    """A venue whose user stream's last frame came ``silent_s`` ago (None: none yet), or, with
    ``streams`` false, a venue with ``stream_status()`` that runs without its stream."""

    def __init__(self, name: str, silent_s: float | None, streams: bool = True) -> None:
        self.name = name
        self.silent_s = silent_s
        self.streams = streams

    def submit(self, order: Any) -> list[VenueEvent]:
        return []

    def cancel(self, order: Any) -> list[VenueEvent]:
        return []

    def stream_status(self) -> Any:
        return SimpleNamespace(since_last_frame_s=self.silent_s, venue=self.name) if self.streams else None


def _switch(router: VenueRouter, now: list[float]) -> tuple[ExecutionKernel, DeadManSwitch]:
    kernel = ExecutionKernel(max_slots=1, venue=router)
    return kernel, DeadManSwitch(kernel, DeadManSettings(streams_silence_s=30), clock=lambda: now[0])


def test_a_dead_stream_behind_a_venue_router_trips_the_switch() -> None:
    router = VenueRouter({"binance": StreamedVenue("binance", 120.0)}, default="binance")
    now = [1_000.0]
    kernel, switch = _switch(router, now)
    now[0] += 120.0  # two minutes on, the stream silent all along
    assert [(t.source, t.silent_s) for t in switch.check()] == [("streams", 120.0)]
    assert kernel.control()["mode"] == "REDUCE_ONLY"


def test_the_router_gives_the_stream_silent_longest_among_its_venues() -> None:
    fresh, dead = StreamedVenue("fresh", 1.0), StreamedVenue("dead", 120.0)
    router = VenueRouter(
        {"paper": PaperVenue(name="paper"), "fresh": fresh, "off": StreamedVenue("off", None, streams=False),
         "dead": dead},
        default="paper",
    )  # fmt: skip
    assert router.stream_status().venue == "dead"
    dead.silent_s = None  # reconnected, no frame yet: the most silent of all
    assert router.stream_status().venue == "dead"
    now = [1_000.0]
    dead.silent_s = 120.0
    _, switch = _switch(router, now)
    now[0] += 120.0
    assert [t.source for t in switch.check()] == ["streams"]
    assert VenueRouter({"paper": PaperVenue(name="p")}).stream_status() is None


@pytest.mark.parametrize(
    "venue",
    [
        lambda: PaperVenue(name="paper"),
        lambda: VenueRouter({"paper": PaperVenue(name="paper")}, default="paper"),
        lambda: StreamedVenue("off", None, streams=False),
    ],
    ids=["no stream_status", "router without streams", "stream off"],
)
def test_streams_silence_s_over_a_venue_without_streams_is_told_at_start(
    venue: Any, caplog: pytest.LogCaptureFixture
) -> None:
    kernel = ExecutionKernel(max_slots=1, venue=venue(), kernel_id="no-streams")
    with caplog.at_level(logging.WARNING, "dita.runtime.dead_man"):
        DeadManSwitch(kernel, DeadManSettings(streams_silence_s=30))
    (record,) = caplog.records
    said = record.getMessage()
    assert record.levelno == logging.WARNING and "streams_silence_s is set (30s)" in said
    assert "of kernel 'no-streams' has no user stream: the streams are not watched" in said


def test_a_switch_over_streams_or_not_watching_them_says_nothing_at_start(
    caplog: pytest.LogCaptureFixture,
) -> None:
    streamed = ExecutionKernel(max_slots=1, venue=VenueRouter({"s": StreamedVenue("s", 1.0)}, default="s"))
    plain = ExecutionKernel(max_slots=1, venue=PaperVenue(name="paper"))
    with caplog.at_level(logging.WARNING, "dita.runtime.dead_man"):
        DeadManSwitch(streamed, DeadManSettings(streams_silence_s=30))
        DeadManSwitch(plain, DeadManSettings(strategy_silence_s=30))
    assert caplog.records == []


def test_the_routers_stream_status_says_a_stream_down_and_every_reconnect() -> None:
    """Venue a's stream dropped 5 s ago; b's is up, its last frame 60 s ago: the status of b alone
    (silent longest) read `up` with no reconnect, so the state gauge hid a stream that was down."""

    def status(state: str, silent_s: float, reconnects: int, max_lag_s: float) -> StreamStatus:
        return StreamStatus(state=state, reconnects=reconnects, lag_s=0.1, max_lag_s=max_lag_s,  # type: ignore[arg-type]
                            since_last_frame_s=silent_s, frames=10, entries_refused=0, balances=None,
                            last_error="")  # fmt: skip

    a, b = StreamedVenue("a", None), StreamedVenue("b", None)
    a.stream_status = lambda: status("down", 5.0, 4, 0.9)  # type: ignore[method-assign]
    b.stream_status = lambda: status("up", 60.0, 1, 0.2)  # type: ignore[method-assign]
    merged = VenueRouter({"a": a, "b": b}, default="a").stream_status()
    assert (merged.state, merged.reconnects, merged.max_lag_s) == ("down", 5, 0.9)
    assert merged.since_last_frame_s == 60.0  # the silence the dead-man switch reads: b's


def test_the_routers_stream_status_counts_the_positions_every_exchange_closed_itself() -> None:
    """Venue a's exchange liquidated a position; b's stream is the one silent longest: the merged
    status still counts a's close, and gives it as the last."""
    liquidation = ExchangeClose("BTCUSDT", "autoclose-1764547200000", "BUY", 0.02, 88000.0, "7", 1764547200.0)

    def status(silent_s: float, closes: int, last: ExchangeClose | None) -> StreamStatus:
        return StreamStatus(state="up", reconnects=0, lag_s=0.1, max_lag_s=0.1, since_last_frame_s=silent_s,
                            frames=10, entries_refused=0, balances=None, last_error="",
                            exchange_closes=closes, last_exchange_close=last)  # fmt: skip

    a, b = StreamedVenue("a", None), StreamedVenue("b", None)
    a.stream_status = lambda: status(5.0, 1, liquidation)  # type: ignore[method-assign]
    b.stream_status = lambda: status(60.0, 0, None)  # type: ignore[method-assign]
    merged = VenueRouter({"a": a, "b": b}, default="a").stream_status()
    assert merged.since_last_frame_s == 60.0
    assert (merged.exchange_closes, merged.last_exchange_close) == (1, liquidation)
