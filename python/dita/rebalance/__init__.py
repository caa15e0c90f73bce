"""Rebalancing to a target portfolio: targets read from a file (``targets``), the orders that
bring the account to them (``plan``), sent through the kernel (``execute``), reported
(``report``), run and resumed (``run``), and every fill traced back to its research run
through the write-ahead log (``audit``). See docs/guides/rebalancing.md."""

from __future__ import annotations

from dita.rebalance.audit import TracedFill, trace_source_run
from dita.rebalance.execute import (
    Fill,
    LegResult,
    open_trades,
    read_account,
    reference_prices,
    send_plan,
    working_quantities,
)
from dita.rebalance.plan import (
    Account,
    AccountUnreadable,
    Leg,
    OpenTrade,
    Plan,
    PlanError,
    Skipped,
    intent_id,
    make_plan,
    trade_id,
)
from dita.rebalance.report import cost_bps, report_json, report_table
from dita.rebalance.run import RebalanceRun, dry_run, plan_rebalance, rebalance
from dita.rebalance.targets import Target, TargetError, TargetPortfolio, parse_targets, read_targets

__all__ = [
    "Account",
    "AccountUnreadable",
    "Fill",
    "Leg",
    "LegResult",
    "OpenTrade",
    "Plan",
    "PlanError",
    "RebalanceRun",
    "Skipped",
    "Target",
    "TargetError",
    "TargetPortfolio",
    "TracedFill",
    "cost_bps",
    "dry_run",
    "intent_id",
    "make_plan",
    "open_trades",
    "parse_targets",
    "plan_rebalance",
    "read_account",
    "read_targets",
    "rebalance",
    "reference_prices",
    "report_json",
    "report_table",
    "send_plan",
    "trace_source_run",
    "trade_id",
    "working_quantities",
]
