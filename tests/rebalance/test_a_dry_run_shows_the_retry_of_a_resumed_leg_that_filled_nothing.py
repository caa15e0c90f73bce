"""A dry run of a resumed plan shows the legs the run would send: one the kernel has not taken,
and the retry of one whose order ended with nothing filled, told as the run tells them on the kernel
replayed from its log. A buy refused for margin, then resumed after the price doubled, is planned
again and shown as the run sends it: ``buy:retry-1`` of 0.2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from paper_account import paper_venue

from dita import ExecutionKernel
from dita._kernel import wal_replay
from dita.rebalance import TargetPortfolio, dry_run, parse_targets, rebalance
from dita.rebalance.execute import open_trades, working_quantities
from dita.rebalance.run import KernelLog
from dita.venues.paper import PaperVenue

STAMP = {"source_run": "run-207", "generated_at": "2026-11-28T09:00:00Z"}


class Killed(Exception):
    pass


def _kill(*_said: object) -> None:
    raise Killed


def _portfolio(weight: float) -> TargetPortfolio:
    rows = [{"symbol": "BTC", "weight": weight}]
    return parse_targets(json.dumps({**STAMP, "targets": rows}).encode(), ".json", "t.json")


def _intents(run_orders: list[dict[str, object]]) -> list[tuple[str, object]]:
    return [(str(o["intent_id"]).split(":", 4)[-1], o["quantity"]) for o in run_orders]


def test_a_dry_run_shows_the_retry_of_a_resumed_leg_that_filled_nothing(tmp_path: Path) -> None:
    portfolio = _portfolio(2.0)
    venue = paper_venue(10_000.0, {}, leverage=1.0)
    wal = tmp_path / "wal"
    with ExecutionKernel(venue=venue, kernel_id="rb", wal_dir=str(wal), max_slots=8) as kernel:
        with pytest.raises(Killed):  # the buy of 0.4 refused for margin at leverage 1
            rebalance(kernel, portfolio, state_dir=tmp_path, quote_currency="USDT", after_leg=_kill)
    book = venue.book()
    venue = PaperVenue(slippage_bps=0.0, leverage=3.0)
    venue.restore_book(book)
    venue.on_quote("BTC", 100_000.0, 100_000.0, 1e12, 1e12, 2.0)

    # As `dita rebalance --dry-run` reads the log: the kernel replayed from it.
    logged, recovery = wal_replay(wal)
    log = KernelLog(logged.kernel_id, wal, recovery["last_seq"], recovery["head_hash"])
    shown = dry_run(
        venue,
        portfolio,
        state_dir=tmp_path,
        quote_currency="USDT",
        trades=open_trades(logged),
        working=working_quantities(logged),
        on_log=log,
        logged=logged,
    )
    (row,) = shown.report["symbols"]
    assert ("buy:retry-1", 0.2) in _intents(row["orders"]), row
    assert row["target_quantity"] == pytest.approx(0.2), row

    with ExecutionKernel(venue=venue, kernel_id="rb", wal_dir=str(wal), max_slots=8) as kernel:
        sent = rebalance(kernel, portfolio, state_dir=tmp_path, quote_currency="USDT", fill_wait_s=0.0)
    (ran,) = sent.report["symbols"]
    assert _intents(ran["orders"]) == _intents(row["orders"]), (ran, row)
