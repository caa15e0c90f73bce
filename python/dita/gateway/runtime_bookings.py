"""What a ``TradingRuntime`` beside the gateway books on its own thread (``dita live``: the
venue polled between bars and at bars, its answers to market data and to the strategies'
intents, the account's news), brought to the gateway's event streams as the gateway's own
venue polling brings what it books.

The runtime's listeners run on the strategies' thread and only note what was booked, in the
order booked: they never call the kernel. The polling task's next round takes the notes on the
kernel's lane and publishes them there: a `venue_event` for each event a venue reported on its
own (one the runtime set aside as `SET_ASIDE`, with the kernel's error), then a `slot` event for
each slot the notes name (read on the lane, after every call queued before it, so a slot is
never told older than the lane told it), then `account` after a fill or the account's news.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

from dita._kernel import KernelIntent, KernelOutcome, VenueEvent
from dita.gateway.polling import VENUE_ENDS, set_aside_data, venue_event_data
from dita.kernel import FILL_TRIGGERS, applied_events

if TYPE_CHECKING:
    from dita.gateway.state import GatewayState
    from dita.runtime import TradingRuntime

__all__ = ["RuntimeBookings"]


class _Booked:
    """One note: the `venue_event` to publish (None for an intent's or a routed event's), the
    slots it moved, and the venue's ends of orders it booked (their kinds' names)."""

    __slots__ = ("data", "slot_ids", "venue_ends")

    def __init__(self, data: dict[str, Any] | None, slot_ids: list[int], venue_ends: list[str]) -> None:
        self.data = data
        self.slot_ids = slot_ids
        self.venue_ends = venue_ends


class RuntimeBookings:
    """The notes of what ``runtime`` booked, taken and published by ``publish`` (on the lane)."""

    def __init__(self, runtime: TradingRuntime) -> None:
        self.runtime = runtime
        # Appended on the strategies' thread, taken on the lane: a deque's ends are thread-safe.
        self._notes: deque[_Booked] = deque()
        # The runtime's counts at the last publish: fills, the account's news and poll errors
        # are told from their growth, whichever way the run booked them (a strategy's intent,
        # an edge freeze's cancels, a reconciliation).
        self._counts = self._counted()
        self._account_owed = False  # the kernel was busy for the last account read
        runtime.taken_listeners.append(self._taken)
        runtime.set_aside_listeners.append(self._set_aside)
        runtime.intent_listeners.append(self._intent)
        # Every event the kernel took, the answers to intents of the run's own, an edge freeze's
        # cancels and a reconciliation's included: the slots they moved.
        runtime.event_listeners.append(self._routed)

    def _counted(self) -> tuple[int, int, int]:
        stats = self.runtime.stats
        errors = stats["venue_poll_errors"] + stats["venue_events_stuck"]
        return stats["fills"], stats["account_events"], errors

    def _taken(self, event: VenueEvent, outcome: KernelOutcome) -> None:
        data, _ = venue_event_data(event, outcome)
        ended = outcome.accepted and event.kind in VENUE_ENDS
        moved = [t.slot_id for t in outcome.transitions]
        self._notes.append(_Booked(data, moved, [event.kind.name] if ended else []))

    def _set_aside(self, event: VenueEvent, exc: Exception) -> None:
        # Counted with the poll errors from the runtime's stats (``_counted``); no slot moved.
        self._notes.append(_Booked(set_aside_data(event, exc), [], []))

    def _intent(self, intent: KernelIntent, outcome: KernelOutcome) -> None:
        if not isinstance(outcome, KernelOutcome) or not (outcome.accepted or outcome.transitions):
            return  # refused, by the runtime (a slot budget) or the kernel: no slot moved
        # The venue's answer to the submit: a reject counted as an HTTP intent's is.
        ends = [
            e.kind.name
            for t, e in applied_events(outcome)
            if t.trigger not in FILL_TRIGGERS and e.kind in VENUE_ENDS
        ]
        self._notes.append(_Booked(None, [intent.slot_id, *(t.slot_id for t in outcome.transitions)], ends))

    def _routed(self, event: VenueEvent) -> None:
        self._notes.append(_Booked(None, [event.slot_id], []))

    def publish(self, state: GatewayState) -> None:
        """Publish what was noted since the last call (on the lane), and the account after a fill
        or the account's news. The kernel busy for the slots' or the account's read: they are
        noted again, first, for the next call."""
        (fills, account_events, errors), before = self._counted(), self._counts
        self._counts = (fills, account_events, errors)
        account = self._account_owed or fills != before[0] or account_events != before[1]
        if fills > before[0]:
            state.metrics.fills.inc(fills - before[0])
        if errors > before[2]:
            state.metrics.venue_poll_errors.inc(errors - before[2])
        touched: dict[int, None] = {}
        notes = self._notes
        while notes:
            booked = notes.popleft()
            if booked.data is not None:
                state.publish("venue_event", booked.data)
            for kind in booked.venue_ends:
                state.metrics.venue_rejects.labels(kind).inc()
            touched.update(dict.fromkeys(booked.slot_ids))
        try:
            state.publish_slots(touched)
            if account:
                state.publish("account", state.kernel.account())
            self._account_owed = False
        except Exception:
            notes.appendleft(_Booked(None, list(touched), []))
            self._account_owed = account
            raise
