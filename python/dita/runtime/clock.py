"""The runtime's time and the market's latest prices (``MarketClock``): the data's own
timestamps in a replay, the machine clock live; the latest bar or quote of each asset, given to
the kernel as its mark when a submit or a read needs it."""

from __future__ import annotations

import time
from typing import Any

from dita._numbers import LAST_DATETIME_SECOND, PAST_LAST_DATETIME, is_finite, is_real
from dita._text import shortened
from dita.strategy import Bar, Quote


class MarketClock:
    """``clock="data"`` makes the data's timestamps the time (replay); ``"wall"`` uses the
    machine clock (live). ``row`` is the index of the last data point handed to the runtime."""

    def __init__(self, kernel: Any, clock: str) -> None:
        self._kernel = kernel
        self.clock = clock
        self.wall = clock == "wall"
        # The time of the last data point (or of ``resume_at``): the data clock's time; and how
        # many data points of that time were handed over, the last one's place among them.
        self.data_time = 0.0
        self.rows_at_time = 0
        self.row = -1
        # The latest bar or quote per asset, and the price each asset was last marked at.
        self.latest: dict[str, Bar | Quote] = {}
        self.marked: dict[str, float] = {}

    def now(self) -> float:
        return time.time() if self.clock == "wall" else self.data_time

    def monotonic(self) -> float:
        """The time waits are measured on: the data's time in a replay; live, ``time.monotonic()``
        (the wall clock may be set back or forward, and a wait on it would last as long or end at once)."""
        return time.monotonic() if self.clock == "wall" else self.data_time

    def resume_at(self, ts: float, rows_at_ts: int = 0) -> None:
        """A replay continuing an earlier run's (clock "data"): its time is ``ts`` before the
        first data point, so what is stamped then (a reconciliation's events) is a time of the
        data, and no earlier data point is taken. ``rows_at_ts``: the data points of ``ts`` the
        earlier runs took, which the next ones of that time are counted after."""
        if not (is_real(ts) and is_finite(ts) and ts >= self.data_time):
            raise ValueError(
                f"resume_at ts={shortened(repr(ts))} must be a finite time at or after the runtime's "
                f"({self.data_time!r})"
            )
        if ts > LAST_DATETIME_SECOND:
            # The time every intent is dated by: the kernel would refuse each.
            raise ValueError(f"resume_at ts={ts!r} {PAST_LAST_DATETIME}")
        if isinstance(rows_at_ts, bool) or not isinstance(rows_at_ts, int) or rows_at_ts < 0:
            raise ValueError(
                f"resume_at rows_at_ts={shortened(repr(rows_at_ts))} must be a count (an int >= 0)"
            )
        self.data_time = float(ts)
        self.rows_at_time = rows_at_ts

    def advance(self, point: Bar | Quote, asset: str, ts: float) -> None:
        """``point`` (of ``asset``, stamped ``ts``: read once by the caller, as every data point
        passes here) is the runtime's latest data point: its time, its row, its asset's price."""
        self.rows_at_time = self.rows_at_time + 1 if ts == self.data_time else 1
        self.data_time = ts
        self.row += 1
        self.latest[asset] = point

    def data_place(self) -> dict[str, float | int]:
        """Where in the data the runtime is, as an intent's metadata records it: the last data
        point's time and its place among the points of that time (1 for the first)."""
        return {"data_time": self.data_time, "rows_at_data_time": self.rows_at_time}

    def sync_marks(self) -> None:
        """Give the kernel the latest price of every asset whose price moved since the last mark."""
        marked = self.marked
        for asset, item in self.latest.items():
            price = item.close if isinstance(item, Bar) else (item.bid + item.ask) / 2.0
            if marked.get(asset) != price:
                # Stamped with the data's time, so a replay records the same inputs every run;
                # as floats, which is all the kernel takes (data may hold numpy float32s).
                self._kernel.mark_price(asset, float(price), float(item.ts))
                marked[asset] = price

    def forget_mark(self, asset: str) -> None:
        """Mark ``asset`` at the next sync, moved price or not: the kernel marks a trade only when
        told a price, and one a fill opened (or grew) has not been told yet."""
        self.marked.pop(asset, None)
