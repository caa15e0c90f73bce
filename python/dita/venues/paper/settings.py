"""The paper venue's settings (``PaperSettings``): its fees, slippage, latency, the share of a
bar's volume its orders may take, its cash and leverage, each checked against the bounds here."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from dita._numbers import Number, OptionalNumber
from dita.venues._settings import FEE_RATE_BOUND, VenueName, check_rebate

# The longest order latency the paper venue takes, ms (a minute), as the shadow run's.
MAX_LATENCY_MS = 60_000.0
# The highest account leverage the paper venue takes: the most the exchanges offer (Binance's
# USDT-M futures); above it a paper account could carry what no exchange lets it.
MAX_LEVERAGE = 125.0


class PaperSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    name: VenueName = "paper"
    taker_rate: Number = Field(
        default=0.0005, ge=0, lt=FEE_RATE_BOUND, description="fee fraction of notional, taker"
    )
    maker_rate: Number = Field(
        default=0.0002,
        gt=-FEE_RATE_BOUND,
        lt=FEE_RATE_BOUND,
        description="fee fraction of notional, maker (negative: a rebate, at most taker_rate)",
    )
    slippage_bps: Number = Field(
        default=1.0, ge=0, lt=10_000, description="taker price moved against the order"
    )
    # Bounded: a latency of years (1e300) would leave every order waiting for good.
    latency_ms: Number = Field(
        default=0.0, ge=0, le=MAX_LATENCY_MS, description="from submit/cancel to the venue acting on it"
    )
    bar_volume_share: Number = Field(
        default=0.1, gt=0, le=1, description="share of a bar's volume its asset's orders take, together"
    )
    bar_seconds: Number = Field(
        default=0.0,
        ge=0,
        le=366 * 86_400,
        description="the bars' length (0: unknown): an order sent on a bar is decided at its close, "
        "this long after its open or the next bar's open, whichever is first",
    )
    market_remainder: Literal["continue", "expire"] = Field(
        default="continue", description="what happens to the part of a market order the book could not fill"
    )
    quote_currency: str = Field(default="USDT", min_length=1)
    starting_balance: Number = Field(default=0.0, ge=0, description="quote-currency cash at start")
    # None checks no margin: cash may go negative without bound.
    leverage: OptionalNumber = Field(
        default=None,
        gt=0,
        le=MAX_LEVERAGE,
        description="the account's leverage: an order opening or growing a position is rejected when "
        "its notional / leverage plus its taker fee is above the available margin (None: no check)",
    )

    @model_validator(mode="after")
    def _rebate_within_taker_rate(self) -> PaperSettings:
        check_rebate(self.maker_rate, self.taker_rate, "maker_rate", "taker_rate")
        return self
