"""What the venue keeps of each order it follows (``TrackedOrder``), and the forms of an order's
id: the kernel's, qualified with the market, and the exchange's own."""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass, field
from typing import Any

from dita._kernel import VenueOrder, VenueOrderStatus

__all__ = [
    "TrackedOrder",
    "exchange_order_id",
    "never_acknowledged",
    "qualified_order_id",
    "record_key",
    "sum_error",
]


def sum_error(size: float) -> float:
    """How far trade amounts summed to about ``size`` may be from the exchange's own figure by
    float rounding alone: 1e-12 of it (each double added is off by 1e-16 of the sum at most).
    Anything more is a trade: at 1e9 units on a lot of 1 (a meme coin), 1e-9 of the size would
    be a whole lot, still working, read as filled."""
    return size * 1e-12


def qualified_order_id(market_id: str, exchange_order_id: str) -> str:
    """The kernel's id of an exchange order: ``<market id>:<exchange's id>`` ('' while it has
    none). Binance's order ids are unique only within a market, and the kernel's index of venue
    ids spans every market: two working orders of one id would have the second's ack and fills
    refused."""
    return f"{market_id}:{exchange_order_id}" if exchange_order_id else ""


def exchange_order_id(market_id: str, venue_order_id: str) -> str:
    """The exchange's own id of an order in ``market_id`` the kernel knows as ``venue_order_id``:
    qualified with the market (``qualified_order_id``), or bare, as an older log holds it."""
    prefix = f"{market_id}:"
    return venue_order_id[len(prefix) :] if venue_order_id.startswith(prefix) else venue_order_id


def never_acknowledged(order: VenueOrder) -> bool:
    """Whether the kernel never saw ``order`` acknowledged or filled: a submit in doubt (NEW), or
    an order in doubt (``orders_in_doubt()``: rate limited before its ack with a cancel asked,
    ended REJECTED and kept), which the exchange may show late if the throttled request was the
    cancel of a submit that timed out."""
    unheard = order.status in (VenueOrderStatus.NEW, VenueOrderStatus.REJECTED)
    return unheard and not order.venue_order_id and not order.filled_size > 0


def record_key(order: VenueOrder) -> str:
    """What the venue keeps ``order``'s record by: its client order id, or, for an order
    without one (placed by hand: some exchanges give it none), its exchange id; under the
    empty id, or the id it goes out under (the one hash of ''), all such orders would be one."""
    return order.client_order_id or f"venue:{order.venue_order_id}"


@dataclass
class TrackedOrder:
    """An order this venue sent (or took over after a restart), and what it has reported of it."""

    order: VenueOrder
    client_id: str
    symbol: str
    market_id: str
    # The exchange's own id, as its API takes it (unique only within the market on Binance);
    # the kernel knows the order as ``venue_order_id``.
    exchange_order_id: str = ""
    filled: float = 0.0
    acknowledged: bool = False
    # Nothing more to report: the record is dropped.
    terminal: bool = False
    cancel_requested: bool = False
    # When a cancel whose outcome is unknown (a timeout, a 5xx) found the order still working:
    # polled until it ends, or until the grace passes and the cancel is reported not carried out.
    cancel_unknown_since: float | None = None
    # A cancel went out whose answer never came: the exchange may carry it out however late,
    # also once it was reported not carried out, and an end by cancel is then that cancel's.
    cancel_in_flight: bool = False
    # Set when a submit timed out and the order has not been found yet.
    unresolved_since: float | None = None
    # When the exchange first answered "no such order" about it (since it last had it): the
    # grace runs from then, as a lookup that got no answer (unreachable, throttled) says
    # nothing about the order.
    not_found_since: float | None = None
    # When the end (cancel, expiry) was reported while the exchange counted more filled than
    # its trade list showed yet: the order is polled for those trades until they come.
    ended_at: float | None = None
    # The trades (``fill_key``) reported as its fills, or booked before a restart, and the id
    # of a fill booked from the order: kept while it is followed, however many other fills the
    # process reports meanwhile (a memory shared by all orders could forget a resting order's
    # first trade, and report it again).
    reported_fills: set[str] = field(default_factory=set)
    # What the fills reported so far cost (size x price): the rest of an order booked from its
    # own cost is priced by what is left of it.
    booked_cost: float = 0.0
    # When the exchange first said closed an order whose trade list did not show all it filled
    # (or, stating no filled size, all of the order).
    trades_missing_since: float | None = None
    # The last answer about an order that is over with more filled than its trades show: the
    # fill is booked from it after the wait even when the order cannot be asked about by then.
    owed_answer: dict[str, Any] | None = None
    # An order taken over from before a restart: what the kernel had booked of it (its filled
    # size then) not yet matched to trades. A trade whose fill the kernel applied
    # (``kernel_event_ids``) is matched by its id; the rest is matched to the oldest trades left.
    booked_unmatched: float = 0.0
    # The event ids the kernel had applied in the order's slot when it was taken over
    # (``TradeSlot.seen_event_ids``, which reconciliation gives): None when it did not say.
    kernel_event_ids: Container[str] | None = None
    # Its trade list could not be read whole the last time it was asked for (throttled, banned, a
    # request failed): REST asks about the order at every poll, the user stream up or not, until
    # a read goes through.
    trades_unread: bool = False
    # The filled size that read was to show: it stays unread until the fills reported reach it,
    # whatever a later answer says (one lagging the stream's says less).
    unread_filled: float = 0.0
    # The last question about it got no answer that read (an error other than "no such order",
    # an answer that did not parse): REST asks about it at every poll, the user stream up or not.
    unanswered: bool = False
    # An order taken over from a kernel whose log holds its id bare (not qualified with the
    # market): that id. Its events name it so, as the kernel refuses an event under another
    # venue id than its order carries.
    kernel_order_id: str = ""
    # The last status not known here that the exchange gave it (warned of once).
    unknown_status: str = ""

    @property
    def venue_order_id(self) -> str:
        """The order's id in the events for the kernel: the exchange's, qualified with its market
        (the bare id the kernel holds, for an order taken over from an older log)."""
        return self.kernel_order_id or qualified_order_id(self.market_id, self.exchange_order_id)

    @property
    def event_key(self) -> str:
        """What the order's ack and end events are named by: its venue order id, or while the
        exchange gave it none (an answer without one) ``client:<client id>``: under the empty id
        every such order's ack and end would be one event, and the kernel would refuse a later
        order's as a duplicate. The qualified id, also for an order the kernel holds bare
        (``kernel_order_id``), so its event ids do not depend on the log's form."""
        return qualified_order_id(self.market_id, self.exchange_order_id) or f"client:{self.client_id}"

    @property
    def order_key(self) -> str:
        """What the order's own fill ids are named by (a fill booked from the order, a fill of a
        trade another order reported): the exchange's bare id, so a fill keeps the id an older
        log holds it under, or while the exchange gave it none ``client:<client id>``: under the
        empty id the fills of two such orders would be one, and the kernel refuse the second."""
        return self.exchange_order_id or f"client:{self.client_id}"

    @property
    def canceled_by_us(self) -> bool:
        """Whether an end by cancel is a cancel of ours (``CANCEL_ACK``): one asked for and not
        refused, or one in flight (``cancel_in_flight``). Else the exchange ended the order on
        its own (by hand on its website, say), an end nobody asked for: ``EXPIRED``."""
        return self.cancel_requested or self.cancel_in_flight

    def fill_key(self, trade: dict[str, Any]) -> str:
        """What a trade of the order is known by: Binance trade ids are unique per market, not
        across markets."""
        return f"{self.market_id}:{trade['id']}"

    def note_not_found(self, now: float) -> float:
        """Note a "no such order" answer about the order; seconds since the first."""
        if self.not_found_since is None:
            self.not_found_since = now
        return now - self.not_found_since
