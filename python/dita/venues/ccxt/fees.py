"""A trade's fee as the kernel takes it: in the market's quote (or settle) currency, priced from the
base currency at the trade's price, from a third currency (BNB) at that currency's price in the
quote (``CommissionPrices``), or left to the kernel's fee model when it cannot be priced."""

from __future__ import annotations

import logging
import math
from typing import Any

from dita.venues.ccxt.answers import number
from dita.venues.ccxt.client import ExchangeClient

__all__ = ["CommissionPrices", "quote_fee"]

log = logging.getLogger("dita.venues.ccxt")


_PRICE_MAX_AGE_S = 60.0
"""How long a commission currency's price is used before the exchange is asked again."""


class CommissionPrices:
    """The price of a commission currency (BNB, say) in a market's quote currency: the adapter's
    last top of book of their market (``note``), else the exchange's ticker, asked at most once
    a minute per market. A commission is a small share of its fill, so a price a minute old
    books it well within the fee's own rounding."""

    def __init__(self, client: ExchangeClient) -> None:
        self._client = client
        # Each market's symbol to its last price and the clock's time then.
        self._prices: dict[str, tuple[float, float]] = {}
        # The settle currencies a futures fee paid in another currency was said of (``tell_paid_aside``).
        self._told: set[tuple[str, str]] = set()

    def tell_paid_aside(self, currency: str, settle: str) -> None:
        """Warn, once per pair, that futures fees paid in ``currency`` (BNB) leave the ``settle``
        wallet untouched: the kernel charges them to its capital (K), while the wallet balance the
        account stream gives (E) never pays them, so E stays above K by them."""
        if (currency, settle) in self._told:
            return
        self._told.add((currency, settle))
        log.warning(
            "%s: futures fees paid in %s are charged to the kernel's capital in %s (K), while the %s "
            "wallet (E) does not pay them: E stays above K by them (docs: K and E)",
            self._client.name, currency, settle, settle,
        )  # fmt: skip

    def note(self, symbol: str, price: float) -> None:
        """The market ``symbol`` traded about ``price`` now (the middle of its top of book)."""
        if math.isfinite(price) and price > 0:
            self._prices[symbol] = (price, self._client.clock())

    def price(self, currency: str, quote: str) -> tuple[float, str] | None:
        """One ``currency`` in ``quote``, and the market it was read from; None when the
        exchange has no market between them or gives no price for it now."""
        markets = self._client.exchange.markets or {}
        for symbol, inverse in ((f"{currency}/{quote}", False), (f"{quote}/{currency}", True)):
            for listed in (symbol, f"{symbol}:{quote if not inverse else currency}"):
                if listed in markets:
                    found = self._market_price(listed)
                    if found is None:
                        return None
                    return (1.0 / found if inverse else found), listed
        return None

    def _market_price(self, symbol: str) -> float | None:
        known = self._prices.get(symbol)
        now = self._client.clock()
        if known is not None and now - known[1] < _PRICE_MAX_AGE_S:
            return known[0]
        try:
            ticker = self._client.account_call("fetch_ticker", symbol)
        except RuntimeError as exc:
            log.warning("%s", exc)
            return None
        last = number(ticker.get("last"))
        if not (math.isfinite(last) and last > 0):
            last = (number(ticker.get("bid")) + number(ticker.get("ask"))) / 2.0
        if not (math.isfinite(last) and last > 0):
            return None
        self._prices[symbol] = (last, now)
        return last


def quote_fee(
    venue: str,
    exchange: Any,
    trade: dict[str, Any],
    price: float,
    named: str,
    commission_prices: CommissionPrices | None = None,
    *,
    buys: bool = False,
) -> tuple[float | None, dict[str, str | float]]:
    """The fee of ``trade`` (of ``venue``'s ccxt ``exchange``) in the quote currency: paid in the
    base currency, at the trade's price (of a buy, ``buys``, noted as ``base_fee_qty``: the part
    of the fill the account was not credited); paid in a third currency (BNB, say), at that
    currency's price in the quote (``commission_prices``); None (with a note) when a fee other
    than zero was paid in a third currency no price is known of, with a warning naming it, or
    in one the answer does not name; the kernel then predicts it. A fee split across currencies
    (ccxt's ``fees``, its ``fee`` stating none: Gate's fee beside its GT or point deduction) is
    the sum of its parts (``_split_fee``). A fee that is not a number counts as none given (the
    kernel predicts it), with a warning naming ``named``, the trade: sent on, a NaN would have
    the kernel refuse the fill, and text block every fill of the order."""
    fee = trade.get("fee") or {}
    if not isinstance(fee, dict):
        log.warning("%s: %s has fee=%r, not a fee; left to the kernel's model", venue, named, fee)
        return None, {}
    parts = [f for f in trade.get("fees") or [] if isinstance(f, dict) and f.get("cost") is not None]
    if fee.get("cost") is None and len(parts) > 1:
        return _split_fee(venue, exchange, trade, price, named, commission_prices, parts, buys)
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
    fee_in_quote, note = _in_quote(exchange, trade, price, native, currency, commission_prices, buys)
    if fee_in_quote is None and currency is not None:
        log.warning(
            "%s: %s paid its fee in %s, and no price of %s in %s is known; left to the kernel's model",
            venue, named, currency, currency, _quote(exchange, trade),
        )  # fmt: skip
    return fee_in_quote, note


def _split_fee(
    venue: str,
    exchange: Any,
    trade: dict[str, Any],
    price: float,
    named: str,
    commission_prices: CommissionPrices | None,
    parts: list[dict[str, Any]],
    buys: bool,
) -> tuple[float | None, dict[str, str | float]]:
    """A fee paid in ``parts`` (ccxt's ``fees``), each in its currency: the sum of those priced in
    the quote, noted with ``fee_parts`` (each part as the exchange states it) and the note of the
    first part not in the quote (unpriced ahead of converted). A part that cannot be priced is
    left out with a warning naming its currency: the sum is the fee at least. With none other than
    zero priced, the fee is left to the kernel's model, as a fee in one such currency is."""
    total, priced_any = 0.0, False
    unpriced: list[dict[str, str | float]] = []
    converted: list[dict[str, str | float]] = []
    for part in parts:
        native = number(part.get("cost"))
        if not math.isfinite(native):
            log.warning(
                "%s: %s has a fee part cost=%r, not a number; left out", venue, named, part.get("cost")
            )  # fmt: skip
            continue
        currency = part.get("currency")
        value, noted = _in_quote(exchange, trade, price, native, currency, commission_prices, buys)
        if value is None:
            unpriced.append(noted)
            continue
        total += value
        priced_any = priced_any or value != 0.0
        if noted:
            converted.append(noted)
    listed = ", ".join(f"{part.get('cost')} {part.get('currency')}" for part in parts)
    first = (unpriced + converted)[:1]
    note: dict[str, str | float] = {**(first[0] if first else {}), "fee_parts": listed}
    for part_note in converted:
        if "base_fee_qty" in part_note:
            note["base_fee_qty"] = part_note["base_fee_qty"]
    left = " and ".join(f"{n['fee_native']!r} {n['fee_currency'] or '(no currency named)'}" for n in unpriced)
    if unpriced and not priced_any:
        log.warning(
            "%s: %s paid its fee as %s, and no price of %s in %s is known; left to the kernel's model",
            venue, named, listed, left, _quote(exchange, trade),
        )  # fmt: skip
        return None, note
    if unpriced:
        log.warning(
            "%s: %s paid its fee as %s; booked %r %s, leaving out %s, of which no price in %s is known",
            venue, named, listed, total, _quote(exchange, trade), left, _quote(exchange, trade),
        )  # fmt: skip
    return total, note


def _quote(exchange: Any, trade: dict[str, Any]) -> str:
    """The currency ``trade``'s fees are booked in: its market's settle currency, else its quote."""
    market = exchange.market(trade["symbol"]) if trade.get("symbol") else {}
    return str(market.get("settle") or market.get("quote"))


def _in_quote(
    exchange: Any,
    trade: dict[str, Any],
    price: float,
    native: float,
    currency: Any,
    commission_prices: CommissionPrices | None,
    buys: bool,
) -> tuple[float | None, dict[str, str | float]]:
    """``native`` of ``currency``, a fee of ``trade``, in its market's quote (or settle) currency,
    and its note (``quote_fee``); None where it cannot be priced (the caller warns)."""
    if native == 0.0:
        # Nothing to price, whatever the currency: left to the model, it would be charged.
        return 0.0, {}
    if currency is None:
        # Not taken for any: a spot market has no settle currency, and None would match it.
        return None, {"fee_currency": "", "fee_native": native}
    market = exchange.market(trade["symbol"]) if trade.get("symbol") else {}
    if currency == market.get("quote") or currency == market.get("settle"):
        return native, {}
    note: dict[str, str | float] = {"fee_currency": str(currency), "fee_native": native}
    if currency == market.get("base"):
        if buys:
            # Kept out of what the buy credited (a rebate, negative, added to it): the kernel's
            # slot holds what the account does.
            note["base_fee_qty"] = native
        return native * price, note
    quote = market.get("settle") or market.get("quote")
    priced = commission_prices.price(str(currency), str(quote)) if commission_prices and quote else None
    if priced is None:
        return None, note
    currency_price, source = priced
    if market.get("settle") and commission_prices is not None:
        commission_prices.tell_paid_aside(str(currency), str(quote))
    return native * currency_price, {**note, "fee_price": currency_price, "fee_price_market": source}
