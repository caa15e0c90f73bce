"""Where each order is, for ``VenueRouter``: the venue holding it, learnt from the router's
submits, the venues' events and their open-orders lists, and remembered until the order ends.

An order's venue is forgotten at a final event (filled, canceled, rejected, expired; not a
cancel refused as FILLED, whose fill is still to come) that passes through the router
(``submit``, ``cancel``, ``poll_events``), or, for orders that end where the router cannot see it
(a paper venue fed bars directly), when the venue no longer lists it in ``open_orders()``, which
is asked each time the number of orders remembered has doubled (the newest such keep their
venue: an exchange drops an order from its list as it fills, before its trades show), as do
orders its ``order_status`` says are over, whose trades reconciliation asks there next. An order
whose submit raised (or whose answer broke before any event of it) may be listed late, so its
absence does not count until the venue shows it knows the order (an event about it other than a
refused cancel or a rate limit, a list that shows it, an ``order_status`` saying it ended) or
``order_status`` says the venue never received it (reconciliation then ends it in the kernel);
until then it is kept, as the kernel keeps it in flight. ``open_orders()`` also teaches where
orders the router did not send are (after a restart), so reconciliation cancels them on the
right venue, and the kernel's own orders follow their cancel there, also one a venue lists under
the client id it went out under (``listed_client_order_id``: a hash on OKX and Gate). A listed
order is cancelled on the venue that listed it (known by its client id and venue id: one client
id may be on two venues, and an order placed by hand may have none); a listing never moves an
order the router knows (one that left its venue's list too) to another venue, and only the
holding venue's events end or confirm an order.

A venue's answer is passed on as the venue gave it, broken or not: the kernel applies the events
of a broken answer up to the fault and reports it.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping

from dita._kernel import TERMINAL_ORDER_STATUSES as FINAL_STATUSES
from dita._kernel import KernelEventKind, VenueEvent, VenueOrder
from dita.venues.protocol import VenueAdapter

__all__ = ["OrderVenues"]

# The router's own lines, under its name (docs/reference/logging.md).
log = logging.getLogger("dita.venues.router")

# Orders remembered before the router first asks the venues which of them still work.
_CHECK_OPEN_AFTER = 1024
# Events that do not show the venue holds the order: a venue that does not list an order
# yet refuses its cancel as unknown, so neither ends the doubt about a submit that raised.
_NOT_PROOF_OF_ORDER = (KernelEventKind.CANCEL_REJECT, KernelEventKind.RATE_LIMITED)
# Orders forgotten for no longer being listed whose venue is still known (the newest ones).
_LEFT_LIST_KEPT = 10_000
# Events that end no order in the kernel whatever status they state: a cancel refused as FILLED.
_NOT_AN_END = (KernelEventKind.CANCEL_REJECT,)


class OrderVenues:
    """The venue of each order a router's ``venues`` hold, and what the router learnt of the
    order from them (module docstring). ``venues`` is the router's own mapping, read as it
    grows."""

    def __init__(self, venues: Mapping[str, VenueAdapter]) -> None:
        self._venues = venues
        # Client order id -> the venue holding it, until the order ends (module docstring).
        self.order_venue: dict[str, str] = {}
        # Orders whose submit raised: a venue may not list them yet, so they are kept until
        # the venue shows it knows them (an event about them, listing them, its order status
        # saying they ended) or says it never received them (``order_status`` giving None).
        self.in_doubt: set[str] = set()
        # Orders forgotten as no longer listed or said over by ``order_status``, their end unseen,
        # and their venue: an exchange drops an order from its list as it fills, before its trades
        # show, and the kernel works it on till then, or reconciliation books its trades. The
        # newest ``_LEFT_LIST_KEPT``, dropped once an end passes through.
        self.left_list: OrderedDict[str, str] = OrderedDict()
        # Venue order id -> (venue, client id) of the orders events named, until the order ends
        # (the newest ``_LEFT_LIST_KEPT``): two venues' working orders of one venue id are named.
        self.venue_ids: OrderedDict[str, tuple[str, str]] = OrderedDict()
        self.check_open_at = _CHECK_OPEN_AFTER
        # The venue of each order its last ``open_orders()`` listed, by client id and venue id: one
        # client id may be on two venues (one label on orders placed by hand, an earlier life's
        # order under an id the kernel uses again), and an order placed by hand may have none.
        self.listed: dict[tuple[str, str], str] = {}

    # -- where an order is --------------------------------------------------------------

    def holding(self, order: VenueOrder) -> str | None:
        """The name of the venue ``order`` was submitted to, or listed by; None when unknown."""
        return (
            self.listed.get((order.client_order_id, order.venue_order_id))
            or self.order_venue.get(order.client_order_id)
            or self.left_list.get(order.client_order_id)
            or self._listed_at(order)
        )

    def venue_of(self, client_order_id: str) -> str | None:
        """The venue holding order ``client_order_id``, also one that left its venue's list."""
        return self.order_venue.get(client_order_id) or self.left_list.get(client_order_id)

    def _listed_at(self, order: VenueOrder) -> str | None:
        """The venue whose open-orders list showed ``order`` under the client id it sent it as
        (``listed_client_order_id``: a hash on OKX and Gate), learnt as the order's venue. After a
        restart that list is all the router knows, and the routed venue, changed since, would get
        the order's cancel and ``watch``."""
        for venue_name, adapter in self._venues.items():
            listed_as = getattr(adapter, "listed_client_order_id", None)
            if not callable(listed_as):
                continue
            try:
                listed = str(listed_as(order))
            except Exception:
                continue  # found as without this hook
            if self.order_venue.get(listed) == venue_name:
                self.remember(order.client_order_id, venue_name)
                return venue_name
        return None

    def remember(self, client_order_id: str, venue_name: str) -> None:
        if client_order_id:
            self.order_venue[client_order_id] = venue_name

    # -- what its submit, cancel and events show ----------------------------------------

    def sending(self, client_order_id: str, venue_name: str) -> None:
        """Remember that order ``client_order_id`` goes to ``venue_name``, before the call: a
        submit that times out still has its venue. Past ``check_open_at`` orders remembered,
        first forget those their venues no longer list."""
        if len(self.order_venue) >= self.check_open_at:
            self.forget_ended_orders()
        self.remember(client_order_id, venue_name)

    def submitted(
        self, client_order_id: str, answer: Iterable[VenueEvent], venue_name: str
    ) -> list[VenueEvent]:
        """Take venue ``venue_name``'s ``answer`` to the submit of ``client_order_id``, returned as
        ``seen`` gives it. An answer that broke (raised part-way, a dict) leaves the order in flight
        in the kernel, as a submit that raised does: in doubt, unless an event before the fault
        shows the venue has it (``seen`` ends the doubt then)."""
        if client_order_id:
            self.in_doubt.add(client_order_id)
        seen = self.seen(answer, venue_name)
        if _whole(seen):
            self.in_doubt.discard(client_order_id)
        return seen

    def seen(self, answer: Iterable[VenueEvent], venue_name: str) -> list[VenueEvent]:
        """Forget the orders whose final event is among ``answer`` (venue ``venue_name``'s);
        return its items as the venue gave them. The kernel applies the events of a broken answer
        up to the fault and reports it, so a fault must reach the kernel where it was, not
        before: an item that is not an event is passed on, and an answer that raised part-way is
        passed on as its events followed by the same error. A generator would otherwise reach
        the kernel empty, and any fault as a raised submit, losing the fills before it."""
        if isinstance(answer, VenueEvent):
            self.seen([answer], venue_name)
            return answer
        if answer is None or isinstance(answer, (str, bytes, Mapping)) or not _iterable(answer):
            # Not a list of events: the kernel takes None as empty, one event on its own as the
            # answer, and names the rest. Iterated here, each read as an answer that raised.
            return answer  # type: ignore[return-value]
        events: list[VenueEvent] = []
        fault: Exception | None = None
        try:
            for event in answer:
                events.append(event)
        except Exception as exc:
            fault = exc
        self.note(events, venue_name)
        if fault is not None:
            # Not a list, but what the venue gave: the kernel reads any iterable answer.
            return _then_raise(events, fault)  # type: ignore[return-value]
        return events

    def note(self, events: list[VenueEvent], venue_name: str) -> None:
        """Take what venue ``venue_name``'s ``events`` show of the orders it holds. An event of
        another venue's order of the same client id shows nothing of this one: its end would make
        the router forget where the order is, and the kernel's cancel go to a venue without it."""
        for event in events:
            if not isinstance(event, VenueEvent):
                continue
            coid = event.venue_client_id
            if event.kind not in _NOT_PROOF_OF_ORDER and self.order_venue.get(coid) == venue_name:
                self.in_doubt.discard(coid)
            venue_order_id = event.venue_order_id
            if venue_order_id and event.kind not in _NOT_PROOF_OF_ORDER:
                self._note_venue_id(venue_order_id, coid, venue_name)
            status = event.status
            # A refused cancel's FILLED is the venue's word, not the order's end: the kernel works
            # the order on until its fill comes, which the trade list may yet lag.
            if status is not None and status.name in FINAL_STATUSES and event.kind not in _NOT_AN_END:
                if self.order_venue.get(coid) == venue_name:
                    self.order_venue.pop(coid, None)
                if self.left_list.get(coid) == venue_name:
                    self.left_list.pop(coid, None)
                if self.venue_ids.get(venue_order_id) == (venue_name, coid):
                    self.venue_ids.pop(venue_order_id, None)

    def _note_venue_id(self, venue_order_id: str, client_order_id: str, venue_name: str) -> None:
        """Name, at ERROR, an order of ``venue_name`` whose venue id another venue's working order
        has. The kernel knows working orders by venue id alone: it refuses the second one's ack
        and fills (UNKNOWN_ORDER), and the order works on at its venue, its fills unbooked."""
        other = self.venue_ids.get(venue_order_id)
        if other is None:
            self.venue_ids[venue_order_id] = (venue_name, client_order_id)
            while len(self.venue_ids) > _LEFT_LIST_KEPT:
                self.venue_ids.popitem(last=False)
        elif other[0] != venue_name:
            log.error(
                "router: venue %r's order %r has the venue order id %r of venue %r's order %r: the "
                "kernel knows working orders by venue id alone and refuses this one's ack and fills "
                "(UNKNOWN_ORDER) while that one works; the venues behind one router must number "
                "their orders apart",
                venue_name, client_order_id, venue_order_id, other[0], other[1],
            )  # fmt: skip

    # -- what the venues' lists and order statuses show ---------------------------------

    def open_orders(self) -> list[VenueOrder]:
        """Every venue's working orders, learning the venue of each it lists."""
        orders: list[VenueOrder] = []
        listed: dict[tuple[str, str], str] = {}
        for venue_name, adapter in self._venues.items():
            # Read once: learning where its orders are would spend a venue's generator, and the
            # router list none of them (reconciliation would leave the venue's orders unmanaged).
            theirs = list(adapter.open_orders())
            for order in theirs:
                # Read as an adapter may give it (None, its exchange's raw dict): not an order's ids,
                # passed on for the kernel's reconciliation to name, with its value.
                coid = getattr(order, "client_order_id", None)
                venue_order_id = getattr(order, "venue_order_id", None)
                if not isinstance(coid, str) or not isinstance(venue_order_id, str):
                    continue
                listed[(coid, venue_order_id)] = venue_name
                if not coid:
                    continue
                # Another venue listing the id leaves an order known elsewhere (working, or left
                # its own venue's list) there: were the last to list it to take it, the kernel's
                # cancel would go to a venue without it.
                known = self.venue_of(coid)
                if known is None:
                    self.remember(coid, venue_name)
                if known is None or known == venue_name:
                    # Listed, so the venue has it: in doubt no more (as in forget_ended_orders).
                    self.in_doubt.discard(coid)
            orders.extend(theirs)
        self.listed = listed
        return orders

    def forget_ended_orders(self) -> None:
        """Drop remembered orders their venue no longer lists as working. The next check
        comes when the number remembered has doubled, so asking costs little per order."""
        by_venue: dict[str, list[str]] = {}
        # A copy, and no KeyError on one gone: the HTTP gateway's poll thread forgets orders
        # (poll_events) while a submit on its loop is here, waiting for open_orders().
        for client_order_id, venue_name in list(self.order_venue.items()):
            by_venue.setdefault(venue_name, []).append(client_order_id)
        for venue_name, ids in by_venue.items():
            try:
                working = {o.client_order_id for o in self._venues[venue_name].open_orders()}
            except Exception as exc:
                log.warning("router: venue %r could not list its open orders (%s); kept", venue_name, exc)
                continue
            for client_order_id in ids:
                if client_order_id in working:
                    # Listed, so the venue has it: a later list without it means it ended.
                    self.in_doubt.discard(client_order_id)
                elif client_order_id not in self.in_doubt:
                    # Kept unless a poll meanwhile passed its end on (the pop finds nothing then).
                    if self.order_venue.pop(client_order_id, None) is not None:
                        self._keep_left(client_order_id, venue_name)
        self.in_doubt.intersection_update(self.order_venue)
        self.check_open_at = max(_CHECK_OPEN_AFTER, 2 * len(self.order_venue))

    def ended_at(self, client_order_id: str, venue_name: str) -> None:
        """Order ``client_order_id`` is over at ``venue_name``, as its ``order_status`` says. The
        kernel may still book or await its fills: reconciliation asks that venue next for its
        trades, and tells it to follow the order."""
        self.order_venue.pop(client_order_id, None)
        self.in_doubt.discard(client_order_id)
        self._keep_left(client_order_id, venue_name)

    def _keep_left(self, client_order_id: str, venue_name: str) -> None:
        """Keep the venue of an order no longer working there, among the newest ``_LEFT_LIST_KEPT``."""
        if client_order_id:
            # Popped, not moved to the end: a poll on another thread may forget it in between.
            self.left_list.pop(client_order_id, None)
            self.left_list[client_order_id] = venue_name
            while len(self.left_list) > _LEFT_LIST_KEPT:
                self.left_list.popitem(last=False)


def _whole(answer: object) -> bool:
    """Whether ``answer``, as ``seen`` passes it on, is one the kernel reads whole: None (no
    events), one event, or a list of events (``seen`` gives one that broke as a generator)."""
    if answer is None or isinstance(answer, VenueEvent):
        return True
    return isinstance(answer, list) and all(isinstance(e, VenueEvent) for e in answer)


def _iterable(answer: object) -> bool:
    try:
        iter(answer)  # type: ignore[call-overload]
    except TypeError:
        return False
    return True


def _then_raise(events: list[VenueEvent], fault: Exception) -> Iterator[VenueEvent]:
    """The events of an answer that broke part-way, then its error, as the venue gave them."""
    yield from events
    raise fault
