"""Orders the kernel ended short of their size without the venue saying what they filled (a cancel
ack without the figure): a fill that raced the end, its report lost with the process, shows
nowhere but in the positions, so the venue is asked about them at a full reconciliation."""

from __future__ import annotations

from typing import Any

from dita._kernel import VenueOrder
from dita.reconcile.answers import QTY_EPS, _counts_short, _ending, _filled_short, _Malformed, _missed_fill
from dita.reconcile.cancels import _Cancelling, _highest_filled
from dita.reconcile.events import _item, _Refused
from dita.reconcile.kernel_orders import _held_now
from dita.reconcile.listing import _listed


class _EndedOrders(_Cancelling):
    """A run's pass over the orders ended without the venue's figure
    (``kernel.orders_ended_without_figure()``)."""

    def ask_about_ended_orders(self, ended_lookups: int) -> None:
        """Those the venue lists are known without a request, each of them (one beyond the bound,
        left out, would be canceled as an order nobody manages, its fills never booked); the
        others are looked up, the newest first, up to ``ended_lookups``. A venue that cannot look
        orders up tells only of those it still lists."""
        unfigured = sorted(
            self.kernel.orders_ended_without_figure(), key=lambda o: o.created_at, reverse=True
        )
        unfigured = [o for o in unfigured if o.client_order_id not in self.asked]
        # Listed under the kernel's client id, the id it went out under (hashed where the exchange
        # refuses the kernel's: every order on OKX and Gate, listed so after a restart), or its venue
        # id: read as listed under the kernel's id alone, such an order beyond the bound would still
        # be canceled as one nobody manages, its fills never booked.
        listed_of = {
            o.client_order_id: _listed(o, self.venue, self.venue_open, self.by_venue_id) for o in unfigured
        }
        unlisted = [o for o in unfigured if listed_of[o.client_order_id] is None]
        self.report.ended_not_asked = max(len(unlisted) - ended_lookups, 0)
        listed_ended = [o for o in unfigured if listed_of[o.client_order_id] is not None]
        for mine in [*listed_ended, *unlisted[:ended_lookups]]:
            self._ask_about_ended(mine, listed_of[mine.client_order_id])

    def _ask_about_ended(self, mine: VenueOrder, on_list: Any) -> None:
        """The venue's word on one ended order: its listing (``on_list``) or its lookup."""
        if self.lookup is None and on_list is None:
            return
        item = {**_item(mine), "ended_as": mine.status.name}
        if on_list is not None:
            self.asked.add(mine.client_order_id)
            self.claim(on_list)
            theirs, cannot_say = on_list, ""
        else:
            seq = self.kernel.seq
            theirs, cannot_say = self.ask_venue(mine)
            mine = _held_now(self.kernel, mine, seq)
        if cannot_say:
            # Not asked after all: the kernel ended the order, and what a raced fill moved
            # shows in the positions, compared later (a router whose venue forgot the order
            # says so at every reconciliation, which is not a difference).
            self.report.ended_not_asked += 1
            return
        if theirs is None:
            return  # the venue no longer knows it: nothing more to learn
        try:
            self._settle_ended(mine, theirs, item)
        except (_Refused, _Malformed) as left:
            self.report.unresolved.append(left.unresolved(item))

    def _settle_ended(self, mine: VenueOrder, theirs: VenueOrder, item: dict[str, Any]) -> None:
        """Books what the venue filled beyond what is booked, ending the order with the venue's
        figure; one the venue still works is canceled. Raises ``_Refused`` or ``_Malformed``."""
        fill = self._missed_fill_or_disown(mine, theirs)
        ending = _ending(theirs)
        if ending is None:
            canceled, why_not, fills = self.cancel_working(
                mine, theirs, fill, item, "its cancel was acknowledged while it worked on"
            )
            if canceled is not None and why_not:  # FILLED before the cancel reached it
                self.report.ended_at_venue.append({**item, "status": "FILLED"})
            elif canceled is not None:
                self.report.ended_at_venue.append({**item, "status": "CANCELED", "canceled": True})
            elif _highest_filled(theirs, fills) + QTY_EPS < mine.size:
                self.report.unresolved.append({**item, "reason": why_not})
            return
        if _counts_short(mine, theirs):
            # Over, yet counted short (as a working order can be, ``_end_as_listed``): what it
            # counts is booked, and no figure is taken for the end, which would refuse the rest.
            self.book_missed(mine, theirs, fill, item)
            reason = _filled_short(mine, theirs, "the kernel ended it")
            self.report.unresolved.append({**item, "reason": reason})
            return
        # The venue's figure first, where it states one the kernel can hold (above 0, not
        # below what is booked): late reports up to it are then known, without running
        # totals too, and the order is not asked about again. Then what it filled beyond.
        if theirs.filled_size > QTY_EPS and theirs.filled_size + QTY_EPS >= mine.filled_size:
            self.apply(self.venue_end(mine, theirs, ending))
        self.book_missed(mine, theirs, fill, item)

    def _missed_fill_or_disown(self, mine: VenueOrder, theirs: VenueOrder) -> tuple[float, float] | None:
        """``_missed_fill``; a malformed answer's order is not the kernel's to manage after all:
        listed open, it is canceled as an order nobody manages, as if this pass had not asked
        about it."""
        try:
            return _missed_fill(mine, theirs, self.venue)
        except _Malformed:
            # An id that is no text (a raw answer's list) is never taken, and dropping it
            # would raise a TypeError (unhashable), after the events before it are applied.
            venue_order_id = getattr(theirs, "venue_order_id", None)
            if isinstance(venue_order_id, str):
                self.owned_venue_ids.discard(venue_order_id)
            raise
