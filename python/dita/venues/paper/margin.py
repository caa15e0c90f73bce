"""The paper venue's margin check: with ``leverage`` set, an order that opens or grows a position
is rejected when the margin it needs is above the account's available margin, as an exchange
refuses an order its balance cannot carry (``_margin_refusal``); ``margin()`` tells the account
as the check sees it."""

from __future__ import annotations

from dataclasses import dataclass

from dita._kernel import OrderSide, OrderType, VenueOrder
from dita.venues.paper.order_book import _OrderBook, _Working


def _money(amount: float) -> str:
    """An amount of the quote currency as a refusal names it: in cents, or to 4 figures below
    a cent (a quote currency of BTC)."""
    return f"{amount:,.2f}" if abs(amount) >= 0.01 or amount == 0 else f"{amount:.4g}"


@dataclass
class _Sides:
    """An asset's position and working orders as the margin check counts them: ``held``, the
    position at the mark (signed); the size and notional of the working buys and sells, each
    at the price it would fill or rest at, reduce-only ones included at their whole size (they
    fill no further than the position, so the margin counted for them errs high, never low);
    and ``fees``, the taker fee of those not reduce-only."""

    held: float
    bought: float = 0.0
    sold: float = 0.0
    bought_notional: float = 0.0
    sold_notional: float = 0.0
    fees: float = 0.0

    def exposure(self, buy: bool = True, extra: float = 0.0) -> float:
        """The largest notional the account may come to hold in the asset: its position after
        every working buy fills, or after every sell does, whichever is larger (any other mix
        of fills holds less). ``extra``: the notional of one more order, a buy or not. Its
        margin is this over the leverage: orders on both sides reserve for the larger side
        only, as exchanges count them."""
        bought = self.bought_notional + (extra if buy else 0.0)
        sold = self.sold_notional + (0.0 if buy else extra)
        return max(abs(self.held + bought), abs(self.held - sold))


class _Margin(_OrderBook):
    """``PaperVenue``'s margin check (see the module docstring)."""

    def _margin_refusal(self, order: VenueOrder) -> str:
        """Why the account cannot carry ``order`` ('' when it can, or no ``leverage`` is
        set). Only an order that opens or grows a position needs margin: a reduce-only order (an
        exit) is never refused, nor one that only closes what is held (a sell within a long, the
        sells working before it counted first), so a position can always be closed, as on an
        exchange. The margin it needs is how much it grows its asset's exposure (``_Sides``)
        over the leverage, plus its open loss (its size times how far its price is worse than
        the mark) and its fee: a sell beyond a long needs it for the part past the long
        only, and a short entry beside the exit of a long of its size only its fee (the long's
        margin carries the short), but the fee is refused to an account with no margin left."""
        leverage = self._leverage
        if leverage is None or order.reduce_only:
            return ""
        buy = order.order_side == OrderSide.BUY
        asset = order.asset
        sides = self._sides(asset)
        position = self._positions.get(asset, 0.0)
        # What is left to close once the orders before it on its side have filled (oldest
        # first, as they fill here): an order within it only closes, and needs no margin.
        closable = position - sides.sold if not buy else -position - sides.bought
        if order.size <= closable:
            return ""
        price = self._order_price(
            asset, buy, order.order_type == OrderType.MARKET, order.price, order.reference_price
        )
        if price is None:
            return (
                f"margin not known: no price for {asset!r} yet to value the order at (a market "
                "order before any quote, without a reference price)"
            )
        notional = order.size * price
        mark = self._mark(asset)
        # As exchanges count an order's cost: a sell's exposure at the higher of its price and
        # the mark, and its open loss, what marking the fill at once takes from the equity.
        valued = order.size * (price if buy else max(price, mark))
        opened = sides.exposure(buy, valued) - sides.exposure()
        open_loss = order.size * max((price - mark) if buy else (mark - price), 0.0) if mark > 0 else 0.0
        fee = notional * self._taker_rate
        needed = max(opened, 0.0) / leverage + open_loss + fee
        account = self._margin()
        available = account["available_margin"]
        if needed <= available:
            return ""
        ccy = self.settings.quote_currency
        loss = f" + open loss {_money(open_loss)}" if open_loss > 0 else ""
        return (
            f"insufficient margin: the order needs {_money(needed)} {ccy} (notional opened "
            f"{_money(max(opened, 0.0))} / leverage {leverage:g}{loss} + fee {_money(fee)}), available "
            f"{_money(available)} {ccy} (equity {_money(account['equity'])} - positions' margin "
            f"{_money(account['position_margin'])} - working orders' {_money(account['order_margin'])})"
        )

    def _order_price(
        self, asset: str, buy: bool, market: bool, limit: float, reference: float
    ) -> float | None:
        """The price an order would fill or rest at now: a market order the quote's touch (a
        bar's close) moved by the slippage, as it would take it (before any quote, its reference
        price so moved; None without one); a limit order that, no worse than its limit (its
        limit when it would rest)."""
        quote = self._quotes.get(asset)
        touch = (quote.ask if buy else quote.bid) if quote is not None else reference
        taker = (touch * (1 + self._slip) if buy else touch * (1 - self._slip)) if touch > 0 else None
        if market:
            return taker
        if taker is None:
            return limit
        return min(taker, limit) if buy else max(taker, limit)

    def _working_price(self, working: _Working) -> float:
        price = self._order_price(
            working.order.asset, working.buy, working.market, working.limit, working.order.reference_price
        )
        return 0.0 if price is None else price

    def _mark(self, asset: str) -> float:
        """The latest price of ``asset``: its quote's mid, a bar's close. A position has one
        (it filled on data, and ``book()`` keeps the quotes); 0 before any."""
        quote = self._quotes.get(asset)
        return 0.0 if quote is None else (quote.bid + quote.ask) / 2

    def _sides(self, asset: str) -> _Sides:
        """What ``asset``'s working orders hold on each side, in one walk of them (see
        ``_Sides``)."""
        sides = _Sides(held=self._positions.get(asset, 0.0) * self._mark(asset))
        for working in self._working.get(asset, {}).values():
            notional = working.remaining * self._working_price(working)
            if working.buy:
                sides.bought += working.remaining
                sides.bought_notional += notional
            else:
                sides.sold += working.remaining
                sides.sold_notional += notional
            if not working.order.reduce_only:
                sides.fees += notional * self._taker_rate
        return sides

    def margin(self) -> dict[str, float]:
        """The account as the margin check sees it, in ``quote_currency``: ``equity`` (cash plus
        the positions marked at the latest price, a quote's mid or a bar's close),
        ``position_margin`` (|position| x mark / ``leverage``), ``order_margin`` (what the
        working orders reserve: how far they grow their asset's exposure over the leverage, plus
        the taker fee of those not reduce-only) and ``available_margin``, the equity less both
        margins, which an order opening a position may use. Without ``leverage`` nothing is
        reserved: both margins are 0 and all the equity is available."""
        with self._lock:
            return self._margin()

    def _margin(self) -> dict[str, float]:
        leverage = self._leverage
        # In the order the venue met them, not a set's: a sum in another order differs in its
        # last bits, and an order at the edge of the margin would be taken in one run, not the next.
        assets = dict.fromkeys([*self._positions, *(a for a, orders in self._working.items() if orders)])
        equity = self._cash
        position_margin = order_margin = 0.0
        for asset in assets:
            if leverage is None:
                equity += self._positions.get(asset, 0.0) * self._mark(asset)
                continue
            sides = self._sides(asset)
            equity += sides.held
            position_margin += abs(sides.held) / leverage
            order_margin += (sides.exposure() - abs(sides.held)) / leverage
            order_margin += sides.fees
        return {
            "equity": equity,
            "position_margin": position_margin,
            "order_margin": order_margin,
            "available_margin": equity - position_margin - order_margin,
        }
