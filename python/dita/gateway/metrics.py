"""Prometheus metrics of one gateway, in a registry of its own (one per app, so tests and
several apps in one process do not collide)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from dita.gateway.gauges import TradingGauges

__all__ = ["GatewayMetrics"]

_LATENCY_BUCKETS = (
    0.00001,
    0.000025,
    0.00005,
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.05,
    0.25,
    1.0,
)


class GatewayMetrics:
    def __init__(self, kernel: Any) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.intents = Counter(
            "dita_gateway_intents", "Intents submitted, by action and whether the kernel accepted them",
            ["action", "accepted"], registry=r,
        )  # fmt: skip
        self.fills = Counter("dita_gateway_fills", "Fills reported back on submitted orders", registry=r)
        self.rejects = Counter(
            "dita_gateway_rejects",
            "Intents refused (by the kernel, or RATE_LIMITED by the venue), by diagnostic code",
            ["diagnostic"],
            registry=r,
        )
        self.venue_rejects = Counter(
            "dita_gateway_venue_rejects",
            "Orders of accepted intents the venue ended before they filled in full (REJECT, EXPIRED)",
            ["kind"],
            registry=r,
        )
        self.venue_poll_errors = Counter(
            "dita_gateway_venue_poll_errors",
            "Venue polls that raised or gave what the kernel cannot take (each logged)",
            registry=r,
        )
        self.intent_latency = Histogram(
            "dita_gateway_intent_latency_seconds", "Time inside process_intent (kernel plus venue)",
            buckets=_LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.request_latency = Histogram(
            "dita_gateway_request_latency_seconds", "HTTP request time by route",
            ["method", "route"], buckets=_LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.sse_events = Counter("dita_gateway_sse_events", "Events published to the SSE stream", registry=r)
        self.sse_clients = Gauge("dita_gateway_sse_clients", "Connected SSE clients", registry=r)
        self.sse_dropped = Counter(
            "dita_gateway_sse_dropped_clients",
            "SSE clients disconnected because their buffer filled",
            registry=r,
        )
        self.sse_refused = Counter(
            "dita_gateway_sse_refused_clients",
            "SSE clients refused (503) because sse_max_clients were connected",
            registry=r,
        )
        self.control_changes = Counter("dita_gateway_control_changes", "Control changes made", registry=r)
        r.register(_KernelCollector(kernel))
        r.register(TradingGauges(kernel))

    def watch_events(self, broadcaster: Any) -> None:
        """Export the event history's and the clients' buffers' figures, read at scrape time."""
        self.registry.register(_EventsCollector(broadcaster))


class _EventsCollector(Collector):
    """The SSE history and buffers against their bounds (``sse_history``, ``sse_history_bytes``,
    ``sse_client_buffer_bytes``)."""

    def __init__(self, broadcaster: Any) -> None:
        self._broadcaster = broadcaster

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        b = self._broadcaster
        yield _gauge(
            "dita_gateway_sse_history_events", "Events kept for Last-Event-ID resume", b.history_events
        )
        yield _gauge("dita_gateway_sse_history_bytes", "Bytes of the events kept for resume", b.history_bytes)
        yield _gauge(
            "dita_gateway_sse_history_bytes_limit", "The most bytes of events kept (sse_history_bytes)",
            b.history_bytes_limit,
        )  # fmt: skip
        yield _gauge(
            "dita_gateway_sse_buffered_bytes",
            "Bytes of frames waiting in the clients' buffers",
            b.buffered_bytes,
        )


class _KernelCollector(Collector):
    """Reads lag figures at scrape time, from the kernel and whatever journal and projection
    are attached to it (they may be absent: then the figure is simply not exported)."""

    def __init__(self, kernel: Any) -> None:
        self._kernel = kernel

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        kernel = self._kernel
        stats = GaugeMetricFamily("dita_kernel_stat", "Kernel counters from stats()", labels=["name"])
        kernel_stats: dict[str, Any] = {}
        try:
            kernel_stats = kernel.stats()
            for name, value in sorted(kernel_stats.items()):
                if value is not None:  # a figure not known yet (no intent, nothing queued)
                    stats.add_metric([name], float(value))
        except Exception:  # a scrape must never fail because one source did
            pass
        yield stats
        yield _intent_latency(kernel_stats)
        journal = getattr(kernel, "journal", None)
        if journal is not None and hasattr(journal, "stats"):
            js = journal.stats()
            yield _gauge("dita_journal_lag_seconds", "Age of the oldest row not yet written", js.lag_seconds)
            yield _gauge("dita_journal_queued_rows", "Rows waiting to be written", js.queued)
            yield _gauge("dita_journal_written_rows", "Rows written so far", js.written)
            yield _gauge("dita_journal_dropped_rows", "Rows dropped by the journal", js.dropped)
            yield _gauge(
                "dita_journal_blocked",
                "1 while ClickHouse refuses the journal's rows for a reason retrying does not cure",
                1.0 if getattr(js, "blocked", "") else 0.0,
            )
        projection = getattr(kernel, "projection", None)
        if projection is not None and hasattr(projection, "stats"):
            ps = projection.stats()
            # HazelcastProjection reports staleness_s: how old the newest published state may be.
            lag = ps.get("staleness_s", ps.get("lag_seconds")) if isinstance(ps, dict) else None
            if isinstance(ps, dict) and isinstance(ps.get("errors"), int):
                yield _gauge("dita_projection_errors", "Failed projection publish cycles", ps["errors"])
            if isinstance(lag, int | float):
                yield _gauge(
                    "dita_projection_lag_seconds", "Age of the oldest unpublished change", float(lag)
                )


# The kernel's own intent latency histogram, read through stats(): quantile "1" is the largest.
_KERNEL_LATENCY_QUANTILES = (
    ("0.5", "intent_latency_p50_ns"),
    ("0.99", "intent_latency_p99_ns"),
    ("0.999", "intent_latency_p999_ns"),
    ("1", "intent_latency_max_ns"),
)


def _intent_latency(kernel_stats: dict[str, Any]) -> GaugeMetricFamily:
    """Each intent's time from its call to its outcome, venue answer included, as the kernel
    measured it (to 1/16 of the value); no sample before the kernel's first intent."""
    g = GaugeMetricFamily(
        "dita_kernel_intent_latency_seconds",
        "Kernel time from an intent's call to its outcome, by quantile (1: the largest)",
        labels=["quantile"],
    )
    for quantile, key in _KERNEL_LATENCY_QUANTILES:
        ns = kernel_stats.get(key)
        if isinstance(ns, int):
            g.add_metric([quantile], ns / 1e9)
    return g


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    g = GaugeMetricFamily(name, doc)
    g.add_metric([], float(value))
    return g
