"""One reconciliation run: what it reads of the venue once, what it learns as it goes, and the
steps every pass takes: an event made and applied, a fill of the venue's taken, the venue asked
about an order, the venue told to follow one."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from dita._kernel import KernelDiagnosticCode, KernelOutcome, VenueEvent, VenueOrder
from dita.outcome_events import booked_events
from dita.reconcile.answers import _gone_reason
from dita.reconcile.events import _event, _item, _Refused, _venue_id
from dita.reconcile.kernel_orders import _as_booked, _still_working
from dita.reconcile.listing import _by_client_id, _by_venue_id, _listed, _one_of, _untold
from dita.reconcile.report import ReconciliationReport
from dita.venues import order_lookup
from dita.venues.protocol import seen_ids_keyword

if TYPE_CHECKING:
    from dita.kernel import ExecutionKernel


class _Run:
    """The state one ``reconcile_with_venue`` call shares between its passes: the kernel, its
    venue and the venue's open orders read once, the report, and which of the venue's orders
    this run took for the kernel's."""

    def __init__(
        self,
        kernel: ExecutionKernel,
        venue: Any,
        listed: list[Any],
        report: ReconciliationReport,
        clock: Callable[[], float],
        on_applied: Callable[[VenueEvent, KernelOutcome], None] | None,
    ) -> None:
        self.kernel = kernel
        self.venue = venue
        self.listed = listed
        self.report = report
        self.clock = clock
        self.on_applied = on_applied
        self.venue_open = _by_client_id(listed)
        self.by_venue_id = _by_venue_id(listed)
        # Given the order's asset where the venue takes it (read once: ``order_lookup``), so a venue
        # asks the order's market only, not each market it trades.
        self.lookup = order_lookup(venue)
        # Event ids carry the kernel's seq at the start: the slots remember the ids of an earlier
        # reconciliation (also across restarts), and a count from 0 alone would repeat them, so the
        # fills a venue made since the last one would be refused as duplicates.
        self.seq_at_start = kernel.seq
        self.events_sent = 0
        # A venue that lists an order's fills by trade (``CcxtVenue``): booked with their fees and
        # base-currency commission, which a fill made from the order's status has not.
        self.trade_fills = getattr(venue, "trade_fills", None)
        # A venue that learns of fills by asking has no record of orders sent before a restart
        # (a ccxt adapter): told to follow them, it reports their fills and ends as they come.
        self.watch = getattr(venue, "watch", None)
        # The venue ids of the kernel's orders: a venue order listed under a client id the venue
        # cannot map back to the kernel's (an id sent hashed, before a restart) is still the
        # kernel's own when its venue id is one of these, and not an order nobody manages.
        self.owned_venue_ids: set[str] = set()
        # The listed entries taken for the kernel's orders (by identity): the others listed under
        # the same client id are orders nobody manages.
        self.taken: set[int] = set()
        # The client ids under which several orders are listed, the kernel's told apart from them.
        self.told_apart: set[str] = set()
        # The listed entries the venue says are not the kernel's order of their client id.
        self.others: set[int] = set()
        # The kernel's orders asked about (or found listed) in this run: one ended here is not
        # asked about again as ended without the venue's figure.
        self.asked: set[str] = set()
        # The kernel's orders the venue could not be told to follow in this run (reported once).
        self.unwatchable: set[str] = set()
        # What the venue was told of each order in this run (its booked size and venue id): told
        # again only once that changed, as it does when this run books a fill of it.
        self.told_venue: dict[str, tuple[float, str]] = {}
        # The orders looked up by ``order_status`` (so followed first) with the venue's answer:
        # one this run ends is told again as booked (``follow_booked_lookups``).
        self.looked_up: dict[str, tuple[VenueOrder, VenueOrder]] = {}

    def event(self, mine: VenueOrder, kind: str, **kw: Any) -> VenueEvent:
        """Reconciliation's next event for ``mine``, numbered and stamped with ``clock``."""
        return _event(mine, kind, f"{self.seq_at_start}.{self.events_sent}", self.clock(), **kw)

    def venue_end(self, mine: VenueOrder, theirs: VenueOrder, ending: str) -> VenueEvent:
        """``mine``'s end as the venue says, with its filled size."""
        return self.event(
            mine, ending, venue_order_id=_venue_id(mine, theirs), filled_size=theirs.filled_size
        )

    def end_purged(self, mine: VenueOrder, item: dict[str, Any], in_doubt: bool = False) -> None:
        """Ends ``mine``, which reached the venue (acknowledged or filled) and which the venue no
        longer has: over there, not a lost submit (ended as one, a REJECT, a fill it made beyond
        what is booked would go unsaid). Its figure is the kernel's "cannot say", as an
        adapter's, so the rest of a fill reported late is still booked. Raises ``_Refused``."""
        cancel_asked = mine.cancel_requested
        reason = _gone_reason(mine, "ended here")
        kind = "CANCEL_ACK" if cancel_asked else "EXPIRED"
        # The kernel takes a reconciliation-sourced end of an order in doubt for the venue's
        # order status (its figure at least what is booked, no late fill beyond it). This end
        # has no figure, so it is sourced as the venue's own end is, which leaves late fills open.
        source = {"metadata": {"source": "purged_at_venue"}} if in_doubt else {}
        self.apply(self.event(mine, kind, reason=reason, **source))
        self.report.purged_at_venue.append(
            {
                **item,
                "venue_order_id": mine.venue_order_id,
                "booked_filled_size": mine.filled_size,
                "ended_as": "CANCELED" if cancel_asked else "EXPIRED",
                "reason": reason,
            }
        )

    def apply(self, ev: VenueEvent) -> None:
        """Feeds one of reconciliation's events to the kernel. Raises ``_Refused`` when the kernel
        does not apply it."""
        self.events_sent += 1
        out = self.kernel.on_venue_event(ev)
        if not out.applied:
            raise _Refused(ev.event_id, out.diagnostic_code, dict(out.details))
        self.report.events_applied += 1
        if self.on_applied is not None and out.accepted:
            self.on_applied(ev, out)

    def book_venue_fill(self, ev: VenueEvent, item: dict[str, Any], **noted: Any) -> float:
        """Feeds the venue's own fill ``ev`` to the kernel and reports in ``missed_fills`` what
        the kernel booked of it (``noted`` added), which it returns; 0.0 for one it knows
        already. Raises ``_Refused`` on any other refusal."""
        out = self.kernel.on_venue_event(ev)
        if out.accepted:
            self.report.events_applied += 1
            # What the kernel booked of it: a fill whose running total the kernel counts in part
            # (booked under another trade id, or by the stream) books only the rest.
            booked = booked_events(out, [ev])[0].size
            self.report.missed_fills.append({**item, "qty": booked, "price": ev.price, **noted})
            if self.on_applied is not None:
                self.on_applied(ev, out)
            return booked
        if out.diagnostic_code != KernelDiagnosticCode.DUPLICATE_EVENT:
            raise _Refused(ev.event_id, out.diagnostic_code, dict(out.details))
        return 0.0

    def take_venue_fill(self, ev: VenueEvent, item: dict[str, Any]) -> None:
        """The venue's own fill (one its cancel's answer reports): booked when the kernel takes
        it (``book_venue_fill``); one it knows already (booked from the venue's listing first)
        changes nothing, and any other refusal is reported."""
        try:
            self.book_venue_fill(ev, item)
        except _Refused as refused:
            self.report.unresolved.append(refused.unresolved(item))

    def seen_event_ids(self, method: Callable[..., Any], mine: VenueOrder) -> dict[str, Any]:
        """The event ids the kernel applied in ``mine``'s slot, read now, as the keyword argument
        of the venue's ``method`` (``watch``, ``trade_fills``) where it takes them: the trades the
        kernel booked are then known to the venue by id, not taken to be the oldest."""
        return seen_ids_keyword(method, self.kernel.slot_state(mine.slot_id).seen_event_ids)

    def claim(self, theirs: VenueOrder) -> None:
        """Takes a listed entry for one of the kernel's orders: not an order nobody manages."""
        self.taken.add(id(theirs))
        # A malformed id is not taken (nor raised on): ``_missed_fill`` names it.
        venue_order_id = getattr(theirs, "venue_order_id", None)
        if isinstance(venue_order_id, str):
            self.owned_venue_ids.add(venue_order_id)

    def ask_venue(self, mine: VenueOrder) -> tuple[VenueOrder | None, str]:
        """The venue's order for ``mine`` (its open orders first, then ``order_status`` asked
        in ``mine``'s market), or why it cannot say."""
        coid = mine.client_order_id
        self.asked.add(coid)
        entries = self.venue_open.get(coid, [])
        theirs = _one_of(mine, self.venue, entries)
        if theirs is None and len(entries) == 1:
            # The venue says the lone one is another order (``is_other_order``): another's.
            self.others.add(id(entries[0]))
        if theirs is None and len(entries) > 1:
            # Several listed under its client id, none with its venue id: listed under that id
            # alone, or which is the kernel's cannot be told (asked by client id, the venue would
            # answer about either). Left as it is, named; none of them is canceled.
            theirs = _listed(mine, self.venue, {}, self.by_venue_id)
            if theirs is None:
                return None, _untold(mine, entries)
        if len(entries) > 1:
            self.told_apart.add(coid)
        if theirs is not None:
            self.claim(theirs)
            return theirs, ""
        return self._look_up(mine)

    def _look_up(self, mine: VenueOrder) -> tuple[VenueOrder | None, str]:
        """``mine`` asked of the venue by ``order_status``, as it is not in its open orders."""
        if self.lookup is None:
            return None, "venue cannot look up orders by client id"
        # Followed before it is asked about: a venue without a record of an order sent before a
        # restart (IBKR) answers only about one it follows, and reports its fills from then on.
        self.follow(mine)
        try:
            theirs = self.lookup(mine.client_order_id, mine.asset)
            if theirs is None and mine.venue_order_id:
                # No such order by its client id, yet listed under the venue id the kernel holds
                # (in its form or the venue's) without it, as some exchanges list orders: taken
                # for purged, it would be ended though it works, canceled as an order nobody
                # manages, and the fills its listing counted never booked.
                theirs = _listed(mine, self.venue, {}, self.by_venue_id)
            if theirs is not None:
                self.claim(theirs)
                self.looked_up[mine.client_order_id] = (mine, theirs)
            return theirs, ""
        except Exception as exc:
            # Not "no such order": the venue could not be asked (unreachable, throttled), and
            # the order may be working there, so it stays as it is.
            return None, f"the venue could not look the order up: {type(exc).__name__}: {exc}"

    def follow_booked_lookups(self) -> None:
        """Tells the venue, as booked, each order looked up in this run that the kernel no
        longer works: followed before its lookup, then ended here (its rest booked from the
        venue's answer), the venue would report its trades again at its next poll."""
        if not callable(self.watch):
            return
        # A fill the kernel refused is not booked, and the venue is not told it was.
        left = {item.get("client_order_id") for item in self.report.unresolved}
        for coid, (mine, theirs) in self.looked_up.items():
            if coid not in left and not _still_working(self.kernel, mine.slot_id, coid):
                self.follow(_as_booked(self.kernel, mine, theirs, True))

    def follow(self, mine: VenueOrder) -> None:
        """Tells the venue to follow ``mine`` as the kernel holds it (``watch``), once per change
        of what it books; a venue that cannot is reported in ``unwatched``, once."""
        if not callable(self.watch) or mine.client_order_id in self.unwatchable:
            return
        said = (mine.filled_size, mine.venue_order_id)
        if self.told_venue.get(mine.client_order_id) == said:
            return
        try:
            self.watch(mine, **self.seen_event_ids(self.watch, mine))
            self.told_venue[mine.client_order_id] = said
        except Exception as exc:
            self.unwatchable.add(mine.client_order_id)
            reason = f"the venue cannot follow it: {type(exc).__name__}: {exc}"
            self.report.unwatched.append({**_item(mine), "reason": reason})
