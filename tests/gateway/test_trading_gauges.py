"""The trading gauges of /metrics, read back as Prometheus text: the account, the mode, an edge
freeze, the reconcile status and delta per kernel, and the venue's stream state and lag when it
has one."""

from __future__ import annotations

from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from dita.venues import VenueRouter
from dita.venues.ccxt.streams import StreamStatus
from gateway.helpers import AUTH, LimitsRest, LiveServer, enter, start_server


def scraped(live: LiveServer) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics by name and labels."""
    text = live.client.get("/metrics").text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def gauge(samples: dict[Any, float], name: str, kernel_id: str, **labels: str) -> float:
    return samples[(name, tuple(sorted({"kernel_id": kernel_id, **labels}.items())))]


def test_the_account_mode_and_reconcile_gauges_follow_the_kernel(live: LiveServer) -> None:
    c = live.client
    kernel_id = c.get("/healthz").json()["kernel_id"]
    before = scraped(live)
    assert gauge(before, "dita_kernel_open_positions", kernel_id) == 0.0
    assert gauge(before, "dita_kernel_mode", kernel_id, mode="PAPER") == 1.0
    assert gauge(before, "dita_kernel_mode", kernel_id, mode="HALTED") == 0.0
    assert gauge(before, "dita_kernel_reconcile_status", kernel_id, status="OK") == 1.0

    assert enter(c, asset="BTCUSDT")["accepted"] is True  # 0.5 at 50,000
    assert c.post("/v1/marks", json={"asset": "BTCUSDT", "price": 51_000}, headers=AUTH).status_code == 200
    assert c.put("/v1/control", json={"mode": "REDUCE_ONLY"}, headers=AUTH).status_code == 200
    after = scraped(live)
    account = c.get("/v1/account").json()
    assert gauge(after, "dita_kernel_open_positions", kernel_id) == 1.0
    assert gauge(after, "dita_kernel_open_notional", kernel_id) == account["open_notional"] > 0
    assert gauge(after, "dita_kernel_unrealized_pnl", kernel_id) == account["unrealized_pnl"] == 500.0
    assert gauge(after, "dita_kernel_realized_pnl", kernel_id) == account["realized_pnl"]
    assert gauge(after, "dita_kernel_equity", kernel_id) == account["equity"]
    assert gauge(after, "dita_kernel_available_capital", kernel_id) == account["available_capital"]
    assert gauge(after, "dita_kernel_reconcile_delta", kernel_id) == account["reconcile_delta"]
    modes = {m: gauge(after, "dita_kernel_mode", kernel_id, mode=m) for m in ("PAPER", "REDUCE_ONLY")}
    assert modes == {"PAPER": 0.0, "REDUCE_ONLY": 1.0}
    # A venue without a user stream: no stream gauges.
    assert not any(name.startswith("dita_venue_stream") for name, _ in after)


def test_the_frozen_gauge_says_an_edge_freeze_holds_the_kernel(live: LiveServer) -> None:
    kernel = live.app.state.kernel
    kernel_id = kernel.kernel_id
    assert gauge(scraped(live), "dita_kernel_frozen", kernel_id) == 0.0
    kernel.set_risk_limits({"edge_freeze_threshold_bps": 10.0})
    assert kernel.on_edge_update("BTCUSDT", 1.0).details["frozen"] is True
    after = scraped(live)
    assert gauge(after, "dita_kernel_frozen", kernel_id) == 1.0
    # The mode is unchanged: the freeze alone says the kernel takes no entry.
    assert gauge(after, "dita_kernel_mode", kernel_id, mode="PAPER") == 1.0


class StreamedVenue(LimitsRest):
    """A venue whose user stream reports itself as CcxtVenue's does."""

    def stream_status(self) -> StreamStatus:
        return StreamStatus(
            state="reconciling", reconnects=2, lag_s=0.25, max_lag_s=1.5, since_last_frame_s=0.1,
            frames=40, entries_refused=0, balances=None, last_error="",
        )  # fmt: skip


def test_the_stream_gauges_show_the_venues_stream_status() -> None:
    live = start_server(max_slots=2, venue=StreamedVenue)
    try:
        kernel_id = live.client.get("/healthz").json()["kernel_id"]
        samples = scraped(live)
        states = {
            s: gauge(samples, "dita_venue_stream_state", kernel_id, state=s)
            for s in ("down", "reconciling", "up")
        }
        assert states == {"down": 0.0, "reconciling": 1.0, "up": 0.0}
        assert gauge(samples, "dita_venue_stream_lag_seconds", kernel_id) == 0.25
        assert gauge(samples, "dita_venue_stream_max_lag_seconds", kernel_id) == 1.5
        assert gauge(samples, "dita_venue_stream_silence_seconds", kernel_id) == 0.1
        assert gauge(samples, "dita_venue_stream_reconnects", kernel_id) == 2.0
    finally:
        live.stop()


class FreshStreamVenue(StreamedVenue):
    name = "fresh"


class QuietStreamVenue(StreamedVenue):
    """A second venue's user stream, silent for two minutes."""

    name = "quiet"

    def stream_status(self) -> StreamStatus:
        return StreamStatus(
            state="up", reconnects=0, lag_s=0.5, max_lag_s=0.5, since_last_frame_s=120.0,
            frames=3, entries_refused=0, balances=None, last_error="",
        )  # fmt: skip


def test_the_stream_gauges_behind_a_venue_router_show_the_longest_silence_and_the_worst_state() -> None:
    def router() -> VenueRouter:
        return VenueRouter({"fresh": FreshStreamVenue(), "quiet": QuietStreamVenue()}, default="fresh")

    live = start_server(max_slots=2, venue=router)
    try:
        kernel_id = live.client.get("/healthz").json()["kernel_id"]
        samples = scraped(live)
        assert gauge(samples, "dita_venue_stream_silence_seconds", kernel_id) == 120.0  # quiet's
        assert gauge(samples, "dita_venue_stream_state", kernel_id, state="reconciling") == 1.0  # fresh's
        assert gauge(samples, "dita_venue_stream_reconnects", kernel_id) == 2.0  # both venues'
        assert gauge(samples, "dita_venue_stream_max_lag_seconds", kernel_id) == 1.5
    finally:
        live.stop()
