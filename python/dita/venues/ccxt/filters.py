"""A market's filters beyond its lot, tick and minimums (which the kernel checks itself): the
largest size, a market order's own size rules, the largest notional, the price band, how far a
limit price may stray from the market and how many orders may work. Read from ccxt's unified
limits, and from Binance's own filters (``market["info"]["filters"]``) where ccxt leaves them out
(MARKET_LOT_SIZE's step, NOTIONAL's ``applyMaxToMarket``, PERCENT_PRICE_BY_SIDE, MAX_NUM_ORDERS).

An order breaking one is refused before it is sent, the refusal naming the filter and the values:
sent, the exchange refuses it anyway (Binance's -1013 "Filter failure"), a request spent."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from dita._kernel import OrderSide, OrderType, VenueOrder
from dita.risk import float_step_multiple
from dita.venues.ccxt.answers import number

__all__ = ["MarketFilters", "market_filters"]


@dataclass(frozen=True)
class PriceBand:
    """How far a limit price may stray from the market's price, as multiples of it, by side
    (Binance's PERCENT_PRICE_BY_SIDE; PERCENT_PRICE gives both sides the same band)."""

    filter_name: str
    bid_up: float
    bid_down: float
    ask_up: float
    ask_down: float


@dataclass(frozen=True)
class MarketFilters:
    """One market's filters; 0 (or None) is no rule. ``named_by_exchange``: the market states
    Binance's filters, and a refusal names them (else it names ccxt's ``limits`` field)."""

    market_id: str
    named_by_exchange: bool = False
    max_qty: float = 0.0
    market_min_qty: float = 0.0
    market_max_qty: float = 0.0
    market_step: float = 0.0
    max_notional: float = 0.0
    max_notional_on_market: bool = False
    min_price: float = 0.0
    max_price: float = 0.0
    price_band: PriceBand | None = None
    max_num_orders: int = 0

    def refusal(self, order: VenueOrder, working_orders: int) -> str:
        """Why the exchange would refuse ``order`` by one of these filters ('' when it would
        not), with ``working_orders`` of this venue's orders working in the market now."""
        checks = (
            self._size_refusal(order),
            self._notional_refusal(order),
            self._price_refusal(order),
            self._band_refusal(order),
            self._count_refusal(working_orders),
        )
        return next((found for found in checks if found), "")

    def _named(self, binance: str, ccxt_field: str) -> str:
        what = binance if self.named_by_exchange else ccxt_field
        return f"{what} of {self.market_id}"

    def _size_refusal(self, order: VenueOrder) -> str:
        size = order.size
        if self.max_qty > 0 and size > self.max_qty:
            named = self._named("LOT_SIZE", "limits.amount.max")
            return f"{named}: size {size!r} is above maxQty {self.max_qty!r}"
        if order.order_type != OrderType.MARKET:
            return ""
        named = self._named("MARKET_LOT_SIZE", "limits.market")
        if self.market_max_qty > 0 and size > self.market_max_qty:
            return f"{named}: market order size {size!r} is above maxQty {self.market_max_qty!r}"
        if size < self.market_min_qty:
            return f"{named}: market order size {size!r} is below minQty {self.market_min_qty!r}"
        if self.market_step > 0 and not float_step_multiple(size, self.market_step):
            return f"{named}: market order size {size!r} is not a multiple of stepSize {self.market_step!r}"
        return ""

    def _notional_refusal(self, order: VenueOrder) -> str:
        if self.max_notional <= 0:
            return ""
        if order.order_type == OrderType.LIMIT:
            price, priced_by = order.price, "price"
        elif self.max_notional_on_market:
            # The exchange judges a market order at its average price, which the order's
            # reference price (the market's when the kernel sent it) stands in for.
            price, priced_by = order.reference_price, "reference price"
        else:
            return ""
        if price <= 0 or not _product_above(order.size, price, self.max_notional):
            return ""
        return (
            f"{self._named('NOTIONAL', 'limits.cost.max')}: notional {order.size * price!r} "
            f"(size {order.size!r} x {priced_by} {price!r}) is above maxNotional {self.max_notional!r}"
        )

    def _price_refusal(self, order: VenueOrder) -> str:
        if order.order_type != OrderType.LIMIT:
            return ""
        named = self._named("PRICE_FILTER", "limits.price")
        if self.max_price > 0 and order.price > self.max_price:
            return f"{named}: price {order.price!r} is above maxPrice {self.max_price!r}"
        if order.price < self.min_price:
            return f"{named}: price {order.price!r} is below minPrice {self.min_price!r}"
        return ""

    def _band_refusal(self, order: VenueOrder) -> str:
        band, market_price = self.price_band, order.reference_price
        if band is None or order.order_type != OrderType.LIMIT or market_price <= 0:
            return ""
        # The exchange bands the price around its average of the last minutes; the order's
        # reference price (the market's when the kernel sent it) stands in for it.
        buy = order.order_side == OrderSide.BUY
        up, down = (band.bid_up, band.bid_down) if buy else (band.ask_up, band.ask_down)
        side = "buy" if buy else "sell"
        named = f"{band.filter_name} of {self.market_id}"
        if up > 0 and order.price > market_price * up:
            return (
                f"{named}: {side} price {order.price!r} is above {up!r} x the market price "
                f"{market_price!r} (the order's reference price)"
            )
        if order.price < market_price * down:
            return (
                f"{named}: {side} price {order.price!r} is below {down!r} x the market price "
                f"{market_price!r} (the order's reference price)"
            )
        return ""

    def _count_refusal(self, working_orders: int) -> str:
        if self.max_num_orders <= 0 or working_orders < self.max_num_orders:
            return ""
        return (
            f"MAX_NUM_ORDERS of {self.market_id}: {working_orders} orders of this venue work there "
            f"already, the most the exchange takes is maxNumOrders {self.max_num_orders}"
        )


def _product_above(size: float, price: float, ceiling: float) -> bool:
    """Whether ``size * price`` is above ``ceiling`` on the decimals the floats print as, which
    is what the exchange multiplies."""
    return Decimal(repr(size)) * Decimal(repr(price)) > Decimal(repr(ceiling))


def market_filters(market: dict[str, Any]) -> MarketFilters:
    """The filters of a ccxt ``market``. A figure that is not a finite number is a ValueError
    naming the market and the field."""
    market_id = str(market.get("id"))
    limits = market.get("limits") or {}

    def figure(field_name: str, value: Any) -> float:
        if value is None:
            return 0.0
        found = number(value)
        if not math.isfinite(found) or found < 0:
            raise ValueError(f"market {market_id!r} field {field_name!r}: {value!r} is not a number")
        return found

    def limit(group: str, bound: str) -> float:
        return figure(f"limits.{group}.{bound}", (limits.get(group) or {}).get(bound))

    info = market.get("info")
    raw = info.get("filters") if isinstance(info, dict) else None
    by_type = {f.get("filterType"): f for f in raw if isinstance(f, dict)} if isinstance(raw, list) else {}
    market_lot = by_type.get("MARKET_LOT_SIZE") or {}
    notional = by_type.get("NOTIONAL")
    max_orders = by_type.get("MAX_NUM_ORDERS") or {}
    return MarketFilters(
        market_id=market_id,
        named_by_exchange=bool(by_type),
        max_qty=limit("amount", "max"),
        market_min_qty=limit("market", "min"),
        market_max_qty=limit("market", "max"),
        market_step=figure("info.filters.MARKET_LOT_SIZE.stepSize", market_lot.get("stepSize")),
        max_notional=limit("cost", "max"),
        # Binance's NOTIONAL says whether its maximum binds market orders; elsewhere the
        # maximum is taken to bind the orders it can be judged on, limit orders.
        max_notional_on_market=bool(notional and notional.get("applyMaxToMarket")),
        min_price=limit("price", "min"),
        max_price=limit("price", "max"),
        price_band=_price_band(by_type, figure),
        max_num_orders=int(
            figure("info.filters.MAX_NUM_ORDERS", max_orders.get("maxNumOrders", max_orders.get("limit")))
        ),
    )


def _price_band(by_type: dict[Any, dict[str, Any]], figure: Callable[[str, Any], float]) -> PriceBand | None:
    """The price band the market states (PERCENT_PRICE_BY_SIDE, else PERCENT_PRICE), or None."""
    by_side = by_type.get("PERCENT_PRICE_BY_SIDE")
    if by_side is not None:
        field = "info.filters.PERCENT_PRICE_BY_SIDE."
        return PriceBand(
            "PERCENT_PRICE_BY_SIDE",
            *(figure(field + k, by_side.get(k)) for k in ("bidMultiplierUp", "bidMultiplierDown")),
            *(figure(field + k, by_side.get(k)) for k in ("askMultiplierUp", "askMultiplierDown")),
        )
    both = by_type.get("PERCENT_PRICE")
    if both is not None:
        up = figure("info.filters.PERCENT_PRICE.multiplierUp", both.get("multiplierUp"))
        down = figure("info.filters.PERCENT_PRICE.multiplierDown", both.get("multiplierDown"))
        return PriceBand("PERCENT_PRICE", up, down, up, down)
    return None
