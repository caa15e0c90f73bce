"""The account as the exchange states it, for reconciliation: positions, balances, the orders it
lists working, and what became of one order, asked by the kernel's client id. Each exchange
order it reports is read as the ``VenueOrder`` the kernel holds (``_venue_order``)."""

from __future__ import annotations

import logging
import math
from typing import Any

from dita._kernel import VenueOrder, VenueOrderStatus
from dita.venues.ccxt.answers import ORDER_STATUSES, number, order_status, time_ms
from dita.venues.ccxt.client import ExchangeClient
from dita.venues.ccxt.lookup import OrderLookup
from dita.venues.ccxt.markets import Markets
from dita.venues.ccxt.orders import Orders
from dita.venues.ccxt.settings import CcxtSettings, any_market_params, lineage, venue_client_id
from dita.venues.ccxt.tracking import TrackedOrder, exchange_order_id, qualified_order_id, sum_error
from dita.venues.protocol import VenueUnavailable, order_status_asset

__all__ = ["Account"]

log = logging.getLogger("dita.venues.ccxt")

# ccxt's order status -> the venue's, for the ones that are over; the rest still work. A
# "closed" order whose stated filled size is short of its size ended part filled: EXPIRED.
_ENDED_STATUSES = {
    "closed": VenueOrderStatus.FILLED,
    "canceled": VenueOrderStatus.CANCELED,
    "expired": VenueOrderStatus.EXPIRED,
    "rejected": VenueOrderStatus.REJECTED,
}


class Account:
    """Answers reconciliation's questions about the account and its orders."""

    def __init__(
        self,
        client: ExchangeClient,
        settings: CcxtSettings,
        markets: Markets,
        lookup: OrderLookup,
        orders: Orders,
    ) -> None:
        self._client = client
        self._settings = settings
        self._markets = markets
        self._lookup = lookup
        self._orders = orders
        self.name = client.name

    def open_orders(self) -> list[VenueOrder]:
        """Working orders on the exchange, for reconciliation. Orders this adapter did not
        send carry slot 0 and an empty trade id."""
        # The account's orders of this venue's market type (a futures venue's, not its spot ones).
        params = self._any_market_params("fetch_open_orders")
        raws = self._client.account_call("fetch_open_orders", None, None, None, params)
        by_client = {t.client_id: t for t in self._orders.tracked.values()}
        orders: list[VenueOrder] = []
        for raw in raws:
            exchange_id = str(raw.get("clientOrderId") or "")
            known = by_client.get(exchange_id)
            client_order_id = known.order.client_order_id if known else exchange_id
            orders.append(self._venue_order(raw, client_order_id, known))
        return orders

    def _any_market_params(self, method: str) -> dict[str, Any]:
        """The parameters that have ccxt's ``method``, naming no market, ask for this venue's
        market type (``any_market_params``)."""
        return any_market_params(self._settings, type(self._client.exchange), method)

    def _venue_order(
        self, raw: dict[str, Any], client_order_id: str, known: TrackedOrder | None
    ) -> VenueOrder:
        """``raw`` (a ccxt order) as a ``VenueOrder``; orders this adapter did not send (or sent
        before a restart) carry slot 0 and an empty trade id."""
        what = f"order {raw.get('id')!r}"
        symbol = raw.get("symbol")
        if not isinstance(symbol, str) or not symbol:
            # A bare KeyError (or ccxt's BadSymbol for None) would say nothing of which answer.
            raise ValueError(f"{self.name}: {what} field 'symbol': {symbol!r} is not a market symbol")
        market = self._client.exchange.market(symbol)
        size = self._figure(raw.get("amount"), what, "amount")
        # What the order executed so far: reconciliation books a fill the kernel missed from it
        # (the exchange never counts more than the order's size).
        filled = self._figure(raw.get("filled"), what, "filled")
        filled = min(filled, size) if size > 0 else filled
        average = self._figure(raw.get("average"), what, "average")
        if not average > 0:
            # A cost below 0 is Binance's "no figure" (ccxt's average of it too): no average, as
            # the rest of an order booked from its figures reads it. Read as one, the VenueOrder
            # would refuse its negative average.
            cost = self._figure(raw.get("cost"), what, "cost") if filled > 0 else 0.0
            average = cost / filled if cost > 0 else 0.0
        price = self._figure(raw.get("price"), what, "price")
        timestamp = time_ms(raw.get("timestamp"))  # an order listed without a time is listed all the same
        said = order_status(raw, type(self._client.exchange))
        if said is not None and said not in ORDER_STATUSES:
            log.warning(
                "%s: %s has status %r, which is not known here: listed as working", self.name, what, said
            )
        status = _ENDED_STATUSES.get(str(said)) or (
            VenueOrderStatus.PARTIALLY_FILLED if filled > 0 else VenueOrderStatus.ACKNOWLEDGED
        )
        closed_short = raw.get("filled") is not None and filled < size - sum_error(size)
        if status == VenueOrderStatus.FILLED and closed_short:
            # Closed short of its size (as OrderReporter reads it): ended part filled, the rest never fills.
            status = VenueOrderStatus.EXPIRED
        if status == VenueOrderStatus.REJECTED and filled > 0:
            status = VenueOrderStatus.EXPIRED  # dropped after part of it traded (OrderReporter)
        if known is not None:
            # The order as sent: an answer leaving its side or type out must not turn a buy around.
            side, order_type = known.order.order_side.name, known.order.order_type.name
        elif raw.get("side") in ("buy", "sell"):
            side = str(raw["side"]).upper()
            # Another's type is only shown (it is canceled or listed by id): a stop is not refused.
            order_type = "LIMIT" if raw.get("type") == "limit" else "MARKET"
        else:
            raise RuntimeError(
                f"{self.name}: order {raw.get('id')!r} (client id {raw.get('clientOrderId')!r}) has "
                f"side={raw.get('side')!r}: whether it buys or sells is unknown"
            )
        return VenueOrder(
            client_order_id,
            known.order.slot_id if known else 0,
            known.order.trade_id if known else "",
            known.order.asset if known else str(market["id"]),
            side,
            order_type,
            price,
            max(size, filled),
            # In the form the kernel learned it from this adapter's events, so reconciliation
            # matches the order the kernel holds.
            venue_order_id=qualified_order_id(str(market["id"]), str(raw.get("id") or "")),
            reduce_only=bool(raw.get("reduceOnly")),
            timestamp=timestamp / 1000.0 if timestamp else None,
            filled_size=filled,
            avg_fill_price=average,
            status=status,
            # The order as sent, where it is one: its exit may have gone out plain.
            is_entry=known.order.is_entry if known else None,
        )

    def _figure(self, value: Any, what: str, field_name: str) -> float:
        """``value``, the figure ``field_name`` of ``what`` (an order, a balance), as a number (0
        when absent). A ValueError naming them and the value when it is not a finite number: a
        bare "could not convert string to float: 'abc'" says nothing of where it came from."""
        figure = number(value or 0.0)
        if not math.isfinite(figure):
            raise ValueError(f"{self.name}: {what} field {field_name!r}: {value!r} is not a number")
        return figure

    def listed_venue_order_id(self, order: VenueOrder) -> str:
        """The venue order id under which ``open_orders`` and ``order_status`` list the kernel's
        ``order``: its exchange id qualified with its market. An older log holds it bare, and
        reconciliation, matching the ids listed with the ones the kernel holds, would take the
        order for one nobody manages. The kernel's own id when the
        order's market is not one this venue trades."""
        try:
            symbol = self._markets.symbol(order.asset)
        except RuntimeError:  # the markets could not be loaded: nothing better to say
            return order.venue_order_id
        if symbol is None:
            return order.venue_order_id
        market_id = self._markets.market_id(symbol)
        return qualified_order_id(market_id, exchange_order_id(market_id, order.venue_order_id))

    def position_asset(self, asset: str) -> str:
        """The name ``positions()`` gives the kernel's ``asset``: its market's id (an asset may be
        a ccxt symbol, ``BTC/USDT``, and a position names its market by id, ``BTCUSDT``), so
        reconciliation compares the one position, not two mismatches. ``asset`` itself when it
        is no market of this venue."""
        symbol = self._markets.symbol(asset)
        return asset if symbol is None else self._markets.market_id(symbol)

    def order_status(self, client_order_id: str, asset: str | None = None) -> VenueOrder | None:
        """The exchange's order sent for the kernel's ``client_order_id`` (the exchange knows it
        as ``venue_client_id(client_order_id)``), with its status, filled size, average fill
        price and exchange id: reconciliation asks it about an order no longer open. None only
        when the exchange says it has no such order in the markets asked (of a submit in doubt
        in this process, once it has said so for ``unknown_order_grace_s``, and of one sent
        before a restart and followed, ``watch``, once that long has passed since its send:
        until then, ``VenueUnavailable``).

        The exchange is asked per market. Given ``asset`` (the kernel's asset of the order, as
        reconciliation gives it), that market only: this adapter sends an order in its asset's
        market only, so one not there is None (one this process sent under the id in another
        market is another order). An asset this venue has no market for raises
        ``VenueUnavailable`` naming it, nothing asked: where the order is, is unknown, and None
        would end an order that may work there. Without ``asset``, an order this adapter sent
        (or canceled) in this process is asked for in its market; one it has no record of (sent
        before a restart) could be in any market it trades (the ``markets`` setting, else every
        market it serves), so each is asked, those it traded in this process first, until one
        has it: one request per market (two where orders are found in the order lists, Bybit),
        and only all of them saying "no such order" is None. Kraken's order lists are the
        account's: asked once each, an order they list in a market it does not trade is None
        (given ``asset``, ccxt keeps that market's orders from the same answer). Raises
        ``VenueUnavailable``, never returns None, when a market could not be asked (throttled,
        unreachable): the order may be there. A ``client_order_id`` or ``asset`` not a str is a
        TypeError naming it."""
        if not isinstance(client_order_id, str):
            raise TypeError(f"{self.name}: order_status: client_order_id={client_order_id!r} must be a str")
        asset = order_status_asset(asset, self.name)
        client_id = venue_client_id(client_order_id, self._settings.exchange)
        tracked = self._orders.tracked.get(client_order_id)
        if asset is not None:
            symbol = self._markets.symbol(asset)
            if symbol is None:
                raise VenueUnavailable(
                    f"{self.name}: status of {client_order_id!r} not asked: its asset {asset!r} is no "
                    f"market of {self.name}, so where to look is unknown"
                )
            if tracked is not None and tracked.symbol != symbol:
                tracked = None  # an order of this id in another market: not the one asked for
            symbols = [symbol]
        else:
            symbols = [tracked.symbol] if tracked is not None else self._markets.markets_to_search()
        lists = self._lookup.order_lists()
        # The market of an order from before a restart is known neither here (no record of it)
        # nor from its client id (the kernel's id, or a hash of it). Where the order lists are
        # the account's (Kraken), one ask covers them all: asked per market, the same requests
        # would go out once for each, hundreds of them.
        account_wide = tracked is None and asset is None and lists is not None and lists.account_wide
        for symbol in [None] if account_wide else symbols:
            raw = self._lookup.find(
                client_id, symbol, tracked.exchange_order_id if tracked is not None else ""
            )
            if raw is None:
                continue
            if account_wide and isinstance(raw.get("symbol"), str) and raw["symbol"] not in symbols:
                return None  # in a market this venue does not trade: not asked for, per market
            order = self._venue_order(raw, client_order_id, tracked)
            # Its market counts as traded: searched first next time.
            self._markets.assets_traded.add(str(self._client.exchange.market(raw["symbol"])["id"]))
            return order
        if tracked is not None:
            self._not_listed(tracked, client_order_id)
        return None

    def _not_listed(self, tracked: TrackedOrder, client_order_id: str) -> None:
        """An order this venue follows, which the exchange answers it has no such order of:
        ``VenueUnavailable`` while it may not show it yet, else its record dropped where the poll
        would end it (``order_status`` then says None, and reconciliation ends the order)."""
        if tracked.unresolved_since is not None:
            # A submit in doubt is never sent only once the exchange has said so for the grace,
            # as poll_events counts it (its query may lag its book): None at the first such
            # answer would have reconciliation end an order that may then show, and fill.
            waited = tracked.note_not_found(self._client.clock())
            if waited < self._settings.unknown_order_grace_s:
                raise VenueUnavailable(
                    f"{self.name}: status of {client_order_id!r} unknown: its submit timed out and the "
                    f"exchange has answered no such order for {waited:.1f}s, short of unknown_order_grace_s "
                    f"({self._settings.unknown_order_grace_s:g}s); it may be working there"
                )
            # Never sent, as the poll would say: asked about on, the poll would report its REJECT
            # again, for an order reconciliation ends on this None.
            del self._orders.tracked[client_order_id]
        elif tracked.acknowledged:
            # Acknowledged (or taken over from before a restart, ``watch``): sent less than the
            # grace ago, an exchange may not show it yet. None would have reconciliation end it
            # as purged, and its fill, once the exchange shows it, be refused.
            now = self._client.clock()
            waited = now - min(tracked.order.created_at, now)
            if waited < self._settings.unknown_order_grace_s:
                raise VenueUnavailable(
                    f"{self.name}: status of {client_order_id!r} unknown: the exchange answers no such "
                    f"order, {waited:.1f}s after it was sent, short of unknown_order_grace_s "
                    f"({self._settings.unknown_order_grace_s:g}s); it may be working there"
                )
            if tracked.ended_at is None and tracked.owed_answer is None:
                # Purged, as the poll would say after its own grace: asked about on, the poll
                # would report its end again, for an order reconciliation ends on this None.
                del self._orders.tracked[client_order_id]

    def positions(self) -> dict[str, float]:
        """Signed position per market id. Futures: the exchange's positions, a market's long and
        short netted (a hedge-mode account lists them apart). Spot: the total base-currency
        balance of each market of the ``markets`` setting (without it, RuntimeError: a balance
        names no market, and the markets traded in this process are none after a restart; and
        RuntimeError when two of those markets share a base currency, BTCUSDT and BTCUSDC, or one's
        base is another's quote, BTCUSDT and ETHBTC)."""
        self._markets.load()
        if self._settings.market_type == "linear":
            return self._futures_positions()
        return self._spot_positions()

    def _futures_positions(self) -> dict[str, float]:
        """The exchange's positions by market id, a market's long and short netted."""
        result: dict[str, float] = {}
        for position in self._positions_listed():
            contracts = self._figure(
                position.get("contracts"), f"position {position.get('symbol')!r}", "contracts"
            )
            if contracts == 0.0:
                continue
            market = self._client.exchange.market(position["symbol"])
            market_id = str(market["id"])
            # ccxt's contracts are unsigned and its side says which way; without a side, a
            # negative count (signed, as some exchanges give it) is short.
            side = position.get("side")
            if side not in ("long", "short") and contracts > 0:
                raise RuntimeError(
                    f"{self.name}: the {market_id} position has side={side!r} and "
                    f"contracts={contracts!r}: whether it is long or short is unknown"
                )
            contract_size = self._figure(
                market.get("contractSize") or 1.0, f"market {market_id!r}", "contractSize"
            )
            size = abs(contracts) * contract_size
            result[market_id] = result.get(market_id, 0.0) + (size if side == "long" else -size)
        return {market_id: size for market_id, size in result.items() if size != 0.0}

    def _positions_listed(self) -> list[dict[str, Any]]:
        """ccxt's positions of the account, of this venue's market type."""
        positions: list[dict[str, Any]] = self._client.account_call(
            "fetch_positions", None, self._any_market_params("fetch_positions")
        )
        return positions

    def unrealized_pnl(self) -> dict[str, float] | None:
        """The open futures positions' unrealised PnL as the exchange states it, summed per
        settlement currency; None when an open position states none."""
        self._markets.load()
        result: dict[str, float] = {}
        for position in self._positions_listed():
            symbol = position.get("symbol")
            if not self._figure(position.get("contracts"), f"position {symbol!r}", "contracts"):
                continue
            pnl = position.get("unrealizedPnl")
            if pnl is None:
                return None
            market = self._client.exchange.market(symbol)
            settle = str(market.get("settle") or market.get("quote"))
            figure = self._figure(pnl, f"position {symbol!r}", "unrealizedPnl")
            result[settle] = result.get(settle, 0.0) + figure
        return result

    def _spot_positions(self) -> dict[str, float]:
        """The total base-currency balance of each market of the markets setting."""
        trade_symbols = self._markets.trade_symbols
        if trade_symbols is None:
            # The markets traded in this process are none after a restart, when reconciliation
            # asks: a held balance would be reported as no position.
            raise RuntimeError(
                f"{self.name}: spot positions are currency balances, and without the markets "
                "setting which market holds one is unknown; set markets"
            )
        by_base: dict[str, list[str]] = {}
        by_quote: dict[str, list[str]] = {}
        for symbol in trade_symbols:
            market = self._client.exchange.market(symbol)
            by_base.setdefault(str(market["base"]), []).append(str(market["id"]))
            by_quote.setdefault(str(market["quote"]), []).append(str(market["id"]))
        for base, market_ids in by_base.items():
            if len(market_ids) > 1:
                # One balance, several markets: given to each it would count several times.
                raise RuntimeError(
                    f"{self.name}: spot positions of {', '.join(sorted(market_ids))} are all the one "
                    f"{base!r} balance, which cannot be split by market"
                )
            if base in by_quote:
                # The balance also holds what the other market's trades paid or got in it.
                raise RuntimeError(
                    f"{self.name}: the spot position of {market_ids[0]} is the {base!r} balance, "
                    f"which {', '.join(sorted(by_quote[base]))} also trades in, so it is not that position"
                )
        totals = self.balances()
        spot: dict[str, float] = {}
        for base, (market_id,) in by_base.items():
            amount = totals.get(base, 0.0)
            if amount:
                spot[market_id] = amount
        return spot

    def balances(self) -> dict[str, float]:
        """Each currency's total as the exchange states it (none of those at 0). A ValueError when
        ccxt's balance names no currency, its amount a figure of no known currency."""
        balance = self._client.account_call("fetch_balance")
        totals = balance.get("total") or {}
        if None in totals:
            raise ValueError(self._balance_of_no_currency(totals[None]))
        amounts = {
            str(cur): self._figure(amount, f"balance of {cur!r}", "total") for cur, amount in totals.items()
        }
        return {cur: amount for cur, amount in amounts.items() if amount}

    def wallet_balance(self, currency: str) -> float:
        """``currency``'s wallet balance, without the open futures positions' unrealised PnL, as
        one balance answer states it beside ccxt's total, which holds the PnL there: Binance
        futures' ``walletBalance``, Binance portfolio margin's ``umWalletBalance``, OKX's
        ``cashBal``. Where the answer states none, ccxt's total (spot, and Bybit, Gate and
        Kraken futures: the wallet). A ValueError when ccxt's balance names no currency, or the
        figure is not a number."""
        balance = self._client.account_call("fetch_balance")
        for entry in _balance_entries(balance.get("info")):
            if entry.get("asset", entry.get("ccy")) != currency:
                continue
            for key in _WALLET_KEYS:
                if entry.get(key) is not None:
                    return self._figure(entry[key], f"balance of {currency!r}", key)
        totals = balance.get("total") or {}
        if None in totals:
            raise ValueError(self._balance_of_no_currency(totals[None]))
        return self._figure(totals.get(currency), f"balance of {currency!r}", "total")

    def _balance_of_no_currency(self, amount: Any) -> str:
        """Why a balance of no currency is not read. On a Gate unified account (mode 2) ccxt reads
        a futures venue's balance from unified/accounts as one entry, of no currency, its amount
        the whole account's assets in USD (Gate's ``total``), no currency's balance."""
        said = f"{self.name}: ccxt's balance names no currency (total {amount!r})"
        exchange = self._client.exchange
        if "gate" in lineage(type(exchange)) and exchange.options.get("unifiedAccount") is True:
            said += (
                ": the account is a Gate unified account (mode 2), whose balance ccxt reads on a"
                f" {self._settings.market_type} venue as the account's assets in USD, not a"
                " currency's; a Gate account's balance is read on a classic account only"
            )
        return said


# The wallet balance, without unrealised PnL, as exchanges' balance answers name it per currency.
_WALLET_KEYS = ("walletBalance", "umWalletBalance", "cashBal")


def _balance_entries(info: Any) -> list[dict[str, Any]]:
    """The per-currency entries of a balance answer's raw ``info``: Binance futures'
    ``assets``, Binance portfolio margin's list, OKX's ``data[0].details``."""
    if isinstance(info, dict):
        data = info.get("data")
        first = data[0] if isinstance(data, list) and data and isinstance(data[0], dict) else {}
        info = info.get("assets", first.get("details"))
    return [e for e in info if isinstance(e, dict)] if isinstance(info, list) else []
