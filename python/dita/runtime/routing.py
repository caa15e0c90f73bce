"""Routing the venue events the kernel took (``EventRouter``): to the event and fill
listeners, to the runtime's record of working orders and trade owners, and to the strategy
owning each trade (``on_fill``), once every event of the batch is booked."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from dita._kernel import TERMINAL_ORDER_STATUSES as TERMINAL_STATUSES
from dita._kernel import KernelEventKind, KernelIntent, KernelOutcome, VenueEvent
from dita.kernel import booked_events, event_with
from dita.logs import order_ids
from dita.runtime._shared import log, raise_first, tell
from dita.runtime.callbacks import StrategyCallbacks
from dita.runtime.clock import MarketClock
from dita.runtime.owners import TradeOwners
from dita.runtime.strategies import LIVE_STATUSES, StrategyHandle
from dita.strategy import FREE_STAGES, Fill

FILL = KernelEventKind.FILL
RATE_LIMITED = KernelEventKind.RATE_LIMITED

FillListener = Callable[[VenueEvent, int], None]
"""Called with each accepted fill and the index of the data point it happened on."""
EventListener = Callable[[VenueEvent], None]
"""Called with every venue event the kernel took in (acks, fills, cancels, rejects ...)."""
IntentListener = Callable[[KernelIntent, KernelOutcome], None]
"""Called with every intent a strategy submitted and the kernel's answer."""
TakenListener = Callable[[VenueEvent, KernelOutcome], None]
"""Called with every event a venue reported on its own (a poll's, an answer to market data)
and the kernel's outcome, refused ones too."""
SetAsideListener = Callable[[VenueEvent, Exception], None]
"""Called with every event a venue reported on its own that the kernel raised on
``STUCK_AFTER`` times in a row, set aside unapplied (to reconcile), and the kernel's error."""


class EventRouter:
    """Routes the events the kernel took. ``fills_kept``: how many of its latest fills each
    strategy keeps in ``Strategy.fills`` (None: every fill)."""

    def __init__(
        self,
        kernel: Any,
        owners: TradeOwners,
        callbacks: StrategyCallbacks,
        clock: MarketClock,
        event_listeners: list[EventListener],
        fill_listeners: list[FillListener],
        taken_listeners: list[TakenListener],
        stats: dict[str, int],
        fills_kept: int | None,
    ) -> None:
        self._kernel = kernel
        self._owners = owners
        self._callbacks = callbacks
        self._clock = clock
        self._event_listeners = event_listeners
        self._fill_listeners = fill_listeners
        self._taken_listeners = taken_listeners
        self._stats = stats
        self.fills_kept = fills_kept
        # The ``on_fill`` calls of the events routed, in the order booked, and whether they are
        # being made: an intent sent from one is routed then, its fills' calls queued after
        # the rest (made at once, its bookkeeping would come in the middle of the answer's).
        self._on_fill_calls: deque[tuple[StrategyHandle, Fill]] = deque()
        self._calling_on_fill = False

    def route_applied(
        self, event: VenueEvent, outcome: KernelOutcome, order: Any, seen: set[str], errors: list[Exception]
    ) -> None:
        """Route ``event``, which a venue reported later (polled, or answering market data)
        and the kernel took, and what the kernel sent on its own meanwhile; ``order``: the
        kernel's order it names, read before the kernel took it (``order_named``). The taken
        listeners hear it with its outcome, refused too. A listener's error is added to ``errors``."""
        for listener in self._taken_listeners:
            tell(errors, listener, event, outcome)
        # A rate limit is refused, yet it ends an order the venue never acknowledged (or is a
        # throttled cancel): routed, as a venue's answer routes it.
        if not outcome.applied:
            return
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "venue event %s (%s) taken: %s",
                event.event_id,
                event.kind.name,
                outcome.state.name,
                extra=order_ids(self._kernel, outcome=outcome, event=event),
            )
        seen.add(event.event_id)
        booked, *emitted = booked_events(outcome, [event])
        try:
            self.route([booked], set(), {event.event_id: order} if order is not None else None)
            # The kernel may act on its own (e.g. send the next exit leg): follow that too.
            follow = [e for e in emitted if e.event_id not in seen]
            if follow:
                self.route(follow, seen)
        except Exception as exc:
            errors.append(exc)

    def route(
        self,
        events: list[VenueEvent],
        seen: set[str],
        named: Mapping[str, Any] | None = None,
        sent: Any = None,
        before: Sequence[Any] = (),
    ) -> None:
        """Route ``events`` the kernel took to the listeners and the strategies owning their
        trades. A listener that raises is raised after all of them are routed: raised at once,
        the strategies would not hear of the rest (a fill, a freed slot)."""
        kernel = self._kernel
        owners = self._owners
        working = owners.working
        errors: list[Exception] = []
        # The slot is read after the kernel took every event of the batch: when one answer
        # fills an exit in several trades, each fill finds the trade over. Its owner is kept
        # for the batch's later fills, and only the last fill says it closed the trade.
        freed: dict[str, StrategyHandle] = {}
        if not all(self._identifies_order_fully(e) for e in events):
            events = self._as_booked_all(events, named, sent, before)
        max_slots = kernel.max_slots if events else 0  # an empty batch asks the kernel nothing
        for i, event in enumerate(events):
            seen.add(event.event_id)
            for on_event in self._event_listeners:
                tell(errors, on_event, event)
            # Each field read once: every read of a native event's field makes a new object.
            event_status, kind, client_id = event.status, event.kind, event.venue_client_id
            status = event_status.name if event_status is not None else ""
            fill = kind == FILL
            # A rate limit says REJECTED, yet on an order the venue holds it is a throttled
            # cancel: the kernel works the order on, and so it is polled for.
            if status in TERMINAL_STATUSES and not (kind == RATE_LIMITED and self._kernel_works(event)):
                working.discard(client_id)
            elif (
                status in ("ACKNOWLEDGED", "PARTIALLY_FILLED", "NEW")
                and client_id
                and client_id not in working
                and self._kernel_works(event)
            ):
                working.add(client_id)
            if not fill and status not in TERMINAL_STATUSES:
                continue
            trade_id, slot_id, asset = event.trade_id, event.slot_id, event.asset
            handle = owners.owners.get(trade_id) or freed.get(trade_id)
            # An event the kernel took that names no slot, nor an order that tells it (above): its
            # trade's owner hears it, the slot it frees unknown.
            slot = kernel.slot_state(slot_id) if 0 <= slot_id < max_slots else None
            free = slot is not None and slot.fsm_state.name in FREE_STAGES
            if slot is not None and handle is None and fill and not free and slot.trade_id == trade_id:
                # A late fill gives a freed trade its position back: its strategy holds it again.
                handle = owners.freed.pop(trade_id, None)
                if handle is not None:
                    owners.hold(trade_id, handle, asset, slot_id)
            if fill:
                if log.isEnabledFor(logging.DEBUG):
                    log.debug(
                        "fill of %s: %s %s at %s, fee %s",
                        asset,
                        event.order_side.name if event.order_side is not None else "",
                        event.size,
                        event.price,
                        event.fee,
                        extra=order_ids(self._kernel, event=event),
                    )
                self._stats["fills"] += 1
                self._clock.forget_mark(asset)
                for listener in self._fill_listeners:
                    tell(errors, listener, event, self._clock.row)
            if handle is None:
                continue
            if free and kind == RATE_LIMITED and self._entry_in_doubt(trade_id):
                # Its entry is in doubt: the venue may work it and fill it, and the slot takes no
                # other order. Freed here (as a poll hears it), the strategy would read not busy
                # and its slot budget count one less: it would enter again, and the late fill put
                # it past.
                free = False
            if free:
                owners.free(trade_id, handle, asset, slot_id)
                freed[trade_id] = handle
            if fill:
                self._book_fill(handle, event, free and not _filled_later(event, events[i + 1 :]))
        self.call_on_fill()
        raise_first(errors)

    def _book_fill(self, handle: StrategyHandle, event: VenueEvent, closed: bool) -> None:
        """Keep ``event`` in its strategy's ``fills`` and queue its ``on_fill`` call."""
        handle.fills += 1
        strategy = handle.strategy
        side = event.order_side.name if event.order_side is not None else ""
        fill = Fill(
            event.trade_id,
            event.slot_id,
            event.asset,
            side,
            event.price,
            event.size,
            event.fee,
            event.timestamp_s,
            closed,
        )
        fills = strategy.fills
        fills.append(fill)
        strategy.fills_total += 1
        kept = self.fills_kept
        if kept is not None and len(fills) >= 2 * kept:
            del fills[:-kept]  # trimmed now and then, so each fill costs O(1)
        self._on_fill_calls.append((handle, fill))

    def call_on_fill(self) -> None:
        """Call ``on_fill`` for each fill booked, oldest first, once every event of the batch
        is booked; called again from one (a strategy's intent answered), it leaves the new
        fills to the running call, after the rest. Made as each fill is booked, an intent a
        strategy sent from ``on_fill`` would be routed in the middle of the answer: an exit sent
        from the first of two entry fills would free the trade, and the second find no owner
        (the strategy never hearing it); a buy sent from the first of two exit fills would take
        the freed slot, and the last exit fill not say ``closed``."""
        if self._calling_on_fill:
            return
        self._calling_on_fill = True
        calls = self._on_fill_calls
        try:
            while calls:
                handle, fill = calls.popleft()
                # Stopped, or failed, by an earlier callback: it hears no more.
                if handle.status in LIVE_STATUSES:
                    self._callbacks.call(handle, "on_fill", fill)
        finally:
            self._calling_on_fill = False
            calls.clear()  # what a KeyboardInterrupt left: kept in ``fills``, not heard later

    def hold_on_fill(self) -> bool:
        """Hold the ``on_fill`` calls of what is routed next until ``release_on_fill``, given
        what this returns: they are made then (``call_on_fill``), or, inside a running call of
        them (an intent sent from one), left to it, after the rest. Two calls, not a context
        manager: every fill a venue reports passes here."""
        calling = self._calling_on_fill
        self._calling_on_fill = True
        return calling

    def release_on_fill(self, calling: bool) -> None:
        """Undo ``hold_on_fill`` (``calling``: what it returned); the held calls are made by
        the next ``call_on_fill``."""
        self._calling_on_fill = calling

    # -- what an event leaves out --------------------------------------------------------

    def _as_booked_all(
        self,
        events: list[VenueEvent],
        named: Mapping[str, Any] | None,
        sent: Any,
        before: Sequence[Any],
    ) -> list[VenueEvent]:
        """``events`` as the kernel booked them (``_as_booked``): an event naming its order by
        the venue's id alone takes what it leaves out from the order ``named`` for it (by event
        id), or else from an event of the batch that named that venue id's order whole."""
        acks = {e.venue_order_id: e for e in events if e.venue_order_id and self._identifies_order(e)}
        given = named or {}

        def order_source(e: VenueEvent) -> Any:
            """What tells ``e``'s order: an ack naming that order whole, the kernel's order of
            that id (or one the call ended, read before it), or else an ack naming it in part
            (no side)."""
            ack = acks.get(e.venue_order_id)
            if ack is not None and self._identifies_order_fully(ack):
                return ack
            return self.order_named(e, before) or ack

        return [
            e
            if self._identifies_order_fully(e)
            else self._as_booked(e, given.get(e.event_id) or order_source(e), sent)
            for e in events
        ]

    def _kernel_works(self, event: VenueEvent) -> bool:
        """Whether the order ``event`` names is one the kernel still works: a fill or ack the
        venue sends after the order ended (a fill racing a cancel) says "partially filled" of
        an order that is over. Asked once per order the runtime has not seen working."""
        if not 0 <= event.slot_id < self._kernel.max_slots:
            return True  # the event does not say where: as the venue says
        slot = self._kernel.slot_state(event.slot_id)
        coid = event.venue_client_id
        working = (slot.active_entry_order, slot.active_exit_order)
        return any(o is not None and o.client_order_id == coid for o in working)

    def _entry_in_doubt(self, trade_id: str) -> bool:
        """Whether trade ``trade_id``'s order is in doubt (``orders_in_doubt``): its slot is
        free, yet the trade is not over."""
        doubts: list[Any] = getattr(self._kernel, "orders_in_doubt", list)()
        return any(o.trade_id == trade_id for o in doubts)

    def _identifies_order(self, event: VenueEvent) -> bool:
        """Whether ``event`` names its order: its client id, trade and slot."""
        return bool(event.venue_client_id and event.trade_id and 0 <= event.slot_id < self._kernel.max_slots)

    def _identifies_order_fully(self, event: VenueEvent) -> bool:
        """Whether ``event`` names its order whole: its client id, trade, slot, asset and side
        (a strategy's trades are tracked by asset: an end routed with a blank one frees none)."""
        return bool(event.asset and event.order_side is not None and self._identifies_order(event))

    def order_named(self, event: VenueEvent, before: Sequence[Any] = ()) -> Any:
        """The kernel's order an event names by the venue's id alone (no client id, trade or
        slot: the kernel books it all the same), read before the kernel takes the event and
        perhaps ends the order: one working, or one ended whose fills the kernel awaits (a
        cancel that counted a fill reported later) or takes (one ended without the venue's
        figure: a fill that raced its cancel), or else one of ``before`` (the orders a call's
        answer may have ended, read before the call). None when the event names its order whole
        (the usual case, nothing read) or no such order is there."""
        if self._identifies_order_fully(event):
            return None
        by_client, by_venue = event.venue_client_id, event.venue_order_id
        kernel = self._kernel
        # Ended ones too, whose late fills the kernel takes: awaited, or ended without a figure.
        ended = ("awaited_orders", "orders_ended_without_figure")
        lists = (kernel.open_orders, *(getattr(kernel, name, list) for name in ended), lambda: before)
        for order in (o for orders in lists for o in orders()):
            if (by_client and order.client_order_id == by_client) or (
                by_venue and order.venue_order_id == by_venue
            ):
                return order
        return None

    def _as_booked(self, event: VenueEvent, whole: Any, sent: Any = None) -> VenueEvent:
        """``event`` as the kernel booked it, for routing: the client id, trade, slot, asset and
        side it leaves out taken from ``whole``, the order it names (``order_named``) or an
        event of the same answer that named that order whole (its ack). The event itself when
        nothing says more (``route`` asks only for an event not named whole). ``sent``: the
        order a submit's answer is to, whose side an event of it naming that order takes when
        nothing else gave one (an ack that named none lent none)."""
        changes: dict[str, Any] = {}
        if whole is not None:
            client_id = getattr(whole, "client_order_id", None) or whole.venue_client_id
            if not event.venue_client_id:
                changes["venue_client_id"] = client_id
            if not event.trade_id:
                changes["trade_id"] = whole.trade_id
            if not 0 <= event.slot_id < self._kernel.max_slots:
                changes["slot_id"] = whole.slot_id
            if not event.asset:
                changes["asset"] = whole.asset
            if event.order_side is None:
                changes["side"] = whole.order_side
        if (
            changes.get("side", event.order_side) is None
            and sent is not None
            and changes.get("venue_client_id", event.venue_client_id) == sent.client_order_id
        ):
            changes["side"] = sent.order_side
        if not changes.get("asset", event.asset):
            # Nothing lent one (an ack of the answer that named none either, or no order tells
            # more, as when the event ended its order): the slot holding its trade tells it.
            asset = self._slots_asset(
                changes.get("trade_id", event.trade_id), changes.get("slot_id", event.slot_id)
            )
            if asset:
                changes["asset"] = asset
        return event_with(event, changes) if changes else event

    def _slots_asset(self, trade_id: str, slot_id: int) -> str:
        """The asset of slot ``slot_id`` when it holds trade ``trade_id`` (the kernel booked the
        event there); "" otherwise."""
        if not trade_id or not 0 <= slot_id < self._kernel.max_slots:
            return ""
        slot = self._kernel.slot_state(slot_id)
        return str(slot.asset) if slot.trade_id == trade_id else ""


def _filled_later(event: VenueEvent, later: Sequence[VenueEvent]) -> bool:
    """Whether a later event of the batch fills ``event``'s trade too: only the last fill of a
    trade its batch closed says ``closed``."""
    return any(e.kind == FILL and e.trade_id == event.trade_id for e in later)
