"""An EXIT or a CANCEL acts on its slot. A reduce-only exit of the whole position, as it goes out
on the lot grid (what is under a lot left), is judged by the minimum quantity only, so a
position whose price fell under the minimum notional can be closed. One naming another asset
than the slot's is refused naming `asset` and `slot_asset`; the side it says is not read, and a
stale slot id is told by the trade id it names. A CANCEL with nothing to cancel names the slot."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from kernel_helpers import SilentVenue, intent

from dita import ExecutionKernel, KernelDiagnosticCode, OrderSide, VenueEvent

T = 1_700_000_100.0
_events = itertools.count()


def _fill(cid: str, size: float, total: float, **kw: Any) -> VenueEvent:
    n = next(_events)
    return VenueEvent(
        f"ev{n}", "", -1, "FILL", venue_client_id=cid, price=100.0, size=size, filled_size=total,
        timestamp=T, fill_id=f"fl{n}", **kw,
    )  # fmt: skip


def _open(kernel: ExecutionKernel, size: float, side: str = "LONG", **fill_kw: Any) -> None:
    assert kernel.process_intent(intent("ENTER", 0, target_size=size, side=side)).accepted
    order = kernel.slot_state(0).active_entry_order
    assert order is not None
    assert kernel.on_venue_event(_fill(order.client_order_id, order.size, order.size, **fill_kw)).accepted


@pytest.mark.parametrize("size", [1.0, 1.05])
def test_a_whole_exit_leaving_dust_under_a_lot_is_taken_below_the_minimum_notional(size: float) -> None:
    """A long of 1.05 on a lot that became 0.1 goes out as 1.0, the 0.05 under a lot left: it
    closes the whole position as the venue takes it, so it is taken at a notional of 100 under a
    floor of 200, as an exit of exactly 1.0 is."""
    kernel = ExecutionKernel(max_slots=1, venue=SilentVenue())
    kernel.set_market_limits("BTCUSDT", {"lot_step": 0.01})
    _open(kernel, size)
    kernel.set_market_limits("BTCUSDT", {"lot_step": 0.1, "min_notional": 200.0})
    out = kernel.process_intent(intent("EXIT"))
    assert out.accepted, (out.diagnostic_code, dict(out.details))
    order = kernel.slot_state(0).active_exit_order
    assert order is not None and order.reduce_only and order.size == 1.0


def test_a_whole_exit_of_what_a_commission_in_the_coin_left_is_taken_below_the_minimum_notional() -> None:
    """An entry of 2.0 whose venue kept 0.002 in the coin holds 1.998 on a lot of 0.01: its exit
    goes out as 1.99, the whole position as the venue takes it, and is taken at 70 (139.3)
    under a minimum notional of 150."""
    kernel = ExecutionKernel(max_slots=1, venue=SilentVenue())
    kernel.set_market_limits("BTCUSDT", {"lot_step": 0.01, "min_notional": 150.0})
    _open(kernel, 2.0, metadata={"base_fee_qty": 0.002})
    assert abs(kernel.slot_state(0).size - 1.998) < 1e-12
    out = kernel.process_intent(intent("EXIT", 0, reference_price=70.0))
    assert out.accepted, (out.diagnostic_code, dict(out.details))
    order = kernel.slot_state(0).active_exit_order
    assert order is not None and order.reduce_only and order.size == 1.99


def test_a_cancel_naming_another_asset_than_the_slots_is_refused_as_an_exit_is() -> None:
    """A stale slot id must not act on another market: a CANCEL naming ETHUSDT on a slot
    trading BTCUSDT is refused as such an EXIT is, and the slot's exit keeps working."""
    kernel = ExecutionKernel(max_slots=1, venue=SilentVenue())
    _open(kernel, 1.0)
    exit_ = kernel.process_intent(intent("EXIT", 0, asset="ETHUSDT", trade_id=""))
    assert not exit_.accepted and exit_.details["field"] == "asset"
    assert kernel.process_intent(intent("EXIT", 0, trade_id="")).accepted
    before = kernel.snapshot()
    out = kernel.process_intent(intent("CANCEL", 0, asset="ETHUSDT", trade_id=""))
    assert (out.accepted, out.diagnostic_code) == (False, KernelDiagnosticCode.INVALID_INTENT)
    assert (out.details["field"], out.details["value"]) == ("asset", "ETHUSDT")
    assert out.details["slot_asset"] == "BTCUSDT"
    assert kernel.snapshot() == before
    assert kernel.process_intent(intent("CANCEL", 0, trade_id="")).accepted


def test_an_exit_closes_the_slots_own_side_whatever_side_it_says() -> None:
    """The side an EXIT says is not read: the kernel closes the slot's side. A stale slot id is
    told by the trade id the EXIT names, refused when it is another trade's."""
    kernel = ExecutionKernel(max_slots=1, venue=SilentVenue())
    _open(kernel, 1.0, side="SHORT")
    stale = kernel.process_intent(intent("EXIT", 0, side="SHORT", trade_id="t-other"))
    assert not stale.accepted and stale.details["field"] == "trade_id"
    assert kernel.process_intent(intent("EXIT", 0, side="LONG", trade_id="")).accepted
    order = kernel.slot_state(0).active_exit_order
    assert order is not None and order.order_side == OrderSide.BUY


def test_a_cancel_with_no_working_order_is_refused_naming_the_slot() -> None:
    kernel = ExecutionKernel(max_slots=1, venue=SilentVenue())
    out = kernel.process_intent(intent("CANCEL", 0))
    assert (out.accepted, out.diagnostic_code) == (False, KernelDiagnosticCode.INVALID_TRANSITION)
    assert (out.details["field"], out.details["value"]) == ("slot_id", 0)
    assert out.details["reason"] == "no working order to cancel"


def test_a_subnormal_mark_is_refused_saying_what_a_mark_takes() -> None:
    """A mark is above 0: its refusal does not offer 0."""
    kernel = ExecutionKernel(max_slots=1, venue=SilentVenue())
    said = r"price: 5e-324 \(must be at least 2\.2250738585072014e-308"
    with pytest.raises(ValueError, match=said) as refused:
        kernel.mark_price("BTCUSDT", 5e-324)
    assert "must be 0" not in str(refused.value)
