"""VenueRouter: names to adapters, assets to venues.

A kernel has one venue; the router is that venue when a strategy trades on several. A new
trade's entry goes to the venue its asset is routed to (or the default one), and every later
order of the trade (its exits) to that venue, even after ``route()`` or a restart sent the asset
elsewhere: the trade's position is there. An exit of a trade entered before a restart goes to
the one venue holding a position of its side in the asset (or, held nowhere, the routed one);
when that is not one venue, it is rejected naming the trade, for ``route_trade`` to place. An
order stays where it was submitted: its cancel goes to that venue even after ``route()`` sent
the asset elsewhere, so an order and all of its events stay on one venue. ``route()`` refuses to
move an asset while the kernel built over the router (one at a time) holds an open trade of it
on another venue: the kernel nets an asset's trades as one position, as on one venue, to decide
an exit's reduce-only flag, so an asset's open trades are kept on one venue. A kernel built over
the router (recovered from its log) holding an open trade on another venue than its asset's
route is refused the same way, when the router can tell the trade's venue: from its orders,
``route_trade``, or the one venue holding a position of its side.

``stream_status()`` gives one status of the venues' user streams (the silence of the one silent
longest, the worst state), so the dead-man switch and the gateway's stream gauges watch the
streams behind the router.

The router remembers each order's venue until the order ends (``order_venues``: how it learns
it, and when it forgets it). An order it knows nothing of is cancelled on the routed venue.
``order_status`` asks the venue holding the order, or, not knowing it (after a restart), the
venue the order's asset is routed to when given it, else each venue in turn.
An order for an asset no venue is routed for (and no default) is rejected, naming the asset.
Venue order ids pass as each venue gives them: two venues' working orders of one id, which the
kernel, knowing orders by venue id alone, cannot both take, are named at ERROR.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import weakref
from collections.abc import Container, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from dita._kernel import TERMINAL_ORDER_STATUSES as FINAL_STATUSES
from dita._kernel import AccountEvent, KernelEventKind, VenueEvent, VenueOrder, VenueOrderStatus
from dita.venues._events import OrderEvents
from dita.venues._settings import check_venue_name
from dita.venues.order_venues import OrderVenues
from dita.venues.protocol import (
    UnknownVenueError,
    VenueAdapter,
    VenueEventStream,
    VenueMarketInfo,
    VenueUnavailable,
    order_lookup,
    order_status_asset,
    seen_ids_keyword,
    venue_following,
)
from dita.venues.trade_venues import PositionsAsked, TradeVenues, TradeVenueUnknown

if TYPE_CHECKING:
    from dita.kernel import ExecutionKernel
    from dita.risk import MarketLimits

__all__ = ["VenueRouter"]

log = logging.getLogger(__name__)


class VenueRouter:
    """``VenueRouter({"paper": PaperVenue(), "binance": CcxtVenue(...)}, default="paper",
    routes={"ETHUSDT": "binance"})``.

    ``account_venue`` (else ``default``) names the venue whose account events (balances,
    margins) the kernel's one account takes; every venue's FILL_SETTLED and FUNDING_FEE pass,
    without their balance figures.
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
        # Where each order is, and which venue each trade's orders go to: both read the venues
        # as ``add`` registers them.
        self._orders = OrderVenues(self._venues)
        self._trades = TradeVenues(self._venues)
        self._events = OrderEvents(name)
        # The seqs ``resume`` was given, for a venue added after it: unmarked, its ids would
        # repeat the last run's, and the recovered kernel refuse its answers as duplicates.
        self._resumed: list[int] = []
        # The assets ``note_held_assets`` was given, for the venue ``route()`` sends one to later.
        self._held_assets: list[str] = []
        # The kernel built over the router (``note_kernel``), whose open trades ``route()`` reads;
        # held weakly, so a kernel dropped is not kept alive by its venue.
        self._kernel: weakref.ref[ExecutionKernel] | None = None
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
        """Send new trades of ``asset`` to ``venue_name`` from now on, and tell that venue the
        kernel holds ``asset`` when ``note_held_assets`` said so. A ValueError, changing nothing,
        while a kernel built over the router holds an open trade of ``asset`` (a position, a
        working order, or an ended one kept for its late fills) on another venue: the kernel nets
        an asset's trades as one position to decide an exit's reduce-only flag, and trades on two
        venues would get it wrong."""
        if not isinstance(asset, str) or not asset:
            raise ValueError(f"asset must be a non-empty string, got {asset!r}")
        venue_name = self._known(venue_name, field="routes")
        self._refuse_move_with_trades_open(asset, venue_name)
        self._routes[asset] = venue_name
        if asset in self._held_assets:
            self._note_held(venue_name, [asset])

    def _refuse_move_with_trades_open(self, asset: str, venue_name: str) -> None:
        """Raise ValueError naming ``asset``, ``venue_name`` and the venue holding them when a
        kernel over the router holds open trades of ``asset`` on a venue other than
        ``venue_name``. A trade whose venue the router does not know (entered before a restart,
        or its entry not yet sent) counts as on the venue the asset is routed to."""
        routed = self._routes.get(asset, self._default)
        elsewhere: dict[str, list[str]] = {}
        for trade_id in self._open_trades(asset):
            held_on = self._trades.get(trade_id) or routed
            if held_on is not None and held_on != venue_name:
                elsewhere.setdefault(held_on, []).append(trade_id)
        if elsewhere:
            held = "; ".join(
                f"venue {name!r} holds trade(s) {', '.join(repr(t) for t in trades)}"
                for name, trades in sorted(elsewhere.items())
            )
            raise ValueError(
                f"cannot route asset {asset!r} to venue {venue_name!r}: {held} of it open; the kernel "
                f"nets an asset's open trades as one position on one venue (reduce-only exits), so "
                f"route {asset!r} once they are closed"
            )

    def _open_trades(self, asset: str) -> list[str]:
        """The trade ids of ``asset`` the kernel over the router holds a position or works an
        order in, or keeps an ended order of that may still fill (in doubt, owed fills, or ended
        without the venue's figure); none once it is closed and its orders settled."""
        kernel = self._live_kernel()
        if kernel is None:
            return []
        held = [kernel.slot_state(slot_id).trade_id for slot_id in kernel.open_slot_ids(asset)]
        orders = [*kernel.open_orders(), *kernel.awaited_orders(), *kernel.orders_ended_without_figure()]
        working = [order.trade_id for order in orders if order.asset == asset]
        return list(dict.fromkeys(t for t in held + working if t))

    def _live_kernel(self) -> ExecutionKernel | None:
        """The kernel over the router while it takes input: a closed one trades no more."""
        kernel = self._kernel() if self._kernel is not None else None
        return kernel if kernel is not None and kernel.input_refused_reason() is None else None

    def note_kernel(self, kernel: ExecutionKernel) -> None:
        """Remember ``kernel``, built over the router (``ExecutionKernel`` calls this once it has
        recovered from its log), whose open trades ``route()`` reads. One kernel at a time: the
        router knows a trade's venue by its id alone, and two kernels may each have a trade of one
        id (a ValueError while another takes input). A ValueError too when ``kernel`` holds an
        open trade on another venue than the one its asset is routed to."""
        other = self._live_kernel()
        if other is not None and other is not kernel:
            raise ValueError(
                f"a VenueRouter serves one kernel at a time: kernel {other.kernel_id!r} still trades "
                f"over it; close it, or build another router for kernel {kernel.kernel_id!r}"
            )
        self._refuse_routes_away_from_open_trades(kernel)
        self._kernel = weakref.ref(kernel)

    def _refuse_routes_away_from_open_trades(self, kernel: ExecutionKernel) -> None:
        """Raise ValueError naming the asset, the trade, its venue and the routed one when
        ``kernel`` (recovered from its log) holds an open trade on another venue than the one new
        trades of its asset go to: ``route()`` refuses that move, and ``routes=`` set before any
        kernel existed must not make it. A trade whose venue the router cannot tell is not
        checked: its exit goes to the routed venue, or is refused naming the trade."""
        asked: PositionsAsked = {}  # each venue asked once, however many trades are open
        for trade_id, asset, side in _open_trades_of(kernel):
            routed = self._routes.get(asset, self._default)
            if routed is None:
                continue  # its new trades are rejected: none goes to another venue
            held_on = self._trades.venue_name_of_open_trade(trade_id, asset, side, routed, asked)
            if held_on is None:
                continue
            how = (
                "where its orders went, or route_trade named"
                if self._trades.get(trade_id) is not None
                else f"the one venue holding a {side} {asset} position"
            )
            raise ValueError(
                f"kernel {kernel.kernel_id!r} holds trade {trade_id!r} of asset {asset!r} open on venue "
                f"{held_on!r} ({how}), but the router sends asset {asset!r} to venue {routed!r} "
                f"(routes=, else default): the kernel nets an asset's open trades as one position on one "
                f"venue (reduce-only exits), so route {asset!r} to {held_on!r} until the trade is closed; "
                f"if the trade is on {routed!r}, say so with route_trade({trade_id!r}, {routed!r}) "
                f"before building the kernel"
            )

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
            # An entry, or an exit held nowhere, goes where its asset is routed: looked up only
            # then, since an asset the router has no route for may still be held on one venue.
            venue_name = self._trades.venue_name_of(order) or self.venue_name_for(order.asset)
        except (UnknownVenueError, TradeVenueUnknown) as exc:
            # Not raised: the kernel keeps an order whose submit raised in flight, and this one
            # certainly went nowhere, so its slot would wait for an answer that never comes.
            reason = exc.args[0] if isinstance(exc, TradeVenueUnknown) else str(exc)
            if isinstance(exc, TradeVenueUnknown):
                log.error("router: %s", reason)
            return [self._refusal(order, KernelEventKind.REJECT, VenueOrderStatus.REJECTED, reason)]
        self._orders.sending(order.client_order_id, venue_name)
        self._trades.keep(order.trade_id, venue_name)
        try:
            events = self._venues[venue_name].submit(order)
        except BaseException:
            # Whatever it raised (a timeout, a reset connection, Ctrl-C), the order may be at the
            # venue: the kernel keeps it in flight, and the router must not take a venue's
            # open-orders list that does not show it yet for its end.
            if order.client_order_id:
                self._orders.in_doubt.add(order.client_order_id)
            raise
        return self._orders.submitted(order.client_order_id, events, venue_name)

    def route_trade(self, trade_id: str, venue_name: str) -> None:
        """Send the orders of trade ``trade_id`` to ``venue_name``, the venue its entry went to:
        after a restart, for an exit the router refuses because it cannot tell that venue."""
        if not isinstance(trade_id, str) or not trade_id:
            raise ValueError(f"trade_id must be a non-empty string, got {trade_id!r}")
        self._trades.keep(trade_id, self._known(venue_name, field="venue_name"))

    def venue_name_of_trade(self, trade_id: str) -> str | None:
        """The venue the orders of trade ``trade_id`` go to, if the router knows it."""
        return self._trades.get(trade_id)

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
        return self._orders.seen(self._venues[venue_name].cancel(order), venue_name)

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
        return self._orders.holding(order) or self.venue_name_for(order.asset)

    def venue_holding(self, order: VenueOrder) -> VenueAdapter:
        return self._venues[self.venue_name_holding(order)]

    def open_orders(self) -> list[VenueOrder]:
        return self._orders.open_orders()

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
        owner = self._orders.venue_of(client_order_id)
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
                    self._orders.ended_at(client_order_id, venue_name)
                else:
                    # Still in doubt if it was: working, yet not listed, is the lag it guards.
                    self._orders.remember(client_order_id, venue_name)
                return found
        if cannot_say:
            raise VenueUnavailable(
                f"{self.name}: status of {client_order_id!r} unknown: {'; '.join(cannot_say)}"
            )
        # The venue says it never received it (reconciliation ends it as a lost submit): it is
        # in doubt no more, and its venue is forgotten once that venue does not list it.
        self._orders.in_doubt.discard(client_order_id)
        return None

    def stream_status(self) -> Any:
        """One ``stream_status()`` for the venues' user streams, for the dead-man switch and the
        gateway's gauges: the silence and lag of the one silent longest (one that has had no
        frame yet before any), the worst state of them all (``down``, then ``reconciling``),
        their reconnects and the positions their exchanges closed themselves summed (with the
        latest such close), and the largest lag seen; None when no venue has a user stream."""
        statuses = []
        for adapter in self._venues.values():
            stream_status = getattr(adapter, "stream_status", None)
            status = stream_status() if callable(stream_status) else None
            if status is not None:
                statuses.append(status)
        if not statuses:
            return None
        longest = max(statuses, key=_silence)
        if len(statuses) == 1 or not dataclasses.is_dataclass(longest) or isinstance(longest, type):
            return longest
        lags = [s.max_lag_s for s in statuses if s.max_lag_s is not None]
        merged = dataclasses.replace(
            longest,
            state=min((s.state for s in statuses), key=lambda state: _STREAM_RANK.get(state, -1)),
            reconnects=sum(s.reconnects for s in statuses),
            max_lag_s=max(lags, default=None),
        )
        if not hasattr(merged, "exchange_closes"):
            return merged
        # A close the exchange made itself on one venue is not hidden by another's quiet stream.
        closes = [c for s in statuses if (c := getattr(s, "last_exchange_close", None)) is not None]
        return dataclasses.replace(
            merged,
            exchange_closes=sum(getattr(s, "exchange_closes", 0) for s in statuses),
            last_exchange_close=max(closes, key=lambda c: c.timestamp, default=None),
        )

    def following(self) -> bool:
        """Whether a venue behind the router still asks its exchange about an order (see
        ``CcxtVenue.following``)."""
        return any(venue_following(adapter) for adapter in self._venues.values())

    def watch(self, order: VenueOrder, seen_event_ids: Container[str] | None = None) -> None:
        """Have the venue holding ``order`` follow it in its ``poll_events`` (see
        ``CcxtVenue.watch``), with ``seen_event_ids`` where it takes them; a venue without
        ``watch`` learns of its orders otherwise."""
        watch = getattr(self.venue_holding(order), "watch", None)
        if callable(watch):
            watch(order, **seen_ids_keyword(watch, seen_event_ids))

    def trade_fills(
        self, order: VenueOrder, venue_order: VenueOrder, seen_event_ids: Container[str] | None = None
    ) -> list[VenueEvent]:
        """The fills the venue holding ``order`` lists by trade beyond what the kernel booked
        (see ``CcxtVenue.trade_fills``), with ``seen_event_ids`` where it takes them; none from
        a venue that cannot list them."""
        trade_fills = getattr(self.venue_holding(order), "trade_fills", None)
        if not callable(trade_fills):
            return []
        return list(trade_fills(order, venue_order, **seen_ids_keyword(trade_fills, seen_event_ids)))

    def listed_venue_order_id(self, order: VenueOrder) -> str:
        """The id under which the venue holding ``order`` lists it (see
        ``CcxtVenue.listed_venue_order_id``); the kernel's own for a venue that lists orders
        under that."""
        listed_as = getattr(self.venue_holding(order), "listed_venue_order_id", None)
        return str(listed_as(order)) if callable(listed_as) else order.venue_order_id

    def is_other_order(self, order: VenueOrder, listed: Any) -> bool:
        """Whether the venue holding ``order`` says ``listed``, under its client id, is another
        order (see ``IbkrVenue.is_other_order``); False for a venue that cannot tell."""
        is_other = getattr(self.venue_holding(order), "is_other_order", None)
        return bool(is_other(order, listed)) if callable(is_other) else False

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
                self._orders.note(theirs, venue_name)
                events.extend(theirs)
        return events

    def account_events(self) -> list[AccountEvent]:
        """The account events of the account venue (``account_venue``, else the default; see
        ``CcxtVenue.account_events``). The kernel keeps one account: another venue's balances
        would overwrite that venue's figures, so its events are dropped, logged at WARNING, all
        but its FILL_SETTLED and FUNDING_FEE: the kernel books that venue's fills, so their fees
        and its positions' funding are the account's; they pass without the balance figures
        they carry."""
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
            settled = [_without_balances(e) for e in theirs if _is_fill_money(e)]
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


def _open_trades_of(kernel: ExecutionKernel) -> list[tuple[str, str, str]]:
    """The trades ``kernel`` holds a position or works an order in, as (trade id, asset, side)."""
    held = [kernel.slot_state(slot_id) for slot_id in kernel.open_slot_ids()]
    trades = [(slot.trade_id, slot.asset, slot.side.name) for slot in held]
    trades += [(order.trade_id, order.asset, order.side.name) for order in kernel.open_orders()]
    by_id: dict[str, tuple[str, str, str]] = {}
    for trade in trades:
        if trade[0]:
            by_id.setdefault(trade[0], trade)
    return list(by_id.values())


# A user stream's states (``StreamStatus.state``), worst first; one not named here is worse still.
_STREAM_RANK = {"down": 0, "reconciling": 1, "up": 2}


def _silence(status: Any) -> float:
    """Seconds since a user stream's last frame; one that has had none is the most silent."""
    since = getattr(status, "since_last_frame_s", None)
    return math.inf if since is None else float(since)


def _is_fill_money(event: object) -> bool:
    """A fill's settled fee or a position's funding payment: money of the trades the kernel books."""
    return getattr(getattr(event, "kind", None), "name", None) in ("FILL_SETTLED", "FUNDING_FEE")


def _without_balances(event: AccountEvent) -> AccountEvent:
    """``event``, a FILL_SETTLED or FUNDING_FEE of a venue other than the account venue, without
    the balance and margin figures it carries: they are that venue's, and would overwrite the
    account's."""
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
