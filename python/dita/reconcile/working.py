"""The kernel's working orders compared with the venue's: acknowledged, filled or ended there
while the kernel did not hear, purged there, or never received (a lost submit)."""

from __future__ import annotations

from typing import Any

from dita._kernel import TradeStage, VenueOrder, VenueOrderStatus
from dita.reconcile.answers import (
    _counts_short,
    _ending,
    _filled_short,
    _Malformed,
    _missed_fill,
    _taken_by_venue,
)
from dita.reconcile.cancels import _Cancelling
from dita.reconcile.events import _item, _Refused
from dita.reconcile.kernel_orders import _held_now, _still_working, _working_order


class _WorkingOrders(_Cancelling):
    """A run's pass over the kernel's working orders."""

    def settle_working_orders(self) -> None:
        """Each order the kernel works, as the venue has it."""
        for mine in self.kernel.open_orders():
            self._settle_working(mine)

    def _settle_working(self, mine: VenueOrder) -> None:
        coid = mine.client_order_id
        # Followed before it is asked about: the venue then gives an order sent a moment before
        # the restart the grace from its send (an exchange shows a just-placed order late),
        # saying it cannot say yet, not "no such order", which would end it (a submit in doubt
        # as lost, an acknowledged order as purged) before it shows and fills.
        self.follow(mine)
        seq = self.kernel.seq
        theirs, cannot_say = self.ask_venue(mine)
        item = _item(mine)
        if cannot_say:
            self.report.unresolved.append({**item, "reason": cannot_say})
            return
        # As the kernel holds it once the venue answered: a fill the venue's stream reported
        # meanwhile (another thread) would otherwise count in the missed fill, which the kernel
        # would then take in part, at the whole order's average price. Also once the stream ended
        # it (a cancel ack): read as it was, the rest would be booked at the whole order's
        # average all the same.
        mine = _working_order(self.kernel, mine.slot_id, coid) or _held_now(self.kernel, mine, seq)
        # A refusal stops this order's events where it came (the rest would build on it) and
        # touches no other slot, so the other orders are still reconciled. A malformed answer
        # is found before the first event, so it changes nothing for its order.
        try:
            if theirs is None and _taken_by_venue(mine):
                self.end_purged(mine, item)
            elif theirs is None:
                # The venue never received it: the submit was lost, so it ends here.
                self.apply(self.event(mine, "REJECT", reason="not at the venue after restart (submit lost)"))
                self.report.lost_submits.append(item)
            else:
                self._settle_listed(mine, theirs, item)
        except (_Refused, _Malformed) as left:
            self.report.unresolved.append(left.unresolved(item))

    def _settle_listed(self, mine: VenueOrder, theirs: VenueOrder, item: dict[str, Any]) -> None:
        """The venue has the order: its ack and what it filled are booked, then its end."""
        fill = _missed_fill(mine, theirs, self.venue)
        stage = self.kernel.slot_state(mine.slot_id).fsm_state
        if stage in (TradeStage.ORDER_SENT, TradeStage.EXIT_SENT):
            self.apply(self.event(mine, "ORDER_ACK", venue_order_id=theirs.venue_order_id))
            self.report.acknowledged.append({**item, "venue_order_id": theirs.venue_order_id})
        self.book_missed(mine, theirs, fill, item)
        self._end_as_listed(mine, theirs, item)

    def _end_as_listed(self, mine: VenueOrder, theirs: VenueOrder, item: dict[str, Any]) -> None:
        """Ends the order the venue says is over; names it where venue and kernel still differ."""
        coid = mine.client_order_id
        # FILLED ends with a CANCEL_ACK carrying its figure: an order the venue cut to its lot,
        # all of it booked, would otherwise work on in the kernel.
        ending = _ending(theirs)
        if _counts_short(mine, theirs) and _still_working(self.kernel, mine.slot_id, coid):
            # Over at the venue, yet counted short of the order (an exchange reporting a
            # closed order without its filled size): no end or fill is guessed, but the
            # report must not call kernel and venue in agreement.
            reason = _filled_short(mine, theirs, "the order works on in the kernel")
            self.report.unresolved.append({**item, "reason": reason})
        elif ending is not None and _still_working(self.kernel, mine.slot_id, coid):
            # With the venue's final filled size: a report of a fill booked just before, arriving
            # late from the venue's stream, is then known as one (the order is full).
            self.apply(self.venue_end(mine, theirs, ending))
            self.report.ended_at_venue.append({**item, "status": theirs.status.name})
        elif theirs.status != VenueOrderStatus.FILLED and getattr(
            _working_order(self.kernel, mine.slot_id, coid), "cancel_requested", False
        ):
            # The kernel asked to cancel (a strategy, the edge freeze) and the venue still
            # works the order: the cancel may be lost (timed out, or the process died after
            # asking), and the order may fill. Nothing is resent or guessed; it is named.
            reason = (
                f"a cancel was asked for, yet the venue says {theirs.status.name}: the cancel "
                "may be lost and the order may still fill; ask for the cancel again"
            )
            self.report.unresolved.append({**item, "reason": reason})
