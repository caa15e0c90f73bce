"""A rebalance plan sent through the kernel: the account read from the venue through the venue
protocol, each leg an intent the kernel judges (mode, risk guard, market limits) and sends,
its metadata carrying the targets' ``source_run``, and the fills each leg got.

Each leg is a MARKET order: an EXIT of a trade an earlier rebalance opened, or an ENTER of a
trade of its own (LONG to buy, SHORT to sell) on a free slot. Its intent id is derived from
(source_run, the targets file's version, symbol, leg), so a run resumed on the same
write-ahead log finds the legs the kernel took already refused as DUPLICATE_INTENT and sends
only the rest, and a leg whose order ended with nothing filled again under a retry id."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from dita._kernel import (
    KernelDiagnosticCode,
    KernelEventKind,
    KernelIntent,
    KernelOutcome,
    OrderSide,
    VenueEvent,
)
from dita.rebalance.plan import QTY_EPS, TRADE_PREFIX, Account, Leg, OpenTrade, Plan, PlanError, decimal
from dita.rebalance.sent_before import Fill, LoggedOrder, LogUnread, logged_orders
from dita.rebalance.targets import TargetPortfolio
from dita.risk import MarketLimits
from dita.venues.ccxt import CcxtVenue
from dita.venues.protocol import VenueEventStream, VenueMarketInfo, VenueUnavailable, poll_once

__all__ = [
    "NOT_FILLED",
    "Fill",
    "LegResult",
    "PlanError",
    "kernel_names",
    "named_positions",
    "open_trades",
    "read_account",
    "reference_prices",
    "refuse_weights_priced_elsewhere",
    "send_plan",
    "unsent_legs",
    "working_quantities",
]

# A leg's status when an earlier run saw its order end with nothing filled: it is sent again.
UNFILLED_BEFORE = ("refused (earlier run)", "unfilled (earlier run)")
# A leg's status when an earlier run saw its order end with part of it filled: it is not sent again.
PART_FILLED_BEFORE = "part filled (earlier run)"
# A leg's status when its order was refused, or ended short of its size (in this run or, part
# filled, in an earlier one), or it found no slot: what it did not fill leaves the account off
# its target.
NOT_FILLED = ("refused", "unfilled", "no free slot", PART_FILLED_BEFORE)
# The venue's ends of an order short of its size, other than a reject.
_ENDED_UNFILLED = (KernelEventKind.EXPIRED, KernelEventKind.CANCEL_ACK)
# How long fills of orders a venue reports later are waited for, by default.
FILL_WAIT_S = 30.0
POLL_S = 0.5


@dataclass
class LegResult:
    """What became of one leg: ``status`` "sent", "sent before" (taken by the kernel in an earlier
    run of this plan: not sent again), "refused" (the kernel's diagnostic and reason, or the
    venue's: diagnostic ``REJECT``, its reason), "unfilled" (its order ended with less than its
    size filled: diagnostic ``EXPIRED`` or ``CANCEL_ACK``, the venue's reason; its fills say what
    did), "no free slot", "no price" (not sent: the venue's price of its symbol is not this
    run's, ``send_plan``), "part filled (earlier run)" (an earlier run saw its order end with
    less than its size filled: the ending and the venue's reason, its fills; not sent again),
    or, for an order an earlier run saw end with nothing filled (sent again after it), "refused
    (earlier run)" (diagnostic ``REJECT`` or ``RATE_LIMITED``) or "unfilled (earlier run)"
    (``CANCEL_ACK``, ``EXPIRED``)."""

    leg: Leg
    status: str
    diagnostic: str = ""
    reason: str = ""
    client_order_id: str = ""
    fills: list[Fill] = field(default_factory=list)

    @property
    def filled(self) -> float:
        return sum(f.quantity for f in self.fills)

    @property
    def unfilled(self) -> float:
        """What of the leg's size its fills leave, on decimals (0 for a leg filled whole)."""
        left = decimal(self.leg.quantity) - sum((decimal(f.quantity) for f in self.fills), Decimal(0))
        return max(float(left), 0.0)


def reference_prices(venue: Any, symbols: Iterable[str]) -> dict[str, float]:
    """Each symbol's mid price as the venue states it: its top of book (a ccxt venue) or the
    latest quote its book holds (the paper venue). A symbol it states none for is left out: one
    the exchange does not list, or whose book has no bid, no ask or no number there
    (``ValueError``); a venue that cannot be reached raises."""
    prices: dict[str, float] = {}
    fetch = getattr(venue, "fetch_top_of_book", None)
    book = venue.book().get("quotes", {}) if callable(getattr(venue, "book", None)) else {}
    for symbol in symbols:
        if callable(fetch):
            try:
                top = fetch(symbol)
            except ValueError:
                continue
            bid, ask = top.bid, top.ask
        elif symbol in book:
            bid, ask = book[symbol][0], book[symbol][1]
        else:
            continue
        mid = (bid + ask) / 2
        if math.isfinite(mid) and mid > 0:
            prices[symbol] = mid
    return prices


def open_trades(kernel: Any) -> tuple[OpenTrade, ...]:
    """The trades earlier rebalances opened that the kernel holds open, each free for an exit."""
    return tuple(
        OpenTrade(slot["asset"], slot["side"], slot["trade_id"], slot["slot_id"], float(slot["size"]))
        for slot in kernel.slots()
        if slot["fsm_state"] == "POSITION_OPEN" and str(slot["trade_id"]).startswith(TRADE_PREFIX)
    )


def kernel_names(venue: Any, symbols: Iterable[str], assets: Iterable[str]) -> dict[str, str]:
    """Each of ``symbols`` whose market the kernel holds under another of ``assets`` (its open
    trades' and working orders' names), to that name: a ccxt venue takes a market as its symbol
    (BTC/USDT) or its id (BTCUSDT), and refuses an entry under a second name of a market the
    kernel holds, whose cap and position the kernel would count twice."""
    held_as = getattr(venue, "position_asset", None)
    if not callable(held_as):
        return {}
    targets = {str(held_as(symbol)): symbol for symbol in symbols}
    names: dict[str, str] = {}
    for asset in sorted(set(assets)):
        symbol = targets.get(str(held_as(asset)))
        if symbol is not None and symbol != asset:
            names.setdefault(symbol, asset)
    return names


def working_quantities(kernel: Any) -> dict[str, float]:
    """What the kernel's working orders have left to buy (+) or sell (-), per symbol."""
    working: dict[str, Decimal] = {}
    for order in kernel.open_orders():
        left = decimal(order.size) - decimal(order.filled_size)
        signed = left if order.order_side == OrderSide.BUY else -left
        working[order.asset] = working.get(order.asset, Decimal(0)) + signed
    return {asset: float(left) for asset, left in working.items()}


def named_positions(venue: Any, symbols: Iterable[str]) -> dict[str, float]:
    """The venue's positions, each target's under the target's symbol: a venue may name its market
    otherwise (a ccxt venue lists BTC/USDT's position under its market id, BTCUSDT), and read
    under the other name it would count as nothing held. Two symbols of one market: PlanError."""
    positions = {k: float(v) for k, v in venue.positions().items()}
    held_as = getattr(venue, "position_asset", None)
    if not callable(held_as):
        return positions
    named: dict[str, str] = {}
    for symbol in symbols:
        name = str(held_as(symbol))
        if name in named:
            raise PlanError(f"{named[name]} and {symbol} are the one market {name}: list it once")
        named[name] = symbol
        if name != symbol and name in positions:
            positions[symbol] = positions.pop(name)
    return positions


def read_account(
    venue: Any,
    symbols: Iterable[str],
    quote_currency: str,
    trades: tuple[OpenTrade, ...] = (),
    working: dict[str, float] | None = None,
    stale_prices: Mapping[str, str] | None = None,
) -> Account:
    """The account before a rebalance: positions, market limits, prices of the targets and of
    what is held, and equity (``quote_currency``'s balance plus what else is held at those
    prices: the paper venue's positions, bought with its cash; on a spot exchange every currency
    balance, ``_balances_value``; on a futures exchange nothing, its balance being the margin, and
    a warning where that balance is the wallet alone, ``_unrealized_pnl_left_out``);
    ``trades``: the kernel's open trades an order may exit; ``working``: what its working orders
    have left to fill per symbol (``working_quantities``); ``stale_prices``: the venue's prices
    not this run's, by symbol with why, which value what is held (said in a warning) and are
    not traded at."""
    symbols = list(symbols)
    positions = named_positions(venue, symbols)
    wanted = list(dict.fromkeys([*symbols, *positions]))
    prices = reference_prices(venue, wanted)
    limits: dict[str, MarketLimits] = {}
    warnings: list[str] = []
    balances: dict[str, float] = {}
    if isinstance(venue, VenueMarketInfo):
        markets = venue.market_metadata()
        limits = {k: v for k, v in markets.items() if k in wanted}
        balances = venue.balances()
        cash = _cash(balances, quote_currency, markets, warnings)
    else:
        cash = 0.0
        warnings.append(f"the venue states no balances: equity counts no {quote_currency} cash")
    unpriced = [s for s, q in positions.items() if q and s not in prices]
    if _positions_are_contracts(venue):
        # Equity is the balance there: a contract the targets leave alone needs no price.
        left_alone = sorted(s for s in unpriced if s not in symbols)
        unpriced = [s for s in unpriced if s in symbols]
        if left_alone:
            warnings.append(
                f"the venue states no price for the positions in {', '.join(left_alone)}: the targets "
                "leave them alone, and a futures equity is the balance, so they are not valued or traded"
            )
    if unpriced:
        raise PlanError(
            f"the venue states no price for the positions in {', '.join(sorted(unpriced))}: "
            "they cannot be valued or sized against their targets"
        )
    if _positions_are_balances(venue):
        held = _balances_value(venue, balances, quote_currency, symbols, prices, warnings)
    elif _positions_are_contracts(venue):
        # A futures position is not bought with the balance, so its value is not the account's:
        # the balance is (Binance's is the margin balance, the wallet plus the unrealised PnL).
        held = 0.0
        if any(positions.values()) and venue.balance_leaves_out_unrealized_pnl():
            warnings.append(_unrealized_pnl_left_out(venue))
    else:
        held = sum(q * prices[s] for s, q in positions.items())
    stale = {s: why for s, why in (stale_prices or {}).items() if s in prices}
    warnings += [
        f"{s}: {stale[s]}; the {q:g} held is valued at it in equity"
        for s, q in positions.items()
        if q and s in stale
    ]
    traded_at = {s: p for s, p in prices.items() if s not in stale}
    return Account(
        positions, cash + held, traded_at, limits, trades, dict(working or {}), tuple(warnings), stale
    )


def _unrealized_pnl_left_out(venue: CcxtVenue) -> str:
    """The warning of an equity that is a futures wallet alone, naming the unrealised PnL it
    leaves out where the positions state it."""
    try:
        pnl = venue.unrealized_pnl()
    except (VenueUnavailable, ValueError) as exc:
        left_out = f" (not known: the positions could not be read again for it: {exc})"
    else:
        amounts = ", ".join(f"{amount:,.2f} {currency}" for currency, amount in sorted((pnl or {}).items()))
        left_out = " (not known: the positions do not state it)" if pnl is None else f" of {amounts}"
    return (
        f"equity is {venue.settings.exchange}'s futures wallet balance, without the open positions' "
        f"unrealised PnL{left_out}: a weight is a share of the wallet alone"
    )


def _positions_are_contracts(venue: Any) -> bool:
    """Whether ``venue``'s positions are futures contracts (a ccxt linear venue): held on margin,
    not paid for out of the balance as the paper venue's are."""
    return isinstance(venue, CcxtVenue) and venue.settings.market_type == "linear"


def _positions_are_balances(venue: Any) -> bool:
    """Whether ``venue``'s positions are currency balances, stated for the markets it trades
    only (a ccxt spot venue): the other balances are the account's too."""
    return isinstance(venue, CcxtVenue) and venue.settings.market_type == "spot"


def _balances_value(
    venue: Any,
    balances: dict[str, float],
    quote: str,
    symbols: list[str],
    prices: dict[str, float],
    warnings: list[str],
) -> float:
    """What every balance but ``quote``'s is worth in ``quote``, each at the mid of its market
    against it (``CUR/QUOTE``), else at 1 / the mid of the inverse market (``QUOTE/CUR``); a
    target's market at the target's price, the others' from one tickers request where the
    exchange has one (``_mids``). A balance with neither market, or no price there, is left out
    and named in ``warnings``: equity is short of it."""
    priced_as = {str(venue.position_asset(s)): prices[s] for s in symbols if s in prices}
    listed = venue.market_metadata()
    unvalued: list[str] = []
    held: list[tuple[str, float, str]] = []  # currency, amount, the market it is valued in
    for currency, amount in sorted(balances.items()):
        if currency == quote or not amount:
            continue
        market, inverse = f"{currency}/{quote}", f"{quote}/{currency}"
        if market not in listed and inverse not in listed:
            unvalued.append(f"{amount:g} {currency} (no {market} or {inverse} market)")
            continue
        held.append((currency, amount, market if market in listed else inverse))
    unpriced = {m: c for c, _, m in held if str(venue.position_asset(m)) not in priced_as}
    mids = _mids(venue, unpriced)
    total = 0.0
    for currency, amount, valued_in in held:
        price = priced_as.get(str(venue.position_asset(valued_in)), mids.get(valued_in))
        if price is None:
            unvalued.append(f"{amount:g} {currency} (no price for {valued_in})")
            continue
        # QUOTE/CUR's mid is CUR per QUOTE, above 0 (reference_prices): a CUR is 1 / mid QUOTE.
        total += float(amount) * (price if valued_in == f"{currency}/{quote}" else 1.0 / price)
    if unvalued:
        warnings.append(f"equity leaves out what cannot be valued in {quote}: {', '.join(unvalued)}")
    return total


def _mids(venue: Any, markets: dict[str, str]) -> dict[str, float]:
    """The mid of each of ``markets`` (market -> the currency it values): from one tickers
    request where the exchange has one, each market it states no bid or ask for (or all of them,
    where it has none) from its own book (``reference_prices``). A market with no price is left
    out. A request that fails raises ``VenueUnavailable`` naming the currencies and markets."""
    if not markets:
        return {}
    fetch = getattr(venue, "fetch_ticker_mids", None)
    mids: dict[str, float] = {}
    if callable(fetch):
        try:
            mids = dict(fetch(list(markets)) or {})
        except VenueUnavailable as exc:
            asked = ", ".join(f"{currency} at {market}" for market, currency in markets.items())
            raise VenueUnavailable(f"{exc} (the tickers asked to value the balances held: {asked})") from exc
    for market, currency in markets.items():
        if market in mids:
            continue
        try:
            mids.update(reference_prices(venue, [market]))
        except VenueUnavailable as exc:
            raise VenueUnavailable(f"{exc} (the {market} book asked to value the {currency} held)") from exc
    return mids


def _cash(
    balances: dict[str, float], currency: str, markets: dict[str, MarketLimits], warnings: list[str]
) -> float:
    """``currency``'s balance. An exchange lists no empty balance, so one the account holds none of
    is 0 when the venue quotes a market in it (said in ``warnings``), and else a currency the
    trader mistook (a typo, another exchange's): refused, as every weight would be of it."""
    if currency in balances:
        cash = float(balances[currency])
        if not math.isfinite(cash):
            raise PlanError(f"the venue states the {currency} balance as {cash!r}: equity is unknown")
        return cash
    if currency in _quote_currencies(markets):
        warnings.append(f"the account holds no {currency}: equity counts its balance as 0")
        return 0.0
    raise PlanError(
        f"quote currency {currency!r}: the account holds no balance in it and the venue quotes no "
        f"market in it (balances held: {', '.join(sorted(balances)) or 'none'})"
    )


def refuse_weights_priced_elsewhere(venue: Any, portfolio: TargetPortfolio, quote_currency: str) -> None:
    """Refuse a weight target whose market the venue prices in another currency than
    ``quote_currency``: its size, weight * equity / price, would divide an equity in one currency
    by a price in another. A venue that names no market's currencies is taken as it is."""
    position_asset = getattr(venue, "position_asset", None)
    if not isinstance(venue, VenueMarketInfo) or position_asset is None:
        return
    # Markets are listed under their ids (BTCUSDT) and their ccxt symbols (BTC/USDT), which
    # alone name their currencies.
    by_id = {str(position_asset(m)): m for m in venue.market_metadata() if "/" in m}
    for target in portfolio.targets:
        if target.weight is None:
            continue
        market = by_id.get(str(position_asset(target.symbol)))
        priced_in = _quote_currencies([market]) if market else set()
        if priced_in and quote_currency not in priced_in:
            raise PlanError(
                f"target {target.symbol} (row {target.row}) is a weight of the equity in {quote_currency}, "
                f"but {market} is priced in {', '.join(sorted(priced_in))}: give --quote-currency "
                f"{sorted(priced_in)[0]}, or a quantity"
            )


def _quote_currencies(markets: Iterable[str]) -> set[str]:
    """The quote and settle currencies the ccxt symbols among ``markets`` name (``BASE/QUOTE``,
    ``BASE/QUOTE:SETTLE``, ``BASE/QUOTE:SETTLE-EXPIRY``)."""
    currencies = set()
    for market in markets:
        _base, slash, rest = market.partition("/")
        if not slash:
            continue
        quote, _, settle = rest.partition(":")
        currencies.add(quote)
        if settle:
            currencies.add(settle.partition("-")[0])
    return currencies


def send_plan(
    kernel: Any,
    plan: Plan,
    *,
    fill_wait_s: float = FILL_WAIT_S,
    after_leg: Callable[[LegResult], object] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    stale_prices: Mapping[str, str] | None = None,
    assets: Mapping[str, str] | None = None,
) -> list[LegResult]:
    """Sends each leg of ``plan`` through ``kernel`` in the plan's order (``in_send_order``), then
    waits up to ``fill_wait_s`` for the fills a venue reports later. ``after_leg`` hears each
    leg's result once sent (the paper venue's book is saved there). ``stale_prices``: the
    venue's prices not this run's, by symbol with why (a paper book's quote of an earlier run):
    a leg of one that the kernel has not taken (a written plan's, resumed) is not sent, as the
    venue would fill it there, and is reported "no price" with why. ``assets``: the name the
    kernel holds a target's market under where it is another spelling (``kernel_names``), which
    its legs are sent under."""
    results = []
    log = _PlanLog(kernel, plan)
    for leg in plan.legs:
        unpriced = (stale_prices or {}).get(leg.symbol)
        asset = (assets or {}).get(leg.symbol, leg.symbol)
        for result in _send(kernel, plan.source_run, leg, log, unpriced, asset):
            results.append(result)
            if after_leg is not None:
                after_leg(result)
    venue = kernel.venue
    if isinstance(venue, VenueEventStream):
        _await_fills(kernel, venue, results, fill_wait_s, clock, sleep)
    return results


def unsent_legs(kernel: Any, plan: Plan, orders: Mapping[str, LoggedOrder] | None = None) -> list[Leg]:
    """The legs of ``plan`` that ``send_plan`` would send at the plan's size: those the kernel has
    not taken, and those whose order (and each retry's) an earlier run saw end with nothing
    filled, which go again under a retry id. A leg taken and filled, part filled or still working
    is not sent again. ``orders``: the legs' orders read from a copy of the log, for a kernel
    replayed from it (a dry run's), which keeps no log to read them from."""
    log = _PlanLog(kernel, plan) if orders is None else _PlanLog(kernel, plan, dict(orders), read=True)
    unsent = []
    for leg in plan.legs:
        tried, retries = leg, 0
        while kernel.intent_taken(tried.intent_id):
            logged = log.order(tried.intent_id)
            if logged is None or not _filled_nothing(kernel, logged):
                break
            retries += 1
            tried = replace(leg, intent_id=f"{leg.intent_id}:retry-{retries}")
        else:
            unsent.append(leg)
    return unsent


@dataclass
class _PlanLog:
    """The orders of ``plan``'s legs the kernel's log holds, read once, when the first leg is
    found taken in an earlier run (a plan sent whole never reads it); ``unread``: why it could
    not be read."""

    kernel: Any
    plan: Plan
    orders: dict[str, LoggedOrder] | None = None
    unread: str = ""
    read: bool = False

    @property
    def since(self) -> int:
        """The seq its legs' records start at: the log's records after the plan was written."""
        at = self.plan.written_at
        return 1 if at is None else at.seq + 1

    def order(self, intent_id: str) -> LoggedOrder | None:
        if not self.read:
            self.read = True
            try:
                legs = (leg.intent_id for leg in self.plan.legs)
                self.orders = logged_orders(self.kernel, self.since, legs)
            except LogUnread as exc:
                self.unread = str(exc)
            else:
                self.unread = "" if self.orders is not None else "the kernel keeps no log to find it in"
        return None if self.orders is None else self.orders.get(intent_id)


def _send(
    kernel: Any, source_run: str, leg: Leg, log: _PlanLog, unpriced: str | None, asset: str
) -> list[LegResult]:
    """``leg`` sent, or as an earlier run sent it. One whose order ended with nothing filled is
    sent again under the next retry id (``ID:retry-N``), the same in every run, so a retry killed
    mid-way is found taken as the leg was, never sent twice. ``unpriced``: why the venue's price
    of the leg's symbol is not this run's; a leg (or retry) the kernel has not taken is then
    reported "no price", not sent. ``asset``: the name the kernel trades the leg's market as."""
    earlier: list[LegResult] = []
    tried = leg
    while True:
        if unpriced is not None and log.order(tried.intent_id) is None:
            return [*earlier, LegResult(tried, "no price", reason=unpriced)]
        result = _send_once(kernel, source_run, tried, log, asset)
        if result.status not in UNFILLED_BEFORE:
            return [*earlier, result]
        earlier.append(result)
        tried = replace(leg, intent_id=f"{leg.intent_id}:retry-{len(earlier)}")


def _send_once(kernel: Any, source_run: str, leg: Leg, log: _PlanLog, asset: str) -> LegResult:
    slot_id = kernel.free_slot_id() if leg.action == "ENTER" else leg.slot_id
    # An ENTER opens a trade on the order's side; an EXIT names the side of the trade it exits.
    opens_long = leg.side == "BUY"
    intent = KernelIntent(
        leg.intent_id,
        leg.trade_id,
        0 if slot_id is None else slot_id,
        asset,
        "LONG" if opens_long == (leg.action == "ENTER") else "SHORT",
        leg.action,
        reference_price=leg.reference_price,
        target_size=leg.quantity,
        order_type="MARKET",
        reason="rebalance",
        metadata={"source_run": source_run, "rebalance_leg": leg.side.lower()},
        timestamp=time.time(),
    )
    outcome = kernel.process_intent(intent)
    # Slot 0 stands in when no slot is free, so a leg taken already is still told by its id.
    if outcome.diagnostic_code == KernelDiagnosticCode.DUPLICATE_INTENT:
        return _sent_before(leg, log)
    if slot_id is None:
        return LegResult(leg, "no free slot", reason="every slot of the kernel holds a trade")
    if not outcome.accepted and outcome.order is None:
        return LegResult(leg, "refused", outcome.diagnostic_code.name, _reason(outcome))
    result = LegResult(leg, "sent", outcome.diagnostic_code.name, _reason(outcome))
    if outcome.order is not None:
        result.client_order_id = outcome.order.client_order_id
    _take_fills(result, outcome.emitted_events)
    return result


def _sent_before(leg: Leg, log: _PlanLog) -> LegResult:
    """A leg the kernel took in an earlier run: its order and the fills the log booked for it
    (``dita audit trace`` lists them with their records). One whose intent the log after the
    plan was written does not hold is refused, not sent: taken for another plan under its id, or
    its records not to be read, it may have traded, and is not this plan's leg sent."""
    logged = log.order(leg.intent_id)
    if logged is None:
        unfound = log.unread or (
            f"its log after this plan was written (from seq {log.since:,}) holds no such intent: "
            "it was taken before, for another plan"
        )
        reason = (
            f"the kernel took intent {leg.intent_id} before, and {unfound}; what it traded is not known "
            "here, so it is not sent again: run these targets again to plan them afresh from the account"
        )
        return LegResult(leg, "refused", KernelDiagnosticCode.DUPLICATE_INTENT.name, reason)
    result = LegResult(leg, "sent before")
    result.client_order_id = logged.client_order_id
    result.fills = list(logged.fills)
    if not _ended(log.kernel, logged):
        return result
    if _filled_nothing(log.kernel, logged):
        refused = logged.ending in ("REJECT", "RATE_LIMITED")
        result.status = "refused (earlier run)" if refused else "unfilled (earlier run)"
    elif result.unfilled > QTY_EPS:
        # Not sent again, as a leg of this run that ends short is not: the account is planned
        # afresh from what the venue holds by the next run of the file.
        result.status = PART_FILLED_BEFORE
    else:
        return result
    result.diagnostic, result.reason = logged.ending, logged.reason
    return result


def _filled_nothing(kernel: Any, logged: LoggedOrder) -> bool:
    """Whether ``logged``'s order ended (``_ended``) with nothing filled: it is sent again."""
    return _ended(kernel, logged) and not logged.fills and logged.filled_at_end == 0


def _ended(kernel: Any, logged: LoggedOrder) -> bool:
    """Whether the log holds the end of ``logged``'s order short of its size. An order the
    kernel still holds (working, awaited, in doubt, its end's figure to be asked for) may fill
    yet, so it has not ended."""
    if not logged.client_order_id or not logged.ending:
        return False
    held = (
        *kernel.open_orders(),
        *kernel.awaited_orders(),
        *kernel.orders_in_doubt(),
        *kernel.orders_ended_without_figure(),
    )
    return all(order.client_order_id != logged.client_order_id for order in held)


def _reason(outcome: KernelOutcome) -> str:
    details = outcome.details
    if outcome.accepted:
        return ""
    for key in ("reason", "rule", "field"):
        if details.get(key):
            return str(details[key])
    return ""


def _take_fills(result: LegResult, events: Iterable[VenueEvent]) -> None:
    """The leg's fills among ``events``; a venue's reject of its order makes it refused (the
    venue's margin or rules: nothing of it fills), and its order's end short of its size
    unfilled (a reduce-only order with nothing left to reduce, a market order's remainder the
    book could not fill), each with the venue's reason."""
    for event in events:
        if event.trade_id != result.leg.trade_id:
            continue
        if event.kind == KernelEventKind.FILL:
            qty = event.size if event.size > 0 else event.filled_size - result.filled
            result.fills.append(Fill(event.price, qty, event.fee or 0.0, event.fill_id))
        elif event.kind == KernelEventKind.REJECT:
            result.status, result.diagnostic, result.reason = "refused", "REJECT", event.reason
        elif event.kind in _ENDED_UNFILLED and result.unfilled > QTY_EPS:
            result.status, result.diagnostic, result.reason = "unfilled", event.kind.name, event.reason


def _await_fills(
    kernel: Any,
    venue: VenueEventStream,
    results: list[LegResult],
    wait_s: float,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> None:
    # A leg sent before whose order still works fills in this run's report, or in none.
    by_trade = {r.leg.trade_id: r for r in results if r.status in ("sent", "sent before")}
    deadline = clock() + wait_s
    while by_trade and _working(kernel, by_trade) and clock() < deadline:
        events, _problem = poll_once(venue.poll_events)
        for event in events:
            outcome = kernel.on_venue_event(event)
            result = by_trade.get(getattr(event, "trade_id", ""))
            if result is not None and outcome.applied:
                _take_fills(result, [event])
        if not events:
            sleep(POLL_S)


def _working(kernel: Any, by_trade: dict[str, LegResult]) -> bool:
    return any(o.trade_id in by_trade for o in kernel.open_orders())
