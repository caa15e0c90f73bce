"""The trading gauges of ``/metrics``, read from the kernel at scrape time, each labelled with
its ``kernel_id``: the account (equity, available capital, realized and unrealized PnL, open
positions and notional), the mode and the reconcile status (one gauge per value, 1 for the
current one, so an alert matches a label, not a number), whether an edge freeze holds, the
orders in doubt, the reconcile delta and, when the venue offers ``stream_status()``, its user
stream's state and lag."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

__all__ = ["ACCOUNT_GAUGES", "MODES", "RECONCILE_STATUSES", "STREAM_STATES", "TradingGauges"]

# The account's figure, the gauge's name and its help.
ACCOUNT_GAUGES = (
    ("equity", "dita_kernel_equity", "Equity: capital plus unrealized PnL"),
    ("available_capital", "dita_kernel_available_capital", "Capital not committed to positions"),
    ("realized_pnl", "dita_kernel_realized_pnl", "Realized PnL"),
    ("unrealized_pnl", "dita_kernel_unrealized_pnl", "Unrealized PnL at the last marks"),
    ("open_positions", "dita_kernel_open_positions", "Slots holding a position"),
    ("open_notional", "dita_kernel_open_notional", "Notional of the open positions"),
    ("reconcile_delta", "dita_kernel_reconcile_delta", "The exchange's balance (E) less the kernel's (K)"),
)
MODES = ("LIVE", "PAPER", "SHADOW", "REDUCE_ONLY", "HALTED")
RECONCILE_STATUSES = ("OK", "WARN", "MISMATCH")
STREAM_STATES = ("down", "reconciling", "up")


class TradingGauges(Collector):
    """Reads the kernel's account and control state, and its venue's stream status, at each
    scrape; a source that fails or is absent leaves its gauges out (a scrape never fails)."""

    def __init__(self, kernel: Any) -> None:
        self._kernel = kernel

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        kernel = self._kernel
        try:
            kernel_id = str(kernel.kernel_id)
            account, control = kernel.account(), kernel.control()
        except Exception:  # busy or closed: the next scrape tries again
            return
        yield from _account_gauges(kernel_id, account)
        yield _one_hot("dita_kernel_mode", "1 for the kernel's trading mode", kernel_id, "mode",
                       MODES, control.get("mode"))  # fmt: skip
        yield _one_hot("dita_kernel_reconcile_status", "1 for the reconcile status of K against E",
                       kernel_id, "status", RECONCILE_STATUSES, account.get("reconcile_status"))  # fmt: skip
        # An edge freeze refuses entries whatever the mode: an alert of its own.
        yield _gauge("dita_kernel_frozen", "1 while an edge freeze holds the kernel's entries", kernel_id,
                     1.0 if control.get("frozen") else 0.0)  # fmt: skip
        yield from _in_doubt_gauge(kernel_id, kernel)
        yield from _stream_gauges(kernel_id, getattr(kernel, "venue", None))


def _gauge(name: str, doc: str, kernel_id: str, value: float) -> GaugeMetricFamily:
    gauge = GaugeMetricFamily(name, doc, labels=["kernel_id"])
    gauge.add_metric([kernel_id], value)
    return gauge


def _account_gauges(kernel_id: str, account: dict[str, Any]) -> Iterator[GaugeMetricFamily]:
    for field, name, doc in ACCOUNT_GAUGES:
        value = account.get(field)
        if isinstance(value, int | float):
            yield _gauge(name, doc, kernel_id, float(value))


def _in_doubt_gauge(kernel_id: str, kernel: Any) -> Iterator[GaugeMetricFamily]:
    # dita_kernel_stat{name="open_orders"} counts the working orders only; these may work too.
    try:
        count = len(kernel.orders_in_doubt())
    except Exception:  # busy or closed: the next scrape tries again
        return
    yield _gauge("dita_kernel_orders_in_doubt", "Orders in doubt: they may still work at the venue",
                 kernel_id, float(count))  # fmt: skip


def _one_hot(
    name: str, doc: str, kernel_id: str, label: str, values: tuple[str, ...], current: Any
) -> GaugeMetricFamily:
    gauge = GaugeMetricFamily(name, doc, labels=["kernel_id", label])
    for value in values:
        gauge.add_metric([kernel_id, value], 1.0 if value == str(current) else 0.0)
    return gauge


def _stream_gauges(kernel_id: str, venue: Any) -> Iterator[GaugeMetricFamily]:
    stream_status = getattr(venue, "stream_status", None)
    if not callable(stream_status):
        return
    try:
        status = stream_status()
    except Exception:  # the stream's own failure is in its status; a raise here is skipped
        return
    if status is None:  # the venue runs without its user stream
        return
    yield _one_hot("dita_venue_stream_state", "1 for the state of the venue's user stream",
                   kernel_id, "state", STREAM_STATES, status.state)  # fmt: skip
    for name, doc, value in (
        ("dita_venue_stream_lag_seconds", "Exchange event time to receipt, of the last frame", status.lag_s),
        ("dita_venue_stream_max_lag_seconds", "The largest lag seen", status.max_lag_s),
        (
            "dita_venue_stream_silence_seconds",
            "Seconds since the stream's last frame",
            status.since_last_frame_s,
        ),
        ("dita_venue_stream_reconnects", "Connections made after the first", status.reconnects),
    ):
        if isinstance(value, int | float):
            gauge = GaugeMetricFamily(name, doc, labels=["kernel_id"])
            gauge.add_metric([kernel_id], float(value))
            yield gauge
