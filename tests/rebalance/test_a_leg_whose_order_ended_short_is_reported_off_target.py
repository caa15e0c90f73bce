"""A leg whose order the venue ended short of its size (expired, canceled) is reported
``unfilled`` with the venue's reason, and what it did not fill is in the symbol's ``skipped``
as ``not filled``: the report never says ``sent`` with nothing skipped of an account left off
its target, nor, resumed after a kill, ``sent before`` (docs/guides/rebalancing.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from paper_account import paper_venue

from dita import ExecutionKernel
from dita.cli.rebalance import _fail_off_target
from dita.rebalance import Account, make_plan, parse_targets, rebalance, report_json, send_plan
from dita.rebalance.plan import OpenTrade
from dita.venues.paper import PaperVenue

RUNS = iter(range(1, 1000))


def targets(*rows: dict[str, object]):  # type: ignore[no-untyped-def]
    stamp = {"source_run": f"run-{next(RUNS)}", "generated_at": "2026-11-28T09:00:00Z"}
    return parse_targets(json.dumps({**stamp, "targets": list(rows)}).encode(), ".json", "t.json")


def short_book_venue() -> PaperVenue:
    """A venue whose book holds 0.1 BTC at the ask and expires a market order's remainder."""
    venue = PaperVenue(slippage_bps=0.0, market_remainder="expire")
    book = venue.book()
    book.update(cash=100_000.0, now=1.0, quotes={"BTC": [50_000.0, 50_000.0, 0.1, 0.1]})
    venue.restore_book(book)
    return venue


def test_a_market_order_whose_remainder_expired_is_reported_with_what_it_left() -> None:
    """The book holds 0.1 BTC at the ask; a buy of 0.3 on a venue that expires a market order's
    remainder (IOC) fills 0.1 and ends with 0.2 unfilled."""
    venue = short_book_venue()
    with ExecutionKernel(venue=venue, kernel_id="rb", max_slots=8) as kernel:
        run = rebalance(
            kernel, targets({"symbol": "BTC", "quantity": 0.3}), state_dir=None, quote_currency="USDT"
        )
    (result,) = run.results
    assert (result.status, result.diagnostic, result.filled) == ("unfilled", "EXPIRED", pytest.approx(0.1))
    assert "found no liquidity" in result.reason
    (row,) = run.report["symbols"]
    (order,) = row["orders"]
    assert (order["status"], order["diagnostic"], order["reason"]) == ("unfilled", "EXPIRED", result.reason)
    assert row["skipped"]["reason"] == "not filled"
    assert row["skipped"]["residual"] == pytest.approx(0.2)
    assert row["skipped"]["detail"].startswith(
        f"{result.leg.intent_id} unfilled, 0.1 of 0.3 filled (EXPIRED: "
    )


def test_a_leg_that_ended_short_in_a_killed_run_is_reported_off_target_when_resumed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The buy of 0.3 filled 0.1 and expired, then the run was killed before its report. Resumed,
    the leg is reported as its order ended in that run, what it left is skipped as not filled,
    the command exits 1 saying so, and the rest is not sent again."""
    venue = short_book_venue()
    portfolio = targets({"symbol": "BTC", "quantity": 0.3})
    with ExecutionKernel(venue=venue, kernel_id="rb", max_slots=8, wal_dir=str(tmp_path / "wal")) as kernel:
        killed = rebalance(kernel, portfolio, state_dir=tmp_path, quote_currency="USDT")
        assert killed.report_path is not None
        killed.report_path.unlink()  # killed after its leg, before its report
        resumed = rebalance(kernel, portfolio, state_dir=tmp_path, quote_currency="USDT")
    assert resumed.resumed
    (result,) = resumed.results
    assert (result.status, result.diagnostic) == ("part filled (earlier run)", "EXPIRED")
    assert result.filled == pytest.approx(0.1)
    assert "found no liquidity" in result.reason
    assert venue.positions() == {"BTC": pytest.approx(0.1)}  # the rest not sent again
    (row,) = resumed.report["symbols"]
    assert [o["status"] for o in row["orders"]] == ["part filled (earlier run)"]
    assert row["skipped"]["reason"] == "not filled"
    assert row["skipped"]["residual"] == pytest.approx(0.2)
    assert row["skipped"]["detail"].startswith(
        f"{result.leg.intent_id} part filled (earlier run), 0.1 of 0.3 filled (EXPIRED: "
    )
    with pytest.raises(typer.Exit) as exited:
        _fail_off_target(resumed)
    assert exited.value.exit_code == 1
    assert (
        f"error: the account is left off its targets: {result.leg.intent_id} part filled (earlier run), "
        "0.2 of 0.3 not filled (EXPIRED: " in capsys.readouterr().err
    )


def test_an_exit_the_venue_expired_as_reduce_only_is_reported_with_the_venues_reason() -> None:
    """The kernel's short of 0.2 (a holding from elsewhere sold), the venue flat: an exit of it
    planned from an account stated otherwise goes reduce-only and the venue expires it."""
    venue = paper_venue(100_000.0, {"BTC": 0.2})
    with ExecutionKernel(venue=venue, kernel_id="rb", max_slots=8) as kernel:
        rebalance(kernel, targets({"symbol": "BTC", "quantity": 0}), state_dir=None, quote_currency="USDT")
        (slot,) = [s for s in kernel.slots() if s["fsm_state"] == "POSITION_OPEN"]
        short = OpenTrade("BTC", "SHORT", slot["trade_id"], slot["slot_id"], 0.2)
        # The account as it was when planned: the venue short, as it may be until the order goes.
        stated = Account({"BTC": -0.2}, 100_000.0, {"BTC": 50_000.0}, {}, trades=(short,))
        plan = make_plan(targets({"symbol": "BTC", "quantity": 0}), stated)
        results = send_plan(kernel, plan, fill_wait_s=0)
    (result,) = results
    assert (result.leg.action, result.status, result.diagnostic) == ("EXIT", "unfilled", "EXPIRED")
    assert result.reason.startswith("reduce-only buy: the BTC position is flat, nothing left to reduce")
    (row,) = report_json(plan, results, venue.positions())["symbols"]
    assert row["skipped"]["reason"] == "not filled"
    assert row["skipped"]["residual"] == pytest.approx(0.2)
