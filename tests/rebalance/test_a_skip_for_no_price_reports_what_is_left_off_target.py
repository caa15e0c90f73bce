"""A target skipped as "no price" reports the quantity left off target as its residual
(docs/guides/rebalancing.md): a quantity target less what is held and working; a weight, sized
at the price, has none known (None, ``null`` in JSON)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from dita.rebalance import Account, make_plan, parse_targets

ROOT = Path(__file__).resolve().parents[2]
STAMP = {"source_run": "run-61", "generated_at": "2026-11-28T09:00:00Z"}


def plan_for(positions: dict[str, float], working: dict[str, float], *rows: dict[str, object]):  # type: ignore[no-untyped-def]
    portfolio = parse_targets(json.dumps({**STAMP, "targets": list(rows)}).encode(), ".json", "t.json")
    return make_plan(portfolio, Account(positions, 10_000.0, {}, {}, working=working))


def test_a_quantity_target_without_a_price_is_off_by_the_target_less_what_is_held() -> None:
    plan = plan_for(
        {"XRP": 1.5, "ADA": 10.0},
        {"XRP": 0.5},
        {"symbol": "XRP", "quantity": 5},
        {"symbol": "ADA", "quantity": 4},
    )
    said = [(s.symbol, s.side, s.reason, s.residual) for s in plan.skipped]
    assert said == [("XRP", "BUY", "no price", 3.0), ("ADA", "SELL", "no price", 6.0)]


def test_a_weight_without_a_price_has_no_residual_known() -> None:
    plan = plan_for({}, {}, {"symbol": "DOGE", "weight": 0.1})
    assert [(s.reason, s.residual) for s in plan.skipped] == [("no price", None)]


def test_a_position_on_its_target_is_not_skipped_for_want_of_a_price() -> None:
    assert plan_for({"XRP": 5.0}, {}, {"symbol": "XRP", "quantity": 5}).skipped == ()


def test_a_weight_of_zero_without_a_price_is_off_by_what_is_held() -> None:
    """Zero of anything is zero: a weight of 0 needs no price to say what is left to sell."""
    plan = plan_for({"XRP": 2.0}, {}, {"symbol": "XRP", "weight": 0})
    assert [(s.side, s.reason, s.residual) for s in plan.skipped] == [("SELL", "no price", 2.0)]


def test_a_weight_of_zero_without_a_price_and_nothing_held_is_on_target() -> None:
    assert plan_for({}, {}, {"symbol": "XRP", "weight": 0}).skipped == ()


def test_the_report_of_dita_rebalance_gives_the_residual(tmp_path: Path) -> None:
    targets = tmp_path / "targets.csv"
    targets.write_text(
        "symbol,weight,quantity,source_run,generated_at\nBTCUSDT,,2,run-61,2026-11-28T09:00:00Z\n"
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "dita",
            "rebalance",
            "--targets",
            str(targets),
            "--state-dir",
            str(tmp_path / "rb"),
            "--paper-book",
            str(tmp_path / "book.json"),
            "--json",
        ],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT / "python")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    (symbol,) = json.loads(done.stdout)["symbols"]
    assert symbol["skipped"]["reason"] == "no price"
    assert symbol["skipped"]["residual"] == 2.0
    assert symbol["skipped"]["side"] == "BUY"
