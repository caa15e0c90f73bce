"""The execution report of a rebalance: per symbol the target, the position before and after,
the orders, the fills, the cost against the reference price in bps, the fees, and what was
skipped and why. As JSON (``report_json``) and as a rich table (``report_table``)."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from dita.rebalance.execute import NOT_FILLED, LegResult
from dita.rebalance.plan import Leg, Plan, decimal

__all__ = ["cost_bps", "report_json", "report_table"]


def cost_bps(side: str, reference_price: float, average_price: float) -> float:
    """What a fill cost against the reference price, in bps: positive when a buy paid more or a
    sell got less than the reference."""
    sign = 1.0 if side == "BUY" else -1.0
    return sign * (average_price - reference_price) / reference_price * 10_000.0


def report_json(
    plan: Plan, results: list[LegResult], positions_after: dict[str, float] | None, *, dry_run: bool = False
) -> dict[str, Any]:
    by_symbol: dict[str, dict[str, Any]] = {}
    for symbol, target in plan.targets.items():
        by_symbol[symbol] = {
            "symbol": symbol,
            **target,
            "reference_price": plan.prices.get(symbol),
            "position_before": plan.positions_before.get(symbol, 0.0),
            "position_after": None if positions_after is None else positions_after.get(symbol, 0.0),
            "orders": [],
            "fills": [],
            "filled": 0.0,
            "average_price": None,
            "cost_bps": None,
            "fees": 0.0,
            "skipped": None,
        }
    for leg in plan.legs:
        by_symbol[leg.symbol]["orders"].append(_planned(leg))
    for result in results:
        row = by_symbol[result.leg.symbol]
        order = next((o for o in row["orders"] if o["intent_id"] == result.leg.intent_id), None)
        if order is None:  # a leg sent again, its order in an earlier run having filled nothing
            order = _planned(result.leg)
            row["orders"].append(order)
        order.update(
            status=result.status,
            diagnostic=result.diagnostic,
            reason=result.reason,
            client_order_id=result.client_order_id,
        )
        row["fills"] += [vars(f) for f in result.fills]
        row["fees"] += sum(f.fee for f in result.fills)
        # A symbol's legs (exits, then an entry) share its side and reference price: its figures
        # are over all their fills.
        filled = sum(f["quantity"] for f in row["fills"])
        if filled > 0:
            average = sum(f["price"] * f["quantity"] for f in row["fills"]) / filled
            row["filled"], row["average_price"] = filled, average
            row["cost_bps"] = cost_bps(result.leg.side, result.leg.reference_price, average)
    said = [
        (s.symbol, {"reason": s.reason, "side": s.side, "residual": s.residual, "detail": s.detail})
        for s in plan.skipped
    ]
    # A leg refused, or whose order ended short, leaves off target what it did not fill.
    said += [(r.leg.symbol, _not_filled(r)) for r in results if r.status in NOT_FILLED]
    # A resumed plan's leg not sent as its symbol is not priced in this run.
    said += [(r.leg.symbol, _unpriced(r)) for r in results if r.status == "no price"]
    for symbol, skipped in said:
        row = by_symbol[symbol]
        row["skipped"] = skipped if row["skipped"] is None else _together(row["skipped"], skipped)
    return {
        "source_run": plan.source_run,
        "content_hash": plan.content_hash,
        "dry_run": dry_run,
        "equity": plan.equity,
        "warnings": list(plan.warnings),
        "symbols": list(by_symbol.values()),
    }


def _planned(leg: Leg) -> dict[str, Any]:
    return {
        "intent_id": leg.intent_id,
        "side": leg.side,
        "quantity": leg.quantity,
        "status": "planned",
        "lot_residual": leg.residual,
    }


def _not_filled(result: LegResult) -> dict[str, Any]:
    """What ``result``'s leg left off target (reason "not filled"), with its status and why."""
    why = ": ".join(part for part in (result.diagnostic, result.reason) if part)
    return {
        "reason": "not filled",
        "side": result.leg.side,
        "residual": result.unfilled,
        "detail": f"{result.leg.intent_id} {result.status}, {result.filled:g} of {result.leg.quantity:g} "
        f"filled" + (f" ({why})" if why else ""),
    }


def _unpriced(result: LegResult) -> dict[str, Any]:
    """``result``'s leg skipped as "no price": off target by its size and its lot residual."""
    leg = result.leg
    return {
        "reason": "no price",
        "side": leg.side,
        "residual": float(decimal(leg.quantity) + decimal(leg.residual)),
        "detail": f"{leg.intent_id} not sent: {result.reason}",
    }


def _together(first: dict[str, Any], then: dict[str, Any]) -> dict[str, Any]:
    """Two parts of one symbol's order skipped (an exit and the entry after it, a leg not
    filled): one residual off target; "not filled" when either part is, else "below floor" when
    either part is."""
    reasons = (first["reason"], then["reason"])
    reason = next((r for r in ("not filled", "below floor") if r in reasons), first["reason"])
    return {
        "reason": reason,
        "side": first["side"],
        "residual": float(decimal(first["residual"]) + decimal(then["residual"])),
        "detail": f"{first['detail']}; {then['detail']}",
    }


def report_table(report: dict[str, Any]) -> Table:
    title = f"rebalance {report['source_run']}" + (" (dry run: nothing sent)" if report["dry_run"] else "")
    table = Table(title=title)
    for name in ("symbol", "target", "before", "after", "orders", "filled", "cost bps", "fees", "skipped"):
        table.add_column(name, justify="left" if name in ("symbol", "orders", "skipped") else "right")
    for row in report["symbols"]:
        target = f"w {row['weight']:g}" if row["weight"] is not None else f"q {row['quantity']:g}"
        if row["target_quantity"] is not None:
            target += f" = {row['target_quantity']:.6g}"
        orders = ", ".join(f"{o['side']} {o['quantity']:g} {o['status']}" for o in row["orders"]) or "-"
        skipped = row["skipped"]
        said = ""
        if skipped:
            residual = skipped["residual"]
            off = "" if residual is None else f": residual {residual:.6g}"
            said = f"{skipped['reason']}{off} ({skipped['detail']})"
        table.add_row(
            row["symbol"],
            target,
            f"{row['position_before']:.6g}",
            "-" if row["position_after"] is None else f"{row['position_after']:.6g}",
            orders,
            f"{row['filled']:.6g}",
            "-" if row["cost_bps"] is None else f"{row['cost_bps']:.2f}",
            f"{row['fees']:.6g}",
            said,
        )
    return table
