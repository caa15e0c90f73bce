"""A plan written, then the run killed before its legs all went out, is taken up by the next run:
the legs the kernel has not taken (and the retries of those whose orders filled nothing) are
compared with the price now, and beyond the tolerance planned again from the account under a
retry id, so the account ends at its target weight at that price and the report says that
target. Within the tolerance the plan is sent as written."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from paper_account import paper_venue
from typer.testing import CliRunner

from dita import ExecutionKernel
from dita.cli import app
from dita.rebalance import TargetPortfolio, dry_run, parse_targets, rebalance
from dita.venues.paper import PaperVenue

STAMP = {"source_run": "run-207", "generated_at": "2026-11-28T09:00:00Z"}


class Killed(Exception):
    pass


def _kill(*_said: object) -> None:
    raise Killed


def _portfolio(weight: float) -> TargetPortfolio:
    rows = [{"symbol": "BTC", "weight": weight}]
    return parse_targets(json.dumps({**STAMP, "targets": rows}).encode(), ".json", "t.json")


def _killed_before_sending(tmp_path: Path, venue: PaperVenue, portfolio: TargetPortfolio) -> None:
    with ExecutionKernel(venue=venue, kernel_id="rb", wal_dir=str(tmp_path / "wal"), max_slots=8) as kernel:
        with pytest.raises(Killed):
            rebalance(kernel, portfolio, state_dir=tmp_path, quote_currency="USDT", before_send=_kill)


def _resumed(tmp_path: Path, venue: PaperVenue, portfolio: TargetPortfolio, **options: float):  # type: ignore[no-untyped-def]
    with ExecutionKernel(venue=venue, kernel_id="rb", wal_dir=str(tmp_path / "wal"), max_slots=8) as kernel:
        kernel.reconcile_with_venue()
        return rebalance(kernel, portfolio, state_dir=tmp_path, quote_currency="USDT", **options)


def _weight(venue: PaperVenue, price: float) -> float:
    held = venue.positions().get("BTC", 0.0)
    return held * price / (venue.book()["cash"] + held * price)


def test_a_resumed_buy_is_sized_at_the_price_now(tmp_path: Path) -> None:
    portfolio = _portfolio(0.5)
    venue = paper_venue(10_000.0, {}, leverage=3.0)
    _killed_before_sending(tmp_path, venue, portfolio)
    # The market doubles before the run is started again.
    venue.on_quote("BTC", 100_000.0, 100_000.0, 1e12, 1e12, 2.0)
    run = _resumed(tmp_path, venue, portfolio)
    assert run.resumed
    # 0.5 of equity at 100,000 is 0.05 BTC: sized at 50,000 the plan bought 0.1, a weight of ~1.
    assert _weight(venue, 100_000.0) == pytest.approx(0.5, abs=0.01)
    (row,) = run.report["symbols"]
    assert row["target_quantity"] == pytest.approx(0.05)
    assert [(o["intent_id"].split(":", 4)[-1], o["quantity"]) for o in row["orders"]] == [
        ("buy:retry-1", 0.05)
    ]
    assert any("planned at 50000, now 100000" in said for said in run.report["warnings"]), run.report[
        "warnings"
    ]


def test_a_resumed_buy_within_the_tolerance_is_sent_as_planned(tmp_path: Path) -> None:
    portfolio = _portfolio(0.5)
    venue = paper_venue(10_000.0, {}, leverage=3.0)
    _killed_before_sending(tmp_path, venue, portfolio)
    venue.on_quote("BTC", 50_400.0, 50_400.0, 1e12, 1e12, 2.0)  # 0.8 %: within 1 %
    run = _resumed(tmp_path, venue, portfolio)
    (row,) = run.report["symbols"]
    assert [(o["intent_id"].split(":", 4)[-1], o["quantity"], o["status"]) for o in row["orders"]] == [
        ("buy", 0.1, "sent")
    ]
    assert row["target_quantity"] == pytest.approx(0.1)


def test_the_tolerance_is_an_option(tmp_path: Path) -> None:
    portfolio = _portfolio(0.5)
    venue = paper_venue(10_000.0, {}, leverage=3.0)
    _killed_before_sending(tmp_path, venue, portfolio)
    venue.on_quote("BTC", 52_000.0, 52_000.0, 1e12, 1e12, 2.0)  # 4 %
    run = _resumed(tmp_path, venue, portfolio, price_tolerance=0.05)
    (row,) = run.report["symbols"]
    assert [o["intent_id"].split(":", 4)[-1] for o in row["orders"]] == ["buy"]


def test_the_retry_of_a_leg_that_filled_nothing_is_sized_at_the_price_now(tmp_path: Path) -> None:
    """A leveraged buy refused for margin, the run killed after it: sent again at its planned
    size and the price now, the retry would be refused again; planned again, it fills."""
    portfolio = _portfolio(2.0)
    venue = paper_venue(10_000.0, {}, leverage=1.0)
    with ExecutionKernel(venue=venue, kernel_id="rb", wal_dir=str(tmp_path / "wal"), max_slots=8) as kernel:
        with pytest.raises(Killed):
            rebalance(kernel, portfolio, state_dir=tmp_path, quote_currency="USDT", after_leg=_kill)
    assert venue.positions() == {}
    book = venue.book()
    venue = PaperVenue(slippage_bps=0.0, leverage=3.0)
    venue.restore_book(book)
    venue.on_quote("BTC", 100_000.0, 100_000.0, 1e12, 1e12, 2.0)
    run = _resumed(tmp_path, venue, portfolio)
    said = [(r.leg.intent_id.split(":", 4)[-1], r.leg.quantity, r.status) for r in run.results]
    assert said == [("buy:retry-1", 0.2, "sent")], said
    assert venue.positions()["BTC"] == pytest.approx(0.2)
    assert run.report["symbols"][0]["target_quantity"] == pytest.approx(0.2)


def test_a_dry_run_shows_the_legs_planned_again(tmp_path: Path) -> None:
    portfolio = _portfolio(0.5)
    venue = paper_venue(10_000.0, {}, leverage=3.0)
    _killed_before_sending(tmp_path, venue, portfolio)
    venue.on_quote("BTC", 100_000.0, 100_000.0, 1e12, 1e12, 2.0)
    run = dry_run(venue, portfolio, state_dir=tmp_path, quote_currency="USDT")
    (row,) = run.report["symbols"]
    assert [(o["intent_id"].split(":", 4)[-1], o["quantity"]) for o in row["orders"]] == [
        ("buy:retry-1", 0.05)
    ]
    assert venue.positions() == {}


@pytest.mark.parametrize("tolerance", [-0.01, math.nan, math.inf])
def test_a_tolerance_that_is_no_share_of_the_price_is_refused(tmp_path: Path, tolerance: float) -> None:
    venue = paper_venue(10_000.0, {}, leverage=3.0)
    with ExecutionKernel(venue=venue, kernel_id="rb", wal_dir=str(tmp_path / "wal"), max_slots=8) as kernel:
        with pytest.raises(ValueError, match=f"price_tolerance {tolerance!r}"):
            rebalance(
                kernel, _portfolio(0.5), state_dir=tmp_path, quote_currency="USDT", price_tolerance=tolerance
            )
    assert venue.positions() == {}


def test_the_command_takes_a_tolerance_and_refuses_one_that_is_not_finite(tmp_path: Path) -> None:
    targets = tmp_path / "t.json"
    targets.write_text(json.dumps({**STAMP, "targets": [{"symbol": "BTC", "weight": 0.5}]}))
    args = [
        "rebalance",
        "--targets",
        str(targets),
        "--state-dir",
        str(tmp_path / "s"),
        "--price",
        "BTC=50000",
    ]
    taken = CliRunner().invoke(app, [*args, "--resume-price-tolerance", "0.05", "--dry-run"])
    assert taken.exit_code == 0, taken.output
    refused = CliRunner().invoke(app, [*args, "--resume-price-tolerance", "nan"])
    assert refused.exit_code == 2, refused.output
    assert "--resume-price-tolerance" in refused.output
    assert not (tmp_path / "s").exists()
