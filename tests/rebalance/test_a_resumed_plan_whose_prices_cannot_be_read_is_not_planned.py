"""A resumed plan reads the venue's prices to judge whether they moved. An exchange that cannot
be reached then is an AccountUnreadable (a PlanError), as when a plan is made afresh: `dita
rebalance` says "cannot plan the rebalance, nothing sent" and `--watch` tries again, where the
bare VenueUnavailable was a traceback and ended the watch."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dita import ExecutionKernel
from dita.rebalance import TargetPortfolio, parse_targets, rebalance
from dita.rebalance.plan import AccountUnreadable
from dita.venues.ccxt.markets import TopOfBook
from dita.venues.paper import PaperVenue
from dita.venues.protocol import VenueUnavailable

STAMP = {"source_run": "run-207", "generated_at": "2026-11-28T09:00:00Z"}


class Killed(Exception):
    pass


def _kill(*_said: object) -> None:
    raise Killed


class Exchange:
    """A paper venue that states its book as an exchange does (fetch_top_of_book), until down."""

    def __init__(self, venue: PaperVenue) -> None:
        self.venue = venue
        self.down = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.venue, name)

    def fetch_top_of_book(self, asset: str) -> Any:
        if self.down:
            raise VenueUnavailable("okx: the exchange cannot be reached (timeout)")
        bid, ask = self.venue.book()["quotes"][asset][:2]
        return TopOfBook(asset=asset, bid=bid, ask=ask, bid_size=1e12, ask_size=1e12, ts=1.0)


def _portfolio() -> TargetPortfolio:
    rows = [{"symbol": "BTC", "weight": 0.5}]
    return parse_targets(json.dumps({**STAMP, "targets": rows}).encode(), ".json", "t.json")


def test_a_resumed_plan_whose_prices_cannot_be_read_is_not_planned(tmp_path: Path) -> None:
    book = PaperVenue().book()
    book.update(cash=10_000.0, positions={}, now=1.0)
    book["quotes"] = {"BTC": [50_000.0, 50_000.0, 1e12, 1e12]}
    paper = PaperVenue(slippage_bps=0.0, leverage=3.0)
    paper.restore_book(book)
    venue = Exchange(paper)
    with ExecutionKernel(venue=venue, kernel_id="rb", wal_dir=str(tmp_path / "wal"), max_slots=8) as kernel:
        with pytest.raises(Killed):
            rebalance(kernel, _portfolio(), state_dir=tmp_path, quote_currency="USDT", before_send=_kill)
    venue.down = True
    with ExecutionKernel(venue=venue, kernel_id="rb", wal_dir=str(tmp_path / "wal"), max_slots=8) as kernel:
        with pytest.raises(AccountUnreadable):
            rebalance(kernel, _portfolio(), state_dir=tmp_path, quote_currency="USDT")
    assert paper.positions() == {}
