"""The paper venue taking market data (``on_quote``, ``on_bar``): its clock moves to the data's
time, the cancels whose latency has passed are acknowledged, the orders and cancels sent on a bar
are decided at that bar's close, and the working orders of the data's asset are matched against
it (``matching``)."""

from __future__ import annotations

import math

from dita._kernel import VenueEvent
from dita.venues.paper.matching import _left, _Matching
from dita.venues.paper.order_book import _check_asset, _checked_bar, _checked_quote, _finite, _Quote

_INF = math.inf


class _MarketData(_Matching):
    """``PaperVenue`` taking quotes and bars (see the module docstring)."""

    def on_quote(
        self, asset: str, bid: float, ask: float, bid_size: float, ask_size: float, ts: float
    ) -> list[VenueEvent]:
        """A new top of book for ``asset`` at ``ts``; returns the events of working orders."""
        _check_asset(asset)
        available = _checked_quote(asset, bid, ask, bid_size, ask_size)
        ts = _finite("ts", ts)
        with self._lock:
            ts = self._advance(ts)
            self._now = ts
            self._on_a_bar = False
            self._quotes[asset] = available
            self._bar_assets.discard(asset)
            if self._awaiting_close:
                self._closes_reached(ts, bar=False)
            events = self._cancels_due(ts) if self._canceling else []
            for working in list(self._working.get(asset, {}).values()):
                # One sent on a bar is decided at that bar's close: a quote before it is too soon.
                if working.active_at <= ts and not working.awaits_close:
                    self._match_quote(working, available, ts, events)
            return events

    def on_bar(
        self, asset: str, open: float, high: float, low: float, close: float, volume: float, ts: float
    ) -> list[VenueEvent]:
        """A new bar for ``asset`` stamped ``ts``; returns the events of working orders."""
        # A replay's bar is a str and floats that pass: one chained comparison (NaN fails it),
        # the checks field by field only for a bar that does not, to name what is wrong with it.
        if (
            type(asset) is str
            and asset
            and float is type(open) is type(high) is type(low) is type(close) is type(volume) is type(ts)
            and 0 < low <= open <= high < _INF
            and low <= close <= high
            and 0 <= volume < _INF
            and 0 <= ts < _INF
        ):
            open_ = open
        else:
            open_, high, low, close, volume, ts = _checked_bar(asset, open, high, low, close, volume, ts)
        with self._lock:
            ts = self._advance(ts)
            if self._bar_at.get(asset) == ts:
                raise ValueError(f"a bar for {asset!r} at ts {ts!r} was handed already; a bar is handed once")
            self._bar_at[asset] = ts
            self._now = ts
            self._on_a_bar = True
            if self._awaiting_close:
                self._closes_reached(ts)
            events = self._cancels_due(ts) if self._canceling else []
            capacity = volume * self.settings.bar_volume_share
            for working in list(self._working.get(asset, {}).values()):
                # A bar is stamped with its open time: one stamped when the order was sent (another
                # asset's bar of that time, the order sent after the first one) is all in the past.
                if working.active_at <= ts and working.sent_at < ts:
                    capacity = _left(
                        capacity, self._match_bar(working, open_, high, low, capacity, ts, events)
                    )
            # Until the next quote, the bar's close is the market; market orders wait for a bar.
            self._quotes[asset] = _Quote(close, close, 0.0, 0.0)
            self._bar_assets.add(asset)
            return events

    def _cancels_due(self, ts: float) -> list[VenueEvent]:
        """Acknowledge the cancels whose latency has passed by ``ts``, whatever asset the data
        is for: the venue acts at its clock, not at the next data of the order's market (a
        quiet market, or one whose feed stopped, would keep such an order working for good)."""
        due = [w for w in self._canceling.values() if w.cancel_at is not None and w.cancel_at <= ts]
        return [self._cancel_now(working, ts) for working in due]

    def _closes_reached(self, ts: float, *, bar: bool = True) -> None:
        """Data at ``ts`` after the bar an order or a cancel was sent on: a bar opening at
        ``ts`` says that bar closed by then (bars are stamped with their open), at its open +
        ``bar_seconds`` when that is known and earlier (the bars after a gap); a quote
        (``bar`` False) says so only once ``bar_seconds`` after its open. The latency counts
        from that close."""
        for client_order_id, working in list(self._awaiting_close.items()):
            if working.awaits_close and self._closed_by(working.sent_at, ts, bar):
                # One that filled already (a book caught up from the log) was live: it stays so.
                if not working.fills:
                    decided = self._close_of(working.sent_at, ts)
                    working.active_at = max(working.active_at, decided + self._latency)
                working.awaits_close = False
            asked_at = None if working.cancel_at is None else working.cancel_at - self._latency
            if working.cancel_awaits_close and asked_at is not None and self._closed_by(asked_at, ts, bar):
                # The close is never before the ask (the next bar opens after it).
                working.cancel_at = self._close_of(asked_at, ts) + self._latency
                working.cancel_awaits_close = False
            if not (working.awaits_close or working.cancel_awaits_close):
                del self._awaiting_close[client_order_id]

    def _closed_by(self, opened: float, ts: float, bar: bool) -> bool:
        """Whether the bar that opened at ``opened`` closed by data at ``ts`` (a bar if ``bar``)."""
        if bar:
            return opened < ts
        return self._bar_seconds > 0 and opened + self._bar_seconds <= ts

    def _close_of(self, opened: float, next_open: float) -> float:
        """When the bar that opened at ``opened`` closed, the next one opening at ``next_open``."""
        return min(next_open, opened + self._bar_seconds) if self._bar_seconds > 0 else next_open
