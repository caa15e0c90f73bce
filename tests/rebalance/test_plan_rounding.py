"""The plan: weights and quantities into orders, rounded down to the lot, dust and below-floor
residuals skipped and reported, sells before buys."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from dita.rebalance import Account, make_plan, parse_targets, report_json
from dita.rebalance.plan import OpenTrade, floor_to_step
from dita.risk import MarketLimits

STAMP = {"source_run": "run-1", "generated_at": "2026-11-28T09:00:00Z"}


def portfolio(*rows: dict[str, object]):  # type: ignore[no-untyped-def]
    return parse_targets(json.dumps({**STAMP, "targets": list(rows)}).encode(), ".json", "t.json")


def account(positions: dict[str, float], equity: float = 10_000.0, **limits: MarketLimits) -> Account:
    prices = {"BTC": 50_000.0, "ETH": 2_000.0, "SOL": 100.0}
    return Account(positions, equity, prices, dict(limits))


def test_weights_become_quantities_of_equity_and_quantities_are_taken_as_given() -> None:
    targets = portfolio({"symbol": "BTC", "weight": 0.5}, {"symbol": "ETH", "quantity": 2})
    plan = make_plan(targets, account({}))
    assert [(leg.symbol, leg.side, leg.quantity) for leg in plan.legs] == [
        ("BTC", "BUY", 0.1),
        ("ETH", "BUY", 2.0),
    ]
    version = targets.content_hash[:12]
    assert plan.legs[0].intent_id == f"rebalance:run-1:{version}:BTC:buy"
    assert plan.legs[0].trade_id == f"rebalance:run-1:{version}:BTC"


def test_sells_come_before_buys() -> None:
    plan = make_plan(
        portfolio({"symbol": "BTC", "weight": 0.5}, {"symbol": "ETH", "quantity": 0}),
        account({"ETH": 2.0}),
    )
    assert [(leg.symbol, leg.side) for leg in plan.legs] == [("ETH", "SELL"), ("BTC", "BUY")]


def test_rounded_down_to_the_lot_with_the_residual_kept() -> None:
    limits = MarketLimits(lot_step=0.001)
    plan = make_plan(portfolio({"symbol": "BTC", "weight": 0.123456}), account({}, BTC=limits))
    (leg,) = plan.legs
    assert leg.quantity == 0.024
    assert leg.residual == pytest.approx(0.0246912 - 0.024)


def test_the_residual_is_counted_on_decimals_as_the_lots_are() -> None:
    """0.25 on lots of 0.1 is two lots and 0.05 left; in binary the residual read
    0.04999999999999999 in the report."""
    lots = MarketLimits(lot_step=0.1)
    plan = make_plan(portfolio({"symbol": "SOL", "quantity": 0.25}), account({}, SOL=lots))
    (leg,) = plan.legs
    assert (leg.quantity, leg.residual) == (0.2, 0.05)


def test_dust_under_one_lot_is_skipped_with_its_residual() -> None:
    plan = make_plan(
        portfolio({"symbol": "BTC", "quantity": 1.0004}),
        account({"BTC": 1.0}, BTC=MarketLimits(lot_step=0.001)),
    )
    assert plan.legs == ()
    (skipped,) = plan.skipped
    assert (skipped.symbol, skipped.reason, skipped.side) == ("BTC", "dust", "BUY")
    assert skipped.residual == pytest.approx(0.0004)


def test_below_the_minimum_notional_is_skipped_as_below_floor() -> None:
    limits = MarketLimits(lot_step=0.01, min_notional=5.0)
    plan = make_plan(portfolio({"symbol": "SOL", "quantity": 0.04}), account({}, SOL=limits))
    assert plan.legs == ()
    (skipped,) = plan.skipped
    assert (skipped.reason, skipped.residual) == ("below floor", 0.04)
    assert "min_notional 5" in skipped.detail


def test_below_the_minimum_size_is_skipped_as_below_floor() -> None:
    plan = make_plan(
        portfolio({"symbol": "SOL", "quantity": 0.5}), account({}, SOL=MarketLimits(min_qty=1.0))
    )
    assert [s.reason for s in plan.skipped] == ["below floor"]


def test_a_symbol_without_a_price_is_skipped() -> None:
    plan = make_plan(
        portfolio({"symbol": "DOGE", "weight": 0.1}, {"symbol": "XRP", "quantity": 5}), account({})
    )
    assert [(s.symbol, s.reason) for s in plan.skipped] == [("DOGE", "no price"), ("XRP", "no price")]
    assert plan.legs == ()


def test_a_position_on_target_gives_no_order() -> None:
    plan = make_plan(portfolio({"symbol": "ETH", "quantity": 2}), account({"ETH": 2.0}))
    assert plan.legs == () and plan.skipped == ()


@pytest.mark.parametrize(("qty", "step", "floored"), [(0.3, 0.1, 0.3), (0.29999, 0.1, 0.2), (7.0, 0.0, 7.0)])
def test_lots_are_counted_on_decimals(qty: float, step: float, floored: float) -> None:
    assert floor_to_step(qty, step) == floored


def test_an_order_against_open_trades_exits_them_first_and_opens_the_rest() -> None:
    held = (
        OpenTrade("ETH", "LONG", "rebalance:r0:ETH", 3, 1.5),
        OpenTrade("ETH", "LONG", "rebalance:r00:ETH", 1, 0.5),
        OpenTrade("BTC", "LONG", "rebalance:r0:BTC", 2, 1.0),
    )
    targets = portfolio({"symbol": "ETH", "quantity": -1})
    plan = make_plan(targets, replace(account({"ETH": 2.0}), trades=held))
    run = f"rebalance:run-1:{targets.content_hash[:12]}"
    assert [(leg.action, leg.slot_id, leg.quantity, leg.intent_id) for leg in plan.legs] == [
        ("EXIT", 1, 0.5, f"{run}:ETH:sell-exit-1"),
        ("EXIT", 3, 1.5, f"{run}:ETH:sell-exit-3"),
        ("ENTER", -1, 1.0, f"{run}:ETH:sell"),
    ]


def test_the_order_is_the_difference_counted_on_decimals() -> None:
    """0.3 less 0.1 is 0.19999999999999998 in binary, which the lot of 0.1 rounded down to 0.1:
    half the order a target of 0.3 from 0.1 asks for."""
    limits = MarketLimits(lot_step=0.1)
    plan = make_plan(portfolio({"symbol": "SOL", "quantity": 0.3}), account({"SOL": 0.1}, SOL=limits))
    assert [(leg.side, leg.quantity) for leg in plan.legs] == [("BUY", 0.2)]
    working = replace(account({}, SOL=limits), working={"SOL": 0.1})
    assert [
        leg.quantity for leg in make_plan(portfolio({"symbol": "SOL", "quantity": 0.3}), working).legs
    ] == [0.2]


def test_exits_of_several_trades_take_each_whole_on_decimals() -> None:
    """2.03 less the first trade's 0.03 is 1.9999999999999998 in binary: the second trade's exit
    went out a lot short, and left 0.01 held of a target of nothing."""
    held = (
        OpenTrade("SOL", "LONG", "rebalance:r0:SOL", 0, 0.03),
        OpenTrade("SOL", "LONG", "rebalance:r1:SOL", 1, 2.0),
    )
    limits = MarketLimits(lot_step=0.01)
    plan = make_plan(
        portfolio({"symbol": "SOL", "quantity": 0}), replace(account({"SOL": 2.03}, SOL=limits), trades=held)
    )
    assert [(leg.action, leg.slot_id, leg.quantity) for leg in plan.legs] == [
        ("EXIT", 0, 0.03),
        ("EXIT", 1, 2.0),
    ]


def test_an_exit_under_the_floor_is_skipped_as_an_entry_under_it_is() -> None:
    """A long of 0.005 turned short: its exit is under min_qty, so it is not sent (the venue would
    refuse it) but reported with the rule, and the short opens as planned."""
    held = (OpenTrade("BTC", "LONG", "rebalance:r0:BTC", 0, 0.005),)
    limits = MarketLimits(lot_step=0.001, min_qty=0.01)
    plan = make_plan(
        portfolio({"symbol": "BTC", "quantity": -0.1}),
        replace(account({"BTC": 0.005}, BTC=limits), trades=held),
    )
    assert [(leg.action, leg.side, leg.quantity) for leg in plan.legs] == [("ENTER", "SELL", 0.1)]
    (skipped,) = plan.skipped
    assert (skipped.side, skipped.reason, skipped.residual) == ("SELL", "below floor", 0.005)
    assert skipped.detail == "the exit of slot 0: 0.005 is under min_qty 0.01"


def test_the_share_of_an_exit_under_the_floor_goes_to_the_next_trade() -> None:
    held = (
        OpenTrade("SOL", "LONG", "rebalance:r0:SOL", 0, 0.03),
        OpenTrade("SOL", "LONG", "rebalance:r1:SOL", 1, 2.0),
    )
    limits = MarketLimits(lot_step=0.01, min_notional=5.0)
    plan = make_plan(
        portfolio({"symbol": "SOL", "quantity": 1.03}),
        replace(account({"SOL": 2.03}, SOL=limits), trades=held),
    )
    assert [(leg.action, leg.slot_id, leg.quantity) for leg in plan.legs] == [("EXIT", 1, 1.0)]
    assert plan.skipped == ()


def test_an_exit_and_an_entry_both_under_the_floor_are_one_residual_in_the_report() -> None:
    held = (OpenTrade("SOL", "LONG", "rebalance:r0:SOL", 0, 0.03),)
    limits = MarketLimits(lot_step=0.01, min_notional=5.0)
    plan = make_plan(
        portfolio({"symbol": "SOL", "quantity": -0.02}),
        replace(account({"SOL": 0.03}, SOL=limits), trades=held),
    )
    assert plan.legs == ()
    (row,) = report_json(plan, [], None, dry_run=True)["symbols"]
    assert row["skipped"] == {
        "reason": "below floor",
        "side": "SELL",
        "residual": 0.05,
        "detail": (
            "the exit of slot 0: notional 3 is under min_notional 5; notional 2 is under min_notional 5"
        ),
    }


def btc_longs(*sizes: float) -> tuple[OpenTrade, ...]:
    """BTC longs a rebalance opened on a finer lot than the market's now."""
    return tuple(
        OpenTrade("BTC", "LONG", f"rebalance:r{slot}:BTC", slot, size) for slot, size in enumerate(sizes)
    )


@pytest.mark.parametrize(
    ("sizes", "target", "legs"),
    [
        # Each exit takes its trade's whole lots; their 0.05s together are the lot the entry sells.
        ((0.15, 0.15), 0, [("EXIT", 0, 0.1), ("EXIT", 1, 0.1), ("ENTER", -1, 0.1)]),
        # A trade under one lot is no exit: its share goes out with the entry too.
        ((0.05, 0.15), 0, [("EXIT", 1, 0.1), ("ENTER", -1, 0.1)]),
        # Beyond what the trades hold, the entry sells what their exits leave as well.
        ((0.15, 0.1), -0.15, [("EXIT", 0, 0.1), ("EXIT", 1, 0.1), ("ENTER", -1, 0.2)]),
    ],
)
def test_an_exit_over_several_trades_sells_every_whole_lot_of_the_order(
    sizes: tuple[float, ...], target: float, legs: list[tuple[str, int, float]]
) -> None:
    """Trades opened when the lot was 0.05, the lot now 0.1: the exits, floored each, left whole
    lots of the order unsold and reported them as "dust ... under one lot"."""
    held = sum(sizes)
    plan = make_plan(
        portfolio({"symbol": "BTC", "quantity": target}),
        replace(account({"BTC": held}, BTC=MarketLimits(lot_step=0.1)), trades=btc_longs(*sizes)),
    )
    assert [(leg.action, leg.slot_id, leg.quantity) for leg in plan.legs] == legs
    assert {leg.side for leg in plan.legs} == {"SELL"}
    assert plan.skipped == ()
    assert sum(leg.quantity for leg in plan.legs) == pytest.approx(held - target)


def test_what_an_order_over_several_trades_leaves_under_one_lot_is_said_on_its_last_leg() -> None:
    """0.25 held, target 0, lot 0.1: two lots go out, and the 0.05 left is the last exit's lot
    residual, not said nowhere."""
    plan = make_plan(
        portfolio({"symbol": "BTC", "quantity": 0}),
        replace(account({"BTC": 0.25}, BTC=MarketLimits(lot_step=0.1)), trades=btc_longs(0.15, 0.1)),
    )
    assert [(leg.action, leg.quantity, leg.residual) for leg in plan.legs] == [
        ("EXIT", 0.1, 0.0),
        ("EXIT", 0.1, 0.05),
    ]
    assert plan.skipped == ()


def test_weights_over_one_in_all_are_planned_with_a_warning_of_the_leverage() -> None:
    plan = make_plan(
        portfolio({"symbol": "BTC", "weight": 1.0}, {"symbol": "ETH", "weight": -0.5}), account({})
    )
    assert [(leg.symbol, leg.quantity) for leg in plan.legs] == [("ETH", 2.5), ("BTC", 0.2)]
    assert plan.warnings == (
        "the weights sum to 1.5 of equity in absolute value: the portfolio is leveraged 1.5x",
    )
    assert make_plan(portfolio({"symbol": "BTC", "weight": 1.0}), account({})).warnings == ()
