"""Orders the venue holds that the kernel does not track (including its own ids lost with an
unsynced log tail): orders nobody manages, canceled or left; and others' orders, left alone."""

from __future__ import annotations

from typing import Any

from dita._kernel import VenueOrder
from dita.reconcile.cancels import CANCEL_UNCONFIRMED, _cancel_refused
from dita.reconcile.listing import _distinct, _issued_by
from dita.reconcile.run import _Run


def _unknown_item(theirs: Any, coid: Any, venue_order_id: Any) -> dict[str, Any]:
    """How the report names an order at the venue the kernel does not track (listed under
    ``coid`` and ``venue_order_id``), with what it filled: a position the kernel never booked,
    which shows in ``position_mismatches`` with no other word of where it came from."""
    # An adapter may give a plain "BUY", or leave a field out: read as an enum, that would
    # raise AttributeError here, after the events before it are applied, and lose their report.
    # Whether it buys or sells: a VenueOrder's order_side (its side is its trade's).
    side = getattr(theirs, "order_side", None) or getattr(theirs, "side", None)
    return {
        "client_order_id": coid,
        "venue_order_id": venue_order_id,
        "asset": getattr(theirs, "asset", None),
        "size": getattr(theirs, "size", None),
        "side": getattr(side, "name", side),
        "filled_size": getattr(theirs, "filled_size", None),
        "avg_fill_price": getattr(theirs, "avg_fill_price", None),
    }


class _UnknownOrders(_Run):
    """A run's pass over the venue's open orders that are none of the kernel's."""

    def follow_working_orders(self) -> list[VenueOrder]:
        """The orders the kernel still works once reconciled, each followed by the venue (again,
        for those followed before their lookup), so it counts what was booked of them here."""
        still_open = self.kernel.open_orders()
        for mine in still_open:
            self.follow(mine)
        return still_open

    def settle_unknown_orders(
        self,
        still_open: list[VenueOrder],
        awaited: list[VenueOrder],
        cancel_unknown: bool,
        cancel_foreign_orders: bool,
    ) -> None:
        """Cancels (``cancel_unknown``) or reports each listed order that is not one of
        ``still_open`` or ``awaited``: those under a client id this kernel issued, and others'
        too when ``cancel_foreign_orders``; others' are otherwise left alone."""
        known = {o.client_order_id for o in still_open} | {o.client_order_id for o in awaited}
        self._own_venue_ids(still_open)
        self._know_listed_client_ids(known, [*still_open, *awaited])
        issued = _issued_by(self.kernel.kernel_id)
        # Once each: an order listed twice would be canceled twice, and reported twice (both
        # canceled and failed where the venue refuses the second cancel).
        for theirs in _distinct(self.listed):
            coid = theirs.client_order_id
            venue_order_id = getattr(theirs, "venue_order_id", None)
            if self._is_kernels(theirs, coid, venue_order_id, known):
                continue
            item = _unknown_item(theirs, coid, venue_order_id)
            if not cancel_foreign_orders and (not issued(coid) or id(theirs) in self.others):
                self.report.foreign_orders_left.append(item)
            elif cancel_unknown:
                self._cancel_unknown(theirs, item)
            else:
                self.report.unknown_at_venue_left.append(item)

    def _own_venue_ids(self, still_open: list[VenueOrder]) -> None:
        self.owned_venue_ids.update(o.venue_order_id for o in still_open)
        # A venue may list an order under another form of its id than the one the kernel holds
        # (ccxt qualifies ids with the market; an older log may hold them bare): without
        # its form here, the kernel's own order would be taken for one nobody manages, and canceled.
        listed_as = getattr(self.venue, "listed_venue_order_id", None)
        if callable(listed_as):
            for mine in still_open:
                try:
                    self.owned_venue_ids.add(str(listed_as(mine)))
                except Exception:
                    continue  # matched by the kernel's own id above, as without this hook
        self.owned_venue_ids.discard("")

    def _know_listed_client_ids(self, known: set[str], orders: list[VenueOrder]) -> None:
        # Likewise its client id: one its exchange refuses goes out hashed, and an order never
        # acknowledged has no venue id to be known by (it would be canceled when its lookup fails).
        listed_client = getattr(self.venue, "listed_client_order_id", None)
        if callable(listed_client):
            for mine in orders:
                try:
                    known.add(str(listed_client(mine)))
                except Exception:
                    continue  # matched by the kernel's own ids, as without this hook
            known.discard("")

    def _is_kernels(self, theirs: Any, coid: Any, venue_order_id: Any, known: set[str]) -> bool:
        """Whether a listed order (``theirs``, under ``coid`` and ``venue_order_id``) is one of the
        kernel's, by client id or venue id."""
        # The kernel's ids are text: one that is not (a list, where an adapter kept a raw answer)
        # names no order of the kernel's, and checked as text it would raise a TypeError here,
        # after the events before it are applied, and lose their report.
        # One the venue says is another order under the kernel's client id (``is_other_order``) is
        # not the kernel's, whether or not the kernel's order of that id works on or awaits fills.
        if id(theirs) in self.others:
            return False
        # One of several under a client id of the kernel's, beside the one taken for the
        # kernel's order, is another order (an earlier life's, another venue's of a router).
        if (
            isinstance(coid, str)
            and coid in known
            and (coid not in self.told_apart or id(theirs) in self.taken)
        ):
            return True
        return isinstance(venue_order_id, str) and venue_order_id in self.owned_venue_ids

    def _cancel_unknown(self, theirs: Any, item: dict[str, Any]) -> None:
        try:
            answer = self.venue.cancel(theirs)
        except Exception as exc:
            # Any adapter's error (a ccxt cancel times out or is throttled): the events before it
            # are applied, so it is reported with them, and the other unknown orders are tried.
            reason = f"the cancel failed: {type(exc).__name__}: {exc}"
            self.report.unknown_at_venue_cancel_failed.append({**item, "reason": reason})
            return
        why_not = _cancel_refused(answer or [])
        if why_not == CANCEL_UNCONFIRMED:
            # Sent, and no failure: a paper venue with latency, and exchanges whose cancel reply
            # states no status, carry it out later (a lookup now may still show it working). The
            # next reconciliation lists the order or not.
            self.report.unknown_at_venue_cancel_sent.append(item)
            return
        if why_not:
            self.report.unknown_at_venue_cancel_failed.append({**item, "reason": why_not})
            return
        self.report.unknown_at_venue_canceled.append(item)
