"""A trade's fee as the kernel takes it: in the market's quote (or settle) currency, priced from the
base currency at the trade's price, or left to the kernel's fee model when it cannot be priced."""

from __future__ import annotations

import logging
import math
from typing import Any

from dita.venues.ccxt.answers import number

__all__ = ["quote_fee"]

log = logging.getLogger("dita.venues.ccxt")


def quote_fee(
    venue: str, exchange: Any, trade: dict[str, Any], price: float, named: str
) -> tuple[float | None, dict[str, str | float]]:
    """The fee of ``trade`` (of ``venue``'s ccxt ``exchange``) in the quote currency, or None
    (with a note) when a fee other than zero was paid in a third currency (BNB, say) the adapter
    cannot price, or in one the answer does not name; the kernel then predicts it. A fee that is
    not a number counts as none given (the kernel predicts it), with a warning naming ``named``,
    the trade: sent on, a NaN would have the kernel refuse the fill, and text block every fill
    of the order."""
    fee = trade.get("fee") or {}
    if not isinstance(fee, dict):
        log.warning("%s: %s has fee=%r, not a fee; left to the kernel's model", venue, named, fee)
        return None, {}
    cost, currency = fee.get("cost"), fee.get("currency")
    if cost is None:
        return None, {}
    native = number(cost)
    if not math.isfinite(native):
        log.warning(
            "%s: %s has fee cost=%r, not a number; its fee left to the kernel's model",
            venue, named, cost,
        )  # fmt: skip
        return None, {}
    if native == 0.0:
        # Nothing to price, whatever the currency: left to the model, it would be charged.
        return 0.0, {}
    if currency is None:
        # Not taken for any: a spot market has no settle currency, and None would match it.
        return None, {"fee_currency": "", "fee_native": native}
    market = exchange.market(trade["symbol"]) if trade.get("symbol") else {}
    if currency == market.get("quote") or currency == market.get("settle"):
        return native, {}
    if currency == market.get("base"):
        return native * price, {"fee_currency": str(currency), "fee_native": native}
    return None, {"fee_currency": str(currency), "fee_native": native}
