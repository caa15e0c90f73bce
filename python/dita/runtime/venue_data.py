"""Handing market data to the venues that match against it (``VenueDataHandOver``: a paper
venue's ``on_bar``/``on_quote``), their fills given to the kernel. A venue only needs data
while it has working orders or when an order is about to be sent, so with nothing working the
latest bar or quote of each asset is held back and handed over just before the next submit:
the venue ends up in the same state as if it had seen every point."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dita._kernel import VenueEvent
from dita.runtime._shared import CallDepth, raise_first
from dita.runtime.venue_events import VenueEventIntake
from dita.strategy import Bar, Quote


class VenueDataHandOver:
    """Hands data points to ``bar_venues`` and ``quote_venues``. ``defer_venue_data``: hold the
    data back while no order works; False hands over every data point at once (the reference
    behaviour the deferred path must reproduce; the tests compare the two)."""

    def __init__(
        self,
        bar_venues: list[Any],
        quote_venues: list[Any],
        defer_venue_data: bool,
        intake: VenueEventIntake,
        calls: CallDepth,
        stats: dict[str, int],
    ) -> None:
        self.bar_venues = bar_venues
        self.quote_venues = quote_venues
        self.defer_venue_data = defer_venue_data
        self._intake = intake
        self._calls = calls
        self._stats = stats
        # The latest point of each asset the venues have not seen yet, and those a hand-over did
        # not reach (cut short: Ctrl-C in a venue), in order, handed first.
        self._held_back: dict[str, Bar | Quote] = {}
        self._not_reached: list[Bar | Quote] = []
        # The venues' data is being handed over (``hand_over``).
        self._handing_over = False

    def hold_back(self, asset: str, point: Bar | Quote) -> None:
        """Keep ``point`` of ``asset`` from the venues for now: the latest of an asset replaces
        the one before."""
        self._held_back[asset] = point

    def sync_venues(self) -> None:
        """The body of ``TradingRuntime.sync_venues``, which says what it does."""
        if self._handing_over or self._intake.closed_reason:
            return
        if self._held_back or self._not_reached:
            held_back = self._take_held_back()
        elif self._intake.any_waiting():
            held_back = []
        else:
            return
        self.hand_over(held_back)

    def hand_over_with(self, point: Bar | Quote) -> None:
        """Hand the venues the data held back from them (``sync_venues``) in time order, then
        ``point``."""
        if not (self._held_back or self._not_reached):
            self.hand_over([point])
            return
        points = self._take_held_back()
        points.append(point)
        self.hand_over(points)

    def hand_over(self, points: Sequence[Bar | Quote]) -> None:
        """Give the kernel the events of the market-data venues it raised on before, then hand
        ``points`` to the venues in turn, the kernel taking the events each answers with (fills
        of its working orders), routed as a venue's answer is. A venue hands each event over
        once: one the kernel raises on is kept (``VenueEventIntake``), with those after it, and
        given to it first before that venue's next data (``_book_answer``). Busy, it is not
        asked again in this call (each ask would wait as long): the later answers' events are
        kept behind, the venues still handed the data (kept from them, their orders would miss
        it). Taking no more input, the venues are handed nothing more (what they gave could not
        be booked: named at ERROR). A venue raising on a point (counted in ``stats["venue_data_raised"]``) is
        not handed it again; the other venues and the later points are still handed over
        (stopped there, the venues would never see the points held back behind it, and their
        resting orders would miss those bars). A listener's error, a venue's, or the kernel's
        other than busy, is raised at the end (the first one). Cut short (a KeyboardInterrupt in
        a venue), the points not reached yet stay held back, in order, for the next hand-over."""
        intake = self._intake
        if intake.closed_reason:
            return
        errors: list[Exception] = []
        with self._calls:
            self._handing_over = True
            reached = 0  # the points handed over, or being handed (not handed again)
            try:
                held = False
                for venue in (*self.bar_venues, *self.quote_venues) if intake.unapplied else ():
                    unapplied = intake.unapplied.get(id(venue))
                    if unapplied is not None and unapplied.waiting and not held:
                        held = not intake.give(unapplied, [], errors, answer=True)
                for item in points:
                    if intake.closed_reason:
                        break
                    reached += 1
                    args: tuple[Any, ...]
                    if isinstance(item, Bar):
                        args = (item.asset, item.open, item.high, item.low, item.close, item.volume, item.ts)
                        venues, method = self.bar_venues, "on_bar"
                    else:
                        args = (item.asset, item.bid, item.ask, item.bid_size, item.ask_size, item.ts)
                        venues, method = self.quote_venues, "on_quote"
                    for venue in venues:
                        if intake.closed_reason:
                            break  # the kernel closed during this point: what they fill is lost
                        try:
                            answer = getattr(venue, method)(*args)
                        except Exception as exc:
                            self._stats["venue_data_raised"] += 1
                            errors.append(exc)
                            continue
                        held = self._book_answer(venue, answer, errors, held)
            finally:
                if reached < len(points) and not intake.closed_reason:
                    self._not_reached[:0] = points[reached:]
                self._handing_over = False
        raise_first(errors)

    def _take_held_back(self) -> list[Bar | Quote]:
        """The data held back from the venues, in time order (those a hand-over did not reach
        first), no longer held."""
        # In time order: the dict keeps each asset's first insertion position, not its latest time.
        held = [*self._not_reached, *sorted(self._held_back.values(), key=_ts_of)]
        self._not_reached.clear()
        self._held_back.clear()
        return held

    def _book_answer(self, venue: Any, events: list[VenueEvent], errors: list[Exception], held: bool) -> bool:
        """The kernel takes the events ``venue`` answered market data with, after those of the
        venue kept from before (``VenueEventIntake.give``); ``held``: the kernel raised busy
        earlier in this hand-over, so they are kept, not given. Whether they are held now."""
        if not events:
            return held
        if self._intake.closed_reason:
            self._intake.name_late(venue, events)
            return held
        self._stats["venue_events"] += len(events)
        unapplied = self._intake.of(venue)
        if held:
            unapplied.waiting.extend(events)
            return True
        return not self._intake.give(unapplied, events, errors, answer=True)


def _ts_of(item: Bar | Quote) -> float:
    return item.ts
