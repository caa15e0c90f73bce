"""A spot buy whose venue keeps its commission in the coin bought (``metadata["base_fee_qty"]``):
the slot holds what the account was credited, an exit of the whole position goes out on the lot
grid, and its last fill closes the slot with what was less than a lot closed at the entry price.
A maker's rebate paid in the coin (a negative ``base_fee_qty``) is credited with the fill. A
buy covering a short repays what the account was credited, and the rest stays owed. A
``base_fee_qty`` that is no commission the fill can have kept, nor a rebate it can have paid, is
refused and changes nothing, as is one on a sell fill (a LONG's exit, a SHORT's entry)."""

from __future__ import annotations

import math
from typing import Any

import pytest
from kernel_helpers import SilentVenue, entered, intent

from dita import ExecutionKernel, KernelDiagnosticCode, TradeStage, VenueEvent

LOT = 0.00001


@pytest.fixture
def kernel() -> ExecutionKernel:
    k = ExecutionKernel(max_slots=1, venue=SilentVenue())
    k.set_seed_capital(10_000.0)
    k.set_market_limits("BTCUSDT", {"lot_step": LOT, "tick_size": 0.01, "min_qty": LOT, "min_notional": 5.0})
    return k


def _fill(kernel: ExecutionKernel, coid: str, event_id: str, **kw: Any) -> Any:
    fields: dict[str, Any] = {"asset": "BTCUSDT", "price": 91_000.0, "venue_client_id": coid}
    fields.update(kw)
    return kernel.on_venue_event(VenueEvent(event_id, "t0", 0, "FILL", **fields))


def test_an_entry_whose_commission_is_kept_in_the_base_asset_holds_what_was_credited(
    kernel: ExecutionKernel,
) -> None:
    coid = entered(kernel, target_size=0.015, reference_price=91_000.0)
    out = _fill(
        kernel, coid, "f1", size=0.015, filled_size=0.015, fee=1.365, metadata={"base_fee_qty": 0.000015}
    )
    assert out.accepted, out.details
    slot = kernel.slot_state(0)
    assert slot.fsm_state == TradeStage.POSITION_OPEN
    assert slot.size == pytest.approx(0.014985, abs=1e-12)
    assert slot.entry_price == pytest.approx(91_000.0)
    assert slot.fees_paid == pytest.approx(1.365)  # the commission, at its value in the quote
    assert slot.active_entry_order is None  # the order filled whole: 0.015 of 0.015


def test_a_report_booked_in_part_keeps_its_share_of_the_base_commission(kernel: ExecutionKernel) -> None:
    coid = entered(kernel, target_size=0.02, reference_price=91_000.0)
    assert _fill(
        kernel, coid, "f1", size=0.01, filled_size=0.01, fill_id="a", metadata={"base_fee_qty": 0.00001}
    ).accepted
    # Resent stating 0.015 in all: only its new 0.005 is booked, and half its commission.
    out = _fill(
        kernel, coid, "f2", size=0.01, filled_size=0.015, fill_id="b", metadata={"base_fee_qty": 0.00001}
    )
    assert out.accepted, out.details
    assert kernel.slot_state(0).size == pytest.approx(0.01 - 0.00001 + 0.005 - 0.000005, abs=1e-12)


def test_an_entry_paid_a_maker_rebate_in_the_base_asset_holds_the_fill_and_the_rebate(
    kernel: ExecutionKernel,
) -> None:
    # ccxt states a rebate as a negative fee: 0.00001 BTC paid on a buy of 0.01 BTC.
    coid = entered(kernel, target_size=0.01, reference_price=91_000.0)
    out = _fill(
        kernel, coid, "f1", size=0.01, filled_size=0.01, fee=-0.91, metadata={"base_fee_qty": -0.00001}
    )
    assert out.accepted, out.details
    slot = kernel.slot_state(0)
    assert slot.fsm_state == TradeStage.POSITION_OPEN
    assert slot.size == pytest.approx(0.01001, abs=1e-12)
    assert slot.entry_price == pytest.approx(91_000.0)
    assert slot.fees_paid == pytest.approx(-0.91)
    account = kernel.account()
    assert account["k_fees_paid"] == pytest.approx(-0.91)
    # Marked at the fill's price, the account gained the rebate: 0.01001 BTC cost 0.01's price.
    kernel.mark_price("BTCUSDT", 91_000.0)
    assert kernel.slot_state(0).unrealized_pnl == pytest.approx(0.0)
    assert kernel.equity() == pytest.approx(10_000.0 + 0.91)


def test_an_exit_of_a_position_off_the_lot_grid_sells_it_rounded_down_and_closes_the_slot(
    kernel: ExecutionKernel,
) -> None:
    coid = entered(kernel, target_size=0.015, reference_price=91_000.0)
    assert _fill(
        kernel, coid, "f1", size=0.015, filled_size=0.015, metadata={"base_fee_qty": 0.000015}
    ).accepted
    out = kernel.process_intent(intent("EXIT", reference_price=92_000.0))
    assert out.accepted, out.details
    order = kernel.slot_state(0).active_exit_order
    assert order is not None and order.size == pytest.approx(0.01498, abs=1e-12)
    filled = _fill(kernel, order.client_order_id, "x1", price=92_000.0, size=0.01498, filled_size=0.01498)
    assert filled.accepted, filled.details
    assert filled.details["dust_closed_qty"] == pytest.approx(0.000005, abs=1e-12)
    assert "closed at the entry price" in filled.details["reason"]
    slot = kernel.slot_state(0)
    assert slot.fsm_state == TradeStage.CLOSED and slot.size == 0.0
    assert slot.realized_pnl == pytest.approx(0.01498 * 1_000.0)


def test_a_whole_exit_of_billions_of_lots_a_commission_left_under_a_lot_never_sells_more_than_held() -> None:
    # 0.1 % of 10,000,000,005 PEPE kept in the coin leaves 9,990,000,004.995: an exit of
    # 9,990,000,005 is more than the account holds, refused by the venue at every retry.
    k = ExecutionKernel(max_slots=1, venue=SilentVenue())
    k.set_seed_capital(1e6)
    k.set_market_limits("PEPEUSDT", {"lot_step": 1.0})
    size = 10_000_000_005.0
    coid = entered(k, asset="PEPEUSDT", target_size=size, reference_price=1e-5)
    fill = {"size": size, "filled_size": size, "fee": 100.00000005, "status": "FILLED"}
    assert _fill(
        k, coid, "f1", asset="PEPEUSDT", price=1e-5, **fill, metadata={"base_fee_qty": 10_000_000.005}
    ).accepted
    assert k.slot_state(0).size == 9_990_000_004.995
    out = k.process_intent(intent("EXIT", asset="PEPEUSDT", reference_price=1e-5))
    assert out.accepted, out.details
    order = k.slot_state(0).active_exit_order
    assert order is not None and order.size == 9_990_000_004.0


def _whole_exit_after(fills: int, size: float, *, stated: bool = False) -> tuple[float, float]:
    """An entry filled ``fills`` times by ``size`` on a lot of 0.01, the rest cancelled, then
    exited whole: what the slot held and the exit's size."""
    k = ExecutionKernel(max_slots=1, venue=SilentVenue())
    k.set_seed_capital(1e12)
    k.set_market_limits("BTCUSDT", {"lot_step": 0.01})
    coid = entered(k, target_size=fills * size * 2, reference_price=1.0)
    for i in range(1, fills + 1):
        running = {"filled_size": round(i * size, 2)} if stated else {}
        assert _fill(k, coid, f"e{i}", price=1.0, size=size, fill_id=f"f{i}", **running).accepted
    cancelled = VenueEvent("c", "t0", 0, "CANCEL_ACK", asset="BTCUSDT", venue_client_id=coid)
    assert k.on_venue_event(cancelled).accepted
    held = k.slot_state(0).size
    out = k.process_intent(intent("EXIT", reference_price=1.0))
    assert out.accepted, out.details
    order = k.slot_state(0).active_exit_order
    assert order is not None
    return held, order.size


@pytest.mark.parametrize("stated", [False, True], ids=["no-running-total", "running-total"])
def test_a_whole_exit_of_millions_of_lots_never_sells_above_the_holding_for_float_error(stated: bool) -> None:
    """10,000 fills of 12.34 (12.34 million lots of 0.01) add up to 2.5e-8 under the 123,400 the
    venue holds. From a million lots, a shortfall over a millionth of a lot steps one lot down:
    a lot, 8e-8 of the position, is left rather than risk a sell above the holding, which a
    commission kept in the coin makes and the venue refuses at every retry."""
    held, sent = _whole_exit_after(10_000, 12.34, stated=stated)
    assert held < 123_400.0 and sent == 123_399.99


def test_a_whole_exit_of_a_thousand_fills_added_up_sells_all_the_venue_holds() -> None:
    """Under a million lots, a sum of fills' float error is never taken for a remainder."""
    held, sent = _whole_exit_after(1_000, 0.07)
    assert held < 70.0 and sent == 70.0


def test_a_partial_exit_of_a_position_off_the_lot_grid_leaves_its_lots(kernel: ExecutionKernel) -> None:
    coid = entered(kernel, target_size=0.015, reference_price=91_000.0)
    assert _fill(
        kernel, coid, "f1", size=0.015, filled_size=0.015, metadata={"base_fee_qty": 0.000015}
    ).accepted
    assert kernel.process_intent(intent("EXIT", reference_price=92_000.0, target_size=0.01)).accepted
    order = kernel.slot_state(0).active_exit_order
    assert order is not None and order.size == pytest.approx(0.01)
    filled = _fill(kernel, order.client_order_id, "x1", price=92_000.0, size=0.01, filled_size=0.01)
    assert filled.accepted and "dust_closed_qty" not in filled.details
    slot = kernel.slot_state(0)
    assert slot.fsm_state == TradeStage.POSITION_OPEN
    assert slot.size == pytest.approx(0.004985, abs=1e-12)


def test_a_short_covered_by_a_buy_whose_commission_is_kept_in_the_coin_still_owes_it(
    kernel: ExecutionKernel,
) -> None:
    coid = entered(kernel, target_size=1.0, reference_price=100.0, side="SHORT")
    assert _fill(kernel, coid, "e1", price=100.0, size=1.0, filled_size=1.0, fee=0.1).accepted
    assert kernel.process_intent(intent("EXIT", reference_price=100.0, side="SHORT")).accepted
    order = kernel.slot_state(0).active_exit_order
    assert order is not None and order.size == 1.0
    # The buy of 1.0 credited 0.999: 0.001 of the borrowed coin is still owed at the venue.
    out = _fill(
        kernel, order.client_order_id, "x1", price=90.0, size=1.0, filled_size=1.0, fee=0.09,
        metadata={"base_fee_qty": 0.001},
    )  # fmt: skip
    assert out.accepted, out.details
    slot = kernel.slot_state(0)
    assert slot.fsm_state == TradeStage.POSITION_OPEN
    assert slot.size == pytest.approx(0.001, abs=1e-12)
    assert slot.realized_pnl == pytest.approx(0.999 * 10.0)
    assert kernel.account()["k_fees_paid"] == pytest.approx(0.1 + 0.09)


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("0.000015", "0.000015"),
        # A rebate of the whole fill or more: no venue pays one.
        (-0.015, -0.015),
        (-0.02, -0.02),
        (math.nan, "NaN"),
        (math.inf, "inf"),
        (0.015, 0.015),
        (0.02, 0.02),
        (True, True),
        # What is left of the fill must be more than nothing: the slot would hold ~1e-11.
        (0.015 - 1e-11, 0.015 - 1e-11),
    ],
)
def test_a_base_commission_that_the_fill_cannot_have_kept_is_refused_and_changes_nothing(
    kernel: ExecutionKernel, value: object, shown: object
) -> None:
    coid = entered(kernel, target_size=0.015, reference_price=91_000.0)
    before = kernel.snapshot()
    out = _fill(kernel, coid, "f1", size=0.015, filled_size=0.015, metadata={"base_fee_qty": value})
    assert not out.accepted
    assert out.diagnostic_code == KernelDiagnosticCode.INVALID_INTENT
    assert out.details["field"] == "metadata.base_fee_qty"
    # The value as given (the text, the flag), not the kernel's reading of it.
    assert out.details["value"] == shown and type(out.details["value"]) is type(shown)
    assert "less than the fill's size" in out.details["reason"]
    after = kernel.snapshot()
    assert after["slots"] == before["slots"] and after["account"] == before["account"]


def _refused_as_a_sells_then_taken_without_it(
    kernel: ExecutionKernel, coid: str, event_id: str, value: float, **fill: Any
) -> Any:
    """The fill refused for carrying ``value`` as a sell's commission in the coin, changing
    nothing; then the same fill, under the same event id, without it: its outcome."""
    before = kernel.snapshot()
    out = _fill(kernel, coid, event_id, **fill, metadata={"base_fee_qty": value})
    assert not out.accepted
    assert out.diagnostic_code == KernelDiagnosticCode.INVALID_INTENT
    assert (out.details["field"], out.details["value"]) == ("metadata.base_fee_qty", value)
    assert "sell fill" in out.details["reason"]
    after = kernel.snapshot()
    assert after["slots"] == before["slots"] and after["account"] == before["account"]
    return _fill(kernel, coid, event_id, **fill)


def test_a_long_exits_sell_fill_carrying_a_commission_in_the_coin_is_refused_and_books_nothing(
    kernel: ExecutionKernel,
) -> None:
    # Booked as a buy's, 0.5 sold with 0.001 in the coin left the slot 0.501, PnL on 0.499.
    coid = entered(kernel, target_size=1.0, reference_price=100.0)
    assert _fill(kernel, coid, "e1", price=100.0, size=1.0, filled_size=1.0, fill_id="f1").accepted
    assert kernel.process_intent(intent("EXIT", reference_price=110.0, target_size=0.5)).accepted
    order = kernel.slot_state(0).active_exit_order
    assert order is not None
    sold = {"price": 110.0, "size": 0.5, "filled_size": 0.5, "fill_id": "g1"}
    out = _refused_as_a_sells_then_taken_without_it(kernel, order.client_order_id, "x1", 0.001, **sold)
    assert out.accepted, out.details
    slot = kernel.slot_state(0)
    assert slot.size == pytest.approx(0.5) and slot.realized_pnl == pytest.approx(5.0)


def test_a_short_entrys_sell_fill_carrying_a_commission_in_the_coin_is_refused_and_books_nothing(
    kernel: ExecutionKernel,
) -> None:
    # Booked as a buy's, a short of 1.0 sold with 0.01 in the coin was a short of 0.99.
    coid = entered(kernel, target_size=1.0, reference_price=100.0, side="SHORT")
    sold = {"price": 100.0, "size": 1.0, "filled_size": 1.0, "fill_id": "f1"}
    out = _refused_as_a_sells_then_taken_without_it(kernel, coid, "e1", 0.01, **sold)
    assert out.accepted, out.details
    slot = kernel.slot_state(0)
    assert slot.fsm_state == TradeStage.POSITION_OPEN and slot.size == 1.0


def test_a_sell_fill_stating_no_commission_in_the_coin_is_booked(kernel: ExecutionKernel) -> None:
    coid = entered(kernel, target_size=1.0, reference_price=100.0, side="SHORT")
    out = _fill(kernel, coid, "e1", price=100.0, size=1.0, filled_size=1.0, metadata={"base_fee_qty": 0.0})
    assert out.accepted, out.details
    assert kernel.slot_state(0).size == 1.0
