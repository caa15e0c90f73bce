"""A dry run names a target's market as the run does: as the kernel holds it from its open trades
and its working orders. A target spelling BTCUSDT while the kernel's order of BTC/USDT works counts
that order's quantity, so the dry run shows no buy the run would not send."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dita import ExecutionKernel
from dita.rebalance import TargetPortfolio, dry_run, parse_targets, rebalance
from dita.rebalance.execute import open_trades, working_quantities
from dita.venues.ccxt.markets import TopOfBook
from dita.venues.paper import PaperVenue

STAMP = {"source_run": "run-207", "generated_at": "2026-11-28T09:00:00Z"}


class Killed(Exception):
    pass


def _kill(*_said: object) -> None:
    raise Killed


class Exchange:
    """A paper venue that names BTC/USDT's market BTCUSDT too, as a ccxt venue does; it takes
    orders silently (each stays working) once ``silent``."""

    def __init__(self, venue: PaperVenue) -> None:
        self.venue = venue
        self.silent = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.venue, name)

    def position_asset(self, symbol: str) -> str:
        return "BTC/USDT" if symbol in ("BTC/USDT", "BTCUSDT") else symbol

    def fetch_top_of_book(self, asset: str) -> Any:
        bid, ask = self.venue.book()["quotes"]["BTC/USDT"][:2]
        return TopOfBook(asset=asset, bid=bid, ask=ask, bid_size=1e12, ask_size=1e12, ts=1.0)

    def submit(self, order: Any) -> Any:
        return [] if self.silent else self.venue.submit(order)


def _portfolio(symbol: str) -> TargetPortfolio:
    rows = [{"symbol": symbol, "weight": 0.5}]
    return parse_targets(json.dumps({**STAMP, "targets": rows}).encode(), ".json", "t.json")


def test_a_dry_run_counts_the_working_order_of_the_other_spelling(tmp_path: Path) -> None:
    book = PaperVenue().book()
    book.update(cash=10_000.0, positions={}, now=1.0)
    book["quotes"] = {"BTC/USDT": [50_000.0, 50_000.0, 1e12, 1e12]}
    paper = PaperVenue(slippage_bps=0.0, leverage=3.0)
    paper.restore_book(book)
    venue = Exchange(paper)
    venue.silent = True
    with ExecutionKernel(venue=venue, kernel_id="rb", wal_dir=str(tmp_path / "wal"), max_slots=8) as kernel:
        with pytest.raises(Killed):
            rebalance(
                kernel, _portfolio("BTC/USDT"), state_dir=tmp_path, quote_currency="USDT", after_leg=_kill
            )
        assert working_quantities(kernel) == {"BTC/USDT": pytest.approx(0.1)}
        # What `dita rebalance --dry-run` passes (cli/rebalance.py: trades, working of the log).
        shown = dry_run(
            venue,
            _portfolio("BTCUSDT"),
            state_dir=None,
            quote_currency="USDT",
            trades=open_trades(kernel),
            working=working_quantities(kernel),
        )
        sent = rebalance(
            kernel, _portfolio("BTCUSDT"), state_dir=None, quote_currency="USDT", fill_wait_s=0.0
        )
    ran = [(r.leg.side, r.leg.quantity) for r in sent.results]
    assert ran == [], ran  # the working order's 0.1 counts: nothing to send
    dry = [(leg.side, leg.quantity) for leg in shown.plan.legs]
    assert dry == ran, dry
