"""The paper venue's order book: its working orders (``_Working``: an order and what the venue
has done with it), positions, cash and fees, the last top of book of each asset (``_Quote``) and
its clock, with what it tells of them (``open_orders``, ``order_status``, ``positions``,
``balances``). ``_OrderBook`` holds that state; the venue's other behaviours, one module each,
work on it (see ``venue``)."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from dita._kernel import KernelEventKind, OrderSide, OrderType, VenueEvent, VenueOrder, VenueOrderStatus
from dita._numbers import is_real
from dita.risk import MarketLimits
from dita.venues._events import OrderEvents, RecentOrders, answered
from dita.venues._settings import VenueInputs
from dita.venues.paper.settings import PaperSettings
from dita.venues.protocol import order_status_asset

# How many ended orders ``order_status`` remembers (reconciliation asks about orders the
# kernel still works, which ended recently if at all).
ENDED_MEMORY = 10_000


@dataclass
class _Quote:
    bid: float
    ask: float
    bid_size: float
    ask_size: float


@dataclass
class _Working:
    """A working order and what the venue has done with it."""

    order: VenueOrder
    venue_order_id: str
    active_at: float
    # The venue clock when it was sent: a bar stamped then (another asset's, say) opened
    # before the decision, so only later bars can fill it.
    sent_at: float
    filled: float = 0.0
    # Sum of price x size over the fills, for the average fill price open_orders() reports.
    filled_cost: float = 0.0
    fills: int = 0
    # Set once a matching pass found it on the book (a limit order the market did not cross, or
    # that filled as a maker; a market order, once live through a pass): later limit fills are
    # maker fills at its limit. A marketable limit cut short by the quoted size or the bar's
    # volume is not resting: it still takes the market, as a taker, until the market leaves it.
    resting: bool = False
    cancel_at: float | None = None
    # Sent (or its cancel asked) on a bar, with a latency: decided at that bar's close, which
    # is known at the next bar's open; until then active_at (cancel_at) counts from its open.
    awaits_close: bool = False
    cancel_awaits_close: bool = False
    # Taken over from an earlier run's book (restore_book): its fills' ids carry this run's mark.
    restored: bool = False
    # Copies of the order's fields: reading them from the native order on every quote costs.
    size: float = field(init=False)
    buy: bool = field(init=False)
    market: bool = field(init=False)
    limit: float = field(init=False)
    reduce_only: bool = field(init=False)

    def __post_init__(self) -> None:
        self.size = self.order.size
        self.buy = self.order.order_side == OrderSide.BUY
        self.market = self.order.order_type == OrderType.MARKET
        self.limit = self.order.price
        self.reduce_only = self.order.reduce_only

    @property
    def remaining(self) -> float:
        return self.size - self.filled

    def take(self, qty: float, price: float) -> float:
        """Count a fill of ``qty`` at ``price``; returns the size filled: the last fill snapped
        to what is left, so float dust never leaves a remainder."""
        if self.remaining - qty <= self.size * 1e-12:
            qty = self.remaining
            self.filled = self.size
        else:
            self.filled += qty
        self.fills += 1
        self.filled_cost += price * qty
        return qty


def _finite(field: str, value: object, *, positive: bool = False, signed: bool = False) -> float:
    """``value`` as a finite float: above 0 with ``positive``, below 0 too with ``signed``."""
    if not is_real(value):
        raise TypeError(f"{field} must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{field} must be finite, got {value!r}")
    if positive and number <= 0:
        raise ValueError(f"{field} must be positive, got {value!r}")
    if number < 0 and not signed:
        raise ValueError(f"{field} must not be negative, got {value!r}")
    return number


def _check_asset(asset: object) -> None:
    if not isinstance(asset, str) or not asset:
        raise ValueError(f"asset must be a non-empty string, got {asset!r}")


def _checked_bar(
    asset: object, open: object, high: object, low: object, close: object, volume: object, ts: object
) -> tuple[float, float, float, float, float, float]:
    """A bar of ``asset`` as a market can show one: prices above 0, high and low around open and
    close, volume not negative, ``ts`` a time not negative; as floats (open, high, low, close,
    volume, ts). Each refusal names its field."""
    _check_asset(asset)
    open_ = _finite("open", open, positive=True)
    high_ = _finite("high", high, positive=True)
    low_ = _finite("low", low, positive=True)
    close_ = _finite("close", close, positive=True)
    volume_ = _finite("volume", volume)
    if high_ < max(open_, close_, low_) or low_ > min(open_, close_):
        raise ValueError(
            f"bar for {asset!r} is inconsistent: open={open!r} high={high!r} low={low!r} close={close!r}"
        )
    return open_, high_, low_, close_, volume_, _finite("ts", ts)


def _checked_quote(
    asset: str, bid: object, ask: object, bid_size: object, ask_size: object, named: str = ""
) -> _Quote:
    """A top of book of ``asset`` as a market can show one: bid and ask above 0, the ask not
    below the bid, sizes not negative; each refusal names its field after ``named``."""
    quote = _Quote(
        _finite(f"{named}bid", bid, positive=True),
        _finite(f"{named}ask", ask, positive=True),
        _finite(f"{named}bid_size", bid_size),
        _finite(f"{named}ask_size", ask_size),
    )
    if quote.ask < quote.bid:
        raise ValueError(
            f"{named}ask {quote.ask!r} is below bid {quote.bid!r} for {asset!r}: a crossed quote"
        )
    return quote


class _OrderBook:
    """What the paper venue holds, its clock, and what it tells of its orders, positions
    and cash: the state ``PaperVenue``'s other parts work on."""

    def __init__(
        self,
        *,
        market_limits: Mapping[str, MarketLimits] | None = None,
        clock: Callable[[], float] | None = None,
        assets: Iterable[str] | None = None,
        **settings: object,
    ) -> None:
        self.settings = PaperSettings.model_validate(settings)
        inputs = VenueInputs.model_validate(
            {"market_limits": market_limits, "assets": assets, "clock": clock}
        )
        self._assets = inputs.assets
        s = self.settings
        self.name = s.name
        self._taker_rate = s.taker_rate
        self._leverage = s.leverage
        self._maker_rate = s.maker_rate
        self._slip = s.slippage_bps / 10_000.0
        self._latency = s.latency_ms / 1000.0
        self._bar_seconds = s.bar_seconds
        self._expire_remainder = s.market_remainder == "expire"
        self._events = OrderEvents(self.name)
        self._market_limits = dict(inputs.market_limits or {})
        self._clock_fn = inputs.clock
        self._now: float | None = None
        self._quotes: dict[str, _Quote] = {}
        # Assets whose latest data was a bar: market orders there wait for the next bar's open.
        self._bar_assets: set[str] = set()
        # The stamp of each asset's last bar (kept in ``book()``): a second bar of one asset and
        # time (a row repeated) would fill its volume share again.
        self._bar_at: dict[str, float] = {}
        # Whether the latest data was a bar (its stamp the open of a bar still going on), and
        # the orders sent or canceled then, whose latency counts from the bar's close.
        self._on_a_bar = False
        self._awaiting_close: dict[str, _Working] = {}
        self._working: dict[str, dict[str, _Working]] = {}
        self._by_client_id: dict[str, _Working] = {}
        # Orders whose cancel is on its way (latency), in the order the cancels were asked.
        self._canceling: dict[str, _Working] = {}
        # Orders that ended here (filled, canceled, expired), newest last, for order_status.
        self._ended: RecentOrders[tuple[_Working, VenueOrderStatus]] = RecentOrders(ENDED_MEMORY)
        self._positions: dict[str, float] = {}
        # The largest each position has been since it was last flat (``move``).
        self._position_peaks: dict[str, float] = {}
        self._cash = s.starting_balance
        self._fees_paid = 0.0
        self.submitted = 0
        # The ``order_seq`` of the book ``restore_book`` took (None: none): the orders ``catch_up``
        # puts back are those this venue placed after it.
        self._book_order_seq: int | None = None
        # The last event of that book, as its marks and count (None: none, or an older book without
        # it): ``catch_up`` leaves alone a fill the book holds already.
        self._book_last_event: tuple[str, int] | None = None
        # The orders ``catch_up`` put back, and the times the cancels it put back were asked, by
        # client order id: whether each was sent on a bar is the data's ``pass_over`` takes up to
        # it (``_sent_on_data``). The ask's time is kept: a bar's close moves ``cancel_at`` on.
        self._put_back_orders: dict[str, _Working] = {}
        self._asked_after_save: dict[str, float] = {}
        # The kernel holds nothing while ``submit`` runs, so threads sharing a kernel call it at
        # once: unguarded, two fills could read the position before either wrote it (one lost),
        # and ``positions()`` raise while a fill adds an asset. Reentrant: ``submit`` reads
        # ``margin()``. Never held calling out: the clock is read before it is taken.
        self._lock = threading.RLock()

    def now(self, order: VenueOrder | None = None) -> float:
        """The venue clock: the last data timestamp (or the injected clock, or the order's time)."""
        clock = self._read_clock()
        with self._lock:
            return self._time(clock, order)

    def _read_clock(self) -> float | None:
        """The injected clock's time (None without one): the caller's code, read outside the
        guard, so a clock that waits on another thread using this venue cannot deadlock it."""
        return self._clock_fn() if self._clock_fn is not None else None

    def _time(self, clock: float | None, order: VenueOrder | None) -> float:
        """``now()`` given the clock's reading ``clock``."""
        if clock is not None:
            return clock
        if self._now is not None:
            return self._now
        return order.created_at if order is not None else 0.0

    def _sent_on_a_bar(self) -> bool:
        """Whether an order or a cancel sent now is sent on a bar, and so decided at that bar's
        close: the latest data is a bar, under the data's clock (a live clock times it itself)."""
        return self._on_a_bar and self._clock_fn is None

    @property
    def data_time(self) -> float | None:
        """The time of the last data this venue took (None before any): no later data may be
        earlier. Under an injected clock too, whose time ``now()`` gives instead."""
        with self._lock:
            return self._now

    def _advance(self, ts: float) -> float:
        """``ts`` (finite already) as the new data time: refused when before the clock."""
        if self._now is not None and ts < self._now:
            raise ValueError(
                f"ts {ts!r} is earlier than the venue clock {self._now!r}; data must be in time order"
            )
        return ts

    def _cancel_now(self, working: _Working, now: float) -> VenueEvent:
        return self._take_off(working, KernelEventKind.CANCEL_ACK, VenueOrderStatus.CANCELED, now)

    def _take_off(
        self, working: _Working, kind: KernelEventKind, status: VenueOrderStatus, ts: float, reason: str = ""
    ) -> VenueEvent:
        """Take ``working`` off the book as ``status``: the event saying so at ``ts`` (``kind``),
        with what it filled and ``reason``."""
        self._remove(working, status)
        return self._events.make(
            working.order,
            kind,
            status,
            venue_order_id=working.venue_order_id,
            timestamp=ts,
            filled_size=working.filled,
            reason=reason,
        )

    def _remove(self, working: _Working, status: VenueOrderStatus) -> None:
        client_order_id = working.order.client_order_id
        self._by_client_id.pop(client_order_id, None)
        self._canceling.pop(client_order_id, None)
        self._awaiting_close.pop(client_order_id, None)
        per_asset = self._working.get(working.order.asset)
        if per_asset is not None:
            per_asset.pop(client_order_id, None)
        self._ended.put(client_order_id, (working, status))

    def open_orders(self) -> list[VenueOrder]:
        """Working orders with what they filled so far: reconciliation books a fill the
        kernel missed from the filled size and average price."""
        with self._lock:
            return [self._venue_order(w, None) for w in self._by_client_id.values()]

    def order_status(self, client_order_id: str, asset: str | None = None) -> VenueOrder | None:
        """The order as this venue knows it: working, or ended here (FILLED, CANCELED,
        EXPIRED, among the last ``ENDED_MEMORY``), with what it filled. None when this venue
        never held it, as after a restart the last run's orders: the venue that held them is
        gone and they can never fill, so reconciliation ends them in the kernel. ``asset`` (the
        kernel's asset of the order; None: any): an order of another asset is not the one
        asked for (None)."""
        asset = order_status_asset(asset, self.name)
        with self._lock:
            working = self._by_client_id.get(client_order_id)
            if working is not None:
                found = self._venue_order(working, None)
            else:
                ended = self._ended.get(client_order_id)
                if ended is None:
                    return None
                found = self._venue_order(*ended)
        return found if asset is None or found.asset == asset else None

    @staticmethod
    def _venue_order(w: _Working, status: VenueOrderStatus | None) -> VenueOrder:
        if status is None:
            status = VenueOrderStatus.PARTIALLY_FILLED if w.filled > 0 else VenueOrderStatus.ACKNOWLEDGED
        average = w.filled_cost / w.filled if w.filled > 0 else 0.0
        return answered(w.order, w.venue_order_id, status, w.filled, average)

    def working_size(self, client_order_id: str) -> tuple[float, float] | None:
        """``(filled, remaining)`` of a working order, None when it is not working."""
        with self._lock:
            working = self._by_client_id.get(client_order_id)
            return None if working is None else (working.filled, working.remaining)

    def positions(self) -> dict[str, float]:
        with self._lock:
            return {asset: size for asset, size in self._positions.items() if size != 0.0}

    def balances(self) -> dict[str, float]:
        with self._lock:
            return {self.settings.quote_currency: self._cash}

    @property
    def fees_paid(self) -> float:
        with self._lock:
            return self._fees_paid

    def market_metadata(self) -> dict[str, MarketLimits]:
        with self._lock:
            return dict(self._market_limits)

    def set_market_limits(self, asset: str, limits: MarketLimits) -> None:
        checked = VenueInputs.model_validate({"market_limits": {asset: limits}}).market_limits or {}
        with self._lock:
            self._market_limits.update(checked)

    def resume(self, seq: int) -> None:
        """Mark this venue's ids with ``seq``: the kernel recovered from its write-ahead log
        beside it calls this, so no answer of this run takes an id of the last run's."""
        with self._lock:
            self._events.resume(seq)

    def __repr__(self) -> str:
        with self._lock:
            working, submitted = len(self._by_client_id), self.submitted
        return f"PaperVenue(name={self.name!r}, working={working}, submitted={submitted})"
