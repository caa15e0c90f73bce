"""Cancels at the venue: reading the venue's answer to a cancel, and cancelling an order the kernel
ended while the venue works it."""

from __future__ import annotations

from typing import Any

from dita._kernel import VenueEvent, VenueOrder, VenueOrderStatus
from dita.reconcile.answers import QTY_EPS, _check_answer, _counts_short, _ending, _finite, _Malformed
from dita.reconcile.booking import _Booking
from dita.reconcile.events import _Refused, _venue_id
from dita.reconcile.kernel_orders import _as_booked

# Why a cancel answered without a CANCEL_ACK or EXPIRED (nor a refusal) does not show the order
# canceled: sent, and the venue may carry it out later.
CANCEL_UNCONFIRMED = "the cancel was sent, not confirmed: the venue has not said it is canceled yet"


def _cancel_refused(answer: Any) -> str:
    """Why a venue's answer to a cancel does not show the order canceled (a CANCEL_REJECT, a
    REJECT or a rate limit, or no answer yet: no CANCEL_ACK or EXPIRED in it); "" when it
    does. An answer that raised part-way or holds an item that is not an event says nothing for
    certain, so the order may still work: that is the reason."""
    try:
        events = list(answer or ())
    except Exception as exc:
        return f"the venue's answer to the cancel broke off: {type(exc).__name__}: {exc}"
    for event in events:
        if not isinstance(event, VenueEvent):
            return f"the venue's answer to the cancel is malformed: it holds {event!r}, not a VenueEvent"
    kinds = {ev.kind.name: ev for ev in events}
    if "CANCEL_ACK" in kinds or "EXPIRED" in kinds:
        return ""
    for kind in ("CANCEL_REJECT", "REJECT", "RATE_LIMITED"):
        if kind in kinds:
            why = kinds[kind].reason
            return f"the venue answered the cancel with {kind}" + (f": {why}" if why else "")
    # Nothing said yet (IBKR's cancel when TWS does not answer within ``answer_wait_s``): the
    # order may work on, and may fill.
    return CANCEL_UNCONFIRMED


def _stated_filled(answer: list[VenueEvent]) -> float | None:
    """The highest filled size a cancel's answer states (its end's, its fills' running totals),
    or None when it states none: a figure of 0 is the adapters' "cannot say" (HTX's cancel
    through ccxt)."""
    kinds = ("CANCEL_ACK", "EXPIRED", "FILL")
    stated = [ev.filled_size for ev in answer if ev.kind.name in kinds and _finite(ev.filled_size)]
    return max((f for f in stated if f > QTY_EPS), default=None)


def _highest_filled(theirs: VenueOrder, events: list[VenueEvent]) -> float:
    """The highest filled size the venue states of an order: its listing's, or one of
    ``events`` (a cancel's answer, which may be newer), those that are numbers."""
    figures = [theirs.filled_size, *(ev.filled_size for ev in events)]
    return max(f for f in figures if _finite(f))


def _below_told(canceled: float, told: float) -> str:
    """Why an order canceled at the venue with a figure below the one it stated when the order
    ended is not ended with it."""
    return (
        f"the order was canceled at the venue, which now counts {canceled!r} filled, below the "
        f"{told!r} it stated when the order ended; nothing is lowered: the slot waits on for "
        "the rest (reconcile again)"
    )


class _Cancelling(_Booking):
    """A run's cancels of orders the kernel ended that the venue still works."""

    def cancel_working(
        self,
        mine: VenueOrder,
        theirs: VenueOrder,
        fill: tuple[float, float] | None,
        item: dict[str, Any],
        how: str,
        told: float = 0.0,
        book_first: bool = True,
    ) -> tuple[float | None, str, list[VenueEvent]]:
        """An order the kernel ended that the venue works (``how`` it came to): what it filled
        as listed is booked first (a kept order takes its late fills, whether or not the cancel
        goes through) and the venue told the order as booked (``watch``); then it is canceled,
        ended (CANCEL_ACK) with what the venue says it filled, and the fills the cancel's answer
        reports are booked (those too when the cancel is not confirmed, but for one not
        ``book_first``). The figure, or None and why the order may still work; and the answer's
        fills. A figure with a reason: the cancel did not go through, but the venue shows the
        order FILLED (``_filled_at_venue``), and it is ended with that figure all the same.
        Raises ``_Refused`` (or ``_Malformed``): a listed fill the kernel refuses is raised once
        the order is canceled all the same (left working, it could fill beside what its slot does
        next, an exit selling the position twice), saying so. ``told``: the filled size the venue
        stated when the order ended for the kernel; a figure below it now (a stale listing, a
        cancel's answer without one) is not taken, since it would settle the slot's wait for fills
        the venue reported as none.
        Not ``book_first``: what it filled as listed is booked once the venue says it is
        canceled (or FILLED), after its end, and neither it nor the answer's fills while the
        cancel is not confirmed."""
        refused: _Refused | _Malformed | None = None
        if book_first:
            try:
                self.book_missed(mine, theirs, fill, item)
            except (_Refused, _Malformed) as exc:
                refused = exc
        # The venue is told the order as booked here, before its cancel: a restarted adapter
        # without a record of it (or with one from before that fill) would report the fills
        # booked above again in the cancel's answer, refused as duplicates, and name the
        # listing's slot 0 and no trade, so a fill that raced the cancel on another slot would
        # be refused. Read only for a venue that follows orders: each read lists every slot's
        # awaited and ended orders, and done for each order it grows with the square of the slots.
        # A listed fill not booked yet is not told: a venue told it booked (IBKR) does not report
        # it again, and were the cancel not confirmed, nothing would book it while the process runs.
        if callable(self.watch) and mine.client_order_id not in self.unwatchable:
            self.follow(_as_booked(self.kernel, mine, theirs, book_first and refused is None))
        canceled, why_not, fills = self._cancel_at_venue(mine, theirs, how)
        if refused is None and canceled is not None and canceled + QTY_EPS >= told:
            self._end_canceled(mine, theirs, canceled, fills, item, None if book_first else fill)
            if not book_first and callable(self.watch) and mine.client_order_id not in self.unwatchable:
                # Booked now: told, so the venue does not report it again.
                self.follow(_as_booked(self.kernel, mine, theirs, True))
            return canceled, why_not, fills
        if book_first or canceled is not None:
            # Not for an awaited order whose cancel is not confirmed: a fill would settle its
            # slot's wait while the venue may work it on, its next fill refused as an overfill.
            # Awaited, it is asked about again, and the venue's figure books these then.
            for venue_fill in fills:
                self.take_venue_fill(venue_fill, item)
        if refused is not None:
            then = why_not or "the order was canceled at the venue"
            refused.then = f"{refused.then}; {then}" if refused.then else then
            raise refused
        if canceled is not None and not why_not:
            return None, _below_told(canceled, told), fills
        return None, why_not, fills

    def _cancel_at_venue(
        self, mine: VenueOrder, theirs: VenueOrder, how: str
    ) -> tuple[float | None, str, list[VenueEvent]]:
        """Cancels at the venue an order the kernel ended while it works there (``how`` it came
        to: its cancel throttled before the ack, say): the filled size the venue states once it
        is canceled, or None and why the order may still work (the cancel raised or was refused,
        or the venue did not say it is canceled) or its figure is not known; and the fills the
        cancel's answer reports (a venue reports there what filled since it last said, and not
        again). A cancel that did not go through because the order filled first gives its
        figure (``_filled_at_venue``) with the reason."""
        prefix = f"the order works at the venue, though the kernel ended it ({how})"
        try:
            answer = list(self.venue.cancel(theirs) or ())
        except Exception as exc:
            return None, f"{prefix}; its cancel failed: {type(exc).__name__}: {exc}", []
        why_not = _cancel_refused(answer)
        # The fills come with a refusal too (the order filled before the cancel reached it), but
        # only from an answer whose every item is an event (else nothing in it is certain).
        certain = all(isinstance(ev, VenueEvent) for ev in answer)
        fills = [ev for ev in answer if ev.kind.name == "FILL"] if certain else []
        if why_not:
            return self._filled_at_venue(mine, theirs, answer, fills), f"{prefix}; {why_not}", fills
        ends = [ev for ev in answer if ev.kind.name in ("CANCEL_ACK", "EXPIRED")]
        if _stated_filled(answer) is not None:
            return _highest_filled(theirs, [*ends, *fills]), "", fills
        # The answer states no figure. The listing's was read before the cancel: ended with it,
        # the order would refuse a fill that raced the cancel (reported later on the stream) as
        # an overfill, and never be asked about again. Over now, its figure is final: asked again.
        final, cannot_say = self._final_filled(mine, theirs)
        if final is None:
            return None, f"{prefix}; it was canceled there, and {cannot_say}", fills
        return final, "", fills

    def _filled_at_venue(
        self, mine: VenueOrder, theirs: VenueOrder, answer: list[Any], fills: list[VenueEvent]
    ) -> float | None:
        """The figure of an order whose cancel did not go through because it filled first: the
        answer's fills count it full, or, the cancel refused, its ``order_status`` says FILLED (not
        short). None while the venue does not show it over: it may work on. Left as it was, the
        kernel's figure from its end would refuse the fills that completed it as an overfill."""
        stated = _highest_filled(theirs, fills)
        if stated + QTY_EPS >= mine.size:
            return stated
        refused = any(
            isinstance(ev, VenueEvent) and ev.kind.name in ("CANCEL_REJECT", "REJECT") for ev in answer
        )
        if self.lookup is None or not refused:
            return None
        try:
            final = self.lookup(mine.client_order_id, mine.asset)
            if final is None:
                return None
            _check_answer(final, mine, self.venue)
        except Exception:  # _Malformed too: cannot say, so the next reconciliation asks again
            return None
        if final.status != VenueOrderStatus.FILLED or _counts_short(mine, final):
            return None
        return max(final.filled_size, stated)

    def _final_filled(self, mine: VenueOrder, theirs: VenueOrder) -> tuple[float | None, str]:
        """What the venue's ``order_status`` says an order it canceled filled in all (never
        below its listing's ``theirs``; the listing's where the venue has no ``order_status``),
        or None and why it cannot say (then nothing is ended: the order is asked about again
        at the next reconciliation)."""
        unknown = "what it filled in all is unknown (a fill may have raced the cancel): reconcile again"
        if self.lookup is None:
            # The listing's is the only figure such a venue has, and no later reconciliation has
            # a better one (the order, canceled, is no longer listed): a fill that raced the
            # cancel is refused as an overfill when the stream reports it.
            return theirs.filled_size, ""
        try:
            final = self.lookup(mine.client_order_id, mine.asset)
        except Exception as exc:
            return None, f"its lookup failed ({type(exc).__name__}: {exc}), so {unknown}"
        if final is None:
            return None, f"the venue then had no record of it, so {unknown}"
        try:
            _check_answer(final, mine, self.venue)
        except _Malformed as malformed:
            return None, f"its lookup is malformed ({malformed}), so {unknown}"
        if _ending(final) is None:
            return None, f"its lookup still shows it {final.status.name}, so {unknown}"
        return max(final.filled_size, theirs.filled_size), ""

    def _end_canceled(
        self,
        mine: VenueOrder,
        theirs: VenueOrder,
        canceled: float,
        fills: list[VenueEvent],
        item: dict[str, Any],
        listed: tuple[float, float] | None = None,
    ) -> None:
        """Ends ``mine`` (CANCEL_ACK) with the figure the venue's cancel states, books the
        ``listed`` fill (what its listing counts beyond what was booked, when not booked before),
        then takes the fills its answer reports. Raises ``_Malformed`` for a rest of the listed
        fill without a price only when the answer's fills leave it unbooked."""
        # The end with the cancel's figure before the fills its answer reports: a fill that
        # raced the cancel runs beyond the figure the order ended with, and taken first it
        # would be refused as an overfill, then awaited for good (the venue reports it once).
        # What the figure counts beyond what is booked is awaited until those fills come.
        listed_booked = False
        unpriced: _Malformed | None = None
        try:
            self.apply(
                self.event(mine, "CANCEL_ACK", venue_order_id=_venue_id(mine, theirs), filled_size=canceled)
            )
            try:
                self.book_missed(mine, theirs, listed, item)
                listed_booked = listed is not None
            except _Malformed as malformed:
                # A rest without a price: the answer may report it under its own trade id, priced,
                # so it is named only if still unbooked once the answer's fills are taken.
                unpriced = malformed
            except _Refused as refused:
                then = "the order was ended with the venue's figure"
                refused.then = f"{refused.then}; {then}" if refused.then else then
                raise
        finally:
            for venue_fill in fills:
                # Not told of the listed fill before the cancel (it might not be booked), the
                # venue reports it again in the answer: a fill whose running total the listing
                # counts is that one, booked just now, and fed it would be refused as a duplicate.
                if listed_booked and 0.0 < venue_fill.filled_size <= theirs.filled_size + QTY_EPS:
                    continue
                self.take_venue_fill(venue_fill, item)
        # Named while the kernel awaits any of the figure the order ended with: a fill that raced
        # the cancel, beyond the listing, books by its running total what the rest left unbooked,
        # so the booked total cannot tell that the rest is booked.
        if unpriced is not None and self.still_awaited(mine):
            then = "the order was ended with the venue's figure"
            unpriced.then = f"{unpriced.then}; {then}" if unpriced.then else then
            raise unpriced

    def still_awaited(self, mine: VenueOrder) -> bool:
        """Whether the kernel still awaits fills of ``mine`` (``awaited_orders()``): part of the
        figure it ended with is unbooked."""
        coid = mine.client_order_id
        return any(o.client_order_id == coid for o in self.kernel.awaited_orders())
