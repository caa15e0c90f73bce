"""What the venue reports later, and the control state changed elsewhere, brought to the
gateway's kernel and event streams by one background task.

A venue with ``poll_events`` (a resting order's fills, the outcome of a submit in doubt) is
asked every ``venue_poll_seconds`` on a worker thread, as a REST venue takes its time and the
gateway (a halt) must not wait for it; what it gave is applied on the kernel's lane and
published. With a runtime beside it that polls the venue itself (``follow_runtime``: ``dita
live``), every round publishes what the runtime booked instead (``runtime_bookings``). Every
round also sends the kernel's control state as a `control` event when it changed by another way
than PUT /v1/control.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from typing import TYPE_CHECKING, Any

import anyio

from dita._kernel import KernelEventKind, KernelOutcome, VenueEvent
from dita._text import shortened
from dita.gateway.state import GatewayState
from dita.kernel import FILL_TRIGGERS, applied_events
from dita.venues import poll_once
from dita.venues._events import PolledEvents, input_stopped, kernel_busy
from dita.venues.account_events import take_account_events

if TYPE_CHECKING:
    from dita.gateway.runtime_bookings import RuntimeBookings
    from dita.runtime import TradingRuntime

__all__ = ["CONTROL_WATCH_S", "VENUE_ENDS", "VenuePolling", "set_aside_data", "venue_event_data"]

# The HTTP gateway logs under one name, that of the module embedders serve: dita.gateway.app.
log = logging.getLogger("dita.gateway.app")

# Venue answers that end an order unfilled: counted apart from the kernel's own refusals.
VENUE_ENDS = (KernelEventKind.REJECT, KernelEventKind.EXPIRED)
# How often the gateway looks whether the kernel's control state changed by another way than PUT
# /v1/control (the cluster's control plane, an edge freeze), to send it as a `control` event.
CONTROL_WATCH_S = 0.5


def venue_event_data(event: VenueEvent, outcome: KernelOutcome) -> tuple[dict[str, Any], int]:
    """The `venue_event` event of ``event``, which the kernel answered with ``outcome``, and the
    fills it booked."""
    fills = sum(1 for t, _ in applied_events(outcome, [event]) if t.trigger in FILL_TRIGGERS)
    data = {
        **_named(event),
        "accepted": outcome.accepted,
        "diagnostic_code": outcome.diagnostic_code.name,
        "state": outcome.state.name,
        "fills": fills,
        "seq": outcome.seq,
    }
    return data, fills


def set_aside_data(event: VenueEvent, exc: Exception) -> dict[str, Any]:
    """The `venue_event` event of ``event``, which the kernel raised ``exc`` on poll after poll
    and which is set aside unapplied: an operator sees a fill that waits for reconciling."""
    return {
        **_named(event),
        "accepted": False,
        "diagnostic_code": "SET_ASIDE",
        "state": None,
        "fills": 0,
        "seq": None,
        "error": shortened(f"{type(exc).__name__}: {exc}", 300),
    }


def _log_dead_man_failed(failure: str) -> None:
    log.error("the dead-man switch's check raised %s; checked again every round", failure)


def _named(event: VenueEvent) -> dict[str, Any]:
    """The fields of a `venue_event` that name its event."""
    return {
        "event_id": event.event_id,
        "kind": event.kind.name,
        "slot_id": event.slot_id,
        "trade_id": event.trade_id,
    }


class VenuePolling:
    """The polling task of one app: ``start`` at the server's start, ``stop`` before the kernel
    closes; ``poll_venue`` is one round of it."""

    def __init__(self, state: GatewayState) -> None:
        self.state = state
        self.poll_events = getattr(state.kernel.venue, "poll_events", None)
        self.runtime_bookings: RuntimeBookings | None = None
        # The polls under way on a worker thread, each [] until the stop gives it up ([True]);
        # the lock orders a poll's answer with the stop's giving up.
        self._polls_under_way: list[list[bool]] = []
        self._handoff = threading.Lock()
        self._stops: dict[asyncio.Task[None], asyncio.Event] = {}

    def follow_runtime(self, runtime: TradingRuntime) -> None:
        """Leave the venue to ``runtime``, which polls it on the strategies' thread and routes its
        events to the strategies owning the trades (polled here too, they would go past them),
        and publish what the runtime books instead, every round (``CONTROL_WATCH_S``)."""
        from dita.gateway.runtime_bookings import RuntimeBookings

        self.poll_events = None
        self.runtime_bookings = RuntimeBookings(runtime)

    # --- applying what the venue gave (on the lane) -------------------------------------

    def take_polled(self, events: list[Any]) -> int:
        """Give the kernel the polled events waiting, then ``events``, and publish what they
        moved (what was applied before the kernel raised included); the fills booked."""
        state, metrics = self.state, self.state.metrics
        fills = 0
        touched: dict[int, None] = {}

        def not_an_event(event: Any, exc: Exception) -> None:  # not a VenueEvent: the adapter's bug
            metrics.venue_poll_errors.inc()
            log.warning("venue poll gave what the kernel cannot take: %s", shortened(str(exc), 300))

        def applied(event: VenueEvent, outcome: KernelOutcome) -> None:
            nonlocal fills
            data, booked = venue_event_data(event, outcome)
            fills += booked
            if not outcome.accepted:
                log.warning(
                    "venue event %s (%s, slot %s) refused: %s %s",
                    event.event_id, event.kind.name, event.slot_id,
                    outcome.diagnostic_code.name, shortened(str(dict(outcome.details)), 300),
                )  # fmt: skip
            elif event.kind in VENUE_ENDS:
                metrics.venue_rejects.labels(event.kind.name).inc()
            self.state.publish("venue_event", data)
            touched.update(dict.fromkeys(t.slot_id for t in outcome.transitions))

        def set_aside(event: VenueEvent, exc: Exception) -> None:
            # The kernel raised on it poll after poll (named at ERROR by PolledEvents): counted,
            # and told to the streams.
            metrics.venue_poll_errors.inc()
            self.state.publish("venue_event", set_aside_data(event, exc))

        try:
            state.polled.take(state.kernel, events, applied, not_an_event, set_aside=set_aside)
        except Exception as exc:
            self._kernel_raised(exc)
        if fills:
            metrics.fills.inc(fills)
        state.publish_slots(touched)
        if fills:
            state.publish("account", state.kernel.account())
        return fills

    def _kernel_raised(self, exc: Exception) -> None:
        """The kernel raised on a polled event (``polled`` keeps it and those after it). Busy:
        they are given to it at the next poll. Taking no more input (closed, its log failed):
        they are named in the log, for reconciliation, and the venue is polled no more: the
        news it gave from then on could not be applied either, and would be lost."""
        state = self.state
        state.metrics.venue_poll_errors.inc()
        failure = f"{type(exc).__name__}: {shortened(str(exc), 300)}"
        if input_stopped(state.kernel, exc):
            state.polling_ended = failure
            log.error(
                "the kernel takes no more input (%s): the venue is polled no more; the venue events"
                " polled and not applied, to reconcile (a new kernel on its wal_dir runs"
                " reconcile_with_venue): %s",
                failure,
                state.polled.drop() or "none",
            )
            return
        log.log(
            logging.WARNING if kernel_busy(exc) else logging.ERROR,
            "taking a polled venue event raised %s: the %d not taken (it and those after it) are"
            " kept, given to the kernel first at the next poll (the venue asked for more once they are)",
            failure,
            len(state.polled.waiting),
        )

    def _take_waiting(self) -> tuple[int, bool]:
        """Give the kernel the polled events it raised on last time (on the lane); the fills
        booked, and whether the venue may be asked for more: while the kernel still raises on
        them, the venue keeps its newer news (so they reach the kernel in the order it gave them)."""
        polled = self.state.polled
        if not polled.waiting:
            return 0, True
        fills = self.take_polled([])
        return fills, not (polled.waiting or self.state.polling_ended)

    def take_account_events(self) -> None:
        """Give the kernel what the venue learned of the account (``account_events()``, held by
        the venue: no request) and publish the account when it took any."""
        state = self.state
        taken = take_account_events(state.kernel, state.kernel.venue, state.account_waiting)
        if taken.problem:
            state.metrics.venue_poll_errors.inc()
        if taken.given:
            state.publish("account", state.kernel.account())

    # --- asking the venue (on a worker thread) -----------------------------------------

    def _ask_venue(self, given_up: list[bool]) -> str:
        """One poll (on a worker thread): what the venue gave joins the events waiting, for the
        take after it, or for the stop's last take when the stop cancels the polling meanwhile
        (no lane call touches them until either); what went wrong, or "". Given up by the stop
        (past its grace), the answer is named at ERROR instead: the venue gave it once, and it
        would go nowhere unseen."""
        events, problem = poll_once(self.poll_events)  # type: ignore[arg-type]  # polled only with one
        with self._handoff:
            if not given_up:
                self.state.polled.waiting.extend(events)
                return problem
        if events:
            late = PolledEvents()
            late.waiting.extend(events)
            log.error(
                "a venue poll the stop gave up on (stop_grace_seconds) answered afterwards: not"
                " applied, to reconcile (a new kernel on its wal_dir runs reconcile_with_venue): %s",
                late.described(),
            )
        return problem

    async def poll_venue(self) -> int:
        """One poll of a venue that reports later: asked on a worker thread, what it gave applied
        on the lane and published. Returns the fills booked; a poll that raises is logged and
        counted, and the next one runs."""
        state = self.state
        if self.poll_events is None or state.polling_ended:
            return 0
        fills = 0
        try:
            fills, ask = await state.lane.run(self._take_waiting)
            if not ask:
                return fills
            # A venue's fault (a raise, an answer that is not a list) must not stop the polling.
            given_up: list[bool] = []  # [True] once the stop gave this poll up
            self._polls_under_way.append(given_up)
            try:
                problem = await anyio.to_thread.run_sync(self._ask_venue, given_up)
            finally:
                self._polls_under_way.remove(given_up)
            if problem:
                state.metrics.venue_poll_errors.inc()
                log.warning("%s", shortened(problem, 300))
                return fills
            # Shielded: the stop's cancel must not drop the take from the lane's queue (a take
            # the stop gives up on, behind a submit that does not answer, is canceled with the
            # event loop; the events stay for the stop's last take, and its log).
            fills += await asyncio.shield(state.lane.run(lambda: self.take_polled([])))
            await asyncio.shield(state.lane.run(self.take_account_events))
            return fills
        except Exception as exc:  # nor a publish that raised
            state.metrics.venue_poll_errors.inc()
            log.warning("venue poll_events gave %s: %s", type(exc).__name__, shortened(str(exc), 300))
            return fills

    # --- the task ----------------------------------------------------------------------

    async def _poll_until(self, stop: asyncio.Event) -> None:
        next_poll = 0.0
        while not stop.is_set():
            if self.poll_events is not None and time.monotonic() >= next_poll:
                await self.poll_venue()
                next_poll = time.monotonic() + self.state.settings.venue_poll_seconds
            with contextlib.suppress(RuntimeError):  # the kernel busy past its wait: next round
                if self.runtime_bookings is not None:
                    await self.state.lane.run(self._publish_bookings)
                if self.state.dead_man is not None:
                    # Before the control event: a trip's mode goes out in the same round.
                    await self.state.lane.run(self._check_dead_man)
                await self.state.lane.run(self.state.publish_control_if_changed)
            wait = CONTROL_WATCH_S
            if self.poll_events is not None:
                wait = min(wait, max(0.0, next_poll - time.monotonic()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), wait)

    def _publish_bookings(self) -> None:
        """Publish what the runtime booked since the last round (on the lane)."""
        assert self.runtime_bookings is not None
        self.runtime_bookings.publish(self.state)

    def _check_dead_man(self) -> None:
        """The dead-man switch's check (on the lane); one that raises is logged and the polling
        goes on: the next round checks again."""
        assert self.state.dead_man is not None
        self.state.dead_man.check_or_tell(_log_dead_man_failed)

    def start(self) -> asyncio.Task[None]:
        """The task polling the venue every ``venue_poll_seconds`` (a venue that reports later:
        ``poll_events``; the native mock answers every order at once) and sending the kernel's
        control state as a `control` event whenever it changed (every ``CONTROL_WATCH_S``)."""
        stop = asyncio.Event()
        task = asyncio.get_running_loop().create_task(self._poll_until(stop))
        self._stops[task] = stop
        return task

    async def stop(self, task: asyncio.Task[None] | None, deadline: float | None = None) -> None:
        """End the polling before the kernel closes. A poll under way is waited for (until
        ``deadline``, monotonic; by default ``stop_grace_seconds`` from now) and its answer
        applied: canceled, its thread would go on and what it returned would be dropped, and
        fills the venue reports only once (CcxtVenue) never booked."""
        if task is None:
            return
        settings = self.state.settings
        self._stops.pop(task).set()
        if deadline is None:
            deadline = time.monotonic() + settings.stop_grace_seconds
        done, _ = await asyncio.wait({task}, timeout=max(0.0, deadline - time.monotonic()))
        if not done:
            with self._handoff:
                asked = list(self._polls_under_way)
                for given_up in asked:
                    given_up.append(True)
            if asked:
                log.warning(
                    "stopping: the venue's poll did not answer within %g s (stop_grace_seconds): what"
                    " it gives later is not applied (named at ERROR, to reconcile, if it comes while"
                    " the process runs)",
                    settings.stop_grace_seconds,
                )
            task.cancel()
        # Within the same grace: a call on the lane that does not return (a venue's submit) must
        # not hold the stop for ever. Given up on, the take stays queued, ahead of the kernel's close.
        await self.state.lane.run_at_stop(
            self._last_take, deadline, "giving the kernel the polled venue events a last time"
        )

    def _last_take(self) -> None:
        """At the stop (on the lane, after what the polling queued there): the polled events the
        kernel raised on (busy) given to it a last time before it closes, or named for reconciling;
        what a runtime followed booked since the last round (its last poll) published."""
        if self.runtime_bookings is not None:
            self._publish_bookings()
        polled = self.state.polled
        if polled.waiting and not self.state.polling_ended:
            self.take_polled([])
        if polled.waiting:
            log.error(
                "the venue events polled and not applied (the kernel raised on them), to reconcile"
                " (a new kernel on its wal_dir runs reconcile_with_venue): %s",
                polled.drop(),
            )
