"""A buy that closes a short frees margin as a sell that closes a long does: the legs that take a
position toward 0 go out before the ones that open, so a short rotated from one symbol to another
at leverage 1 is opened once the old one is bought back, whatever the file's row order."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from paper_account import paper_venue

from dita import ExecutionKernel
from dita.rebalance import parse_targets, rebalance


def _targets(run: str, rows: list[dict[str, object]]):  # type: ignore[no-untyped-def]
    stamp = {"source_run": run, "generated_at": "2026-11-28T09:00:00Z"}
    return parse_targets(json.dumps({**stamp, "targets": rows}).encode(), ".json", f"{run}.json")


def test_a_short_rotated_to_another_symbol_is_opened_once_the_old_one_is_closed(tmp_path: Path) -> None:
    venue = paper_venue(10_000.0, {}, leverage=1.0)
    with ExecutionKernel(venue=venue, kernel_id="rb", wal_dir=str(tmp_path / "wal"), max_slots=8) as kernel:
        rebalance(
            kernel,
            _targets("a", [{"symbol": "ETH", "weight": -0.9}]),
            state_dir=tmp_path,
            quote_currency="USDT",
        )
        assert venue.positions() == {"ETH": -4.5}
        run = rebalance(
            kernel,
            _targets("b", [{"symbol": "ETH", "weight": 0}, {"symbol": "BTC", "weight": -0.9}]),
            state_dir=tmp_path,
            quote_currency="USDT",
        )
    said = [(r.leg.symbol, r.leg.side, r.status, r.reason[:40]) for r in run.results]
    # The same rotation of longs (sell ETH, buy BTC) goes through: the sell frees the margin first.
    assert "ETH" not in venue.positions(), said
    assert venue.positions().get("BTC", 0.0) == pytest.approx(-0.18, rel=0.01), said


def test_a_long_rotated_into_a_short_listed_first_is_opened_once_the_long_is_sold(tmp_path: Path) -> None:
    """Within the sells, the file's order: a short opened before the sell of a long that frees
    its margin is refused, though the same file with its rows swapped goes through."""
    venue = paper_venue(10_000.0, {}, leverage=1.0)
    with ExecutionKernel(venue=venue, kernel_id="rb", wal_dir=str(tmp_path / "wal"), max_slots=8) as kernel:
        rebalance(
            kernel,
            _targets("a", [{"symbol": "ETH", "weight": 0.9}]),
            state_dir=tmp_path,
            quote_currency="USDT",
        )
        assert venue.positions() == {"ETH": 4.5}
        run = rebalance(
            kernel,
            _targets("b", [{"symbol": "BTC", "weight": -0.9}, {"symbol": "ETH", "weight": 0}]),
            state_dir=tmp_path,
            quote_currency="USDT",
        )
    said = [(r.leg.symbol, r.leg.side, r.status, r.reason[:40]) for r in run.results]
    assert "ETH" not in venue.positions(), said
    assert venue.positions().get("BTC", 0.0) == pytest.approx(-0.18, rel=0.01), said
