"""Giving the kernel the events the venues report on their own (``VenueEventIntake``): a
poll's news, a market-data venue's fills. A venue reports each event once, so one the kernel
raises on is kept with those after it, per venue, and given to the kernel first next time."""

from __future__ import annotations

import logging
from typing import Any

from dita._kernel import KernelOutcome, VenueEvent
from dita._text import shortened
from dita.logs import order_ids
from dita.runtime._shared import log, tell
from dita.runtime.routing import EventRouter, SetAsideListener
from dita.venues._events import STUCK_AFTER, PolledEvents, _described, input_stopped, kernel_busy


class VenueEventIntake:
    """Each venue's events the kernel has not applied yet (``unapplied``, by venue id), and
    once the kernel takes no more input, why (``closed_reason``): the venues are then polled,
    and handed data, no more."""

    def __init__(
        self,
        kernel: Any,
        router: EventRouter,
        set_aside_listeners: list[SetAsideListener],
        stats: dict[str, int],
    ) -> None:
        self._kernel = kernel
        self._router = router
        self._set_aside_listeners = set_aside_listeners
        self._stats = stats
        self.unapplied: dict[int, PolledEvents] = {}
        self.closed_reason = ""

    def of(self, venue: Any) -> PolledEvents:
        """The events of ``venue`` the kernel has not applied (kept from an earlier call)."""
        unapplied = self.unapplied.get(id(venue))
        if unapplied is None:
            unapplied = self.unapplied[id(venue)] = PolledEvents()
        return unapplied

    def any_waiting(self) -> bool:
        return any(u.waiting for u in self.unapplied.values())

    def give(
        self, unapplied: PolledEvents, events: list[VenueEvent], errors: list[Exception], answer: bool = False
    ) -> bool:
        """Give the kernel the events waiting in ``unapplied``, then ``events`` (a poll's, or
        with ``answer`` a venue's answer to market data), each it takes routed
        (``EventRouter.route_applied``): an error of a listener's, or the kernel's ValueError on
        one (skipped), is added to ``errors`` and the next event is still taken. False when the
        kernel raised otherwise (``_on_kernel_error``): that event and those after it wait in
        ``unapplied``; the ``STUCK_AFTER``-th time in a row on one event, not busy, it is set
        aside instead (``PolledEvents``), counted in ``stats["venue_events_stuck"]``, told to the
        set-aside listeners (an error of one's added to ``errors``), and the rest taken. The
        strategies hear the fills (``on_fill``) once the kernel took them all: heard as each is
        booked, an intent sent from ``on_fill`` would reach the kernel before the rest of what
        the venue reported (the fill ending the order it meant to close)."""
        router = self._router
        seen: set[str] = set()
        named: list[Any] = [None]

        def before(event: VenueEvent) -> None:
            named[0] = router.order_named(event)  # read before the kernel may end the order

        def applied(event: VenueEvent, outcome: KernelOutcome) -> None:
            router.route_applied(event, outcome, named[0], seen, errors)

        def unfit(event: VenueEvent, exc: Exception) -> None:
            errors.append(exc)

        def set_aside(event: VenueEvent, exc: Exception) -> None:
            self._stats["venue_events_stuck"] += 1  # named at ERROR by ``unapplied``
            for listener in self._set_aside_listeners:
                tell(errors, listener, event, exc)

        calling = router.hold_on_fill()
        try:
            unapplied.take(self._kernel, events, applied, unfit, before, set_aside)
        except Exception as exc:
            self._on_kernel_error(exc, errors, unapplied if answer else None)
            taken = False
        else:
            taken = True
        finally:
            router.release_on_fill(calling)
        router.call_on_fill()
        return taken

    def _on_kernel_error(
        self, exc: Exception, errors: list[Exception], data_answer: PolledEvents | None = None
    ) -> None:
        """The kernel raised on a polled event, or with ``data_answer`` on an event of a venue's
        answer to market data, kept with those after it (``unapplied``). Busy: logged, they are
        given to it first at the next poll, or before the venue's next data. Taking no more
        input: they are named in the log, for reconciliation, the venues are polled, and handed
        data, no more (what they gave could not be applied either, and would be lost), and
        ``exc`` is raised once what the kernel took is routed; so is another error of the
        kernel's, the events kept."""
        self._stats["venue_poll_errors" if data_answer is None else "venue_data_errors"] += 1
        failure = f"{type(exc).__name__}: {shortened(str(exc), 300)}"
        if input_stopped(self._kernel, exc):
            self.closed_reason = failure
            dropped = [d for d in (u.drop() for u in self.unapplied.values()) if d]
            log.error(
                "the kernel takes no more input (%s): the venues are polled, and handed market data, no"
                " more; the venue events they gave and the kernel did not apply, to reconcile (a new"
                " kernel on its wal_dir runs reconcile_with_venue): %s",
                failure,
                ", ".join(dropped) or "none",
                extra=order_ids(self._kernel),
            )
            errors.append(exc)
            return
        busy = kernel_busy(exc)
        level = logging.WARNING if busy else logging.ERROR
        if data_answer is None:
            log.log(
                level,
                "taking a polled venue event raised %s: the %d not taken (it and those after it) are"
                " kept, given to the kernel first at the next poll (the venues asked for more once they"
                " are)%s",
                failure,
                sum(len(u.waiting) for u in self.unapplied.values()),
                "" if busy else f"; raised on {STUCK_AFTER} times in a row, it is set aside",
                extra=order_ids(self._kernel),
            )
        else:
            log.log(
                level,
                "taking the venue events answering market data raised %s: %s (it and those after it)"
                " kept, given to the kernel first before the venue's next data (or at a submit,"
                " sync_venues(), finish())%s",
                failure,
                shortened(data_answer.described(), 600),
                "" if busy else f"; raised on {STUCK_AFTER} times in a row, it is set aside",
                extra=order_ids(self._kernel),
            )
        if not busy:
            errors.append(exc)

    def name_late(self, venue: Any, events: list[VenueEvent]) -> None:
        """Name at ERROR, for reconciliation, the events ``venue`` gave after the kernel stopped
        taking input (``closed_reason``): never applied, and a venue hands each over once."""
        log.error(
            "the kernel takes no more input (%s): the venue events a %s gave after it stopped, never"
            " applied, to reconcile (a new kernel on its wal_dir runs reconcile_with_venue): %s",
            self.closed_reason,
            type(venue).__name__,
            ", ".join(_described(e) for e in events),
            extra=order_ids(self._kernel),
        )

    def log_unapplied(self) -> None:
        """Name at ERROR, for reconciliation, the venue events the kernel still has not taken
        (it raised on them) and those set aside (``stuck``): a run's end."""
        waiting = [u.described() for u in self.unapplied.values() if u.waiting]
        if waiting:
            log.error(
                "the venue events (polled, or answering market data) not applied at finish() (the"
                " kernel raised on them), to reconcile (reconcile_with_venue): %s",
                ", ".join(waiting),
                extra=order_ids(self._kernel),
            )
        stuck = [u.described_stuck() for u in self.unapplied.values() if u.stuck]
        if stuck:
            log.error(
                "the venue events set aside in this run (the kernel raised on each %d times in a"
                " row), never applied, to reconcile (reconcile_with_venue): %s",
                STUCK_AFTER,
                ", ".join(stuck),
                extra=order_ids(self._kernel),
            )
