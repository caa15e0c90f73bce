"""A rebalance sent through the kernel: a sell that funds a buy, the report, the legs' source_run,
and every fill traced back to its run through the write-ahead log."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from paper_account import paper_venue
from typer.testing import CliRunner

from dita import ExecutionKernel
from dita._kernel import WalError
from dita.cli import app
from dita.rebalance import parse_targets, rebalance, trace_source_run
from dita.risk import MarketLimits
from dita.venues.paper import PaperVenue

STAMP = {"source_run": "run-9", "generated_at": "2026-11-28T09:00:00Z"}


def targets(*rows: dict[str, object]):  # type: ignore[no-untyped-def]
    return parse_targets(json.dumps({**STAMP, "targets": list(rows)}).encode(), ".json", "t.json")


def test_a_sell_funds_the_buy_it_comes_before(tmp_path: Path) -> None:
    # Margin at leverage 1: 1,000 of cash does not carry a 3,000 buy until ETH is sold.
    venue = paper_venue(1_000.0, {"ETH": 2.0}, leverage=1.0)
    with ExecutionKernel(venue=venue, kernel_id="rb", wal_dir=str(tmp_path / "wal"), max_slots=8) as kernel:
        run = rebalance(
            kernel,
            targets({"symbol": "BTC", "weight": 0.6}, {"symbol": "ETH", "quantity": 0}),
            state_dir=tmp_path,
            quote_currency="USDT",
        )
    assert [(r.leg.symbol, r.leg.side, r.status, r.filled) for r in run.results] == [
        ("ETH", "SELL", "sent", 2.0),
        ("BTC", "BUY", "sent", 0.06),
    ]
    assert venue.positions() == {"BTC": 0.06}
    rows = {row["symbol"]: row for row in run.report["symbols"]}
    assert (rows["ETH"]["position_before"], rows["ETH"]["position_after"]) == (2.0, 0.0)
    assert rows["BTC"]["cost_bps"] == pytest.approx(0.0)
    assert rows["BTC"]["fees"] == pytest.approx(0.06 * 50_000 * 0.0005)
    assert run.report_path is not None and json.loads(run.report_path.read_text())["source_run"] == "run-9"


def test_the_buy_alone_is_refused_by_the_venue_for_margin(tmp_path: Path) -> None:
    venue = paper_venue(1_000.0, {"ETH": 2.0}, leverage=1.0)
    with ExecutionKernel(venue=venue, kernel_id="rb", max_slots=8) as kernel:
        run = rebalance(
            kernel, targets({"symbol": "BTC", "weight": 0.6}), state_dir=None, quote_currency="USDT"
        )
    assert run.results[0].filled == 0.0
    assert venue.positions() == {"ETH": 2.0}


def test_every_fill_traces_back_to_its_source_run_through_the_chain(tmp_path: Path) -> None:
    venue = paper_venue(10_000.0, {})
    wal = tmp_path / "wal"
    with ExecutionKernel(venue=venue, kernel_id="rb", wal_dir=str(wal), max_slots=8) as kernel:
        first = targets({"symbol": "BTC", "weight": 0.5}, {"symbol": "SOL", "quantity": 3})
        rebalance(kernel, first, state_dir=tmp_path, quote_currency="USDT")
        other = parse_targets(
            json.dumps(
                {
                    "source_run": "run-10",
                    "generated_at": STAMP["generated_at"],
                    "targets": [{"symbol": "SOL", "quantity": 5}],
                }
            ).encode(),
            ".json",
            "u.json",
        )
        rebalance(kernel, other, state_dir=tmp_path, quote_currency="USDT")
    report, fills = trace_source_run(wal, "run-9")
    run = f"rebalance:run-9:{first.content_hash[:12]}"
    assert [(f.asset, f.quantity, f.intent_id) for f in fills] == [
        ("BTC", 0.1, f"{run}:BTC:buy"),
        ("SOL", 3.0, f"{run}:SOL:buy"),
    ]
    assert all(len(f.record_hash) == 64 for f in fills) and report["head_hash"]
    _, later = trace_source_run(wal, "run-10")
    assert [(f.asset, f.quantity) for f in later] == [("SOL", 2.0)]

    result = CliRunner().invoke(app, ["audit", "trace", "run-9", "--wal-dir", str(wal), "--json"])
    assert result.exit_code == 0, result.output
    assert [f["record_hash"] for f in json.loads(result.output)["fills"]] == [f.record_hash for f in fills]

    segment = next(wal.glob("seg-*.wal"))
    data = bytearray(segment.read_bytes())
    data[-3] ^= 0xFF  # a byte of the last record's payload
    segment.write_bytes(bytes(data))
    with pytest.raises(WalError):
        trace_source_run(wal, "run-9")
    refused = CliRunner().invoke(app, ["audit", "trace", "run-9", "--wal-dir", str(wal)])
    assert refused.exit_code == 1
    assert "AUDIT FAILED" in refused.output


def test_the_cli_refuses_a_bad_row_and_sends_nothing(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text(
        "symbol,weight,quantity,source_run,generated_at\n"
        "BTC,0.5,,run-9,2026-11-28T09:00:00Z\n"
        "ETH,lots,,run-9,2026-11-28T09:00:00Z\n"
    )
    state = tmp_path / "state"
    result = CliRunner().invoke(
        app, ["rebalance", "--targets", str(path), "--state-dir", str(state), "--price", "BTC=50000"]
    )
    assert result.exit_code == 2
    assert "row 2: weight 'lots'" in result.output
    assert not state.exists()  # no kernel, no log, no order


def test_the_cli_dry_run_plans_and_sends_nothing(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text(json.dumps({**STAMP, "targets": [{"symbol": "BTC", "weight": 0.5}]}))
    book = tmp_path / "book.json"
    args = [
        "rebalance",
        "--targets",
        str(path),
        "--state-dir",
        str(tmp_path / "s"),
        "--paper-book",
        str(book),
    ]
    result = CliRunner().invoke(app, [*args, "--price", "BTC=50000", "--dry-run", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["dry_run"] and report["symbols"][0]["orders"][0]["status"] == "planned"
    assert not book.exists() and not (tmp_path / "s").exists()  # nothing written: no book, no log
    sent = CliRunner().invoke(app, [*args, "--price", "BTC=50000", "--json"])
    assert sent.exit_code == 0, sent.output
    assert json.loads(book.read_text())["positions"] == {"BTC": 0.1}


def test_a_later_sell_exits_the_trade_an_earlier_buy_opened(tmp_path: Path) -> None:
    venue = paper_venue(10_000.0, {})
    wal = tmp_path / "wal"
    later = parse_targets(
        json.dumps(
            {
                "source_run": "run-10",
                "generated_at": STAMP["generated_at"],
                "targets": [{"symbol": "BTC", "quantity": 0.04}, {"symbol": "ETH", "quantity": -1}],
            }
        ).encode(),
        ".json",
        "u.json",
    )
    first = targets({"symbol": "BTC", "quantity": 0.1})
    with ExecutionKernel(venue=venue, kernel_id="rb", wal_dir=str(wal), max_slots=8) as kernel:
        rebalance(kernel, first, state_dir=tmp_path, quote_currency="USDT")
        run = rebalance(kernel, later, state_dir=tmp_path, quote_currency="USDT")
        held = [
            (s["trade_id"], s["side"], s["size"]) for s in kernel.slots() if s["fsm_state"] == "POSITION_OPEN"
        ]
    assert [(r.leg.action, r.leg.symbol, r.leg.quantity, r.status) for r in run.results] == [
        ("EXIT", "BTC", pytest.approx(0.06), "sent"),
        ("ENTER", "ETH", 1.0, "sent"),
    ]
    run_9, run_10 = (f"rebalance:{t.source_run}:{t.content_hash[:12]}" for t in (first, later))
    assert held == [
        (f"{run_9}:BTC", "LONG", pytest.approx(0.04)),
        (f"{run_10}:ETH", "SHORT", 1.0),
    ]
    assert venue.positions() == {"BTC": pytest.approx(0.04), "ETH": -1.0}
    _, fills = trace_source_run(wal, "run-10")
    assert [(f.intent_id, f.side, f.quantity) for f in fills] == [
        (f"{run_10}:BTC:sell-exit-0", "SELL", pytest.approx(0.06)),
        (f"{run_10}:ETH:sell", "SELL", 1.0),
    ]
    _, earlier = trace_source_run(wal, "run-9")
    assert [(f.side, f.quantity) for f in earlier] == [("BUY", 0.1)]


def test_the_cli_reports_dust_and_below_floor_residuals(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    rows = [
        {"symbol": "BTC", "weight": 0.123456},
        {"symbol": "SOL", "quantity": 0.04},
        {"symbol": "ETH", "quantity": 0.0004},
    ]
    path.write_text(json.dumps({**STAMP, "targets": rows}))
    limits = tmp_path / "limits.json"
    limits.write_text(
        json.dumps(
            {
                "BTC": {"lot_step": 0.001, "min_notional": 5},
                "SOL": {"lot_step": 0.01, "min_notional": 5},
                "ETH": {"lot_step": 0.001},
            }
        )
    )
    prices = ["--price", "BTC=50000", "--price", "SOL=100", "--price", "ETH=2000"]
    args = [
        "rebalance",
        "--targets",
        str(path),
        "--state-dir",
        str(tmp_path / "s"),
        "--market-limits",
        str(limits),
    ]
    result = CliRunner().invoke(app, [*args, *prices, "--json"])
    assert result.exit_code == 0, result.output
    rows_out = {row["symbol"]: row for row in json.loads(result.output)["symbols"]}
    assert rows_out["BTC"]["filled"] == 0.024 and rows_out["BTC"]["orders"][0]["status"] == "sent"
    assert (
        rows_out["SOL"]["skipped"]["reason"] == "below floor"
        and rows_out["SOL"]["skipped"]["residual"] == 0.04
    )
    assert rows_out["ETH"]["skipped"]["reason"] == "dust" and rows_out["ETH"]["orders"] == []


def test_a_dry_run_plans_exits_of_the_trades_the_log_holds(tmp_path: Path) -> None:
    first = tmp_path / "t.json"
    first.write_text(json.dumps({**STAMP, "targets": [{"symbol": "BTC", "quantity": 0.1}]}))
    later = tmp_path / "u.json"
    later.write_text(
        json.dumps({**STAMP, "source_run": "run-10", "targets": [{"symbol": "BTC", "quantity": 0}]})
    )
    common = [
        "--state-dir",
        str(tmp_path / "s"),
        "--paper-book",
        str(tmp_path / "book.json"),
        "--price",
        "BTC=50000",
    ]
    assert CliRunner().invoke(app, ["rebalance", "--targets", str(first), *common]).exit_code == 0
    wal = tmp_path / "s" / "wal"
    before = sorted((p.name, p.stat().st_size) for p in wal.iterdir())
    result = CliRunner().invoke(app, ["rebalance", "--targets", str(later), *common, "--dry-run", "--json"])
    assert result.exit_code == 0, result.output
    (order,) = json.loads(result.output)["symbols"][0]["orders"]
    version = hashlib.sha256(later.read_bytes()).hexdigest()[:12]
    assert (order["intent_id"], order["status"]) == (f"rebalance:run-10:{version}:BTC:sell-exit-0", "planned")
    assert sorted((p.name, p.stat().st_size) for p in wal.iterdir()) == before


def test_a_new_version_of_one_source_run_is_rebalanced_to(tmp_path: Path) -> None:
    """The same source_run with other content is a version of its own: its legs are sent, not
    taken for the first version's legs (refused as duplicates, the target never reached)."""
    venue = paper_venue(10_000.0, {})
    first, second = targets({"symbol": "BTC", "quantity": 0.01}), targets({"symbol": "BTC", "quantity": 0.02})
    with ExecutionKernel(venue=venue, kernel_id="rb", wal_dir=str(tmp_path / "wal"), max_slots=8) as kernel:
        rebalance(kernel, first, state_dir=tmp_path, quote_currency="USDT")
        run = rebalance(kernel, second, state_dir=tmp_path, quote_currency="USDT")
        again = rebalance(kernel, second, state_dir=None, quote_currency="USDT")
    assert [(r.leg.side, r.leg.quantity, r.status) for r in run.results] == [
        ("BUY", pytest.approx(0.01), "sent")
    ]
    assert venue.positions() == {"BTC": pytest.approx(0.02)}
    # The same version planned again (no plan kept) is on target: nothing to send.
    assert again.results == []


def test_the_report_counts_every_leg_of_a_symbol(tmp_path: Path) -> None:
    """A long turned short is an exit and an entry of one symbol: the report's filled, average
    price and fees are over both, not the last leg's alone."""
    venue = paper_venue(10_000.0, {})
    later = parse_targets(
        json.dumps(
            {**STAMP, "source_run": "run-10", "targets": [{"symbol": "BTC", "quantity": -0.1}]}
        ).encode(),
        ".json",
        "u.json",
    )
    with ExecutionKernel(venue=venue, kernel_id="rb", wal_dir=str(tmp_path / "wal"), max_slots=8) as kernel:
        rebalance(kernel, targets({"symbol": "BTC", "quantity": 0.1}), state_dir=None, quote_currency="USDT")
        run = rebalance(kernel, later, state_dir=None, quote_currency="USDT")
    assert [(r.leg.action, r.filled) for r in run.results] == [("EXIT", 0.1), ("ENTER", 0.1)]
    (row,) = run.report["symbols"]
    assert (row["position_after"], row["filled"]) == (-0.1, pytest.approx(0.2))
    assert row["average_price"] == 50_000.0
    assert row["fees"] == pytest.approx(0.2 * 50_000 * 0.0005)


def test_an_exit_under_the_venues_floor_is_skipped_not_sent(tmp_path: Path) -> None:
    """The exit leg of a long turned short is judged by the floors as the entry is: one under
    min_qty is reported skipped, not sent for the venue (or the kernel) to refuse, and the short
    is sized as if it stays."""
    venue = paper_venue(10_000.0, {}, market_limits={"BTC": MarketLimits(lot_step=0.001)})
    later = parse_targets(
        json.dumps(
            {**STAMP, "source_run": "run-10", "targets": [{"symbol": "BTC", "quantity": -0.1}]}
        ).encode(),
        ".json",
        "u.json",
    )
    with ExecutionKernel(venue=venue, kernel_id="rb", max_slots=8) as kernel:
        rebalance(
            kernel, targets({"symbol": "BTC", "quantity": 0.005}), state_dir=None, quote_currency="USDT"
        )
        # The exchange raises its minimum size: the long of 0.005 is under it now.
        venue.set_market_limits("BTC", MarketLimits(lot_step=0.001, min_qty=0.01))
        run = rebalance(kernel, later, state_dir=None, quote_currency="USDT")
    assert [(r.leg.action, r.leg.quantity, r.status) for r in run.results] == [("ENTER", 0.1, "sent")]
    (row,) = run.report["symbols"]
    assert row["skipped"]["reason"] == "below floor" and row["skipped"]["residual"] == 0.005
    assert "the exit of slot 0: 0.005 is under min_qty 0.01" in row["skipped"]["detail"]
    assert venue.positions() == {"BTC": pytest.approx(-0.095)}


def test_exits_of_trades_opened_on_a_finer_lot_bring_the_account_to_its_target(tmp_path: Path) -> None:
    """Two longs of 0.15 opened when the lot was 0.05, the lot now 0.1, the target 0: each exit
    sells its trade's whole lot, and the lot their halves make goes out as an entry, so nothing
    is left held (the exits alone left 0.1, reported as dust under one lot)."""
    wal = str(tmp_path / "wal")
    fine = paper_venue(100_000.0, {}, market_limits={"BTC": MarketLimits(lot_step=0.05)})
    with ExecutionKernel(venue=fine, kernel_id="rb", wal_dir=wal, max_slots=8) as kernel:
        for held in (0.15, 0.3):
            rebalance(
                kernel, targets({"symbol": "BTC", "quantity": held}), state_dir=None, quote_currency="USDT"
            )
    coarse = PaperVenue(slippage_bps=0.0, market_limits={"BTC": MarketLimits(lot_step=0.1)})
    coarse.restore_book(fine.book())
    with ExecutionKernel(venue=coarse, kernel_id="rb", wal_dir=wal, max_slots=8) as kernel:
        run = rebalance(
            kernel, targets({"symbol": "BTC", "quantity": 0}), state_dir=None, quote_currency="USDT"
        )
    assert [(r.leg.action, r.leg.side, r.status, r.filled) for r in run.results] == [
        ("EXIT", "SELL", "sent", 0.1),
        ("EXIT", "SELL", "sent", 0.1),
        ("ENTER", "SELL", "sent", 0.1),
    ]
    (row,) = run.report["symbols"]
    assert row["skipped"] is None
    assert abs(coarse.positions().get("BTC", 0.0)) < 1e-9
