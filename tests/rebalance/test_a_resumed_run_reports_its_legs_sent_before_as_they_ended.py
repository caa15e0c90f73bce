"""A run killed after some of its legs went out and resumed on the same write-ahead log: each leg
the kernel took before is reported as its order ended, with the fills the log booked for it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from paper_account import paper_venue

from dita import ExecutionKernel
from dita.rebalance import parse_targets, rebalance

STAMP = {"generated_at": "2026-11-28T09:00:00Z"}


def targets(run: str, *rows: dict[str, object]):  # type: ignore[no-untyped-def]
    body = {**STAMP, "source_run": run, "targets": list(rows)}
    return parse_targets(json.dumps(body).encode(), ".json", f"{run}.json")


def test_a_resumed_exit_and_entry_report_what_they_filled(tmp_path: Path) -> None:
    """A long of 0.1 turned short: an exit of 0.1 and an entry of 0.1, both filled, then the run
    killed before its report. Resumed, the report counts both legs' fills and fees, not the
    entry's alone."""
    venue = paper_venue(100_000.0, {})
    with ExecutionKernel(venue=venue, kernel_id="rb", wal_dir=str(tmp_path / "wal"), max_slots=8) as kernel:
        rebalance(
            kernel,
            targets("a", {"symbol": "BTC", "quantity": 0.1}),
            state_dir=tmp_path,
            quote_currency="USDT",
        )
        turned = targets("b", {"symbol": "BTC", "quantity": -0.1})
        whole = rebalance(kernel, turned, state_dir=tmp_path, quote_currency="USDT")
        assert whole.report_path is not None
        whole.report_path.unlink()  # killed after its legs, before its report
        resumed = rebalance(kernel, turned, state_dir=tmp_path, quote_currency="USDT")
    assert resumed.resumed
    assert [(r.leg.action, r.status, r.filled) for r in resumed.results] == [
        ("EXIT", "sent before", 0.1),
        ("ENTER", "sent before", 0.1),
    ]
    (row,) = resumed.report["symbols"]
    assert (row["position_before"], row["position_after"]) == (0.1, -0.1)
    assert (row["filled"], row["fees"]) == (pytest.approx(0.2), pytest.approx(5.0))
    assert row["fills"] == whole.report["symbols"][0]["fills"]


def test_a_resumed_run_waits_for_a_leg_sent_before_that_still_works(tmp_path: Path) -> None:
    """Killed before its report while the buy still worked at a venue that reports fills later:
    resumed, the leg sent before is waited for as a leg sent now is, and its fill is in the
    report, not booked after it, with the report saying nothing filled."""
    from test_fills_reported_later import LaterVenue

    portfolio = targets("run-l", {"symbol": "SOL", "quantity": 5})
    with ExecutionKernel(
        venue=LaterVenue(), kernel_id="later", wal_dir=str(tmp_path / "wal"), max_slots=4
    ) as kernel:
        first = rebalance(kernel, portfolio, state_dir=tmp_path, quote_currency="USDT", fill_wait_s=0.0)
        assert [(r.status, r.filled) for r in first.results] == [("sent", 0.0)]
        assert first.report_path is not None
        first.report_path.unlink()  # killed before its report
        resumed = rebalance(kernel, portfolio, state_dir=tmp_path, quote_currency="USDT", fill_wait_s=10.0)
        working = kernel.open_orders()
    assert resumed.resumed and working == []
    assert [(r.status, r.filled) for r in resumed.results] == [("sent before", 5.0)]
    (row,) = resumed.report["symbols"]
    assert (row["filled"], row["position_after"], row["average_price"]) == (5.0, 5.0, 100.5)


def test_a_leg_the_venue_rejected_is_sent_again_when_run_again(tmp_path: Path) -> None:
    """The venue rejects the buy for margin; the account is funded and the same targets run
    again on the same log with no state dir: the buy is planned afresh under ids of its own
    (the log holds the first plan's) and sent, not reported "sent before" with nothing filled."""
    wal = str(tmp_path / "wal")
    wanted = targets("run-9", {"symbol": "BTC", "quantity": 0.1})
    with ExecutionKernel(venue=paper_venue(1_000.0, {}, leverage=1.0), kernel_id="rb", wal_dir=wal) as kernel:
        first = rebalance(kernel, wanted, state_dir=None, quote_currency="USDT")
    assert [(r.status, r.diagnostic) for r in first.results] == [("refused", "REJECT")]
    funded = paper_venue(100_000.0, {}, leverage=1.0)
    with ExecutionKernel(venue=funded, kernel_id="rb", wal_dir=wal) as kernel:
        again = rebalance(kernel, wanted, state_dir=None, quote_currency="USDT")
    assert not again.resumed and again.plan.attempt == 2
    (buy,) = again.results
    assert (buy.status, buy.diagnostic, buy.filled) == ("sent", "OK", 0.1)
    assert buy.leg.intent_id != first.results[0].leg.intent_id
    assert funded.positions() == {"BTC": 0.1}
    (row,) = again.report["symbols"]
    assert [o["status"] for o in row["orders"]] == ["sent"]
    assert row["filled"] == 0.1


def test_a_retry_killed_while_it_works_is_taken_up_not_sent_twice(tmp_path: Path) -> None:
    """The buy rejected, then its retry sent and left working (the run killed before its
    report): run again, the retry is found taken, waited for and reported, and nothing more
    is sent."""
    from test_fills_reported_later import LaterVenue

    wal = str(tmp_path / "wal")
    portfolio = targets("run-r", {"symbol": "SOL", "quantity": 5})
    report = tmp_path / "reports"
    with ExecutionKernel(venue=paper_venue(100.0, {}, leverage=1.0), kernel_id="rb", wal_dir=wal) as kernel:
        first = rebalance(kernel, portfolio, state_dir=tmp_path, quote_currency="USDT")
    assert [r.status for r in first.results] == ["refused"]
    for path in report.iterdir():
        path.unlink()  # killed before its report
    later = LaterVenue()
    with ExecutionKernel(venue=later, kernel_id="rb", wal_dir=wal) as kernel:
        second = rebalance(kernel, portfolio, state_dir=tmp_path, quote_currency="USDT", fill_wait_s=0.0)
    assert [(r.status, r.filled) for r in second.results] == [("refused (earlier run)", 0.0), ("sent", 0.0)]
    for path in report.iterdir():
        path.unlink()
    with ExecutionKernel(venue=later, kernel_id="rb", wal_dir=wal) as kernel:
        third = rebalance(kernel, portfolio, state_dir=tmp_path, quote_currency="USDT", fill_wait_s=10.0)
    assert [(r.leg.intent_id.rpartition(":")[2], r.status, r.filled) for r in third.results] == [
        ("buy", "refused (earlier run)", 0.0),
        ("retry-1", "sent before", 5.0),
    ]
    assert later.mock.submitted == 1 and later.positions() == {"SOL": 5.0}
