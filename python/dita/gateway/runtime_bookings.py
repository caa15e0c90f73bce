"""What a ``TradingRuntime`` beside the gateway books on its own thread (``dita live``: the
venue polled between bars and at bars, its answers to market data and to the strategies'
intents, the account's news), brought to the gateway's event streams as the gateway's own
venue polling brings what it books.

The runtime's listeners run on the strategies' thread and only note what was booked, in the
order booked: they never call the kernel. The polling task's next round takes the notes on the
kernel's lane and publishes them there: a `venue_event` for each event a venue reported on its
own, then a `slot` event for each slot the notes name (read on the lane, after every call queued
before it, so a slot is never told older than the lane told it), then `account` after a fill or
the account's news.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

from dita._kernel import KernelIntent, KernelOutcome, VenueEvent
from dita.gateway.polling import VENUE_ENDS, venue_event_data
from dita.kernel import FILL_TRIGGERS, applied_events

if TYPE_CHECKING:
    from dita.gateway.state import GatewayState
    from dita.runtime import TradingRuntime

__all__ = ["RuntimeBookings"]


class _Booked:
    """One note: the `venue_event` to publish (None for an intent's or a routed event's), the
    slots it moved, the fills it booked, a venue's end of an order (its kind's name), and
    whether the account is to be published after it."""

    __slots__ = ("account", "data", "fills", "slot_ids", "venue_end")

    def __init__(
        self,
        data: dict[str, Any] | None,
        slot_ids: list[int],
        fills: int = 0,
        venue_end: str = "",
        account: bool = False,
    ) -> None:
        self.data = data
        self.slot_ids = slot_ids
        self.fills = fills
        self.venue_end = venue_end
        self.account = account or fills > 0


class RuntimeBookings:
    """The notes of what ``runtime`` booked, taken and published by ``publish`` (on the lane)."""

    def __init__(self, runtime: TradingRuntime) -> None:
        self.runtime = runtime
        # Appended on the strategies' thread, taken on the lane: a deque's ends are thread-safe.
        self._notes: deque[_Booked] = deque()
        self._account_events = runtime.stats["account_events"]
        runtime.taken_listeners.append(self._taken)
        runtime.intent_listeners.append(self._intent)
        # Every event the kernel took, the answers to intents of the run's own, an edge freeze's
        # cancels and a reconciliation's included: the slots they moved.
        runtime.event_listeners.append(self._routed)

    def _taken(self, event: VenueEvent, outcome: KernelOutcome) -> None:
        data, fills = venue_event_data(event, outcome)
        ended = outcome.accepted and event.kind in VENUE_ENDS
        moved = [t.slot_id for t in outcome.transitions]
        self._notes.append(_Booked(data, moved, fills, event.kind.name if ended else ""))

    def _intent(self, intent: KernelIntent, outcome: KernelOutcome) -> None:
        if not isinstance(outcome, KernelOutcome) or not (outcome.accepted or outcome.transitions):
            return  # refused, by the runtime (a slot budget) or the kernel: no slot moved
        fills = sum(1 for t, _ in applied_events(outcome) if t.trigger in FILL_TRIGGERS)
        self._notes.append(_Booked(None, [intent.slot_id, *(t.slot_id for t in outcome.transitions)], fills))

    def _routed(self, event: VenueEvent) -> None:
        self._notes.append(_Booked(None, [event.slot_id]))

    def publish(self, state: GatewayState) -> None:
        """Publish what was noted since the last call (on the lane), and the account after a fill
        or the account's news (``stats["account_events"]`` grew). The kernel busy for the slots'
        or the account's read: they are noted again, first, for the next call."""
        touched: dict[int, None] = {}
        fills = 0
        account_events = self.runtime.stats["account_events"]
        account = account_events != self._account_events
        self._account_events = account_events
        notes = self._notes
        while notes:
            booked = notes.popleft()
            if booked.data is not None:
                state.publish("venue_event", booked.data)
            if booked.venue_end:
                state.metrics.venue_rejects.labels(booked.venue_end).inc()
            touched.update(dict.fromkeys(booked.slot_ids))
            fills += booked.fills
            account = account or booked.account
        if fills:
            state.metrics.fills.inc(fills)
        try:
            state.publish_slots(touched)
            if account:
                state.publish("account", state.kernel.account())
        except Exception:
            notes.appendleft(_Booked(None, list(touched), account=account))
            raise
