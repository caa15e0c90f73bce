"""A plan written on a log whose older segments the operator archived (log-format.md: the log
still opens) is still that log's plan when the kernel holds a trade the plan opened; without
one the run is refused saying the records are archived, and with the segments put back the
plan is taken up."""

from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path

import pytest
from paper_account import paper_venue

from dita import ExecutionKernel
from dita.rebalance import parse_targets, rebalance
from dita.rebalance.plan import PlanError
from dita.rebalance.targets import TargetPortfolio
from dita.venues.paper import PaperVenue

STAMP = {"source_run": "run-a", "generated_at": "2026-11-28T09:00:00Z"}


class Killed(Exception):
    pass


def portfolio(targets: list[dict[str, object]]) -> TargetPortfolio:
    return parse_targets(json.dumps({**STAMP, "targets": targets}).encode(), ".json", "t.json")


def kernel(venue: PaperVenue, state: Path) -> ExecutionKernel:
    return ExecutionKernel(
        venue=venue, kernel_id="rb", wal_dir=str(state / "wal"), max_slots=8, wal_segment_bytes=1024
    )


def checkpoint_past(kernel: ExecutionKernel) -> None:
    """Records enough for the log to roll over to new segments, then a checkpoint."""
    for i in range(60):
        kernel.update_control(source=f"op-{i}")
    assert kernel.wal_checkpoint() is not None


def archive(wal: Path, aside: Path) -> None:
    """The segments wholly before the newest checkpoint moved aside, as log-format.md allows."""
    aside.mkdir()
    checkpoint = max(int(p.name[5:25]) for p in wal.glob("ckpt-*.ckpt"))
    segments = sorted(wal.glob("seg-*.wal"))
    for segment, after in itertools.pairwise(segments):
        if int(after.name[4:24]) - 1 <= checkpoint:
            shutil.move(str(segment), aside / segment.name)
    assert list(aside.iterdir()), "no segment archived"


def test_a_plan_whose_trade_the_kernel_holds_is_taken_up_after_its_records_are_archived(
    tmp_path: Path,
) -> None:
    targets = portfolio([{"symbol": "ETH", "quantity": 1.0}, {"symbol": "SOL", "quantity": 5.0}])
    venue = paper_venue(100_000.0, {})

    def killed(_leg: object) -> None:
        raise Killed

    with kernel(venue, tmp_path) as first:
        with pytest.raises(Killed):
            rebalance(first, targets, state_dir=tmp_path, quote_currency="USDT", after_leg=killed)
        checkpoint_past(first)
    (bought,) = venue.positions()
    archive(tmp_path / "wal", tmp_path / "archived")
    with kernel(venue, tmp_path) as again:
        again.reconcile_with_venue()
        run = rebalance(again, targets, state_dir=tmp_path, quote_currency="USDT")
    assert run.resumed
    assert venue.positions() == {"ETH": 1.0, "SOL": 5.0}
    (taken,) = [r for r in run.results if r.leg.symbol == bought]
    assert (taken.status, taken.diagnostic) == ("refused", "DUPLICATE_INTENT")
    assert "cannot be read" in taken.reason


def test_a_plan_whose_records_are_archived_and_no_trade_held_is_refused_saying_so(tmp_path: Path) -> None:
    targets = portfolio([{"symbol": "ETH", "quantity": 1.0}])
    with kernel(paper_venue(1_000.0, {}, leverage=1.0), tmp_path) as first:
        refused = rebalance(first, targets, state_dir=tmp_path, quote_currency="USDT")
        checkpoint_past(first)
    assert [r.status for r in refused.results] == ["refused"]  # the venue's margin
    assert refused.report_path is not None
    refused.report_path.unlink()  # killed before its report
    archive(tmp_path / "wal", tmp_path / "archived")
    funded = paper_venue(100_000.0, {}, leverage=1.0)
    with kernel(funded, tmp_path) as again, pytest.raises(PlanError) as said:
        again.reconcile_with_venue()
        rebalance(again, targets, state_dir=tmp_path, quote_currency="USDT")
    assert "the ones before archived" in str(said.value) and "does not hold it" not in str(said.value)
    for segment in (tmp_path / "archived").iterdir():
        shutil.move(str(segment), tmp_path / "wal" / segment.name)
    with kernel(funded, tmp_path) as restored:
        restored.reconcile_with_venue()
        run = rebalance(restored, targets, state_dir=tmp_path, quote_currency="USDT")
    assert run.resumed
    assert [r.status for r in run.results] == ["refused (earlier run)", "sent"]
    assert funded.positions() == {"ETH": 1.0}
