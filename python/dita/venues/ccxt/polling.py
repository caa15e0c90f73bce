"""Following the venue's orders by asking the exchange about each in turn (REST): what each answer
says is reported by ``OrderReporter``; here are the rounds of questions, a timed-out submit
looked for until it shows or the exchange has long said it has no such order, and an order the
exchange no longer knows (purged) given up on."""

from __future__ import annotations

import logging
from collections.abc import Callable

from dita._kernel import KernelEventKind, VenueEvent, VenueOrderStatus
from dita.venues.ccxt.answers import number
from dita.venues.ccxt.client import ExchangeClient
from dita.venues.ccxt.events import OrderReporter
from dita.venues.ccxt.lookup import OrderLookup
from dita.venues.ccxt.orders import Orders
from dita.venues.ccxt.settings import CcxtSettings
from dita.venues.ccxt.tracking import TrackedOrder
from dita.venues.protocol import VenueUnavailable

__all__ = ["Poller"]

log = logging.getLogger("dita.venues.ccxt")


class Poller:
    """Asks the exchange about every order ``Orders`` follows, one round per ``poll``."""

    def __init__(
        self,
        client: ExchangeClient,
        settings: CcxtSettings,
        orders: Orders,
        lookup: OrderLookup,
        reporter: OrderReporter,
    ) -> None:
        self._client = client
        self._settings = settings
        self._orders = orders
        self._lookup = lookup
        self._reporter = reporter
        self.name = client.name
        # The order a poll stopped at, throttled: the next poll starts there.
        self._resume_from: str | None = None
        # Events a poll made and did not return (it was cut short): the next poll returns them.
        self._undelivered: list[VenueEvent] = []

    @property
    def cut_short(self) -> bool:
        """Whether the last poll stopped before asking about every order (throttled)."""
        return self._resume_from is not None

    @property
    def unanswered(self) -> list[str]:
        """The client ids of the orders followed whose last question got no answer that read,
        their trade list not whole where it was asked for ("no such order" is an answer): a
        user stream's reconnect is reconciled by a round that leaves none, as the fill of a
        frame lost with the connection may be of such an order (``StreamedPolling``)."""
        return [
            t.client_id
            for t in self._orders.tracked.values()
            if not t.terminal and (t.unanswered or t.trades_unread)
        ]

    def poll(self, only: Callable[[TrackedOrder], bool] | None = None) -> list[VenueEvent]:
        """Ask the exchange about every order still working (and every timed-out submit), or
        those of them ``only`` picks (a user stream reports the rest); returns new fills,
        cancels and expiries, each reported once. One order's failure (any
        error, ccxt's or its parser's) is logged and that order asked about again next poll;
        the others' events are returned. A throttle stops the poll, and the next one starts
        with the order it stopped at, going round: starting from the first order each time, the
        last ones would never be asked about while the exchange keeps throttling. A network
        error (a timeout, the exchange out of reach) stops it too, the next starting after that
        order."""
        # Kept here until returned: their fills count as reported once made, so a poll cut
        # short (Ctrl-C in a request) hands them to the next poll instead of losing them.
        events = self._undelivered
        tracked_orders = self._orders.tracked
        orders = list(tracked_orders.items())
        start = list(tracked_orders).index(self._resume_from) if self._resume_from in tracked_orders else 0
        self._resume_from = None
        rotation = orders[start:] + orders[:start]
        for at, (key, tracked) in enumerate(rotation):
            if tracked.terminal or (only is not None and not only(tracked)):
                continue
            if self._client.throttled():
                self._resume_from = key
                break
            # Set again by a question below that gets no answer.
            tracked.unanswered = False
            if tracked.unresolved_since is not None:
                try:
                    events.extend(self._poll_unresolved(tracked))
                except Exception as exc:
                    self._unreadable(tracked, exc)
                continue
            # An order canceled after a restart before its ack has no exchange id yet: asked for
            # by an empty one, the exchange would refuse every poll (Binance: -1102).
            try:
                if tracked.exchange_order_id:
                    raw = self._lookup.fetch_by_order_id(tracked.exchange_order_id, tracked.symbol)
                else:
                    raw = self._lookup.fetch_by_client_id(tracked.client_id, tracked.symbol)
            except self._client.throttle_errors as exc:
                self._client.note_throttle(exc)
                tracked.unanswered = True
                self._resume_from = key
                break
            except Exception as exc:
                events.extend(self._status_unavailable(tracked, exc))
                if isinstance(exc, self._client.ccxt.NetworkError):
                    # Out of reach: each question after it would wait out its timeout too, holding
                    # the venue (and a stop) for as many. The next poll starts after this order.
                    self._resume_from = rotation[(at + 1) % len(rotation)][0]
                    break
                continue
            try:
                events.extend(self._reporter.order_events(tracked, raw))
                events.extend(self._orders.cancel_not_carried_out(tracked, raw))
            except Exception as exc:
                self._unreadable(tracked, exc)
        for client_order_id in [k for k, t in tracked_orders.items() if t.terminal]:
            del tracked_orders[client_order_id]
        self._undelivered = []
        return events

    def _status_unavailable(self, tracked: TrackedOrder, exc: BaseException) -> list[VenueEvent]:
        """What a question about ``tracked`` that raised ``exc`` (not a throttle) says: "no such
        order" of one the exchange had, its end once it has said so for the grace
        (``_purged``); of an order over with fills its trades never showed, that rest booked from
        the last answer stating it after ``missing_trades_wait_s``, or, with no such answer, the
        order given up on after the grace. Else nothing: it is asked about again next poll."""
        # Not only ccxt's errors: its parser raises KeyError or TypeError on an answer it did
        # not expect, and raised out of the poll, that would lose the events of the rest.
        log.warning(
            "%s status of %s unavailable (asked again next poll): %s",
            self.name, tracked.client_id, self._client.error_text(exc),
        )  # fmt: skip
        self._client.sync_clock_if_refused(exc)
        if not isinstance(exc, self._client.ccxt.OrderNotFound):
            tracked.unanswered = True
        if (
            isinstance(exc, self._client.ccxt.OrderNotFound)
            and tracked.ended_at is None
            and tracked.owed_answer is None
        ):
            return self._purged(tracked)
        ended_at = tracked.ended_at
        owed, since = (
            tracked.owed_answer,
            tracked.trades_missing_since if ended_at is None else ended_at,
        )
        waited = self._client.clock() - since if since is not None else 0.0
        if owed is not None and since is not None and waited >= self._settings.missing_trades_wait_s:
            # What the exchange last said it filled stands in for the trades never shown.
            try:
                owed_filled = number(owed.get("filled"))
                return self._reporter.fill_from_order(
                    tracked, owed, owed_filled, self._client.clock(), waited
                )
            except Exception as unreadable:
                self._unreadable(tracked, unreadable)
            return []
        if owed is None and ended_at is not None and waited >= self._settings.unknown_order_grace_s:
            # Over, and its missing trades cannot be asked for: stop asking.
            tracked.terminal = True
            log.warning(
                "%s: %s ended with more filled than its trades showed; gave up asking; "
                "reconcile with the exchange",
                self.name, tracked.client_id,
            )  # fmt: skip
        return []

    def _unreadable(self, tracked: TrackedOrder, exc: BaseException) -> None:
        # One order's unreadable answer must not lose the events of the others (their fills
        # already count as reported): it is logged, and the order asked about again.
        tracked.unanswered = True
        log.warning(
            "%s: the answer about %s could not be read (%s); asked again next poll",
            self.name, tracked.client_id, self._client.error_text(exc),
        )  # fmt: skip

    def _purged(self, tracked: TrackedOrder) -> list[VenueEvent]:
        """After a "no such order" answer about an order the exchange had (some purge one that
        ended unfilled within hours): once the exchange has said so for ``unknown_order_grace_s``
        (as for a timed-out submit), its end, with its filled size unknown (0, the kernel's
        "cannot say"), and it is asked about no more: asked about on, it would draw a warning
        each time for as long as the process runs, and reconciliation ends the kernel's order."""
        waited = tracked.note_not_found(self._client.clock())
        if waited < self._settings.unknown_order_grace_s:
            return []
        tracked.terminal = True
        reason = (
            f"{self.name} has answered it has no order {tracked.venue_order_id} for {waited:.1f}s "
            f"(purged): over, and what it filled beyond the {tracked.filled!r} reported is unknown; "
            "reconcile with the exchange"
        )
        log.warning("%s: %s", tracked.client_id, reason)
        return [self._reporter.ended(tracked, self._client.clock(), 0.0, reason)]  # 0: "cannot say"

    def _poll_unresolved(self, tracked: TrackedOrder) -> list[VenueEvent]:
        try:
            found = self._lookup.find(tracked.client_id, tracked.symbol)
        except VenueUnavailable as exc:
            # No answer is not "no such order": the order may be working, so it stays unresolved.
            log.warning("%s", exc)
            tracked.unanswered = True
            return []
        if found is not None:
            tracked.unresolved_since = None
            return self._reporter.order_events(tracked, found)
        waited = tracked.note_not_found(self._client.clock())
        if waited < self._settings.unknown_order_grace_s:
            return []
        # The exchange says "no such order" after the whole grace period: it never arrived.
        tracked.terminal = True
        return [
            self._reporter.event(
                tracked.order,
                KernelEventKind.REJECT,
                VenueOrderStatus.REJECTED,
                reason=f"{self.name} has answered it has no order with client id {tracked.client_id!r} "
                f"for {waited:.1f}s: it never reached the exchange",
            )
        ]
