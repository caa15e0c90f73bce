"""A strategy written for the original kernel, as it reads, run end to end on dita: enums from
text, datetime timestamps, dict account events, the write-through slot view and `snapshot()`,
against the mock venue and against a venue driven by hand that acknowledges, fills in parts,
duplicates a fill and cancels."""

from __future__ import annotations

from typing import Any

import pytest
from original_style import HandDrivenVenue, at, original_intent

from dita import (
    ExecutionKernel,
    KernelDiagnosticCode,
    KernelOutcome,
    MockVenueAdapter,
    TradeSide,
    TradeStage,
)


class OriginalStyleStrategy:
    """Strategy code as the original kernel's strategies read: it takes a free slot's view,
    stamps its intents with datetimes, builds every enum from text, keeps its stop in the
    slot's metadata and reads the account from the dicts the kernel answers."""

    def __init__(self, kernel: ExecutionKernel) -> None:
        self.kernel = kernel
        self.account: dict[str, Any] = {}

    def enter(self, seconds: float, price: float, size: float, **fields: Any) -> KernelOutcome:
        slot = self.kernel.free_slot()
        assert slot is not None and slot.is_free()
        intent = original_intent(
            "ENTER", slot.slot_id, at(seconds), reference_price=price, target_size=size, **fields
        )
        out = self.kernel.process_intent(intent)
        if out.accepted:
            slot.metadata = {"stop": price * 0.95}
        return out

    def exit(self, slot_id: int, seconds: float, price: float) -> KernelOutcome:
        slot = self.kernel.slot(slot_id)
        intent = original_intent(
            "EXIT",
            slot_id,
            at(seconds),
            side=slot.side,
            reference_price=price,
            stage=slot.fsm_state.value,
            reason="take profit",
        )
        return self.kernel.process_intent(intent)

    def cancel(self, slot_id: int, seconds: float) -> KernelOutcome:
        slot = self.kernel.slot(slot_id)
        intent = original_intent("CANCEL", slot_id, at(seconds), side=slot.side, reason="too slow")
        return self.kernel.process_intent(intent)

    def on_balance(self, wallet: float, available: float) -> None:
        self.account = self.kernel.on_account_event(
            {"kind": "ACCOUNT_UPDATE", "wallet_balance": wallet, "available_margin": available}
        )


def test_the_strategy_runs_against_the_mock_venue() -> None:
    with ExecutionKernel(max_slots=2, venue=MockVenueAdapter(), account=10_000.0) as kernel:
        strategy = OriginalStyleStrategy(kernel)
        out = strategy.enter(0, price=100.0, size=2.0, exit_leg_ratios=(0.5, 0.5))
        assert out.accepted and out.state == TradeStage("POSITION_OPEN")
        slot = kernel.slot(out.slot_id)
        assert slot.fsm_state.value == "POSITION_OPEN" and slot.entry_time == at(0)
        assert slot.metadata == {"stop": 95.0}  # written through by the strategy

        slot.mark_price(104.0)
        assert slot.unrealized_pnl == pytest.approx(8.0)
        strategy.on_balance(10_008.0, 9_800.0)
        assert strategy.account["e_wallet_balance"] == 10_008.0
        assert strategy.account["reconcile_status"] in ("OK", "WARN", "MISMATCH")

        first = strategy.exit(out.slot_id, 10, price=104.0)  # its first leg: half
        assert first.accepted and first.state == TradeStage.POSITION_OPEN
        assert (
            slot.size == pytest.approx(1.0) and slot.active_leg_index == 1 and slot.next_exit_ratio() == 0.5
        )
        last = strategy.exit(out.slot_id, 20, price=106.0)
        assert last.state == TradeStage("CLOSED") and slot.closed and slot.is_free()
        assert slot.realized_pnl == pytest.approx(4.0 + 6.0)
        assert slot.last_event_time == at(20)

        snap = kernel.snapshot()
        assert snap["control"]["mode"] == "PAPER"
        assert snap["slots"][out.slot_id]["fsm_state"] == "CLOSED"
        assert snap["account"]["open_positions"] == 0
        assert snap["account"]["realized_pnl"] == pytest.approx(10.0)
        assert kernel.free_slot() is not None


def test_the_strategy_runs_against_a_venue_driven_by_hand() -> None:
    venue = HandDrivenVenue()
    with ExecutionKernel(max_slots=2, venue=venue) as kernel:
        kernel.set_seed_capital(10_000.0)
        kernel.set_exchange_config({"taker_rate": 0.0005, "maker_rate": 0.0002, "lot_step": 0.001})
        strategy = OriginalStyleStrategy(kernel)

        # Acknowledged: the entry works at the venue.
        out = strategy.enter(0, price=100.0, size=2.0, order_type="LIMIT", limit_price=100.0)
        assert out.accepted and out.state == TradeStage.ENTRY_WORKING
        assert [e.status.value for e in out.emitted_events] == ["ACKNOWLEDGED"]
        assert out.emitted_events[0].raw_payload == {"venue": "hand-driven", "kind": "ORDER_ACK"}
        slot = kernel.slot(out.slot_id)
        order = slot.active_entry_order
        assert order is not None and order.side == TradeSide("LONG") and order.intended_size == 2.0
        client_id = order.venue_client_id
        assert kernel.state.client_order_index == {client_id: slot.slot_id}

        # Filled in parts.
        venue.now = at(5)
        part = venue.fill(client_id, 0.5, 100.0)
        got = kernel.on_venue_event(part)
        assert got.accepted and got.state == TradeStage.ENTRY_WORKING
        assert slot.size == pytest.approx(0.5) and slot.entry_time == at(0)  # its ENTER's time
        assert slot.last_event_time == at(5)
        assert slot.active_entry_order is not None and slot.active_entry_order.filled_size == pytest.approx(
            0.5
        )
        assert part.event_id in slot.seen_event_ids

        # The venue sends that fill again: refused as a duplicate, booked once.
        again = kernel.on_venue_event(part)
        assert not again.accepted and again.diagnostic_code == KernelDiagnosticCode.DUPLICATE_EVENT
        assert slot.size == pytest.approx(0.5)

        venue.now = at(6)
        kernel.on_venue_event(venue.fill(client_id, 0.7, 99.0))
        assert slot.size == pytest.approx(1.2)
        assert slot.active_entry_order is not None
        assert slot.active_entry_order.average_fill_price == pytest.approx((0.5 * 100.0 + 0.7 * 99.0) / 1.2)

        # The rest is canceled: the slot holds what filled.
        cancel = strategy.cancel(slot.slot_id, 7)
        assert cancel.accepted and cancel.state == TradeStage.POSITION_OPEN
        assert [e.kind.value for e in cancel.emitted_events] == ["CANCEL_ACK"]
        assert slot.size == pytest.approx(1.2) and slot.active_entry_order is None
        assert kernel.state.client_order_index == {}

        seq = kernel.account()["event_seq"]
        strategy.on_balance(10_000.0, 9_880.0)
        assert strategy.account["event_seq"] == seq + 1

        # The exit: acknowledged, then filled whole.
        out = strategy.exit(slot.slot_id, 8, price=101.0)
        assert out.accepted and out.state == TradeStage.EXIT_WORKING
        exit_order = slot.active_exit_order
        assert exit_order is not None and exit_order.side == TradeSide.LONG
        assert exit_order.order_side.value == "SELL" and exit_order.intended_size == pytest.approx(1.2)
        venue.now = at(9)
        done = kernel.on_venue_event(venue.fill(exit_order.venue_client_id, 1.2, 101.0))
        assert done.state == TradeStage.CLOSED and slot.closed and slot.close_reason == "take profit"
        assert slot.last_event_time == at(9)

        snap = kernel.snapshot()
        assert snap["account"]["open_positions"] == 0
        assert snap["account"]["realized_pnl"] == pytest.approx(1.2 * 101.0 - (0.5 * 100.0 + 0.7 * 99.0))
        assert snap["slots"][slot.slot_id]["fsm_state"] == "CLOSED"
