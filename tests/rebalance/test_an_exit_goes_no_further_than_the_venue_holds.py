"""An order exits the kernel's trades of a side only as far as the venue holds that side: the
kernel may send an exit reduce-only (it nets an asset's trades as one position), and the venue
expires one it holds nothing against. A trade the kernel holds of a side the venue does not (the
lot an entry sold for the exits' halves, a sell of a position held from elsewhere) is left, and
the order goes out as an entry (docs/guides/rebalancing.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from paper_account import paper_venue

from dita import ExecutionKernel
from dita.rebalance import Account, make_plan, parse_targets, rebalance
from dita.rebalance.plan import OpenTrade
from dita.risk import MarketLimits
from dita.venues.paper import PaperVenue

RUNS = iter(range(1, 1000))


def targets(*rows: dict[str, object]):  # type: ignore[no-untyped-def]
    stamp = {"source_run": f"run-{next(RUNS)}", "generated_at": "2026-11-28T09:00:00Z"}
    return parse_targets(json.dumps({**stamp, "targets": list(rows)}).encode(), ".json", "t.json")


def to(kernel: ExecutionKernel, quantity: float):  # type: ignore[no-untyped-def]
    """``kernel``'s account rebalanced to ``quantity`` BTC."""
    return rebalance(
        kernel, targets({"symbol": "BTC", "quantity": quantity}), state_dir=None, quote_currency="USDT"
    )


def test_a_short_the_venue_does_not_hold_is_not_exited_and_the_buy_is_an_entry() -> None:
    held = (OpenTrade("BTC", "SHORT", "rebalance:r0:BTC", 0, 0.1),)
    account = Account({}, 100_000.0, {"BTC": 50_000.0}, {}, trades=held)
    plan = make_plan(targets({"symbol": "BTC", "quantity": 0.3}), account)
    assert [(leg.action, leg.side, leg.quantity) for leg in plan.legs] == [("ENTER", "BUY", 0.3)]


def test_trades_are_exited_up_to_what_the_venue_holds_and_the_rest_entered() -> None:
    held = (
        OpenTrade("BTC", "SHORT", "rebalance:r0:BTC", 0, 0.1),
        OpenTrade("BTC", "SHORT", "rebalance:r1:BTC", 1, 0.1),
    )
    account = Account({"BTC": -0.1}, 100_000.0, {"BTC": 50_000.0}, {}, trades=held)
    plan = make_plan(targets({"symbol": "BTC", "quantity": 0.2}), account)
    assert [(leg.action, leg.slot_id, leg.quantity) for leg in plan.legs] == [
        ("EXIT", 0, 0.1),
        ("ENTER", -1, pytest.approx(0.2)),
    ]


def test_a_working_order_taking_off_the_side_leaves_the_exits_less() -> None:
    held = (OpenTrade("ETH", "LONG", "rebalance:r0:ETH", 0, 2.0),)
    account = Account({"ETH": 2.0}, 100_000.0, {"ETH": 2_000.0}, {}, trades=held, working={"ETH": -1.5})
    plan = make_plan(targets({"symbol": "ETH", "quantity": -1}), account)
    assert [(leg.action, leg.quantity) for leg in plan.legs] == [("EXIT", 0.5), ("ENTER", 1.0)]


def test_a_buy_after_a_lot_sold_as_an_entry_reaches_its_target(tmp_path: Path) -> None:
    """Two longs of 0.15 on a lot of 0.05, the lot now 0.1, sold to 0: the lot their halves make
    goes out as an entry, a short the venue does not hold. Bought to 0.3, the account is there."""
    wal = str(tmp_path / "wal")
    fine = paper_venue(100_000.0, {}, market_limits={"BTC": MarketLimits(lot_step=0.05)})
    with ExecutionKernel(venue=fine, kernel_id="rb", wal_dir=wal, max_slots=8) as kernel:
        for size in (0.15, 0.3):
            to(kernel, size)
    coarse = PaperVenue(slippage_bps=0.0, market_limits={"BTC": MarketLimits(lot_step=0.1)})
    coarse.restore_book(fine.book())
    with ExecutionKernel(venue=coarse, kernel_id="rb", wal_dir=wal, max_slots=8) as kernel:
        to(kernel, 0)
        assert coarse.positions().get("BTC", 0.0) == pytest.approx(0.0)
        run = to(kernel, 0.3)
        assert [(r.leg.action, r.status, r.filled) for r in run.results] == [("ENTER", "sent", 0.3)]
        assert coarse.positions()["BTC"] == pytest.approx(0.3)
        # Sold to 0 again, the venue's long goes whole, whatever the kernel holds apart.
        to(kernel, 0)
        assert coarse.positions().get("BTC", 0.0) == pytest.approx(0.0)


def test_a_holding_from_elsewhere_sold_and_bought_back_reaches_its_target() -> None:
    """0.2 BTC held from elsewhere sold to 0 opens a short of the kernel's the venue does not
    hold; bought back to 0.2, the buy is an entry and fills."""
    venue = paper_venue(100_000.0, {"BTC": 0.2})
    with ExecutionKernel(venue=venue, kernel_id="rb", max_slots=8) as kernel:
        to(kernel, 0)
        assert venue.positions().get("BTC", 0.0) == pytest.approx(0.0)
        run = to(kernel, 0.2)
        assert [(r.leg.action, r.status, r.filled) for r in run.results] == [("ENTER", "sent", 0.2)]
        assert venue.positions()["BTC"] == pytest.approx(0.2)
        again = to(kernel, 0.2)
    assert again.results == []
