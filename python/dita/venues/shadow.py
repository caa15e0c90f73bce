"""ShadowVenue: nothing leaves the process; every order fills at once, in full, at its
reference price. It answers "what would the strategy have done" with no market model at all,
which is why the next step before live is the paper venue, not this one."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping

from pydantic import BaseModel, ConfigDict, Field

from dita._kernel import KernelEventKind, OrderType, VenueEvent, VenueOrder, VenueOrderStatus
from dita._numbers import Number
from dita.risk import MarketLimits
from dita.venues._events import OrderEvents, RecentOrders, answered, move, require_order, signed
from dita.venues._settings import VenueInputs, VenueName
from dita.venues.protocol import order_status_asset

__all__ = ["ShadowSettings", "ShadowVenue"]

# Orders whose outcome ``order_status`` still tells (the newest ones; as the paper venue's).
ORDER_MEMORY = 10_000


class ShadowSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    name: VenueName = "shadow"
    quote_currency: str = Field(default="USDT", min_length=1)
    starting_balance: Number = Field(default=0.0, ge=0, description="quote-currency cash at start")


class ShadowVenue:
    """``ShadowVenue(name="shadow", quote_currency="USDT", starting_balance=0.0,
    market_limits=None, clock=None)``.

    Market orders fill at ``order.reference_price`` (the order's price when no reference was
    given), limit orders at their limit price. Fees are left to the kernel's fee model
    (``fee=None``). ``clock`` supplies event timestamps (default: the order's creation time),
    so a run is reproducible.
    """

    def __init__(
        self,
        *,
        market_limits: Mapping[str, MarketLimits] | None = None,
        clock: Callable[[], float] | None = None,
        **settings: object,
    ) -> None:
        self.settings = ShadowSettings.model_validate(settings)
        inputs = VenueInputs.model_validate({"market_limits": market_limits, "clock": clock})
        self.name = self.settings.name
        self._events = OrderEvents(self.name)
        self._clock = inputs.clock
        self._market_limits = dict(inputs.market_limits or {})
        self._positions: dict[str, float] = {}
        # The largest each position has been since it was last flat (``move``).
        self._position_peaks: dict[str, float] = {}
        self._cash = self.settings.starting_balance
        self._outcomes: RecentOrders[VenueOrder] = RecentOrders(ORDER_MEMORY)
        self.submitted = 0
        # The kernel holds nothing while ``submit`` runs, so threads sharing a kernel call it at
        # once: unguarded, two fills could read the position before either wrote it (one lost),
        # and ``positions()`` raise while a fill adds an asset. Never held calling out.
        self._lock = threading.Lock()

    def _now(self, order: VenueOrder) -> float:
        return self._clock() if self._clock is not None else order.created_at

    def submit(self, order: VenueOrder) -> list[VenueEvent]:
        require_order(order)
        now = self._now(order)  # the caller's clock, read before the guard is taken
        with self._lock:
            return self._fill(order, now)

    def _fill(self, order: VenueOrder, now: float) -> list[VenueEvent]:
        self.submitted += 1
        venue_order_id = self._events.venue_order_id()
        if order.order_type == OrderType.LIMIT:
            price = order.price
        else:
            price = order.reference_price if order.reference_price > 0 else order.price
        if not (math.isfinite(price) and price > 0 and math.isfinite(order.size) and order.size > 0):
            if not (math.isfinite(order.size) and order.size > 0):
                missing = f"size is {order.size!r}"
            elif order.order_type == OrderType.LIMIT:
                missing = f"limit price is {price!r}"
            else:
                missing = f"no reference price ({price!r})"
            reason = f"venue {self.name!r} cannot fill: {missing}"
            self._remember(order, venue_order_id, VenueOrderStatus.REJECTED, 0.0, 0.0)
            return [
                self._events.make(
                    order,
                    KernelEventKind.REJECT,
                    VenueOrderStatus.REJECTED,
                    venue_order_id=venue_order_id,
                    timestamp=now,
                    reason=reason,
                )
            ]
        ack = self._events.make(
            order,
            KernelEventKind.ORDER_ACK,
            VenueOrderStatus.ACKNOWLEDGED,
            venue_order_id=venue_order_id,
            timestamp=now,
        )
        fill = self._events.make(
            order,
            KernelEventKind.FILL,
            VenueOrderStatus.FILLED,
            venue_order_id=venue_order_id,
            timestamp=now,
            price=price,
            size=order.size,
            filled_size=order.size,
            fill_id=f"{venue_order_id}-f1",
        )
        delta = signed(order.order_side, order.size)
        move(self._positions, self._position_peaks, order.asset, delta)
        self._cash -= delta * price
        self._remember(order, venue_order_id, VenueOrderStatus.FILLED, order.size, price)
        return [ack, fill]

    def _remember(
        self, order: VenueOrder, venue_order_id: str, status: VenueOrderStatus, filled: float, price: float
    ) -> None:
        if not order.client_order_id:
            return
        self._outcomes.put(order.client_order_id, answered(order, venue_order_id, status, filled, price))

    def order_status(self, client_order_id: str, asset: str | None = None) -> VenueOrder | None:
        """The order as this venue answered it (FILLED in full, or REJECTED), among the last
        ``ORDER_MEMORY``; None when this venue never received it, as after a restart the last
        run's orders: reconciliation ends such an order in the kernel, where an order whose answer
        was lost would otherwise stay in flight for good (its cancel refused, nothing working here).
        ``asset`` (the kernel's asset of the order; None: any): an order of another asset is not
        the one asked for (None)."""
        asset = order_status_asset(asset, self.name)
        found = self._outcomes.get(client_order_id)
        return found if found is None or asset is None or found.asset == asset else None

    def resume(self, seq: int) -> None:
        """Mark this venue's ids with ``seq``: the kernel recovered from its write-ahead log
        beside it calls this, so no answer of this run takes an id of the last run's."""
        with self._lock:
            self._events.resume(seq)

    def cancel(self, order: VenueOrder) -> list[VenueEvent]:
        # Shadow orders fill on submit, so there is never anything left to cancel.
        return [
            self._events.make(
                order,
                KernelEventKind.CANCEL_REJECT,
                order.status,
                venue_order_id=order.venue_order_id,
                timestamp=self._now(order),
                filled_size=order.filled_size,
                reason="shadow orders fill on submit; nothing is working",
            )
        ]

    def open_orders(self) -> list[VenueOrder]:
        return []

    def positions(self) -> dict[str, float]:
        with self._lock:
            return {asset: size for asset, size in self._positions.items() if size != 0.0}

    def balances(self) -> dict[str, float]:
        with self._lock:
            return {self.settings.quote_currency: self._cash}

    def market_metadata(self) -> dict[str, MarketLimits]:
        return dict(self._market_limits)

    def __repr__(self) -> str:
        return f"ShadowVenue(name={self.name!r}, submitted={self.submitted})"
