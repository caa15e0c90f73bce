"""Risk and market limits as validated settings.

The risk guard, rounding and min-notional checks run in the Rust core; these models are
the one place their settings are checked before the kernel sees them::

    kernel.set_risk_limits(RiskLimits(max_leverage=3, max_notional_total=50_000).model_dump())
    kernel.set_market_limits("BTCUSDT", MarketLimits(lot_step=0.00001, tick_size=0.01,
                                                     min_qty=0.00001, min_notional=5).model_dump())

A limit left at ``None`` is off. Invalid values raise ``pydantic.ValidationError`` naming
the field and the offending value, and nothing is changed.
"""

from __future__ import annotations

import sys
from decimal import Decimal, InvalidOperation
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from dita._numbers import Flag, OptionalPlainNumber, PlainNumber

__all__ = [
    "KERNEL_MAX",
    "KERNEL_MAX_ORDER_RATE",
    "KERNEL_MIN_LEVERAGE",
    "KERNEL_MIN_PRICE",
    "KERNEL_MIN_SIZE",
    "KERNEL_MIN_STEP",
    "MarketLimits",
    "Regime",
    "RiskLimits",
    "float_step_multiple",
]

Regime = Literal["NEUTRAL", "BULL", "BEAR"]
# The kernel refuses amounts above this in magnitude (capital, risk limits).
KERNEL_MAX = 1e15
# The kernel refuses a price above 0 below this, the smallest normal float: a subnormal one has
# lost its precision (docs/concepts/slots-and-stages.md).
KERNEL_MIN_PRICE = sys.float_info.min
# The kernel refuses an intent whose size is at or below this (INVALID_INTENT naming target_size).
KERNEL_MIN_SIZE = 1e-9
# The finest lot step or tick the kernel takes (0 is none): a size over a much finer one
# overflows to an order of infinite size.
KERNEL_MIN_STEP = 1e-15
# The smallest leverage the kernel takes (max_leverage, an entry's): a position's margin, its
# notional over a leverage of 1e-320, is infinite.
KERNEL_MIN_LEVERAGE = 1e-15
# The highest max_order_rate the kernel takes: its window counts no more orders a second, so a
# higher rate never bound.
KERNEL_MAX_ORDER_RATE = 100_000


class RiskLimits(BaseModel):
    """Pre-trade limits of one kernel. ``model_dump()`` is what ``set_risk_limits`` takes."""

    # Frozen so a limits object handed to a kernel cannot drift from what the kernel holds.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    max_leverage: OptionalPlainNumber = Field(
        default=None,
        ge=KERNEL_MIN_LEVERAGE,
        le=KERNEL_MAX,
        description="largest leverage of the account with an entry, and of an entry's own",
    )
    max_notional_per_asset: OptionalPlainNumber = Field(
        default=None,
        gt=0,
        le=KERNEL_MAX,
        description="largest open plus working notional in one asset, quote currency",
    )
    max_notional_total: OptionalPlainNumber = Field(
        default=None,
        gt=0,
        le=KERNEL_MAX,
        description="largest open plus working notional over all assets",
    )
    max_order_rate: OptionalPlainNumber = Field(
        default=None,
        ge=1,
        le=KERNEL_MAX_ORDER_RATE,
        description="orders (entries and exits) per second, sliding one-second window on intent "
        "timestamps; at least 1 (below it every order is refused) and at most 100,000 (the most "
        "the window counts), a fraction rounds down; the first MARKET exit of a whole position since a "
        "fill changed it is neither refused nor counted",
    )
    regime: Regime = Field(
        default="NEUTRAL",
        description="NEUTRAL admits both sides; under BULL a SHORT MARKET entry (under BEAR a LONG "
        'one) needs metadata["override"]; LIMIT entries and exits are not judged by it',
    )
    edge_freeze_threshold_bps: OptionalPlainNumber = Field(
        default=None,
        ge=-KERNEL_MAX,
        le=KERNEL_MAX,
        description="an edge update below this freezes the kernel and cancels every working order",
    )

    require_source_run_in_live: Flag = Field(
        default=True, description='in LIVE mode every entry and exit must carry metadata["source_run"]'
    )

    @model_validator(mode="after")
    def _per_asset_within_total(self) -> RiskLimits:
        # A per-asset cap above the total cap can never bind: most likely a typo in one of them.
        per_asset, total = self.max_notional_per_asset, self.max_notional_total
        if per_asset is not None and total is not None and per_asset > total:
            raise ValueError(
                f"max_notional_per_asset={per_asset} exceeds max_notional_total={total}; "
                "the per-asset cap must not be larger than the total cap"
            )
        return self

    def enabled_rules(self) -> list[str]:
        """Names of the rules this configuration turns on (for logs and reports)."""
        rules = [
            name
            for name in (
                "max_leverage",
                "max_notional_per_asset",
                "max_notional_total",
                "max_order_rate",
                "edge_freeze_threshold_bps",
            )
            if getattr(self, name) is not None
        ]
        if self.regime != "NEUTRAL":
            rules.append("regime")
        if self.require_source_run_in_live:
            rules.append("require_source_run_in_live")
        return rules


def float_step_multiple(value: float, step: float) -> bool:
    """Whether ``value`` is a whole multiple of ``step``, judged on the decimal strings.

    Exchanges compare decimal strings, so 0.3 is a multiple of 0.1 even though
    ``0.1 + 0.2 != 0.3`` in binary floating point; comparing ``repr`` decimals avoids that trap.
    """
    if step <= 0:
        return True
    try:
        quotient = Decimal(repr(value)) / Decimal(repr(step))
    except InvalidOperation:
        return False
    return quotient == quotient.to_integral_value()


def _below_on_decimals(size: float, price: float, floor: float) -> bool:
    """Whether ``size * price`` is below ``floor`` on the decimals the floats print as, which
    is what an exchange multiplies (a NaN is below nothing, as the float comparison had it)."""
    product = Decimal(repr(size)) * Decimal(repr(price))
    return not product.is_nan() and product < Decimal(repr(floor))


class MarketLimits(BaseModel):
    """One market's trading rules as the venue states them. ``0`` means no rule.

    ``model_dump()`` is what ``kernel.set_market_limits(asset, ...)`` takes.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    lot_step: PlainNumber = Field(
        default=0.0, ge=0, le=KERNEL_MAX, description="order sizes are whole multiples of this"
    )
    tick_size: PlainNumber = Field(
        default=0.0, ge=0, le=KERNEL_MAX, description="limit prices are whole multiples of this"
    )
    min_qty: PlainNumber = Field(default=0.0, ge=0, le=KERNEL_MAX, description="smallest order size")
    min_notional: PlainNumber = Field(
        default=0.0, ge=0, le=KERNEL_MAX, description="smallest price * size, quote currency"
    )

    @field_validator("lot_step", "tick_size")
    @classmethod
    def _a_step_the_kernel_takes(cls, step: float) -> float:
        if 0 < step < KERNEL_MIN_STEP:
            raise ValueError(f"{step!r} must be 0 (no rounding) or at least {KERNEL_MIN_STEP:g}")
        return step

    def order_violation(self, size: float, price: float) -> str:
        """Why a venue would refuse an order of ``size`` at ``price`` ('' when it would not).

        Venues use this to refuse what the exchange would refuse, so a paper run is never
        rosier than live. ``price`` 0 skips the price rules (a market order without a quote).
        """
        if self.lot_step > 0 and not float_step_multiple(size, self.lot_step):
            return f"size {size!r} is not a multiple of lot_step {self.lot_step!r}"
        if size < self.min_qty:
            return f"size {size!r} is below min_qty {self.min_qty!r}"
        if price > 0:
            notional = size * price
            # Judged on the decimals, as the exchange judges them (and as ``float_step_multiple``
            # does): 0.29 x 100.0 is 28.999999999999996 in binary floating point, which the
            # kernel sends (it allows float error) and an exchange takes as 29.
            if self.min_notional > 0 and _below_on_decimals(size, price, self.min_notional):
                return (
                    f"notional {notional!r} (size {size!r} x price {price!r}) "
                    f"is below min_notional {self.min_notional!r}"
                )
        return ""

    def price_violation(self, price: float) -> str:
        """Why a limit price would be refused for its tick ('' when it would not)."""
        if self.tick_size > 0 and not float_step_multiple(price, self.tick_size):
            return f"price {price!r} is not a multiple of tick_size {self.tick_size!r}"
        return ""
