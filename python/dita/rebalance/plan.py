"""The plan of a rebalance: from the account as the venue states it (positions, equity, prices)
and a target portfolio, the order per symbol that brings the account to its target, rounded
down to the lot step, with what falls under one lot ("dust") or under the venue's minimum
size or notional ("below floor") skipped and reported with the residual left. The legs that
reduce a position go first, then the sells that open one, then the buys (``in_send_order``), so
the cash and margin they free are there when the orders that take them go out.

An order against the side of trades an earlier rebalance opened in the kernel exits those
first (a sell exits LONG trades, a buy SHORT ones), as far as the venue holds that side, so the
kernel's slots hold what the account holds; what goes beyond opens a trade of its own. Exits are
floored as entries are, and the whole lots they leave together (each under one lot of its trade)
go out with the entry.

A plan is pure data: the same account and targets give the same plan, and a plan written
before the first order (``plan_json``) is what a resumed run sends the rest of, the legs of a
symbol whose price has moved since planned again from the account (``run.repriced``)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from dita.rebalance.targets import Target, TargetPortfolio
from dita.risk import MarketLimits

__all__ = [
    "Account",
    "Leg",
    "LogPosition",
    "OpenTrade",
    "Plan",
    "PlanError",
    "Skipped",
    "held_with_working",
    "in_send_order",
    "intent_id",
    "make_plan",
    "plan_from_json",
    "plan_json",
    "plan_version",
    "trade_id",
]

PLAN_FORMAT = 2
# The trade ids rebalances open: the trades a later rebalance may exit.
TRADE_PREFIX = "rebalance:"
# Hex digits of the targets file's content hash in the ids a rebalance gives: a new version of one
# source_run sends under ids of its own, a rerun of the same file under the ones it sent.
VERSION_CHARS = 12
# Below this a difference is no order at all (float noise of a position already on target).
QTY_EPS = 1e-12


class PlanError(ValueError):
    """The account, or the plan written for it, cannot be planned from (a position the venue
    states no price for, weights of an equity not above 0, a quote currency the venue knows
    nothing of, a written plan that cannot be read): nothing was sent."""


class AccountUnreadable(PlanError):
    """The venue could not be asked for the account (unreachable, throttling, an error answer):
    nothing was sent, and the same targets can be planned once it answers."""


@dataclass(frozen=True)
class OpenTrade:
    """A trade the kernel holds open, which an order the other way exits."""

    symbol: str
    side: str  # LONG or SHORT
    trade_id: str
    slot_id: int
    size: float


@dataclass(frozen=True)
class Account:
    """What the venue states before the plan: signed positions, equity, each symbol's price and
    market limits; the kernel's open trades an order may exit, what its working orders have
    left to buy (+) or sell (-) per symbol, and what a trader should know of how it was read
    (a quote balance counted as 0). ``stale_prices``: why a symbol the venue prices is not
    priced here (a paper book's quote from an earlier run), skipped as no price."""

    positions: dict[str, float]
    equity: float
    prices: dict[str, float]
    limits: dict[str, MarketLimits]
    trades: tuple[OpenTrade, ...] = ()
    working: dict[str, float] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    stale_prices: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Leg:
    """One order of the plan. ``side`` is BUY or SELL; ``residual``: what rounding to the lot left.
    ``action`` ENTER opens trade ``trade_id``; EXIT takes ``quantity`` off the open trade
    ``trade_id`` in slot ``slot_id``."""

    symbol: str
    side: str
    quantity: float
    reference_price: float
    intent_id: str
    trade_id: str
    residual: float
    action: str = "ENTER"
    slot_id: int = -1


@dataclass(frozen=True)
class Skipped:
    """A symbol whose order is not sent: ``reason`` "dust" (under one lot), "below floor" (under
    the minimum size or notional), "no price"; ``residual``: the quantity left off target, None
    when that is not known (a weight target the venue states no price for)."""

    symbol: str
    side: str
    reason: str
    residual: float | None
    detail: str


@dataclass(frozen=True)
class LogPosition:
    """Where in a kernel's write-ahead log a plan was written: the kernel's id, the seq of the
    log's last record then and that record's chain hash. A log whose record at that seq has that
    hash holds the plan; another (a new log, another's) does not."""

    kernel_id: str
    seq: int
    head_hash: str


@dataclass(frozen=True)
class Plan:
    source_run: str
    content_hash: str
    equity: float
    positions_before: dict[str, float]
    prices: dict[str, float]
    targets: dict[str, dict[str, float | None]]  # symbol -> {weight, quantity, target_quantity}
    legs: tuple[Leg, ...]
    skipped: tuple[Skipped, ...]
    warnings: tuple[str, ...] = ()  # how the account was read (a quote balance of 0), leverage
    attempt: int = 1  # the targets file's N-th plan in its state dir (``plan_version``)
    written_at: LogPosition | None = None  # None: not written, or by a kernel with no log


def trade_id(portfolio: TargetPortfolio, symbol: str) -> str:
    """The id of the trade the rebalance to ``portfolio`` opens in ``symbol``:
    ``rebalance:SOURCE_RUN:VERSION:SYMBOL``, VERSION the file's content hash cut to
    ``VERSION_CHARS``."""
    return f"{TRADE_PREFIX}{portfolio.source_run}:{portfolio.content_hash[:VERSION_CHARS]}:{symbol}"


def plan_version(portfolio: TargetPortfolio, attempt: int) -> str:
    """The version the ``attempt``-th plan of ``portfolio`` in a state dir names its ids with:
    the file's content hash cut to ``VERSION_CHARS``, then ``-N`` from the second plan on (the
    file rebalanced to again), whose legs are not the earlier plans'."""
    version = portfolio.content_hash[:VERSION_CHARS]
    return version if attempt == 1 else f"{version}-{attempt}"


def intent_id(portfolio: TargetPortfolio, symbol: str, leg: str) -> str:
    """The intent id of ``symbol``'s ``leg`` of the rebalance to ``portfolio``: the same in a
    resumed run, so the kernel refuses one it took already as a duplicate and nothing goes twice;
    another for another version of the file, which a leg of the first must not stand for."""
    return f"{trade_id(portfolio, symbol)}:{leg}"


def make_plan(portfolio: TargetPortfolio, account: Account) -> Plan:
    """The plan that brings ``account`` to ``portfolio``; ``PlanError`` for weights of an equity
    that is not above 0."""
    _check_equity(portfolio, account.equity)
    legs: list[Leg] = []
    skipped: list[Skipped] = []
    targets: dict[str, dict[str, float | None]] = {}
    for target in portfolio.targets:
        price = account.prices.get(target.symbol, 0.0)
        unpriced = account.stale_prices.get(target.symbol, "the venue states no price for it")
        wanted = _target_quantity(target, account.equity, price)
        targets[target.symbol] = {
            "weight": target.weight,
            "quantity": target.quantity,
            "target_quantity": wanted,
        }
        if wanted is None:
            # A weight is sized at the price: without one, how far off target is not known.
            skipped.append(Skipped(target.symbol, "", "no price", None, unpriced))
            continue
        # An order still working fills toward the target: sent again, the target is overshot.
        working = account.working.get(target.symbol, 0.0)
        held = decimal(account.positions.get(target.symbol, 0.0)) + decimal(working)
        # On decimals, as quantities are written: 0.3 less 0.1 in binary is one lot of 0.1 short.
        delta = float(decimal(wanted) - held)
        if abs(delta) <= QTY_EPS:
            continue
        side = "BUY" if delta > 0 else "SELL"
        if not (price > 0 and math.isfinite(price)):
            # A market order needs a reference price: the kernel values and floors it at it.
            skipped.append(Skipped(target.symbol, side, "no price", abs(delta), unpriced))
            continue
        limits = account.limits.get(target.symbol)
        order = _sized(portfolio, target.symbol, side, abs(delta), price, limits)
        if isinstance(order, Skipped):
            skipped.append(order)
            continue
        exitable = _venue_holds_against(account, target.symbol, side)
        exits, unexited, entry = _exits_first(portfolio, order, account.trades, limits, exitable)
        legs += exits
        skipped += unexited
        if isinstance(entry, Skipped):
            skipped.append(entry)
        elif entry is not None:
            legs.append(entry)
    return Plan(
        portfolio.source_run,
        portfolio.content_hash,
        account.equity,
        dict(account.positions),
        dict(account.prices),
        targets,
        in_send_order(legs, held_with_working(account)),
        tuple(skipped),
        (*account.warnings, *_leverage_warning(portfolio)),
    )


def held_with_working(account: Account) -> dict[str, Decimal]:
    """What ``account`` holds of each symbol, counting what its working orders have left to fill."""
    held = {s: decimal(q) for s, q in account.positions.items()}
    for symbol, left in account.working.items():
        held[symbol] = held.get(symbol, Decimal(0)) + decimal(left)
    return held


def in_send_order(legs: list[Leg], held: dict[str, Decimal]) -> tuple[Leg, ...]:
    """``legs`` in the order they are sent: first each that takes its symbol's position toward 0
    (``held`` before them) by its whole size, an exit or an entry against a position held from
    elsewhere, as it frees cash or margin; then the sells that open, then the buys that open.
    Within each, the file's order. A short's buy back goes before a new short's sale, whose
    margin it frees, as a long's sale goes before a buy."""
    left = dict(held)
    reduces: dict[int, bool] = {}
    for n, leg in enumerate(legs):
        position = left.get(leg.symbol, Decimal(0))
        signed = decimal(leg.quantity) if leg.side == "BUY" else -decimal(leg.quantity)
        against = position < 0 if leg.side == "BUY" else position > 0
        reduces[n] = leg.action == "EXIT" or (against and abs(signed) <= abs(position) + Decimal(QTY_EPS))
        left[leg.symbol] = position + signed
    order = sorted(range(len(legs)), key=lambda n: (not reduces[n], legs[n].side != "SELL"))
    return tuple(legs[n] for n in order)


def _check_equity(portfolio: TargetPortfolio, equity: float) -> None:
    """A weight is a share of equity: of none, or of a debt, it sizes no order a trader meant."""
    if math.isfinite(equity) and equity > 0:
        return
    weighted = next((t for t in portfolio.targets if t.weight is not None), None)
    if weighted is not None:
        raise PlanError(
            f"equity {equity:g} is not above 0, so {weighted.symbol}'s weight {weighted.weight:g} "
            f"(row {weighted.row}) is a share of nothing: give quantities, or fund the account"
        )


def _leverage_warning(portfolio: TargetPortfolio) -> list[str]:
    """Weights over 1 of equity in all are leverage: the venue's margin and the kernel's risk
    limits judge the orders, and a buy they refuse is reported refused, after the others went."""
    gross = portfolio.gross_weight()
    if gross <= 1.0:
        return []
    return [
        f"the weights sum to {gross:g} of equity in absolute value: the portfolio is leveraged {gross:g}x"
    ]


def _target_quantity(target: Target, equity: float, price: float) -> float | None:
    if target.quantity is not None:
        return target.quantity
    assert target.weight is not None
    if target.weight == 0:
        return 0.0  # nothing held is nothing at any price
    if not (price > 0 and math.isfinite(price)):
        return None
    return target.weight * equity / price


def _sized(
    portfolio: TargetPortfolio,
    symbol: str,
    side: str,
    wanted: float,
    price: float,
    limits: MarketLimits | None,
) -> Leg | Skipped:
    """``wanted`` rounded down to the lot step; skipped when nothing or too little is left."""
    lot_step = limits.lot_step if limits is not None else 0.0
    qty = floor_to_step(wanted, lot_step)
    residual = float(decimal(wanted) - decimal(qty))  # 0.25 on lots of 0.1 leaves 0.05
    under = _under_floor(qty, price, limits)
    if under is not None:
        return Skipped(symbol, side, under[0], wanted, under[1])
    leg = side.lower()
    return Leg(
        symbol,
        side,
        qty,
        price,
        intent_id(portfolio, symbol, leg),
        trade_id(portfolio, symbol),
        residual,
    )


def _under_floor(qty: float, price: float, limits: MarketLimits | None) -> tuple[str, str] | None:
    """Why the venue would refuse an order of ``qty`` (on the lot already): the reason ("dust",
    "below floor") and the rule it fails; None when it takes it."""
    lot_step = limits.lot_step if limits is not None else 0.0
    if qty <= QTY_EPS:
        return "dust", f"under one lot (lot_step {lot_step:g})"
    if limits is not None and qty < limits.min_qty:
        return "below floor", f"{qty:g} is under min_qty {limits.min_qty:g}"
    if limits is not None and limits.min_notional > 0 and qty * price < limits.min_notional:
        return "below floor", f"notional {qty * price:g} is under min_notional {limits.min_notional:g}"
    return None


def _venue_holds_against(account: Account, symbol: str, side: str) -> Decimal:
    """What the venue holds of ``symbol`` on the side an order of ``side`` exits (a SELL the long,
    a BUY the short), less what working orders have left to take off it: all the kernel's trades
    of that side may exit. The kernel may send an exit reduce-only (it nets an asset's trades as
    one position), and the venue expires one it holds nothing against unfilled."""
    sign = 1 if side == "SELL" else -1
    held = sign * decimal(account.positions.get(symbol, 0.0))
    working = sign * decimal(account.working.get(symbol, 0.0))
    return max(held + min(working, Decimal(0)), Decimal(0))


def _exits_first(
    portfolio: TargetPortfolio,
    order: Leg,
    trades: tuple[OpenTrade, ...],
    limits: MarketLimits | None,
    exitable: Decimal,
) -> tuple[list[Leg], list[Skipped], Leg | Skipped | None]:
    """``order`` as exits of the open trades it goes against (oldest slot first), no more than
    ``exitable`` (what the venue holds on their side) in all, and the rest as an entry: what goes
    beyond that, and the whole lots their exits cannot take (two trades of 0.15 on a lot of 0.1
    exit 0.1 each: their 0.05s together are a lot no exit sends). A trade the venue holds nothing
    of (sold by hand, or the lot an entry sold for the exits) is not exited: its exit would go
    unfilled. An exit under the venue's floor is not sent, as an entry under it is not: its share
    goes to the next trade, and what none can take is skipped."""
    closes = "LONG" if order.side == "SELL" else "SHORT"
    against = [
        t for t in sorted(trades, key=lambda t: t.slot_id) if t.symbol == order.symbol and t.side == closes
    ]
    if not against:
        return [], [], order
    lot_step = limits.lot_step if limits is not None else 0.0
    quantity = decimal(order.quantity)
    held = min(sum((decimal(t.size) for t in against), Decimal(0)), exitable)
    to_exit = min(quantity, held)
    exits = []
    below_floor: list[str] = []
    # What no exit can take as each is under one lot: a trade's share under one lot, what an
    # exit leaves of its share; together they may be whole lots.
    under_lots = Decimal(0)
    for trade in against:
        if to_exit <= QTY_EPS:
            break
        share = min(decimal(trade.size), to_exit)
        qty = floor_to_step(float(share), lot_step)
        under = _under_floor(qty, order.reference_price, limits)
        if under is not None and under[0] == "dust":
            under_lots += share
            continue
        if under is not None:
            below_floor.append(f"the exit of slot {trade.slot_id}: {under[1]}")
            continue
        leg_name = f"{order.side.lower()}-exit-{trade.slot_id}"
        exits.append(
            replace(
                order,
                quantity=qty,
                intent_id=intent_id(portfolio, order.symbol, leg_name),
                trade_id=trade.trade_id,
                residual=0.0,
                action="EXIT",
                slot_id=trade.slot_id,
            )
        )
        to_exit -= decimal(qty)
        under_lots += share - decimal(qty)
    # The lots under one lot each go out with the entry; the trades passed over as under the
    # floor keep the rest.
    with_entry = min(under_lots, to_exit)
    unexited = []
    if to_exit - with_entry > QTY_EPS:
        skipped = float(to_exit - with_entry)
        unexited.append(Skipped(order.symbol, order.side, "below floor", skipped, "; ".join(below_floor)))
    rest = with_entry + max(quantity - held, Decimal(0))
    if rest <= QTY_EPS:
        if exits:
            # What the order's rounding to the lot left off target is said on its last leg.
            exits[-1] = replace(exits[-1], residual=order.residual)
        return exits, unexited, None
    entry = _sized(portfolio, order.symbol, order.side, float(rest), order.reference_price, limits)
    # Off target by what this entry leaves and the order's own rounding to the lot.
    assert entry.residual is not None
    return exits, unexited, replace(entry, residual=float(decimal(entry.residual) + decimal(order.residual)))


def decimal(qty: float) -> Decimal:
    """``qty`` as the decimal it is written as (0.1, not 0.1000000000000000055511151231257827)."""
    return Decimal(repr(float(qty)))


def floor_to_step(qty: float, step: float) -> float:
    """``qty`` rounded down to a multiple of ``step`` on decimals, as exchanges count lots (0.3 is
    three lots of 0.1, though 0.3 / 0.1 is 2.9999999999999996 in binary)."""
    if step <= 0:
        return qty
    lots = (decimal(qty) / decimal(step)).to_integral_value(rounding=ROUND_FLOOR)
    return float(lots * decimal(step))


def plan_json(plan: Plan) -> dict[str, Any]:
    return {"format": PLAN_FORMAT, **asdict(plan)}


def plan_from_json(data: dict[str, Any]) -> Plan:
    if not isinstance(data, dict):
        raise ValueError(f"a rebalance plan is a JSON object, not {type(data).__name__}")
    if data.get("format") != PLAN_FORMAT:
        raise ValueError(f"rebalance plan format {data.get('format')!r}: this version reads {PLAN_FORMAT}")
    return Plan(
        data["source_run"],
        data["content_hash"],
        float(data["equity"]),
        {k: float(v) for k, v in data["positions_before"].items()},
        {k: float(v) for k, v in data["prices"].items()},
        dict(data["targets"]),
        tuple(Leg(**leg) for leg in data["legs"]),
        tuple(Skipped(**s) for s in data["skipped"]),
        tuple(str(w) for w in data.get("warnings", ())),
        int(data["attempt"]),
        None if data["written_at"] is None else LogPosition(**data["written_at"]),
    )
