"""A plan made afresh on a log that took an earlier plan's legs is numbered past that plan, even
once its file (and the count of plans written) is moved aside or removed: the kernel would
refuse the earlier ids as duplicates and a leg never bought would be left short."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from paper_account import paper_venue

from dita import ExecutionKernel
from dita.rebalance import parse_targets, rebalance
from dita.rebalance.plan import PlanError
from dita.rebalance.targets import TargetPortfolio
from dita.venues.paper import PaperVenue

STAMP = {"source_run": "run-a", "generated_at": "2026-11-28T09:00:00Z"}
ETH_AND_SOL = [{"symbol": "ETH", "quantity": 1.0}, {"symbol": "SOL", "quantity": 5.0}]


def portfolio(targets: list[dict[str, object]]) -> TargetPortfolio:
    return parse_targets(json.dumps({**STAMP, "targets": targets}).encode(), ".json", "t.json")


def run(venue: PaperVenue, state: Path, targets: list[dict[str, object]]):  # type: ignore[no-untyped-def]
    with ExecutionKernel(venue=venue, kernel_id="rb", wal_dir=str(state / "wal"), max_slots=8) as kernel:
        kernel.reconcile_with_venue()
        return rebalance(kernel, portfolio(targets), state_dir=state, quote_currency="USDT")


def killed_with_eth_refused(state: Path, targets: list[dict[str, object]]) -> Path:
    """A run whose ETH buy the venue refused for margin, killed before its report: its plan."""
    first = run(paper_venue(1_000.0, {}, leverage=1.0), state, targets)
    assert ("ETH", "refused") in [(r.leg.symbol, r.status) for r in first.results]
    assert first.report_path is not None
    first.report_path.unlink()
    (plan,) = (state / "plans").glob("*.json")
    return plan


def test_a_plan_moved_aside_is_planned_afresh_under_ids_of_its_own(tmp_path: Path) -> None:
    plan = killed_with_eth_refused(tmp_path, ETH_AND_SOL)
    first_ids = {leg["intent_id"] for leg in json.loads(plan.read_text())["legs"]}
    plan.rename(tmp_path / "aside.json")
    funded = paper_venue(100_000.0, {"SOL": 5.0}, leverage=1.0)
    again = run(funded, tmp_path, ETH_AND_SOL)
    assert [(r.leg.symbol, r.status) for r in again.results] == [("ETH", "sent")]
    assert not first_ids & {r.leg.intent_id for r in again.results}
    assert funded.positions() == {"ETH": 1.0, "SOL": 5.0}


def test_a_plan_of_the_earlier_format_is_refused_and_moved_aside_is_planned_afresh(tmp_path: Path) -> None:
    plan = killed_with_eth_refused(tmp_path, ETH_AND_SOL)
    earlier = json.loads(plan.read_text())
    for written_since in ("attempt", "written_at"):
        earlier.pop(written_since)
    plan.write_text(json.dumps({**earlier, "format": 1}))
    for kept_since in ("newest", f"{plan.stem}.attempts"):
        (tmp_path / "plans" / kept_since).unlink(missing_ok=True)
    funded = paper_venue(100_000.0, {"SOL": 5.0}, leverage=1.0)
    with pytest.raises(PlanError, match=r"move .* aside to plan afresh"):
        run(funded, tmp_path, ETH_AND_SOL)
    plan.rename(tmp_path / "aside.json")
    again = run(funded, tmp_path, ETH_AND_SOL)
    assert [(r.leg.symbol, r.status) for r in again.results] == [("ETH", "sent")]
    assert funded.positions() == {"ETH": 1.0, "SOL": 5.0}


def test_a_plan_and_its_count_removed_is_planned_afresh_past_the_ids_the_log_holds(tmp_path: Path) -> None:
    """The plan and its count removed (as a dita that kept no count left them): the plan made
    afresh is numbered past the earlier plan, whose intents the kernel's log holds, and its ETH
    buy is sent, not refused as taken."""
    eth = [{"symbol": "ETH", "quantity": 1.0}]
    plan = killed_with_eth_refused(tmp_path, eth)
    first_ids = {leg["intent_id"] for leg in json.loads(plan.read_text())["legs"]}
    plan.unlink()
    (tmp_path / "plans" / f"{plan.stem}.attempts").unlink(missing_ok=True)
    funded = paper_venue(100_000.0, {}, leverage=1.0)
    again = run(funded, tmp_path, eth)
    assert again.plan.attempt == 2
    assert [r.status for r in again.results] == ["sent"]
    assert not first_ids & {r.leg.intent_id for r in again.results}
    assert funded.positions() == {"ETH": 1.0}
