"""What every venue answers to (the ``VenueAdapter`` protocol, its optional parts), the
errors a venue raises, and the helpers the kernel and the runtime use to talk to any venue."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Container
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from dita._kernel import VenueEvent, VenueOrder

if TYPE_CHECKING:
    from dita.risk import MarketLimits


log = logging.getLogger(__name__)

# How often a venue that reports later (``poll_events``) is asked for its news by default (the
# HTTP gateway, the stdio protocol, a TradingRuntime on the wall clock): a REST venue asks the
# exchange about each working order per poll, so more often soon meets its rate limits.
POLL_SECONDS = 1.0


class VenueTimeout(Exception):
    """A submit or cancel whose outcome is unknown. The kernel keeps the order in flight
    (ORDER_SENT / EXIT_SENT) until the venue says what happened; it never assumes a reject.

    Adapters raise it only after trying to learn the outcome (looking the order up by client
    order id) and failing; what they learn later arrives through ``poll_events``.
    """

    def __init__(self, message: str, *, client_order_id: str = "") -> None:
        super().__init__(message)
        self.client_order_id = client_order_id


class VenueUnavailable(RuntimeError):
    """A question the venue could not be asked or did not answer (unreachable, throttling, an
    error answer). Nothing was learned: in particular it is not "no such order"."""


@runtime_checkable
class VenueAdapter(Protocol):
    """What the kernel needs of a venue. The native ``MockVenueAdapter`` satisfies it.

    The kernel holds nothing while ``submit``/``cancel`` run: other threads may use it, and
    they may call ``kernel.on_venue_event`` themselves (docs/concepts/venues.md, "Threads").
    """

    name: str

    def submit(self, order: VenueOrder) -> list[VenueEvent]:
        """Send ``order``; return what the venue said synchronously (may be empty)."""

    def cancel(self, order: VenueOrder) -> list[VenueEvent]:
        """Ask the venue to cancel ``order``; return what it said synchronously. A ``cancel``
        with a parameter named ``reason`` (by keyword) is given why: a CANCEL intent's reason,
        or the kernel's own (``edge_freeze``, ``late_exit_fill``)."""

    def open_orders(self) -> list[VenueOrder]:
        """Orders the venue holds as working (for reconciliation after a restart)."""

    def positions(self) -> dict[str, float]:
        """Signed position size per asset (positive long, negative short)."""

    # Optional: ``order_status(client_order_id, asset=None) -> VenueOrder | None``, the venue's
    # order by the kernel's client id (None: the venue never received it; raises
    # ``VenueUnavailable`` when it cannot say), with which reconciliation learns what became of
    # an order it no longer lists. ``asset``: the kernel's asset (market id) of the order, which
    # reconciliation gives, so a venue looks in that market only; None: unknown, look anywhere.
    # An adapter whose ``order_status`` takes no ``asset`` by keyword is called without it.
    # Optional: ``watch(order)``: follow an order of the kernel's the venue has no record of (sent
    # before a restart) in its ``poll_events``; reconciliation calls it for each order the kernel
    # still works (raising: reported in ``unwatched``). Optional: ``trade_fills(order,
    # venue_order)``, the fills of ``order`` beyond what the kernel booked, one per trade. Where
    # either takes ``seen_event_ids`` by keyword, reconciliation gives the event ids the kernel
    # applied in the order's slot (``TradeSlot.seen_event_ids``): the trades it booked, by id.
    # Optional: ``following() -> bool``: whether ``poll_events`` still asks about an order (one
    # ended without its filled size, say); a runtime polls while it does, whatever the kernel works.
    # Optional: ``listed_client_order_id(order)`` and ``listed_venue_order_id(order)``: the ids
    # ``open_orders`` lists the kernel's order under when they are not the kernel's (a client id
    # sent hashed, a venue id in another form), so reconciliation knows it as the kernel's own.
    # Optional: ``position_asset(asset) -> str``: the name ``positions()`` gives the kernel's
    # ``asset`` when it is not that (a ccxt symbol, by its market id); reconciliation compares
    # the positions under it.
    # Optional: ``account_events() -> list[AccountEvent]``: what the exchange reported of the
    # account since the last call (balances, margins, funding payments), each returned once;
    # whoever polls the venue gives them to ``kernel.on_account_event`` (``take_account_events``).
    # Optional: ``resume(seq)``. A kernel recovered from its write-ahead log calls it with its
    # seq when it is built, so a venue naming events with its own counts never repeats an id
    # of the last run's (the kernel would refuse the answer as a duplicate).
    # Optional: ``note_held_assets(assets)``. An ``ExecutionKernel`` built over the venue calls it
    # with the assets its slots hold a position or work an order in (the ccxt venue fixes the
    # name each market's entries go under by them).
    # Optional: ``note_kernel(kernel)``. An ``ExecutionKernel`` built over the venue calls it with
    # itself (a ``VenueRouter`` reads its open trades before it moves an asset to another venue).


@runtime_checkable
class VenueMarketInfo(Protocol):
    """Account and market facts a venue can state (the Python venues all do)."""

    def balances(self) -> dict[str, float]:
        """Total balance per currency."""

    def market_metadata(self) -> dict[str, MarketLimits]:
        """Trading rules (lot step, tick size, minimums) per asset the venue knows."""


@runtime_checkable
class VenueEventStream(Protocol):
    """A venue that learns about orders after ``submit`` returned (fills of resting orders,
    outcomes of timed-out submits). The caller feeds each event to ``kernel.on_venue_event``."""

    def poll_events(self) -> list[VenueEvent]:
        """Events produced since the last call, oldest first; each is returned once."""


def poll_once(poll_events: Callable[[], Any]) -> tuple[list[Any], str]:
    """One call of a venue's ``poll_events``: what it gave as a list and "", or no events and
    what went wrong (``the venue's poll_events raised ConnectionError: ...``, ``... gave
    NoneType, not a list of events``). A venue's fault is the caller's to log and count, and
    must not end the loop that polls: the next poll may well answer. The items are as the venue
    gave them (the kernel names one that is not a ``VenueEvent``)."""
    try:
        events = poll_events()
    except Exception as exc:
        return [], f"the venue's poll_events raised {type(exc).__name__}: {exc}"
    if not isinstance(events, list | tuple):
        # None, one event, a dict: iterated, it raised in the middle of the caller's loop.
        return [], f"the venue's poll_events gave {type(events).__name__}, not a list of events"
    return list(events), ""


class UnknownVenueError(KeyError):
    """A venue name the router does not know."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown venue"


def venue_following(venue: Any) -> bool:
    """``venue.following()`` where it has one (``CcxtVenue``, ``VenueRouter``): whether its
    ``poll_events`` still asks about an order the kernel may have ended. False without one, or
    when it raised (logged): the runtime then polls as it did, while orders work."""
    following = getattr(venue, "following", None)
    if not callable(following):
        return False
    try:
        return bool(following())
    except Exception as exc:
        log.warning("venue %r: following() raised %s: %s", describe(venue), type(exc).__name__, exc)
        return False


def describe(venue: Any) -> str:
    return getattr(venue, "name", type(venue).__name__)


def order_status_asset(asset: object, venue: str) -> str | None:
    """``asset`` as a venue's ``order_status`` takes it: the kernel's asset (market id) of the
    order, or None (unknown). Anything else is a TypeError naming it, before anything is asked."""
    if asset is None or isinstance(asset, str):
        return asset
    raise TypeError(f"{venue}: order_status: asset={asset!r} must be a str (the order's market id) or None")


def takes_keyword(method: Callable[..., Any], name: str) -> bool:
    """Whether ``method`` takes a parameter ``name`` by keyword, read from its signature (one
    without a signature to read takes none)."""
    try:
        taken = inspect.signature(method).parameters.get(name)
    except (TypeError, ValueError):
        return False
    return taken is not None and taken.kind in (taken.POSITIONAL_OR_KEYWORD, taken.KEYWORD_ONLY)


def seen_ids_keyword(method: Callable[..., Any], seen_event_ids: Container[str] | None) -> dict[str, Any]:
    """``seen_event_ids`` as a keyword argument of a venue's ``watch`` or ``trade_fills``: none
    for one that does not take it (``takes_keyword``), or when there are none to give."""
    if seen_event_ids is None or not takes_keyword(method, "seen_event_ids"):
        return {}
    return {"seen_event_ids": seen_event_ids}


def order_lookup(venue: Any) -> Callable[[str, str | None], VenueOrder | None] | None:
    """``venue``'s ``order_status`` (None without a callable one) as a call of a client order
    id and the order's asset, the asset given only where it is taken by keyword: an adapter
    whose ``order_status`` has no parameter named ``asset`` is called with the client id alone
    (so is one whose ``asset`` is positional-only). Its signature
    is read here, once: a TypeError the call raises is the adapter's own, never taken for a
    refused ``asset`` and retried without it."""
    lookup = getattr(venue, "order_status", None)
    if not callable(lookup):
        return None
    if takes_keyword(lookup, "asset"):
        return lambda client_order_id, asset: lookup(client_order_id, asset=asset)
    return lambda client_order_id, asset: lookup(client_order_id)
