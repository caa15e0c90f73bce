"""What the venue tells the stdio engine between commands: the events a poll brings (fills of
resting orders, the outcome of a submit that raised, the account's news), told as a command's
answers are; and an order that reached the venue though the log could not record its answer
(``venue_answer_not_logged``)."""

from __future__ import annotations

from typing import Any

from dita._kernel import KernelEventKind, KernelOutcome, VenueAnswerNotLogged, VenueEvent
from dita.gateway.execution_reports import _ExecutionReports
from dita.venues import poll_once
from dita.venues._events import input_stopped, live_order
from dita.venues.account_events import take_account_events


class _VenueEvents(_ExecutionReports):
    """The venue's news between commands: ``OrderEngine``'s poll."""

    def poll(self) -> None:
        """Apply what the venue learned since the last poll (fills of resting orders, the
        outcome of a submit that raised) and tell the client as a command's answers are told.
        Nothing for a venue without ``poll_events`` (the native mock answers at once)."""
        poll_events = getattr(self.kernel.venue, "poll_events", None)
        if poll_events is None:
            return
        self.line = None

        def applied(event: VenueEvent, outcome: KernelOutcome) -> None:
            # A rate limit is refused, yet it ends an order the venue never acknowledged (or is a
            # throttled cancel): told, as a command's answer tells it.
            if outcome.applied:
                self._tell(None, outcome, reported=[event])

        def unfit(event: Any, exc: Exception) -> None:
            self.error("VENUE_ERROR", f"the venue's poll_events gave {type(exc).__name__}: {exc}")

        def set_aside(event: VenueEvent, exc: Exception) -> None:
            # The kernel raised on it poll after poll: after the ENGINE_ERRORs about it, silence
            # read as the event taken, when it waits for reconciling (a fill never booked).
            fill = f", {event.size:g} at {event.price:g}" if event.kind == KernelEventKind.FILL else ""
            self.error(
                "ENGINE_ERROR",
                f"venue event {event.event_id} ({event.kind.name}, slot {event.slot_id}{fill}): the"
                f" kernel raised on it {self._polled.stuck_after} polls in a row ({type(exc).__name__}:"
                f" {exc}); set aside, not applied, to reconcile (reconcile_with_venue); the events"
                " after it are applied",
            )

        try:
            if self._polled.waiting:
                # Those the kernel raised on last time first; while it still does, the venue
                # keeps its newer news.
                self._polled.take(self.kernel, [], applied, unfit, set_aside=set_aside)
            # A venue's fault (a raise; None or one event for a list, which would end the session
            # on a TypeError with its orders left working at the venue) must not end the session.
            events, problem = poll_once(poll_events)
            if problem:
                self.error("VENUE_ERROR", problem)
                return
            self._polled.take(self.kernel, events, applied, unfit, set_aside=set_aside)
            # The account's news the venue holds (a user stream's balance): logged if refused.
            account = take_account_events(self.kernel, self.kernel.venue, self._account_waiting)
            if account.problem:
                self.error("VENUE_ERROR", account.problem)
        except Exception as exc:
            if input_stopped(self.kernel, exc):
                self.error(
                    "ENGINE_ERROR",
                    f"the kernel takes no more input ({type(exc).__name__}: {exc}): the venue events"
                    f" not applied, to reconcile by hand: {self._polled.drop()}",
                )
            raise  # the client is told (ENGINE_ERROR); those kept wait for the next poll

    def tell_answer_not_logged(self, exc: VenueAnswerNotLogged) -> None:
        """Tell the client that the order ``exc`` names reached the venue, though the log could
        not record the venue's answer, and whether it is live there (``venue_answer_not_logged``)."""
        rec = next(
            (r for r in self.orders.values() if r.slot_id == exc.slot_id and r.trade_id == exc.trade_id),
            None,
        )
        self._emit(
            "venue_answer_not_logged",
            {
                "client_id": rec.client_id if rec is not None else None,
                **live_order(exc),
                "message": str(exc),
            },
        )
