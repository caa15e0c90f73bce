"""The plan of a rebalance: from the account as the venue states it (positions, equity, prices)
and a target portfolio, the order per symbol that brings the account to its target, rounded
down to the lot step, with what falls under one lot ("dust") or under the venue's minimum
size or notional ("below floor") skipped and reported with the residual left. Sells come
before buys, so the cash they free is there when the buys go out.

A plan is pure data: the same account and targets give the same plan, and a plan written
before the first order (``plan_json``) is what a resumed run sends the rest of."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from dita.rebalance.targets import Target, TargetPortfolio
from dita.risk import MarketLimits

__all__ = ["Account", "Leg", "Plan", "Skipped", "intent_id", "make_plan", "plan_from_json", "plan_json"]

PLAN_FORMAT = 1
# Below this a difference is no order at all (float noise of a position already on target).
QTY_EPS = 1e-12


@dataclass(frozen=True)
class Account:
    """What the venue states before the plan: signed positions, equity, each symbol's price and
    market limits."""

    positions: dict[str, float]
    equity: float
    prices: dict[str, float]
    limits: dict[str, MarketLimits]


@dataclass(frozen=True)
class Leg:
    """One order of the plan. ``side`` is BUY or SELL; ``residual``: what rounding to the lot left."""

    symbol: str
    side: str
    quantity: float
    reference_price: float
    intent_id: str
    trade_id: str
    residual: float


@dataclass(frozen=True)
class Skipped:
    """A symbol whose order is not sent: ``reason`` "dust" (under one lot), "below floor" (under
    the minimum size or notional), "no price"; ``residual``: the quantity left off target."""

    symbol: str
    side: str
    reason: str
    residual: float
    detail: str


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


def intent_id(source_run: str, symbol: str, leg: str) -> str:
    """The intent id of ``symbol``'s ``leg`` of the rebalance of ``source_run``: the same in a
    resumed run, so the kernel refuses one it took already as a duplicate and nothing goes twice."""
    return f"rebalance:{source_run}:{symbol}:{leg}"


def make_plan(portfolio: TargetPortfolio, account: Account) -> Plan:
    legs: list[Leg] = []
    skipped: list[Skipped] = []
    targets: dict[str, dict[str, float | None]] = {}
    for target in portfolio.targets:
        price = account.prices.get(target.symbol, 0.0)
        wanted = _target_quantity(target, account.equity, price)
        targets[target.symbol] = {
            "weight": target.weight,
            "quantity": target.quantity,
            "target_quantity": wanted,
        }
        if wanted is None:
            skipped.append(Skipped(target.symbol, "", "no price", 0.0, "the venue states no price for it"))
            continue
        held = account.positions.get(target.symbol, 0.0)
        delta = wanted - held
        if abs(delta) <= QTY_EPS:
            continue
        side = "BUY" if delta > 0 else "SELL"
        order = _sized(
            portfolio.source_run, target.symbol, side, abs(delta), price, account.limits.get(target.symbol)
        )
        if isinstance(order, Skipped):
            skipped.append(order)
        else:
            legs.append(order)
    # Sells first, so the cash they free funds the buys; within a side, the file's order.
    legs.sort(key=lambda leg: leg.side != "SELL")
    return Plan(
        portfolio.source_run,
        portfolio.content_hash,
        account.equity,
        dict(account.positions),
        dict(account.prices),
        targets,
        tuple(legs),
        tuple(skipped),
    )


def _target_quantity(target: Target, equity: float, price: float) -> float | None:
    if target.quantity is not None:
        return target.quantity
    assert target.weight is not None
    if not (price > 0 and math.isfinite(price)):
        return None
    return target.weight * equity / price


def _sized(
    source_run: str, symbol: str, side: str, wanted: float, price: float, limits: MarketLimits | None
) -> Leg | Skipped:
    """``wanted`` rounded down to the lot step; skipped when nothing or too little is left."""
    lot_step = limits.lot_step if limits is not None else 0.0
    qty = floor_to_step(wanted, lot_step)
    residual = wanted - qty
    if qty <= QTY_EPS:
        return Skipped(symbol, side, "dust", wanted, f"under one lot (lot_step {lot_step:g})")
    if limits is not None and qty < limits.min_qty:
        return Skipped(symbol, side, "below floor", wanted, f"{qty:g} is under min_qty {limits.min_qty:g}")
    if limits is not None and limits.min_notional > 0 and qty * price < limits.min_notional:
        notional = qty * price
        return Skipped(
            symbol,
            side,
            "below floor",
            wanted,
            f"notional {notional:g} is under min_notional {limits.min_notional:g}",
        )
    leg = side.lower()
    return Leg(
        symbol,
        side,
        qty,
        price,
        intent_id(source_run, symbol, leg),
        f"rebalance:{source_run}:{symbol}",
        residual,
    )


def floor_to_step(qty: float, step: float) -> float:
    """``qty`` rounded down to a multiple of ``step`` on decimals, as exchanges count lots (0.3 is
    three lots of 0.1, though 0.3 / 0.1 is 2.9999999999999996 in binary)."""
    if step <= 0:
        return qty
    lots = (Decimal(repr(qty)) / Decimal(repr(step))).to_integral_value(rounding=ROUND_FLOOR)
    return float(lots * Decimal(repr(step)))


def plan_json(plan: Plan) -> dict[str, Any]:
    return {"format": PLAN_FORMAT, **asdict(plan)}


def plan_from_json(data: dict[str, Any]) -> Plan:
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
    )
