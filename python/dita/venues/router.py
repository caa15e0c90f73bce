"""VenueRouter: names to adapters, assets to venues.

A kernel has one venue; the router is that venue when a strategy trades on several. A new
trade's entry goes to the venue its asset is routed to (or the default one), and every later
order of the trade (its exits) to that venue, even after ``route()`` or a restart sent the asset
elsewhere: the trade's position is there. An exit of a trade entered before a restart goes to
the one venue holding a position of its side in the asset (or, held nowhere, the routed one);
when that is not one venue, it is rejected naming the trade, for ``route_trade`` to place. An
order stays where it was submitted: its cancel goes to that venue even after ``route()`` sent
the asset elsewhere, so an order and all of its events stay on one venue.

The router remembers each order's venue until the order ends: a final event (filled,
canceled, rejected, expired; not a cancel refused as FILLED, whose fill is still to come)
that passes through it (``submit``, ``cancel``, ``poll_events``), or, for orders that end
where the router cannot see it (a paper venue fed bars directly), the venue no longer listing
it in ``open_orders()``, which the router asks each time the number of orders it remembers has
doubled (the newest such keep their venue: an exchange drops an order from its list as it
fills, before its trades show), as do orders its ``order_status`` says are over, whose trades
reconciliation asks there next. An order whose submit raised (or whose answer broke before
any event of it) may be listed late, so its absence does not count until the venue shows it knows the order
(an event about it other than a refused cancel or a rate limit, a list that shows it, an
``order_status`` saying it ended) or ``order_status`` says the venue never received it
(reconciliation then ends it in the kernel); until then it is kept, as the kernel keeps it
in flight. ``open_orders()`` also teaches it where orders it did not send are (after a
restart), so reconciliation cancels them on the right venue, and the kernel's own orders
follow their cancel there, also one a venue lists under the client id it went out under
(``listed_client_order_id``: a hash on OKX and Gate). A listed order is cancelled on the venue
that listed it (known by its client id and venue id: one client id may be on two venues, and an
order placed by hand may have none); a listing never moves an order the router knows (one that
left its venue's list too) to another venue, and only the holding venue's events end or
confirm an order. An order it knows nothing of is cancelled on the routed venue.
``order_status`` asks the venue holding the order, or, not knowing it (after a restart), the
venue the order's asset is routed to when given it, else each venue in turn.
An order for an asset no venue is routed for (and no default) is rejected, naming the asset.
Venue order ids pass as each venue gives them: two venues' working orders of one id, which the
kernel, knowing orders by venue id alone, cannot both take, are named at ERROR.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING

from dita._kernel import TERMINAL_ORDER_STATUSES as FINAL_STATUSES
from dita._kernel import AccountEvent, KernelEventKind, VenueEvent, VenueOrder, VenueOrderStatus
from dita.venues._events import OrderEvents
from dita.venues._settings import check_venue_name
from dita.venues.protocol import (
    UnknownVenueError,
    VenueAdapter,
    VenueEventStream,
    VenueMarketInfo,
    VenueUnavailable,
    order_lookup,
    order_status_asset,
    venue_following,
)

if TYPE_CHECKING:
    from dita.risk import MarketLimits

__all__ = ["VenueRouter"]

log = logging.getLogger(__name__)

# Orders remembered before the router first asks the venues which of them still work.
_CHECK_OPEN_AFTER = 1024
# Events that do not show the venue holds the order: a venue that does not list an order
# yet refuses its cancel as unknown, so neither ends the doubt about a submit that raised.
_NOT_PROOF_OF_ORDER = (KernelEventKind.CANCEL_REJECT, KernelEventKind.RATE_LIMITED)
# Orders forgotten for no longer being listed whose venue is still known (the newest ones).
_LEFT_LIST_KEPT = 10_000
# Events that end no order in the kernel whatever status they state: a cancel refused as FILLED.
_NOT_AN_END = (KernelEventKind.CANCEL_REJECT,)
# Trades whose venue is kept (the newest): an older one's exit is placed by the venues' positions.
_TRADES_KEPT = 100_000


class _TradeVenueUnknown(Exception):
    """The venue of an exit's trade cannot be told: the exit is refused, not guessed."""


class VenueRouter:
    """``VenueRouter({"paper": PaperVenue(), "binance": CcxtVenue(...)}, default="paper",
    routes={"ETHUSDT": "binance"})``.

    ``account_venue`` (else ``default``) names the venue whose account events (balances,
    margins, funding) the kernel's one account takes; every venue's FILL_SETTLED pass.
    ``router["binance"]`` returns an adapter; an unknown name raises ``UnknownVenueError``
    naming it and the known ones. As a venue, the router sends each new order to the venue
    its asset is routed to, and its cancel to the venue that holds it.
    """

    def __init__(
        self,
        venues: Mapping[str, VenueAdapter] | None = None,
        *,
        default: str | None = None,
        routes: Mapping[str, str] | None = None,
        name: str = "router",
        account_venue: str | None = None,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"name must be a non-empty string, got {name!r}")
        self.name = check_venue_name(name)  # its own answers' ids and reasons carry it
        # A list of venues (or of route pairs) would raise AttributeError on "items", naming
        # neither.
        for field, given, example in (
            ("venues", venues, "{'paper': PaperVenue()}"),
            ("routes", routes, "{'ETHUSDT': 'paper'}"),
        ):
            if given is not None and not isinstance(given, Mapping):
                raise TypeError(f"{field} must be a mapping such as {example}, got {given!r}")
        self._venues: dict[str, VenueAdapter] = {}
        self._routes: dict[str, str] = {}
        self._default: str | None = None
        # Client order id -> the venue holding it, until the order ends (module docstring).
        self._order_venue: dict[str, str] = {}
        # Orders whose submit raised: a venue may not list them yet, so they are kept until
        # the venue shows it knows them (an event about them, listing them, its order status
        # saying they ended) or says it never received them (``order_status`` giving None).
        self._in_doubt: set[str] = set()
        # Orders forgotten as no longer listed or said over by ``order_status``, their end unseen,
        # and their venue: an exchange drops an order from its list as it fills, before its trades
        # show, and the kernel works it on till then, or reconciliation books its trades. The
        # newest ``_LEFT_LIST_KEPT``, dropped once an end passes through.
        self._left_list: OrderedDict[str, str] = OrderedDict()
        # Venue order id -> (venue, client id) of the orders events named, until the order ends
        # (the newest ``_LEFT_LIST_KEPT``): two venues' working orders of one venue id are named.
        self._venue_ids: OrderedDict[str, tuple[str, str]] = OrderedDict()
        # Trade id -> the venue its entry went to: its exits go there whatever the routes say
        # since, as its position is there. The newest ``_TRADES_KEPT``.
        self._trade_venue: OrderedDict[str, str] = OrderedDict()
        self._check_open_at = _CHECK_OPEN_AFTER
        # The venue of each order its last ``open_orders()`` listed, by client id and venue id: one
        # client id may be on two venues (one label on orders placed by hand, an earlier life's
        # order under an id the kernel uses again), and an order placed by hand may have none.
        self._listed: dict[tuple[str, str], str] = {}
        self._events = OrderEvents(name)
        # The seqs ``resume`` was given, for a venue added after it: unmarked, its ids would
        # repeat the last run's, and the recovered kernel refuse its answers as duplicates.
        self._resumed: list[int] = []
        # The assets ``note_held_assets`` was given, for the venue ``route()`` sends one to later.
        self._held_assets: list[str] = []
        # The venue whose account events the kernel's account takes (``account_venue``, else
        # the default): chosen by setting, so a poll that fails or is quiet never hands it on.
        self._account_venue: str | None = None
        for venue_name, adapter in (venues or {}).items():
            self.add(adapter, name=venue_name)
        if default is not None:
            self._default = self._known(default, field="default")
        for asset, venue_name in (routes or {}).items():
            self.route(asset, venue_name)
        if account_venue is not None:
            self._account_venue = self._known(account_venue, field="account_venue")
        else:
            self._account_venue = self._default

    # -- names ---------------------------------------------------------------------------

    def add(self, adapter: VenueAdapter, *, name: str | None = None) -> None:
        """Register ``adapter`` under ``name`` (its own ``name`` when omitted). An adapter
        registered already, or whose own ``name`` another adapter here has (their event ids
        would collide), is a ValueError. Added after the router's ``resume``, it is resumed
        with the same seqs."""
        venue_name = name if name is not None else getattr(adapter, "name", "")
        if not isinstance(venue_name, str) or not venue_name:
            raise ValueError(f"venue name must be a non-empty string, got {venue_name!r}")
        if venue_name in self._venues:
            raise ValueError(f"venue name {venue_name!r} is already registered")
        for method in ("submit", "cancel"):
            if not callable(getattr(adapter, method, None)):
                raise TypeError(f"venue {venue_name!r} ({type(adapter).__name__}) has no {method}() method")
        own_name = getattr(adapter, "name", None)
        for other_name, other in self._venues.items():
            if other is adapter:
                # Polled, listed and summed once per name: its positions would count twice.
                raise ValueError(f"venue {venue_name!r} is the adapter already registered as {other_name!r}")
            if isinstance(own_name, str) and own_name and getattr(other, "name", None) == own_name:
                # A venue names its event, order and fill ids after itself: two of one name give
                # the same ids, and the kernel would refuse the second one's fill as a duplicate.
                raise ValueError(
                    f"venue {venue_name!r} is named {own_name!r}, as venue {other_name!r} is: their "
                    f"event ids would collide; give each adapter its own name (name=...)"
                )
        resume = getattr(adapter, "resume", None)
        if callable(resume):
            for seq in self._resumed:
                resume(seq)
        # No asset is routed to a venue being added: ``route()`` gives it the held ones it sends there.
        self._venues[venue_name] = adapter

    def route(self, asset: str, venue_name: str) -> None:
        """Send new trades of ``asset`` to ``venue_name`` from now on (a trade entered already
        is exited where it was entered), and tell that venue the kernel holds ``asset`` when
        ``note_held_assets`` said so."""
        if not isinstance(asset, str) or not asset:
            raise ValueError(f"asset must be a non-empty string, got {asset!r}")
        self._routes[asset] = self._known(venue_name, field="routes")
        if asset in self._held_assets:
            self._note_held(venue_name, [asset])

    def _known(self, venue_name: str, *, field: str) -> str:
        # Not a str: no venue's name (a list would raise "unhashable type", naming neither).
        if not isinstance(venue_name, str) or venue_name not in self._venues:
            raise UnknownVenueError(
                f"unknown venue {venue_name!r} in {field}; known venues: {self._known_names()}"
            )
        return venue_name

    def _known_names(self) -> str:
        return ", ".join(repr(n) for n in sorted(self._venues)) or "none"

    def __getitem__(self, venue_name: str) -> VenueAdapter:
        try:
            return self._venues[venue_name]
        except KeyError:
            raise UnknownVenueError(
                f"unknown venue {venue_name!r}; known venues: {self._known_names()}"
            ) from None

    def get(self, venue_name: str) -> VenueAdapter:
        return self[venue_name]

    def __contains__(self, venue_name: object) -> bool:
        return venue_name in self._venues

    def __iter__(self) -> Iterator[str]:
        return iter(self._venues)

    def __len__(self) -> int:
        return len(self._venues)

    def names(self) -> list[str]:
        return list(self._venues)

    def venue_name_for(self, asset: str) -> str:
        """The name of the venue new trades of ``asset`` go to."""
        venue_name = self._routes.get(asset, self._default)
        if venue_name is None:
            raise UnknownVenueError(
                f"no venue is routed for asset {asset!r} and the router has no default; "
                f"known venues: {self._known_names()}"
            )
        return venue_name

    def venue_for(self, asset: str) -> VenueAdapter:
        return self._venues[self.venue_name_for(asset)]

    # -- the venue protocol ---------------------------------------------------------------

    def submit(self, order: VenueOrder) -> list[VenueEvent]:
        try:
            venue_name = self._venue_name_of_trade(order)
        except (UnknownVenueError, _TradeVenueUnknown) as exc:
            # Not raised: the kernel keeps an order whose submit raised in flight, and this one
            # certainly went nowhere, so its slot would wait for an answer that never comes.
            reason = exc.args[0] if isinstance(exc, _TradeVenueUnknown) else str(exc)
            if isinstance(exc, _TradeVenueUnknown):
                log.error("router: %s", reason)
            return [self._refusal(order, KernelEventKind.REJECT, VenueOrderStatus.REJECTED, reason)]
        if len(self._order_venue) >= self._check_open_at:
            self._forget_ended_orders()
        # Remembered before the call: a submit that times out still has its venue.
        self._remember(order.client_order_id, venue_name)
        self._keep_trade(order.trade_id, venue_name)
        try:
            events = self._venues[venue_name].submit(order)
        except BaseException:
            # Whatever it raised (a timeout, a reset connection, Ctrl-C), the order may be at the
            # venue: the kernel keeps it in flight, and the router must not take a venue's
            # open-orders list that does not show it yet for its end.
            if order.client_order_id:
                self._in_doubt.add(order.client_order_id)
            raise
        # An answer that broke (raised part-way, a dict) leaves the order in flight in the kernel,
        # as a submit that raised does: in doubt, unless an event before the fault shows the
        # venue has it (``_seen`` ends the doubt then).
        if order.client_order_id:
            self._in_doubt.add(order.client_order_id)
        seen = self._seen(events, venue_name)
        if _whole(seen):
            self._in_doubt.discard(order.client_order_id)
        return seen

    def route_trade(self, trade_id: str, venue_name: str) -> None:
        """Send the orders of trade ``trade_id`` to ``venue_name``, the venue its entry went to:
        after a restart, for an exit the router refuses because it cannot tell that venue."""
        if not isinstance(trade_id, str) or not trade_id:
            raise ValueError(f"trade_id must be a non-empty string, got {trade_id!r}")
        self._keep_trade(trade_id, self._known(venue_name, field="venue_name"))

    def venue_name_of_trade(self, trade_id: str) -> str | None:
        """The venue the orders of trade ``trade_id`` go to, if the router knows it."""
        return self._trade_venue.get(trade_id)

    def _venue_name_of_trade(self, order: VenueOrder) -> str:
        """The venue ``order`` goes to: for an entry (a new trade), the one its asset is routed
        to; for an exit, its trade's, known from the trade's entry (or ``route_trade``). An exit
        of a trade the router does not know (after a restart) goes to the one venue holding a
        position of the trade's side in its asset, or, held nowhere, to the routed venue; two
        holding one, or one that cannot say, raise ``_TradeVenueUnknown``: a guess may sell on a
        venue where the trade holds nothing."""
        if order.is_entry:
            return self.venue_name_for(order.asset)
        known = self._trade_venue.get(order.trade_id) if order.trade_id else None
        if known is not None:
            return known
        if len(self._venues) == 1:
            return self.venue_name_for(order.asset)
        long = order.side.name == "LONG"
        holding: list[str] = []
        cannot_say: list[str] = []
        for venue_name, adapter in self._venues.items():
            named = getattr(adapter, "position_asset", None)
            try:
                asset = str(named(order.asset)) if callable(named) else order.asset
                size = float(adapter.positions().get(asset, 0.0))
            except Exception as exc:
                cannot_say.append(f"{venue_name!r} ({type(exc).__name__}: {exc})")
                continue
            if (size > 0.0) if long else (size < 0.0):
                holding.append(venue_name)
        if not cannot_say and len(holding) <= 1:
            # Held nowhere: the routed venue, looked up only now, since an asset the router has
            # no route for may still be held on one venue.
            return holding[0] if holding else self.venue_name_for(order.asset)
        holders = ", ".join(repr(n) for n in holding)
        why = (
            f"venues {holders} each hold a {order.side.name} {order.asset} position"
            if len(holding) > 1
            else f"venue {'; '.join(cannot_say)} could not list its positions"
        )
        raise _TradeVenueUnknown(
            f"exit of trade {order.trade_id!r} ({order.asset}) refused: the router does not know the "
            f"venue its entry went to (entered before a restart) and {why}; name it with "
            f"route_trade({order.trade_id!r}, venue)"
        )

    def _keep_trade(self, trade_id: str, venue_name: str) -> None:
        """Keep the venue of trade ``trade_id`` among the newest ``_TRADES_KEPT``."""
        if trade_id:
            self._trade_venue.pop(trade_id, None)
            self._trade_venue[trade_id] = venue_name
            while len(self._trade_venue) > _TRADES_KEPT:
                self._trade_venue.popitem(last=False)

    def resume(self, seq: int) -> None:
        """Mark the router's ids, and those of every venue behind it that can, with ``seq``
        (the kernel recovered from its write-ahead log beside it calls this), and those of any
        venue added later."""
        self._events.resume(seq)
        self._resumed.append(seq)
        for venue in self._venues.values():
            resume = getattr(venue, "resume", None)
            if callable(resume):
                resume(seq)

    def note_held_assets(self, assets: list[str]) -> None:
        """Give each asset a kernel holds a position or works an order in (a kernel built over
        the router calls this) to the venue it is routed to, and again to any venue ``route()``
        sends it to later. Only there: a venue fixes a market's name by them, and a name held on
        another venue would refuse entries of its own market that no other name can reach."""
        self._held_assets.extend(a for a in assets if a not in self._held_assets)
        by_venue: dict[str, list[str]] = {}
        for asset in assets:
            venue_name = self._routes.get(asset, self._default)
            if venue_name is not None:
                by_venue.setdefault(venue_name, []).append(asset)
        for venue_name, routed in by_venue.items():
            self._note_held(venue_name, routed)

    def _note_held(self, venue_name: str, assets: list[str]) -> None:
        note_held = getattr(self._venues[venue_name], "note_held_assets", None)
        if callable(note_held):
            note_held(assets)

    def cancel(self, order: VenueOrder) -> list[VenueEvent]:
        try:
            venue_name = self.venue_name_holding(order)
        except UnknownVenueError as exc:
            return [self._refusal(order, KernelEventKind.CANCEL_REJECT, order.status, str(exc))]
        return self._seen(self._venues[venue_name].cancel(order), venue_name)

    def _refusal(
        self, order: VenueOrder, kind: KernelEventKind, status: VenueOrderStatus, reason: str
    ) -> VenueEvent:
        # Named after the order, not a per-process count: a kernel recovered from its log
        # remembers the ids of the last run, and would refuse "router-e1" again as a duplicate.
        # One REJECT per order (submit is called once); cancels may be refused more than once.
        coid = order.client_order_id
        event_id = (
            f"{self.name}:reject:{coid}"
            if kind == KernelEventKind.REJECT
            else f"{self.name}:cancel_reject:{coid}:{self._events.next_id()}"
        )
        return self._events.make(
            order,
            kind,
            status,
            venue_order_id=order.venue_order_id,
            timestamp=order.created_at,
            filled_size=order.filled_size,
            reason=f"{self.name}: {reason}",
            event_id=event_id,
        )

    def venue_name_holding(self, order: VenueOrder) -> str:
        """The name of the venue ``order`` was submitted to (the routed one if unknown)."""
        return (
            self._listed.get((order.client_order_id, order.venue_order_id))
            or self._order_venue.get(order.client_order_id)
            or self._left_list.get(order.client_order_id)
            or self._listed_at(order)
            or self.venue_name_for(order.asset)
        )

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
            if self._order_venue.get(listed) == venue_name:
                self._remember(order.client_order_id, venue_name)
                return venue_name
        return None

    def venue_holding(self, order: VenueOrder) -> VenueAdapter:
        return self._venues[self.venue_name_holding(order)]

    def open_orders(self) -> list[VenueOrder]:
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
                known = self._order_venue.get(coid) or self._left_list.get(coid)
                if known is None:
                    self._remember(coid, venue_name)
                if known is None or known == venue_name:
                    # Listed, so the venue has it: in doubt no more (as in _forget_ended_orders).
                    self._in_doubt.discard(coid)
            orders.extend(theirs)
        self._listed = listed
        return orders

    def order_status(self, client_order_id: str, asset: str | None = None) -> VenueOrder | None:
        """The order as the venue holding it has it, for reconciliation. Not knowing which (after
        a restart): with ``asset`` (the kernel's asset of the order, which reconciliation gives),
        the venue that asset is routed to first (its route, else the default), where the router
        sent it, and only if it says it has no such order the others, without the asset (the
        route may have changed since: that venue's None alone would end an order another venue
        filled, and its fill would never be booked); without ``asset``, or for an asset no
        venue is routed for, each venue in turn. ``asset`` is passed on to a venue whose
        ``order_status`` takes it. None only when every venue asked says it has no such order.
        Raises ``VenueUnavailable`` when one that may hold it cannot say (it has no
        ``order_status``, or its own raised): None would end an order that may be working
        there. An ``asset`` that is not a str is a TypeError."""
        asset = order_status_asset(asset, self.name)
        # Also one that left its venue's list: the router knows where it is, and another venue
        # that cannot say would keep an order its own venue says it no longer has unresolved.
        owner = self._order_venue.get(client_order_id) or self._left_list.get(client_order_id)
        routed = self._routes.get(asset, self._default) if owner is None and asset is not None else None
        asks: list[tuple[str, str | None]]
        if owner is not None:
            asks = [(owner, asset)]
        elif routed is not None:
            # The rest asked without the asset: a venue with no market for it (a CcxtVenue of
            # other assets) would say it cannot say, not that it has no such order.
            asks = [(routed, asset)] + [(name, None) for name in self._venues if name != routed]
        else:
            asks = [(name, asset) for name in self._venues]
        cannot_say: list[str] = []
        for venue_name, asked_asset in asks:
            lookup = order_lookup(self._venues[venue_name])
            if lookup is None:
                cannot_say.append(f"{venue_name!r} cannot look up orders by client id")
                continue
            try:
                found: VenueOrder | None = lookup(client_order_id, asked_asset)
            except Exception as exc:
                cannot_say.append(f"{venue_name!r}: {type(exc).__name__}: {exc}")
                continue
            if found is not None:
                # Read as an adapter may give it: an answer whose status is no VenueOrderStatus is
                # passed on as it came, for reconciliation to name its field and value.
                status = getattr(found, "status", None)
                if isinstance(status, VenueOrderStatus) and status.name in FINAL_STATUSES:
                    self._order_venue.pop(client_order_id, None)
                    self._in_doubt.discard(client_order_id)
                    # Over there, yet the kernel may still book or await its fills: reconciliation
                    # asks that venue next for its trades, and tells it to follow the order.
                    self._keep_left(client_order_id, venue_name)
                else:
                    # Still in doubt if it was: working, yet not listed, is the lag it guards.
                    self._remember(client_order_id, venue_name)
                return found
        if cannot_say:
            raise VenueUnavailable(
                f"{self.name}: status of {client_order_id!r} unknown: {'; '.join(cannot_say)}"
            )
        # The venue says it never received it (reconciliation ends it as a lost submit): it is
        # in doubt no more, and its venue is forgotten once that venue does not list it.
        self._in_doubt.discard(client_order_id)
        return None

    def following(self) -> bool:
        """Whether a venue behind the router still asks its exchange about an order (see
        ``CcxtVenue.following``)."""
        return any(venue_following(adapter) for adapter in self._venues.values())

    def watch(self, order: VenueOrder) -> None:
        """Have the venue holding ``order`` follow it in its ``poll_events`` (see
        ``CcxtVenue.watch``); a venue without ``watch`` learns of its orders otherwise."""
        watch = getattr(self.venue_holding(order), "watch", None)
        if callable(watch):
            watch(order)

    def trade_fills(self, order: VenueOrder, venue_order: VenueOrder) -> list[VenueEvent]:
        """The fills the venue holding ``order`` lists by trade beyond what the kernel booked
        (see ``CcxtVenue.trade_fills``); none from a venue that cannot list them."""
        trade_fills = getattr(self.venue_holding(order), "trade_fills", None)
        return list(trade_fills(order, venue_order)) if callable(trade_fills) else []

    def listed_venue_order_id(self, order: VenueOrder) -> str:
        """The id under which the venue holding ``order`` lists it (see
        ``CcxtVenue.listed_venue_order_id``); the kernel's own for a venue that lists orders
        under that."""
        listed_as = getattr(self.venue_holding(order), "listed_venue_order_id", None)
        return str(listed_as(order)) if callable(listed_as) else order.venue_order_id

    def listed_client_order_id(self, order: VenueOrder) -> str:
        """The client id under which the venue holding ``order`` lists it (see
        ``CcxtVenue.listed_client_order_id``); the kernel's own for a venue that sends that."""
        listed_as = getattr(self.venue_holding(order), "listed_client_order_id", None)
        return str(listed_as(order)) if callable(listed_as) else order.client_order_id

    def position_asset(self, asset: str) -> str:
        """The name ``positions()`` gives ``asset``: as its venue names it (see
        ``CcxtVenue.position_asset``); ``asset`` itself for a venue that names it so."""
        named = getattr(self.venue_for(asset), "position_asset", None)
        return str(named(asset)) if callable(named) else asset

    def _remember(self, client_order_id: str, venue_name: str) -> None:
        if client_order_id:
            self._order_venue[client_order_id] = venue_name

    def _keep_left(self, client_order_id: str, venue_name: str) -> None:
        """Keep the venue of an order no longer working there, among the newest ``_LEFT_LIST_KEPT``."""
        if client_order_id:
            # Popped, not moved to the end: a poll on another thread may forget it in between.
            self._left_list.pop(client_order_id, None)
            self._left_list[client_order_id] = venue_name
            while len(self._left_list) > _LEFT_LIST_KEPT:
                self._left_list.popitem(last=False)

    def _seen(self, answer: Iterable[VenueEvent], venue_name: str) -> list[VenueEvent]:
        """Forget the orders whose final event is among ``answer`` (venue ``venue_name``'s);
        return its items as the venue gave them. The kernel applies the events of a broken answer
        up to the fault and reports it, so a fault must reach the kernel where it was, not
        before: an item that is not an event is passed on, and an answer that raised part-way is
        passed on as its events followed by the same error. A generator would otherwise reach
        the kernel empty, and any fault as a raised submit, losing the fills before it."""
        if isinstance(answer, VenueEvent):
            self._seen([answer], venue_name)
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
        self._note(events, venue_name)
        if fault is not None:
            # Not a list, but what the venue gave: the kernel reads any iterable answer.
            return _then_raise(events, fault)  # type: ignore[return-value]
        return events

    def _note(self, events: list[VenueEvent], venue_name: str) -> None:
        """Take what venue ``venue_name``'s ``events`` show of the orders it holds. An event of
        another venue's order of the same client id shows nothing of this one: its end would make
        the router forget where the order is, and the kernel's cancel go to a venue without it."""
        for event in events:
            if not isinstance(event, VenueEvent):
                continue
            coid = event.venue_client_id
            if event.kind not in _NOT_PROOF_OF_ORDER and self._order_venue.get(coid) == venue_name:
                self._in_doubt.discard(coid)
            venue_order_id = event.venue_order_id
            if venue_order_id and event.kind not in _NOT_PROOF_OF_ORDER:
                self._note_venue_id(venue_order_id, coid, venue_name)
            status = event.status
            # A refused cancel's FILLED is the venue's word, not the order's end: the kernel works
            # the order on until its fill comes, which the trade list may yet lag.
            if status is not None and status.name in FINAL_STATUSES and event.kind not in _NOT_AN_END:
                if self._order_venue.get(coid) == venue_name:
                    self._order_venue.pop(coid, None)
                if self._left_list.get(coid) == venue_name:
                    self._left_list.pop(coid, None)
                if self._venue_ids.get(venue_order_id) == (venue_name, coid):
                    self._venue_ids.pop(venue_order_id, None)

    def _note_venue_id(self, venue_order_id: str, client_order_id: str, venue_name: str) -> None:
        """Name, at ERROR, an order of ``venue_name`` whose venue id another venue's working order
        has. The kernel knows working orders by venue id alone: it refuses the second one's ack
        and fills (UNKNOWN_ORDER), and the order works on at its venue, its fills unbooked."""
        other = self._venue_ids.get(venue_order_id)
        if other is None:
            self._venue_ids[venue_order_id] = (venue_name, client_order_id)
            while len(self._venue_ids) > _LEFT_LIST_KEPT:
                self._venue_ids.popitem(last=False)
        elif other[0] != venue_name:
            log.error(
                "router: venue %r's order %r has the venue order id %r of venue %r's order %r: the "
                "kernel knows working orders by venue id alone and refuses this one's ack and fills "
                "(UNKNOWN_ORDER) while that one works; the venues behind one router must number "
                "their orders apart",
                venue_name, client_order_id, venue_order_id, other[0], other[1],
            )  # fmt: skip

    def _forget_ended_orders(self) -> None:
        """Drop remembered orders their venue no longer lists as working. The next check
        comes when the number remembered has doubled, so asking costs little per order."""
        by_venue: dict[str, list[str]] = {}
        # A copy, and no KeyError on one gone: the HTTP gateway's poll thread forgets orders
        # (poll_events) while a submit on its loop is here, waiting for open_orders().
        for client_order_id, venue_name in list(self._order_venue.items()):
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
                    self._in_doubt.discard(client_order_id)
                elif client_order_id not in self._in_doubt:
                    # Kept unless a poll meanwhile passed its end on (the pop finds nothing then).
                    if self._order_venue.pop(client_order_id, None) is not None:
                        self._keep_left(client_order_id, venue_name)
        self._in_doubt.intersection_update(self._order_venue)
        self._check_open_at = max(_CHECK_OPEN_AFTER, 2 * len(self._order_venue))

    def positions(self) -> dict[str, float]:
        """Position per asset, summed over venues (see ``positions_by_venue`` for the split)."""
        total: dict[str, float] = {}
        for per_venue in self.positions_by_venue().values():
            for asset, size in per_venue.items():
                total[asset] = total.get(asset, 0.0) + size
        return total

    def positions_by_venue(self) -> dict[str, dict[str, float]]:
        return {venue_name: adapter.positions() for venue_name, adapter in self._venues.items()}

    def balances(self) -> dict[str, float]:
        """Balance per currency, summed over the venues that report balances."""
        total: dict[str, float] = {}
        for adapter in self._venues.values():
            if isinstance(adapter, VenueMarketInfo):
                for currency, amount in adapter.balances().items():
                    total[currency] = total.get(currency, 0.0) + amount
        return total

    def market_metadata(self) -> dict[str, MarketLimits]:
        """Each asset's rules from the venue its orders go to (its route, else the default),
        and only from there: another venue's lot step given to the kernel would round and refuse
        orders by rules of a market they never reach."""
        merged: dict[str, MarketLimits] = {}
        for venue_name, adapter in self._venues.items():
            if not isinstance(adapter, VenueMarketInfo):
                continue
            for asset, limits in adapter.market_metadata().items():
                if self._routes.get(asset, self._default) == venue_name:
                    merged[asset] = limits
        return merged

    def poll_events(self) -> list[VenueEvent]:
        """Every venue's new events. A venue whose poll fails is logged and skipped: raising
        would lose the events the others already handed over (each is returned once)."""
        events: list[VenueEvent] = []
        for venue_name, adapter in self._venues.items():
            if isinstance(adapter, VenueEventStream):
                theirs: list[VenueEvent] = []
                try:
                    theirs.extend(adapter.poll_events())
                except Exception as exc:
                    log.warning(
                        "router: venue %r could not be polled (%s: %s)", venue_name, type(exc).__name__, exc
                    )
                self._note(theirs, venue_name)
                events.extend(theirs)
        return events

    def account_events(self) -> list[AccountEvent]:
        """The account events of the account venue (``account_venue``, else the default; see
        ``CcxtVenue.account_events``). The kernel keeps one account: another venue's balances
        would overwrite that venue's figures, so its events are dropped, logged at WARNING, all
        but its FILL_SETTLED, which settle its own fills' fees and pass without the balance
        figures they carry."""
        events: list[AccountEvent] = []
        for venue_name, adapter in self._venues.items():
            account_events = getattr(adapter, "account_events", None)
            if not callable(account_events):
                continue
            try:
                theirs = list(account_events())
            except Exception as exc:
                log.warning(
                    "router: venue %r account events could not be taken (%s: %s)",
                    venue_name, type(exc).__name__, exc,
                )  # fmt: skip
                continue
            if venue_name == self._account_venue:
                events.extend(theirs)
                continue
            settled = [_settlement_only(e) for e in theirs if _is_settlement(e)]
            events.extend(settled)
            if len(settled) < len(theirs):
                taken = (
                    f"venue {self._account_venue!r}'s (account_venue)"
                    if self._account_venue is not None
                    else "none: the router has no account_venue and no default"
                )
                log.warning(
                    "router: %d account event(s) of venue %r dropped: the kernel's account takes %s",
                    len(theirs) - len(settled), venue_name, taken,
                )  # fmt: skip
        return events

    def __repr__(self) -> str:
        return f"VenueRouter(venues={list(self._venues)}, default={self._default!r}, routes={self._routes})"


def _is_settlement(event: object) -> bool:
    return getattr(getattr(event, "kind", None), "name", None) == "FILL_SETTLED"


def _settlement_only(event: AccountEvent) -> AccountEvent:
    """``event``, a FILL_SETTLED of a venue other than the account venue, without the balance
    and margin figures it carries: they are that venue's, and would overwrite the account's."""
    figures = (event.wallet_balance, event.available_margin, event.used_margin, event.maint_margin)
    if all(figure is None for figure in figures):
        return event
    return AccountEvent(
        event.event_id,
        event.kind,
        asset=event.asset,
        amount=event.amount,
        fee=event.fee,
        fill_id=event.fill_id,
        timestamp=event.timestamp,
        predicted_fee_stands=event.predicted_fee_stands,
    )


def _whole(answer: object) -> bool:
    """Whether ``answer``, as ``_seen`` passes it on, is one the kernel reads whole: None (no
    events), one event, or a list of events (``_seen`` gives one that broke as a generator)."""
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
