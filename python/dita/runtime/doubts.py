"""Reconciling the kernel with its venue while the runtime runs (``OrdersInDoubt``), and doing
so on its own while the kernel holds orders in doubt: orders rate limited before the venue
acknowledged them, with a cancel asked, or acknowledged or filled after a rate limit ended them.
Their slots take no new order until their status is known, and nothing else asks the venue for
it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dita._kernel import KernelOutcome, VenueEvent
from dita.kernel import booked_events
from dita.reconcile import ENDED_LOOKUPS, ReconciliationReport, reconcile_with_venue
from dita.runtime._shared import CallDepth, log
from dita.runtime.clock import MarketClock
from dita.runtime.routing import EventRouter
from dita.runtime.venue_data import VenueDataHandOver
from dita.venues import VenueUnavailable
from dita.venues._events import kernel_busy

# How often (in the runtime's time) it looks for orders in doubt (``orders_in_doubt``), and the
# first and longest wait before reconciling them: the venue just throttled, and each
# reconciliation asks it for its open orders, the orders' status and positions.
DOUBT_POLL_SECONDS = 5.0
DOUBT_FIRST_WAIT = 5.0
DOUBT_MAX_WAIT = 300.0


class OrdersInDoubt:
    """Reconciles through ``reconcile_with_venue``, its events routed as a venue's own; looks for
    orders in doubt when a data point's time reaches ``next_look``
    (``reconcile_orders_in_doubt``)."""

    def __init__(
        self,
        kernel: Any,
        router: EventRouter,
        venue_data: VenueDataHandOver,
        clock: MarketClock,
        calls: CallDepth,
        stats: dict[str, int],
    ) -> None:
        self._kernel = kernel
        self._router = router
        self._venue_data = venue_data
        self._clock = clock
        self._calls = calls
        self._stats = stats
        # When to look for orders in doubt next, and the wait after a reconciliation that left
        # one in doubt (doubled each time, up to DOUBT_MAX_WAIT); an order in doubt was seen and
        # its first wait runs.
        self.next_look = 0.0
        self._wait = DOUBT_FIRST_WAIT
        self._waiting = False
        # Looked up once: it is asked at every data point of a replay of minute bars.
        self._orders_in_doubt: Callable[[], list[Any]] = getattr(kernel, "orders_in_doubt", list)
        # The kernel's ``seq`` when a look found no order in doubt (None: it found some, or the
        # kernel has no ``seq``). Only a venue event puts an order in doubt (a rate limit ending
        # an order whose cancel was asked, an ack or fill of one a rate limit ended), and the
        # kernel moves ``seq`` on for every venue event before it applies it
        # (``Kernel::on_venue_event_into``): while ``seq`` stays, none is.
        self._clear_at_seq: int | None = None
        self._reads_seq = isinstance(getattr(kernel, "seq", None), int)

    def reconcile_with_venue(
        self,
        cancel_unknown: bool,
        only_in_doubt: bool,
        ended_lookups: int,
        *,
        cancel_foreign_orders: bool = False,
    ) -> ReconciliationReport:
        """The body of ``TradingRuntime.reconcile_with_venue``, which says what it does."""
        self._venue_data.sync_venues()
        with self._calls:
            return self._reconcile(cancel_unknown, only_in_doubt, ended_lookups, cancel_foreign_orders)

    def _reconcile(
        self,
        cancel_unknown: bool,
        only_in_doubt: bool,
        ended_lookups: int,
        cancel_foreign_orders: bool = False,
    ) -> ReconciliationReport:
        taken: list[tuple[VenueEvent, KernelOutcome]] = []
        try:
            return reconcile_with_venue(
                self._kernel,
                cancel_unknown=cancel_unknown,
                cancel_foreign_orders=cancel_foreign_orders,
                on_applied=lambda ev, out: taken.append((ev, out)),
                clock=self._clock.now,  # the data's time in a replay, as the kernel's other inputs
                only_in_doubt=only_in_doubt,
                ended_lookups=ended_lookups,
            )
        finally:
            # Routed also when the run is cut short (the kernel busy or closed mid-run): the
            # kernel booked these events, and their strategies must hear them.
            self._route_taken(taken)

    def _route_taken(self, taken: list[tuple[VenueEvent, KernelOutcome]]) -> None:
        """The events a reconciliation applied, routed as one batch, in the order taken, with
        what the kernel did of its own on each: the slots are read after all of it, as for a
        submit's answer (see EventRouter.route)."""
        batch: list[VenueEvent] = []
        ids: set[str] = set()
        for event, outcome in taken:
            for ev in booked_events(outcome, [event]):
                if ev.event_id not in ids:
                    ids.add(ev.event_id)
                    batch.append(ev)
        self._stats["venue_events"] += len(taken)
        self._router.route(batch, set())

    def look(self, now: float) -> None:
        """A data point at ``now`` (``MarketClock.monotonic``) reached ``next_look``: look for orders in doubt
        (``reconcile_orders_in_doubt``), unless the kernel took no input since a look found none."""
        if self._clear_at_seq is not None and self._kernel.seq == self._clear_at_seq:
            self.next_look = now + DOUBT_POLL_SECONDS  # as that look would (``_no_doubts``)
            return
        self.reconcile_orders_in_doubt()

    def reconcile_orders_in_doubt(self) -> None:
        """Reconcile the kernel with its venue while it holds orders in doubt: not at once (the
        venue just throttled), then again, waiting twice as long each time, while one is left in
        doubt. Only those orders are settled (``only_in_doubt``): the working orders, orders
        nobody manages and positions are left alone. Called between data points, every
        DOUBT_POLL_SECONDS of the runtime's time. The kernel busy in another thread's call is
        passing (logged, tried at the next attempt); a reconciliation that raises otherwise (a
        listener's error) is logged and raised, its next attempt already set."""
        now = self._clock.monotonic()
        # Read before the orders: an input another thread gives between the two moves it on.
        seq = self._kernel.seq if self._reads_seq else None
        doubts = self._orders_in_doubt()
        if not doubts:
            self._no_doubts(now)
            self._clear_at_seq = seq
            return
        self._clear_at_seq = None
        if not self._waiting:
            self._waiting = True
            self.next_look = now + self._wait
            return
        ids = ", ".join(o.client_order_id for o in doubts)
        self._stats["doubt_reconciliations"] += 1
        # The next attempt is set first: one that raises (a listener's error, re-raised once
        # the events are routed) must not have the next data point ask the venue again.
        self._wait = min(self._wait * 2, DOUBT_MAX_WAIT)
        self.next_look = now + self._wait
        try:
            report = self.reconcile_with_venue(
                cancel_unknown=False, only_in_doubt=True, ended_lookups=ENDED_LOOKUPS
            )
        except VenueUnavailable as exc:
            log.warning("orders in doubt (%s) not reconciled: %s", ids, exc)
            return
        except Exception as exc:
            if kernel_busy(exc):
                # Another thread's call (the gateway's) held the kernel: passing, as a venue that
                # cannot answer is. What it took is routed; the rest waits for the next attempt.
                log.warning("orders in doubt (%s) not all reconciled, tried again later: %s", ids, exc)
                return
            log.warning("orders in doubt (%s): reconciling raised %s: %s", ids, type(exc).__name__, exc)
            raise
        left = {o.client_order_id for o in self._kernel.orders_in_doubt()}
        settled = ", ".join(a["client_order_id"] for a in report.awaited_settled) or "none"
        if not left:
            log.warning("orders in doubt (%s) reconciled with the venue: settled %s", ids, settled)
            self._no_doubts(now)
            return
        reasons = "; ".join(
            f"{u['client_order_id']}: {u.get('reason', '')}"
            for u in report.unresolved
            if u.get("client_order_id") in left
        )
        log.warning(
            "orders in doubt (%s) reconciled with the venue: settled %s; still in doubt: %s",
            ids,
            settled,
            reasons or ", ".join(sorted(left)),
        )

    def _no_doubts(self, now: float) -> None:
        """No order is in doubt (any more): look again in DOUBT_POLL_SECONDS, and wait the
        first wait before reconciling one seen next."""
        self.next_look, self._wait, self._waiting = now + DOUBT_POLL_SECONDS, DOUBT_FIRST_WAIT, False
