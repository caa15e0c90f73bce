"""Polling the venues that report later (``VenuePolling``): a live exchange's fills of resting
orders, its cancels and expiries come from its ``poll_events``, asked on data points (and by a
live loop between them) while orders work, and routed as any venue event; polls asked for while
events are being routed are made once they all are."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

from dita._kernel import AccountEvent, VenueEvent
from dita._text import shortened
from dita.runtime._shared import CallDepth, log, raise_first
from dita.runtime.owners import TradeOwners
from dita.runtime.routing import EventRouter
from dita.runtime.venue_events import VenueEventIntake
from dita.venues import describe, poll_once, venue_following
from dita.venues.account_events import take_account_events

# The most polls one ``poll_venues()`` call makes, its own and those asked for while their
# events are routed: a strategy that sends an order and asks for a poll on each fill, on a
# venue that fills it by the next poll, asks for one in every poll, and the call would never end.
POLL_ROUNDS = 10


class VenuePolling:
    """Polls ``polled_venues`` (each a callable ``poll_events``; a router once, which asks those
    behind it), under the wall clock at most every ``poll_interval`` seconds when due
    (``poll_if_due``: on data points, and between them in a live loop)."""

    def __init__(
        self,
        kernel: Any,
        polled_venues: list[Any],
        poll_interval: float,
        wall: bool,
        intake: VenueEventIntake,
        router: EventRouter,
        owners: TradeOwners,
        calls: CallDepth,
        stats: dict[str, int],
    ) -> None:
        self._kernel = kernel
        self.polled_venues = polled_venues
        self.poll_interval = poll_interval
        self._wall = wall
        self._intake = intake
        self._router = router
        self._owners = owners
        self._calls = calls
        self._stats = stats
        # When they may be polled next when due (time.monotonic(); the wall clock only).
        self._poll_at = -math.inf
        # When the venues' account events may be taken next when due, with no order to poll.
        self._account_at = -math.inf
        # Each venue's account events the kernel was busy for, by venue id: given first next time.
        self._account_waiting: dict[int, deque[AccountEvent]] = {}
        # A poll is routing its events, or a call its venue's answer; a poll was asked for
        # meanwhile (made once they are routed).
        self._polling = False
        self._routing_answer = False
        self._poll_asked = False

    def route_answer(self, events: list[VenueEvent], sent: Any = None, before: Sequence[Any] = ()) -> None:
        """Route the events a venue answered a call with (a submit's ack and fills, a freeze's
        cancels); ``sent``: the order the call sent, which tells what its events leave out;
        ``before``: the kernel's orders the call may have ended, read before it (an event naming
        one by the venue's id alone takes what it leaves out from it). A ``poll_venues()`` asked
        for while they are routed (a strategy's ``on_fill``, a listener) is made once they all
        are, as within a poll: made at once, its events would reach everyone before the rest of
        the answer's. Inside a poll's routing, that poll makes it."""
        if self._polling or self._routing_answer:
            self._router.route(events, set(), sent=sent, before=before)
            return
        self._routing_answer = True
        try:
            self._router.route(events, set(), sent=sent, before=before)
        finally:
            self._routing_answer = False
        if self._poll_asked:
            self.poll_venues()

    def poll_venues(self) -> list[VenueEvent]:
        """The body of ``TradingRuntime.poll_venues``, which says what it does."""
        if self._polling or self._routing_answer:
            self._poll_asked = True
            return []
        if self._intake.closed_reason:
            return []  # the kernel takes no more input: the venues' news would be lost
        self._polling = True
        with self._calls:
            polled: list[VenueEvent] = []
            errors: list[Exception] = []
            rounds = 0
            left = False  # a poll asked for past POLL_ROUNDS, left to the next poll
            try:
                again = True
                while again:
                    self._poll_asked = False
                    rounds += 1
                    # The kernel raising on an event: the other venues keep their news (each of
                    # their events would wait as long on a busy kernel) for the next poll.
                    held = not all(self._poll_venue(venue, polled, errors) for venue in self.polled_venues)
                    again = self._poll_asked and rounds < POLL_ROUNDS and not held
                    left = self._poll_asked and not again and not held
            finally:
                self._polling = self._poll_asked = False
                # From the end: counted from the start, a poll slower than the interval would
                # have every data point poll again. One asked for and not made: the next data
                # point makes it at once.
                self._poll_at = -math.inf if left else time.monotonic() + self.poll_interval
        if left:
            log.warning(
                "%d polls of the venues in one poll_venues() call, each asked for while the one "
                "before's events were routed (a strategy's on_fill or a listener): the one asked "
                "for last is left to the next poll",
                rounds,
            )
        raise_first(errors)
        return polled

    def _poll_venue(self, venue: Any, polled: list[VenueEvent], errors: list[Exception]) -> bool:
        """Give the kernel the events of ``venue`` it raised on at an earlier poll, then, once it
        took them all, the venue's news (added to ``polled``). False when the kernel raised on
        one (``VenueEventIntake.give``)."""
        unapplied = self._intake.of(venue)
        if unapplied.waiting and not self._intake.give(unapplied, [], errors):
            return False  # the venue keeps its newer news, which comes after them
        events = self._poll_one(venue)
        polled.extend(events)
        self._stats["venue_events"] += len(events)
        given = self._intake.give(unapplied, events, errors)
        self._take_account_events(venue)
        return given

    def _take_account_events(self, venue: Any) -> None:
        """Give the kernel what ``venue`` learned of the account (``account_events()``: balances,
        margins, funding payments), counted in ``stats``."""
        waiting = self._account_waiting.setdefault(id(venue), deque())
        taken = take_account_events(self._kernel, venue, waiting)
        self._stats["account_events"] += taken.given
        self._stats["account_events_refused"] += taken.refused
        if taken.problem:
            self._stats["venue_poll_errors"] += 1

    def _poll_one(self, venue: Any) -> list[VenueEvent]:
        """One call of ``venue.poll_events``: the venue events it gave (what failed is logged
        and counted, see ``TradingRuntime.poll_venues``)."""
        answer, problem = poll_once(venue.poll_events)
        if problem:
            self._poll_failed(venue, problem)
        events = [e for e in answer if isinstance(e, VenueEvent)]
        if len(events) < len(answer):
            odd = next(e for e in answer if not isinstance(e, VenueEvent))
            self._poll_failed(
                venue,
                f"the venue's poll_events gave {len(answer) - len(events)} item(s) that are not "
                f"venue events (skipped), the first a {type(odd).__name__}: {shortened(repr(odd), 120)}",
            )
        return events

    def _poll_failed(self, venue: Any, problem: str) -> None:
        self._stats["venue_poll_errors"] += 1
        log.warning("venue %r: %s; polled again later", describe(venue), shortened(problem, 300))

    def poll_if_due(self) -> None:
        """The body of ``TradingRuntime.poll_venues_if_due``, which a data point calls before the
        strategies hear it: poll the venues that report later while orders work or the kernel
        awaits the fills of an ended order (``awaited_orders``: a cancel that counted a fill the
        venue reports later), under the wall clock once ``poll_interval`` has passed since the
        last poll. Else the venues' account events are taken (under the wall clock at most every
        ``poll_interval``)."""
        if self._wall and time.monotonic() < self._poll_at:
            return
        if self._intake.closed_reason:
            return
        # Not only the working orders: a venue that ended an order with more filled than its
        # trades showed yet (CcxtVenue) reports that fill from a later poll, after the end; one
        # that ended it without a filled size asks about it on, and reports a fill that raced
        # the cancel from a poll (``following``).
        if (
            self._owners.working
            or getattr(self._kernel, "awaited_orders", list)()
            or any(venue_following(v) for v in self.polled_venues)
            or self._intake.any_waiting()
        ):
            self.poll_venues()
            return
        # With nothing to ask the venues about, the account's news (a deposit, a funding
        # payment) still reaches the kernel: it is held by the venue, not asked for.
        if self._wall and time.monotonic() < self._account_at:
            return
        for venue in self.polled_venues:
            self._take_account_events(venue)
        self._account_at = time.monotonic() + self.poll_interval
