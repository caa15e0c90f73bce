"""Orders that ended with the venue counting more filled than it sent: their slots wait for those
fills. The venue's order status books what it filled and settles the wait. Among them, orders
rate limited before the venue acknowledged them, with a cancel asked (in doubt): the venue may
work them (the throttled request was the cancel) or never have had them."""

from __future__ import annotations

from typing import Any

from dita._kernel import VenueOrder
from dita.reconcile.answers import (
    QTY_EPS,
    _ending,
    _gone_reason,
    _Malformed,
    _missed_fill,
    _taken_by_venue,
    _works,
)
from dita.reconcile.cancels import _Cancelling, _highest_filled
from dita.reconcile.events import _item, _Refused


class _AwaitedOrders(_Cancelling):
    """A run's pass over the orders whose slots wait for fills (``kernel.awaited_orders()``)."""

    def settle_awaited_orders(self, only_in_doubt: bool) -> list[VenueOrder]:
        """Settles the awaited orders (only those in doubt when ``only_in_doubt``). Returns the
        awaited orders as they were before (the kernel's own, not orders nobody manages)."""
        in_doubt = {o.client_order_id for o in self.kernel.orders_in_doubt()}
        awaited = self.kernel.awaited_orders()
        settling = [o for o in awaited if not only_in_doubt or o.client_order_id in in_doubt]
        for mine in settling:
            if mine.client_order_id in in_doubt and not mine.venue_order_id:
                # Followed before it is asked about, as a working order is (``_settle_working``): the
                # throttled request may have been the cancel of a submit that timed out, and at the
                # first "no such order" one sent a moment before the restart would be ended, its late
                # fill lost.
                self.follow(mine)
        for mine, theirs, cannot_say in self._ask_about(settling):
            self._settle_awaited(mine, theirs, cannot_say, in_doubt)
        return awaited

    def _ask_about(self, settling: list[VenueOrder]) -> list[tuple[VenueOrder, VenueOrder | None, str]]:
        """Each order with the venue's answer about it (or why it cannot say), those the venue
        no longer works first."""
        seq = self.kernel.seq
        told_of = [(mine, *self.ask_venue(mine)) for mine in settling]
        if self.kernel.seq != seq:
            # As the kernel holds them once the venue answered (as a working order is): a fill the
            # venue's stream reported meanwhile (another thread) would otherwise count in the
            # missed fill, which the kernel would then take in part, at the whole order's average
            # price.
            now = {o.client_order_id: o for o in self.kernel.awaited_orders()}
            told_of = [(now.get(m.client_order_id, m), theirs, why) for m, theirs, why in told_of]
        # Those the venue no longer works first: settled, an order no longer counts in its slot's
        # wait, which is then, for the slot's other order the venue still works, that order's own
        # (``told`` in ``_cancel_awaited``; taken first as the slot's, both orders' when both
        # wait, the venue's figure for the one it works would be refused as below one it never
        # stated).
        told_of.sort(key=lambda asked_about: _works(asked_about[1]))
        return told_of

    def _settle_awaited(
        self, mine: VenueOrder, theirs: VenueOrder | None, cannot_say: str, in_doubt: set[str]
    ) -> None:
        coid = mine.client_order_id
        item = _item(mine)
        gone = theirs is None and not cannot_say
        if gone and coid in in_doubt and not _taken_by_venue(mine):
            self._reject_throttled_submit(mine, item)
            return
        if gone and coid in in_doubt:
            # The venue took it (a venue id, a fill) and no longer has it, and nothing more comes
            # of asking: ended as the working pass ends one (its figure unknown), its slot is
            # free and the rest of a fill reported late is still booked.
            try:
                self.end_purged(mine, item, in_doubt=True)
            except _Refused as refused:
                self.report.unresolved.append(refused.unresolved(item))
            return
        if theirs is None:
            # An ended order the venue took and no longer has: the fills its end stated may still
            # come on the stream, so its slot waits on for them.
            if gone and _taken_by_venue(mine):
                reason = _gone_reason(mine, "its slot waits on for fills")
            else:
                why = cannot_say or "the venue has no such order"
                reason = f"the slot waits for fills of this ended order; {why}"
            self.report.unresolved.append({**item, "reason": reason})
            return
        try:
            fill = _missed_fill(mine, theirs, self.venue)
        except _Malformed as malformed:
            self.report.unresolved.append(malformed.unresolved(item))
            return
        ending = _ending(theirs)
        if ending is None:
            self._cancel_awaited(mine, theirs, fill, item, coid in in_doubt)
            return
        try:
            # The venue's figure first (it may be above the end's), then what it filled.
            self.apply(self.venue_end(mine, theirs, ending))
            self.book_missed(mine, theirs, fill, item)
        except (_Refused, _Malformed) as refused:
            self.report.unresolved.append(refused.unresolved(item))
            return
        self.report.awaited_settled.append({**item, "venue_filled_size": theirs.filled_size})

    def _reject_throttled_submit(self, mine: VenueOrder, item: dict[str, Any]) -> None:
        """The venue never took it (no venue id, nothing filled: ``_taken_by_venue``), so the
        throttled request was its submit. It ends unfilled."""
        try:
            self.apply(self.event(mine, "REJECT", reason="not at the venue: its submit was throttled"))
        except _Refused as refused:
            self.report.unresolved.append(refused.unresolved(item))
            return
        self.report.awaited_settled.append({**item, "venue_filled_size": 0.0})

    def _cancel_awaited(
        self,
        mine: VenueOrder,
        theirs: VenueOrder,
        fill: tuple[float, float] | None,
        item: dict[str, Any],
        doubted: bool,
    ) -> None:
        """It works at the venue: the throttled request was its cancel (``doubted``), or the kernel
        was told it ended (a cancel acknowledged while it worked on). Left working, it could fill
        past the figure its slot waits for, a fill the kernel refuses as an overfill: what it
        filled as listed is booked, and it is canceled."""
        coid = mine.client_order_id
        how = "its cancel was throttled" if doubted else "its cancel was acknowledged while it worked on"
        # What the venue stated when the order ended: booked plus awaited (the slot's, which
        # counts both of its orders' when both still wait, both worked at the venue or one
        # unresolved: then higher, and nothing is lowered).
        told = 0.0 if doubted else mine.filled_size + self.kernel.slot_dict(mine.slot_id)["awaited_fill_qty"]
        # One the kernel ended with a figure is booked once the venue says it is canceled: booked
        # first, its listed fill would settle the slot's wait, and were the cancel not confirmed,
        # the order, awaited no more, would be taken for one nobody manages at the next
        # reconciliation and its later fills never booked. Awaited, it is asked about again.
        # (One in doubt stays in doubt once booked.)
        try:
            canceled, why_not, fills = self.cancel_working(
                mine, theirs, fill, item, how, told, book_first=doubted
            )
        except (_Refused, _Malformed) as refused:
            self.report.unresolved.append(refused.unresolved(item))
            return
        if canceled is not None:
            # Ended with the venue's figure: canceled, or FILLED before the cancel reached it.
            settled = {**item, "venue_filled_size": canceled}
            self.report.awaited_settled.append(settled if why_not else {**settled, "canceled": True})
            return
        if doubted:
            still = coid in {o.client_order_id for o in self.kernel.orders_in_doubt()}
        else:
            # Settled only once the kernel awaits it no more: the venue's word alone books nothing.
            awaited = {o.client_order_id for o in self.kernel.awaited_orders()}
            still = _highest_filled(theirs, fills) + QTY_EPS < mine.size or coid in awaited
        if still:
            if not doubted and fill is not None:
                why_not += "; what the venue lists filled is booked once it says the order is canceled"
            self.report.unresolved.append({**item, "reason": why_not})
        else:  # the fills the answer reported completed it: it is over
            done = _highest_filled(theirs, fills)
            self.report.awaited_settled.append({**item, "venue_filled_size": done})
