"""A plan written under ``--state-dir``/plans is tied to the write-ahead log it was sent on: a run
on a log that does not hold it (the log lost or moved aside) is refused, nothing sent, and a
plan that ran to its end is planned afresh from the account, not sent again."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from dita.cli import app

STAMP = {"source_run": "run-9", "generated_at": "2026-11-28T09:00:00Z"}


def bought(tmp_path: Path) -> list[str]:
    """The arguments of a paper rebalance to 0.01 BTC, run once to its end."""
    path = tmp_path / "t.json"
    path.write_text(json.dumps({**STAMP, "targets": [{"symbol": "BTC", "quantity": 0.01}]}))
    args = ["rebalance", "--targets", str(path), "--state-dir", str(tmp_path / "s")]
    args += ["--paper-book", str(tmp_path / "book.json"), "--price", "BTC=50000", "--json"]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    assert positions(tmp_path) == {"BTC": 0.01}
    return args


def positions(tmp_path: Path) -> dict[str, float]:
    return dict(json.loads((tmp_path / "book.json").read_text())["positions"])


def test_a_finished_plan_run_again_on_a_new_log_is_not_sent_again(tmp_path: Path) -> None:
    args = bought(tmp_path)
    shutil.rmtree(tmp_path / "s" / "wal")  # the log lost, or moved aside
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0, again.output
    report = json.loads(again.stdout)
    assert not report["resumed"] and report["symbols"][0]["orders"] == []
    assert positions(tmp_path) == {"BTC": 0.01}


def test_an_unfinished_plan_is_refused_on_a_log_that_does_not_hold_it(tmp_path: Path) -> None:
    args = bought(tmp_path)
    (plan,) = (tmp_path / "s" / "plans").glob("*.json")
    for report in (tmp_path / "s" / "reports").iterdir():
        report.unlink()  # as if killed before its report
    shutil.rmtree(tmp_path / "s" / "wal")
    refused = CliRunner().invoke(app, args)
    assert refused.exit_code == 1, refused.output
    assert refused.stderr.startswith(
        f"error: cannot plan the rebalance, nothing sent: the plan written for these targets, {plan}, was "
        "sent on kernel rebalance's log at seq 1 (hash "
    )
    assert f"and the log in {tmp_path / 's' / 'wal'} does not hold it" in refused.stderr
    assert f"move {plan} aside to plan afresh" in refused.stderr
    assert positions(tmp_path) == {"BTC": 0.01}

    plan.rename(tmp_path / "aside.json")
    afresh = CliRunner().invoke(app, args)
    assert afresh.exit_code == 0, afresh.output
    assert json.loads(afresh.stdout)["symbols"][0]["orders"] == []
    assert positions(tmp_path) == {"BTC": 0.01}


def test_a_finished_plan_run_again_is_planned_afresh_under_ids_of_its_own(tmp_path: Path) -> None:
    """The buy ran to its end, then the BTC was sold by hand: the same file run again plans from
    the account and buys it back, under ids of its own (``VERSION-2``), not the first plan's,
    which the kernel would refuse as duplicates."""
    from paper_account import paper_venue

    from dita import ExecutionKernel
    from dita.rebalance import parse_targets, rebalance

    body = json.dumps({**STAMP, "targets": [{"symbol": "BTC", "quantity": 0.1}]}).encode()
    portfolio = parse_targets(body, ".json", "t.json")
    wal = str(tmp_path / "wal")
    with ExecutionKernel(venue=paper_venue(100_000.0, {}), kernel_id="rb", wal_dir=wal) as kernel:
        first = rebalance(kernel, portfolio, state_dir=tmp_path, quote_currency="USDT")
    sold = paper_venue(100_000.0, {})
    with ExecutionKernel(venue=sold, kernel_id="rb", wal_dir=wal) as kernel:
        again = rebalance(kernel, portfolio, state_dir=tmp_path, quote_currency="USDT")
    version = portfolio.content_hash[:12]
    assert [(r.leg.intent_id, r.status) for r in first.results] == [
        (f"rebalance:run-9:{version}:BTC:buy", "sent")
    ]
    assert not again.resumed
    assert [(r.leg.intent_id, r.leg.trade_id, r.status, r.filled) for r in again.results] == [
        (f"rebalance:run-9:{version}-2:BTC:buy", f"rebalance:run-9:{version}-2:BTC", "sent", 0.1)
    ]
    assert sold.positions() == {"BTC": 0.1}
    assert again.report_path == tmp_path / "reports" / f"{portfolio.content_hash[:24]}-2.json"


def test_a_dry_run_of_a_plan_on_a_log_that_does_not_hold_it_is_refused_as_the_run_is(tmp_path: Path) -> None:
    args = bought(tmp_path)
    (plan,) = (tmp_path / "s" / "plans").glob("*.json")
    for report in (tmp_path / "s" / "reports").iterdir():
        report.unlink()  # as if killed before its report
    shutil.rmtree(tmp_path / "s" / "wal")
    dry = CliRunner().invoke(app, [*args, "--dry-run"])
    assert dry.exit_code == 1, dry.output
    assert f"the plan written for these targets, {plan}, was sent on kernel rebalance's log" in dry.stderr
    assert f"and the log in {tmp_path / 's' / 'wal'} does not hold it" in dry.stderr
    assert not (tmp_path / "s" / "wal").exists()
    real = CliRunner().invoke(app, args)
    assert real.exit_code == 1 and "does not hold it" in real.stderr
