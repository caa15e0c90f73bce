"""The kernel end to end through its Python surface: lifecycle, PnL, fees, account."""

from __future__ import annotations

import copy

import pytest
from kernel_helpers import SilentVenue, intent

from dita import (
    AccountEvent,
    ExecutionKernel,
    KernelDiagnosticCode,
    KernelEventKind,
    MockVenueAdapter,
    TradeStage,
    VenueEvent,
)
from dita.projection import InMemoryProjection

D = KernelDiagnosticCode


def test_enter_and_exit_round_trip_with_the_default_mock(kernel: ExecutionKernel) -> None:
    out = kernel.process_intent(intent("ENTER", 0, reference_price=100.0, target_size=2.0))
    assert out.accepted and out.diagnostic_code == D.OK
    assert out.state == TradeStage.POSITION_OPEN
    assert [t.next_state for t in out.transitions] == [
        TradeStage.ORDER_REQUESTED,
        TradeStage.ORDER_SENT,
        TradeStage.ENTRY_WORKING,
        TradeStage.POSITION_OPEN,
    ]
    assert [e.kind for e in out.emitted_events] == [KernelEventKind.ORDER_ACK, KernelEventKind.FILL]
    assert out.order is not None and out.order.size == 2.0
    out = kernel.process_intent(intent("EXIT", 0, reference_price=110.0))
    assert out.state == TradeStage.CLOSED
    slot = kernel.slot(0)
    assert slot.closed and slot.size == 0.0
    assert slot.realized_pnl == pytest.approx(20.0)
    fees = (200.0 + 220.0) * 0.0005
    assert slot.fees_paid == pytest.approx(fees)
    acct = kernel.account()
    assert acct["realized_pnl"] == pytest.approx(20.0)
    assert acct["capital"] == pytest.approx(10_000 + 20 - fees)
    assert kernel.free_slot_id() == 0  # a CLOSED slot is free for the next ENTER


def test_an_outcome_kept_keeps_its_answer_through_the_next_intents(kernel: ExecutionKernel) -> None:
    opened = kernel.process_intent(intent("ENTER", 0, reference_price=100.0, target_size=2.0))
    answer = opened.to_dict()
    kernel.process_intent(intent("EXIT", 0, reference_price=110.0))  # its outcome let go at once
    reopened = kernel.process_intent(intent("ENTER", 0, reference_price=120.0, target_size=3.0))
    assert opened.to_dict() == answer
    assert reopened is not opened and reopened.seq > opened.seq
    assert reopened.order is not None and reopened.order.size == 3.0


def test_short_pnl_and_mark_price(kernel: ExecutionKernel) -> None:
    kernel.process_intent(
        intent("ENTER", 1, side="SHORT", asset="ETHUSDT", reference_price=3000.0, target_size=2.0)
    )
    assert kernel.mark_price("ETHUSDT", 2900.0) == 1
    assert kernel.mark_price("BTCUSDT", 1.0) == 0
    assert kernel.slot(1).unrealized_pnl == pytest.approx(200.0)
    assert kernel.account()["unrealized_pnl"] == pytest.approx(200.0)
    kernel.process_intent(intent("EXIT", 1, side="SHORT", asset="ETHUSDT", reference_price=3100.0))
    assert kernel.slot(1).realized_pnl == pytest.approx(-200.0)
    assert kernel.slot(1).unrealized_pnl == 0.0


def test_partial_fills_accumulate_a_volume_weighted_entry(resting) -> None:  # type: ignore[no-untyped-def]
    kernel, venue = resting
    out = kernel.process_intent(intent("ENTER", 0, target_size=3.0, order_type="LIMIT", limit_price=100.0))
    assert out.state == TradeStage.ENTRY_WORKING
    coid = out.order.client_order_id
    for n, (px, qty) in enumerate([(100.0, 1.0), (103.0, 2.0)]):
        ev = VenueEvent(f"f{n}", "t0", 0, "FILL", price=px, size=qty, venue_client_id=coid, fill_id=f"tr{n}")
        kernel.on_venue_event(ev)
    s = kernel.slot(0)
    assert s.fsm_state == TradeStage.POSITION_OPEN
    assert s.entry_price == pytest.approx(102.0)
    assert s.size == 3.0 and s.initial_size == 3.0
    # A limit entry rests, so both fills pay the maker rate.
    assert s.fees_paid == pytest.approx((100.0 + 206.0) * 0.0002)
    assert venue.open_orders()  # the venue still thinks it rests: the kernel trusts the fills


def test_exit_legs_follow_ratios_and_target_size_overrides(kernel: ExecutionKernel) -> None:
    kernel.process_intent(intent("ENTER", 0, target_size=4.0, exit_leg_ratios=(0.25, 0.25, 0.5)))
    kernel.process_intent(intent("EXIT", 0, reference_price=101.0))
    assert kernel.slot(0).size == pytest.approx(3.0)
    assert kernel.slot(0).active_leg_index == 1
    kernel.process_intent(intent("EXIT", 0, reference_price=102.0, target_size=0.5))
    assert kernel.slot(0).size == pytest.approx(2.5)
    out = kernel.process_intent(intent("EXIT", 0, reference_price=103.0, target_size=100.0))
    assert out.state == TradeStage.CLOSED
    assert out.details["clamped_target_size"] == 100.0
    assert kernel.slot(0).realized_pnl == pytest.approx(1 * 1 + 0.5 * 2 + 2.5 * 3)


def test_fill_after_cancel_request_is_applied_and_cancel_reject_restores(resting) -> None:  # type: ignore[no-untyped-def]
    kernel, venue = resting
    out = kernel.process_intent(intent("ENTER", 0, target_size=2.0))
    coid = out.order.client_order_id
    venue.forget_order(coid)  # the venue will answer the cancel with a reject
    out = kernel.process_intent(intent("CANCEL", 0))
    assert out.accepted
    assert [t.trigger for t in out.transitions] == ["CANCEL_REQUESTED", "CANCEL_REJECT"]
    assert out.state == TradeStage.ENTRY_WORKING
    order = kernel.slot(0).active_entry_order
    assert order is not None and not order.cancel_requested


def test_a_fill_racing_a_cancel_request_is_applied() -> None:
    class AsyncVenue:
        """Acknowledges at once, answers cancels later (like a websocket venue)."""

        name = "async"

        def submit(self, order):  # type: ignore[no-untyped-def]
            return [
                VenueEvent(
                    "ack", order.trade_id, order.slot_id, "ORDER_ACK", venue_client_id=order.client_order_id
                )
            ]

        def cancel(self, order):  # type: ignore[no-untyped-def]
            return []

    k = ExecutionKernel(max_slots=1, venue=AsyncVenue())
    coid = k.process_intent(intent("ENTER", 0, target_size=2.0)).order.client_order_id
    assert k.process_intent(intent("CANCEL", 0)).state == TradeStage.ENTRY_WORKING
    assert k.slot(0).active_entry_order.cancel_requested
    fill = VenueEvent("late", "t0", 0, "FILL", price=100.0, size=0.5, venue_client_id=coid)
    assert k.on_venue_event(fill).accepted
    assert k.slot(0).size == 0.5
    out = k.on_venue_event(VenueEvent("cx", "t0", 0, "CANCEL_ACK", venue_client_id=coid))
    assert out.state == TradeStage.POSITION_OPEN  # an entry canceled after a partial fill keeps it
    assert k.slot(0).size == 0.5 and k.slot(0).active_entry_order is None


def test_duplicate_events_and_fills_change_nothing(resting) -> None:  # type: ignore[no-untyped-def]
    kernel, _ = resting
    out = kernel.process_intent(intent("ENTER", 0, target_size=2.0))
    coid = out.order.client_order_id
    fill = VenueEvent("f1", "t0", 0, "FILL", price=100.0, size=1.0, venue_client_id=coid, fill_id="T1")
    assert kernel.on_venue_event(fill).accepted
    before = kernel.snapshot()
    again = kernel.on_venue_event(fill)
    assert again.diagnostic_code == D.DUPLICATE_EVENT and not again.accepted
    same_trade = VenueEvent(
        "f1-resent", "t0", 0, "FILL", price=100.0, size=1.0, venue_client_id=coid, fill_id="T1"
    )
    out = kernel.on_venue_event(same_trade)
    assert out.diagnostic_code == D.DUPLICATE_EVENT and out.details["field"] == "fill_id"
    stale = VenueEvent("f-cum", "t0", 0, "FILL", price=100.0, filled_size=1.0, venue_client_id=coid)
    assert kernel.on_venue_event(stale).diagnostic_code == D.DUPLICATE_EVENT
    after = kernel.snapshot()
    assert before["slots"] == after["slots"] and before["account"] == after["account"]


def test_one_fill_id_on_two_slots_waits_for_two_settlements(resting) -> None:  # type: ignore[no-untyped-def]
    """Two orders (on two slots, so neither slot's fill memory refuses it) whose venue fills
    both carry trade id T1, as a venue's self-trade does: both predicted fees wait and each
    settlement settles the one nearest its fee. Were the second to replace the first, the
    first's fee would stand in K unsettled and unnamed."""
    kernel, _ = resting
    for slot, size in ((0, 1.0), (1, 3.0)):
        coid = kernel.process_intent(
            intent("ENTER", slot, trade_id=f"t{slot}", target_size=size)
        ).order.client_order_id
        fill = VenueEvent(
            f"f{slot}", f"t{slot}", slot, "FILL", price=100.0, size=size, venue_client_id=coid, fill_id="T1"
        )
        assert kernel.on_venue_event(fill).accepted
    small, large = 100.0 * 0.0005, 300.0 * 0.0005
    assert kernel.account()["k_unsettled_fees"] == pytest.approx(small + large)
    assert kernel.on_account_event(AccountEvent("s1", "FILL_SETTLED", fill_id="T1", fee=large)).accepted
    assert kernel.account()["k_unsettled_fees"] == pytest.approx(small)
    assert kernel.on_account_event(AccountEvent("s2", "FILL_SETTLED", fill_id="T1", fee=small)).accepted
    assert kernel.account()["k_unsettled_fees"] == pytest.approx(0.0)


def test_overfill_is_refused_and_state_is_intact(resting) -> None:  # type: ignore[no-untyped-def]
    kernel, _ = resting
    out = kernel.process_intent(intent("ENTER", 0, target_size=1.0))
    coid = out.order.client_order_id
    before = kernel.snapshot()
    bad = VenueEvent("f1", "t0", 0, "FILL", price=100.0, size=1.5, venue_client_id=coid)
    out = kernel.on_venue_event(bad)
    assert out.diagnostic_code == D.OVERFILL and out.severity.name == "CRITICAL"
    assert out.details["fill_qty"] == 1.5 and out.details["order_size"] == 1.0
    assert kernel.snapshot()["slots"] == before["slots"]


def test_unknown_and_late_events_are_reported(kernel: ExecutionKernel) -> None:
    out = kernel.on_venue_event(
        VenueEvent("x", "t", 0, "FILL", price=1.0, size=1.0, venue_client_id="nobody")
    )
    assert out.diagnostic_code == D.UNKNOWN_ORDER and out.details["venue_client_id"] == "nobody"
    done = kernel.process_intent(intent("ENTER", 0))
    coid = done.order.client_order_id
    late_ack = VenueEvent("late-ack", "t0", 0, "ORDER_ACK", venue_client_id=coid)
    out = kernel.on_venue_event(late_ack)
    assert out.diagnostic_code == D.INVALID_TRANSITION and out.severity.name == "INFO"
    late_fill = VenueEvent("late-fill", "t0", 0, "FILL", price=1.0, size=1.0, venue_client_id=coid)
    out = kernel.on_venue_event(late_fill)
    assert out.diagnostic_code == D.UNKNOWN_ORDER and out.severity.name == "CRITICAL"


def test_rejects_and_rate_limits_free_the_slot() -> None:
    k = ExecutionKernel(max_slots=2, venue=MockVenueAdapter(reject_rate=1.0))
    out = k.process_intent(intent("ENTER", 0))
    assert out.state == TradeStage.IDLE and k.free_slot_id() == 0
    assert out.emitted_events[0].kind == KernelEventKind.REJECT
    k = ExecutionKernel(max_slots=2, venue=MockVenueAdapter(rate_limit_rate=1.0, retry_after=2.5))
    out = k.process_intent(intent("ENTER", 0))
    assert not out.accepted and out.diagnostic_code == D.RATE_LIMITED
    assert out.details["retry_after"] == 2.5
    assert k.slot(0).fsm_state == TradeStage.IDLE


def test_fee_calibration_statuses(kernel: ExecutionKernel) -> None:
    c = kernel.calibrate_fee(100.0, 1.0, 0.05)
    assert c["expected_fee"] == pytest.approx(0.05)
    assert c["calibration_status"] == "OK" and c["calibration_samples"] == 1
    assert kernel.calibrate_fee(100.0, 1.0, 0.0515)["calibration_status"] == "WARN"
    c = kernel.calibrate_fee(100.0, 1.0, 0.06)
    assert c["calibration_status"] == "ERROR"
    assert c["deviation_pct"] == pytest.approx(20.0)
    assert 1.0 < c["calibration_ratio"] < 1.2
    with pytest.raises(ValueError, match="price"):
        kernel.calibrate_fee(float("nan"), 1.0, 0.1)
    with pytest.raises(TypeError, match="qty"):
        kernel.calibrate_fee(100.0, "1", 0.1)  # type: ignore[arg-type]


def test_fill_settled_replaces_the_predicted_fee(kernel: ExecutionKernel) -> None:
    out = kernel.process_intent(intent("ENTER", 0, reference_price=100.0, target_size=10.0))
    fill = out.emitted_events[-1]
    predicted = 1000.0 * 0.0005
    assert kernel.account()["k_fees_paid"] == pytest.approx(predicted)
    assert kernel.account()["k_unsettled_fees"] == pytest.approx(predicted)
    settled = kernel.on_account_event(AccountEvent("s1", "FILL_SETTLED", fill_id=fill.fill_id, fee=0.6))
    assert settled.accepted and settled.details["calibration_status"] == "ERROR"
    acct = kernel.account()
    assert acct["k_fees_paid"] == pytest.approx(0.6)
    assert acct["k_unsettled_fees"] == pytest.approx(0.0)
    assert kernel.slot(0).fees_paid == pytest.approx(0.6)
    again = kernel.on_account_event(AccountEvent("s2", "FILL_SETTLED", fill_id=fill.fill_id, fee=0.6))
    assert again.diagnostic_code == D.UNKNOWN_ORDER
    dup = kernel.on_account_event(AccountEvent("s1", "FILL_SETTLED", fill_id=fill.fill_id, fee=0.6))
    assert dup.diagnostic_code == D.DUPLICATE_EVENT


def test_an_outlier_settled_fee_is_charged_but_not_learned(kernel: ExecutionKernel) -> None:
    """The exchange's fee is what was charged; but a hundredfold one (or a rebate against a
    positive rate) must not rescale the estimate of every later fill."""
    out = kernel.process_intent(intent("ENTER", 0, reference_price=100.0, target_size=1.0))
    fill = out.emitted_events[-1]
    settled = kernel.on_account_event(AccountEvent("s1", "FILL_SETTLED", fill_id=fill.fill_id, fee=5.0))
    assert settled.accepted and settled.details["calibration_status"] == "ERROR"
    assert settled.details["calibration_learned"] is False
    assert kernel.account()["k_fees_paid"] == pytest.approx(5.0)
    assert kernel.account()["fee_calibration_samples"] == 0
    rebate = kernel.calibrate_fee(100.0, 1.0, -0.02)
    assert not rebate["calibration_learned"] and rebate["calibration_samples"] == 0
    kernel.process_intent(intent("EXIT", 0, reference_price=100.0))
    assert kernel.slot(0).fees_paid == pytest.approx(5.0 + 0.05)


def test_k_and_e_reconcile(kernel: ExecutionKernel) -> None:
    seq0 = kernel.account()["event_seq"]
    kernel.on_account_event(AccountEvent("fund", "FUNDING_FEE", amount=-3.0))
    acct = kernel.account()
    assert acct["k_funding_net"] == -3.0 and acct["capital"] == pytest.approx(9_997.0)
    assert acct["reconcile_status"] == "OK" and acct["available_capital"] == pytest.approx(9_997.0)
    kernel.on_account_event(
        AccountEvent("u1", "ACCOUNT_UPDATE", wallet_balance=9_997.2, available_margin=9_000.0)
    )
    acct = kernel.account()
    assert acct["reconcile_status"] == "OK" and acct["available_capital"] == 9_000.0
    kernel.on_account_event(AccountEvent("u2", "ACCOUNT_UPDATE", wallet_balance=10_047.0))
    acct = kernel.account()
    assert acct["reconcile_status"] == "WARN"
    assert acct["reconcile_delta"] == pytest.approx(50.0)
    assert "E is above K by 50.00" in acct["reconcile_explanation"]
    kernel.on_account_event(AccountEvent("u3", "ACCOUNT_UPDATE", wallet_balance=8_000.0))
    assert kernel.account()["reconcile_status"] == "MISMATCH"
    assert kernel.account()["event_seq"] == seq0 + 4


def test_the_account_adds_up_to_independent_arithmetic() -> None:
    """Round trips long and short, several entry fills, partial exits, each fee rate and the
    venue's own fee, settlements, funding and the K/E grades, each against sums made here."""
    taker, maker = 0.0005, 0.0002
    k = ExecutionKernel(max_slots=2, venue=SilentVenue(), kernel_id="sums")
    k.set_seed_capital(10_000.0)
    n = iter(range(1000))

    def fill(slot: int, coid: str, price: float, size: float, filled: float, **kw: object) -> str:
        i = next(n)
        trade = str(kw.pop("trade", f"t{slot}"))
        ev = VenueEvent(
            f"e{i}", trade, slot, "FILL", price=price, size=size, filled_size=filled,
            venue_client_id=coid, fill_id=f"F{i}", **kw,  # type: ignore[arg-type]
        )  # fmt: skip
        assert k.on_venue_event(ev).accepted
        return ev.fill_id

    def order(*args: object, **kw: object) -> str:
        out = k.process_intent(intent(*args, **kw))
        assert out.order is not None, out
        return out.order.client_order_id

    # LONG: a MARKET entry filled 1 @ 100 and 2 @ 106; a LIMIT exit of 1 @ 110 (maker); the
    # rest 0.5 @ 95 with the venue's fee and 1.5 @ 97 the venue calls maker.
    coid = order("ENTER", 0, target_size=3.0)
    first = fill(0, coid, 100.0, 1.0, 1.0)
    fill(0, coid, 106.0, 2.0, 3.0)
    assert k.slot_state(0).entry_price == pytest.approx(104.0)
    coid = order("EXIT", 0, target_size=1.0, order_type="LIMIT", limit_price=110.0)
    fill(0, coid, 110.0, 1.0, 1.0)
    assert k.slot_state(0).realized_pnl == pytest.approx(6.0)
    coid = order("EXIT", 0, target_size=2.0)
    fill(0, coid, 95.0, 0.5, 0.5, fee=0.07)
    fill(0, coid, 97.0, 1.5, 2.0, metadata={"liquidity": "maker"})
    long_pnl = (110.0 + 95.0 * 0.5 + 97.0 * 1.5) - (100.0 + 106.0 * 2)
    long_fees = [100.0 * taker, 212.0 * taker, 110.0 * maker, 0.07, 145.5 * maker]
    s = k.slot_state(0)
    assert s.closed and s.size == 0.0
    assert s.realized_pnl == pytest.approx(long_pnl) and s.fees_paid == pytest.approx(sum(long_fees))
    # SHORT: a LIMIT entry of 2 @ 50 (maker), exits of 1 @ 45 and 1 @ 52 (taker).
    coid = order("ENTER", 1, side="SHORT", asset="ETH", target_size=2.0, order_type="LIMIT", limit_price=50.0)
    short_entry = fill(1, coid, 50.0, 2.0, 2.0)
    fill(1, order("EXIT", 1, asset="ETH", side="SHORT", target_size=1.0), 45.0, 1.0, 1.0)
    fill(1, order("EXIT", 1, asset="ETH", side="SHORT"), 52.0, 1.0, 1.0)
    short_pnl = 100.0 - (45.0 + 52.0)
    short_fees = [100.0 * maker, 45.0 * taker, 52.0 * taker]
    assert k.slot_state(1).realized_pnl == pytest.approx(short_pnl)
    fees = sum(long_fees) + sum(short_fees)
    a = k.account()
    assert a["k_realized_pnl"] == pytest.approx(long_pnl + short_pnl)
    assert a["k_fees_paid"] == pytest.approx(fees)
    assert a["k_unsettled_fees"] == pytest.approx(fees - 0.07), "the venue's own fee waits for nothing"
    capital = 10_000.0 + long_pnl + short_pnl - fees
    assert a["capital"] == pytest.approx(capital)
    # Settled: 0.04 replaces 0.05, once (and teaches the calibration 0.8).
    assert k.on_account_event(AccountEvent("s1", "FILL_SETTLED", fill_id=first, fee=0.04)).accepted
    assert not k.on_account_event(AccountEvent("s2", "FILL_SETTLED", fill_id=first, fee=0.04)).accepted
    capital += 0.01
    assert k.account()["capital"] == pytest.approx(capital)
    assert k.slot_state(0).fees_paid == pytest.approx(sum(long_fees) - 0.01)
    # A new trade on slot 1, its fee predicted at the calibrated rate; the old trade's entry
    # settled (a rebate) moves the account, not the new trade's fees.
    fill(1, order("ENTER", 1, trade_id="t1b", asset="ETH"), 60.0, 1.0, 1.0, trade="t1b")
    capital -= 60.0 * taker * 0.8
    assert k.account()["capital"] == pytest.approx(capital)
    new_trade_fees = k.slot_state(1).fees_paid
    assert k.on_account_event(AccountEvent("s3", "FILL_SETTLED", fill_id=short_entry, fee=-0.01)).accepted
    capital += 100.0 * maker + 0.01
    assert k.account()["capital"] == pytest.approx(capital)
    assert k.slot_state(1).fees_paid == new_trade_fees
    # Funding moves K only; E is what the exchange last said.
    k.on_account_event(AccountEvent("fund1", "FUNDING_FEE", amount=-1.25))
    k.on_account_event(AccountEvent("fund2", "FUNDING_FEE", amount=0.5))
    capital -= 0.75
    a = k.account()
    assert a["capital"] == pytest.approx(capital) and a["k_funding_net"] == pytest.approx(-0.75)
    assert a["capital"] == pytest.approx(
        a["seed_capital"] + a["k_realized_pnl"] - a["k_fees_paid"] + a["k_funding_net"]
    )
    ok, mismatch = 0.0005 * capital, 0.01 * capital
    for i, (delta, status) in enumerate(
        [(0.0, "OK"), (0.99 * ok, "OK"), (1.01 * ok, "WARN"), (-0.99 * mismatch, "WARN"),
         (-1.01 * mismatch, "MISMATCH"), (0.0, "OK")]
    ):  # fmt: skip
        k.on_account_event(AccountEvent(f"u{i}", "ACCOUNT_UPDATE", wallet_balance=capital + delta))
        a = k.account()
        assert (a["reconcile_status"], a["reconcile_delta"]) == (status, pytest.approx(delta)), i
    k.on_account_event(AccountEvent("fund3", "FUNDING_FEE", amount=-200.0))
    a = k.account()
    assert a["reconcile_status"] == "MISMATCH" and a["reconcile_delta"] == pytest.approx(200.0)
    assert a["reconcile_explanation"].startswith("E is above K by 200.00")


def test_a_funding_payment_carrying_the_balance_moves_k_and_e(kernel: ExecutionKernel) -> None:
    """An exchange's funding message carries the wallet balance after it: E followed only an
    ACCOUNT_UPDATE, so K moved by the payment and the two read apart by it."""
    kernel.on_account_event(AccountEvent("u1", "ACCOUNT_UPDATE", wallet_balance=10_000.0))
    out = kernel.on_account_event(
        AccountEvent("fund", "FUNDING_FEE", amount=-60.0, wallet_balance=9_940.0, maint_margin=12.0)
    )
    assert out.accepted and out.details["reconcile_status"] == "OK"
    acct = kernel.account()
    assert (acct["capital"], acct["e_wallet_balance"], acct["e_maint_margin"]) == (9_940.0, 9_940.0, 12.0)
    assert (acct["reconcile_status"], acct["reconcile_delta"]) == ("OK", 0.0)


def test_slot_view_writes_through_and_refuses_what_the_kernel_refuses(kernel: ExecutionKernel) -> None:
    view = kernel.slot(2)
    view.metadata = {"note": "watch", "n": 3}
    assert kernel.slot_state(2).metadata == {"note": "watch", "n": 3}
    view.exit_leg_ratios = (0.5, 0.5)
    assert kernel.slot(2).exit_leg_ratios == (0.5, 0.5)
    # Checked as a loaded slot is: a position needs a price.
    with pytest.raises(ValueError, match=r"cannot set slot 2's size to 5\.0: .*positive entry price"):
        view.size = 5.0
    assert kernel.slot_state(2).size == 0.0
    with pytest.raises(AttributeError, match="is the kernel's own"):
        view.committed_notional = 1.0
    with pytest.raises(ValueError, match="exit_leg_ratios"):
        view.exit_leg_ratios = (0.8, 0.8)
    with pytest.raises(TypeError, match="metadata"):
        view.metadata = {"nested": {"x": 1}}
    assert kernel.slot(2).exit_leg_ratios == (0.5, 0.5)
    with pytest.raises(IndexError, match=r"slot_id 9 out of range \(kernel has 4 slots: 0 to 3\)"):
        kernel.slot(9)


def test_slot_view_metadata_changed_in_place_writes_through(kernel: ExecutionKernel) -> None:
    """`kernel.slot(0).metadata["stop"] = 95.0` changed a copy: the kernel never saw it, and
    nothing said so. Each change in place now reaches the kernel, validated; a refused one
    changes nothing."""
    view = kernel.slot(1)
    view.metadata["stop"] = 95.0
    assert kernel.slot_state(1).metadata == {"stop": 95.0}
    meta = view.metadata
    meta.update(note="x")
    meta |= {"n": 2}
    assert meta.pop("note") == "x" and meta.setdefault("m", True) is True
    del meta["n"]
    assert kernel.slot_state(1).metadata == {"stop": 95.0, "m": True} == meta
    before = kernel.snapshot()
    with pytest.raises(TypeError, match=r'invalid metadata\["bad"\]'):
        meta["bad"] = {"nested": 1}
    with pytest.raises(TypeError, match="keys must be str"):
        meta[1] = 1
    assert kernel.snapshot() == before and meta == {"stop": 95.0, "m": True}
    assert type(copy.copy(meta)) is dict and type(meta.copy()) is dict
    meta.clear()
    assert kernel.slot_state(1).metadata == {}
    with pytest.raises(AttributeError, match="cannot be deleted"):
        del view.metadata


def test_slot_view_metadata_read_in_place_logs_nothing(kernel: ExecutionKernel) -> None:
    """setdefault of a key held, pop of a missing key with a default and update() of nothing
    change nothing, yet each logged a set_slot_metadata input (a WAL record per read) and
    raised on a closed kernel; a change of type (1 -> True) is still one."""
    meta = kernel.slot(1).metadata
    meta["stop"] = 1
    seq = kernel.seq
    assert meta.setdefault("stop", 90.0) == 1 and meta.pop("missing", None) is None
    meta.update()
    meta |= {}
    assert kernel.seq == seq
    meta["stop"] = True
    assert kernel.seq == seq + 1 and kernel.slot_state(1).metadata["stop"] is True
    kernel.close()
    assert kernel.slot(1).metadata.setdefault("stop", 2) is True


def test_a_slot_view_copies_as_the_slot_as_it_is_now(kernel: ExecutionKernel) -> None:
    """As a copy of the original's ``TradeSlot`` data class: a before/after comparison around an
    exit reads the position the copy was taken of, not the kernel's later state."""
    kernel.process_intent(intent("ENTER", 0))
    before, deep = copy.copy(kernel.slot(0)), copy.deepcopy(kernel.slot(0))
    assert before.fsm_state == TradeStage.POSITION_OPEN and before.size > 0
    kernel.process_intent(intent("EXIT", 0))
    assert kernel.slot(0).fsm_state == TradeStage.CLOSED
    for copied in (before, deep):
        assert (copied.slot_id, copied.fsm_state) == (0, TradeStage.POSITION_OPEN)
        assert copied.size == before.size > 0


def test_reconcile_from_slots_validates_before_applying(kernel: ExecutionKernel) -> None:
    kernel.process_intent(intent("ENTER", 1, target_size=2.0))
    saved = kernel.slots()
    fresh = ExecutionKernel(max_slots=4)
    broken = [dict(s) for s in saved]
    broken[3]["size"] = float("nan")
    with pytest.raises(ValueError, match=r"slots\[3\]\.size"):
        fresh.reconcile_from_slots(broken)
    assert fresh.slot(1).fsm_state == TradeStage.IDLE  # nothing changed
    inconsistent = [dict(s) for s in saved]
    inconsistent[0]["fsm_state"] = "POSITION_OPEN"
    with pytest.raises(ValueError, match="fsm_state"):
        fresh.reconcile_from_slots(inconsistent)
    for slot, key, value, field in [
        (1, "mark_price", float("nan"), "mark_price"),
        (1, "last_event_time", float("inf"), "last_event_time"),
        (1, "entry_time", float("nan"), "entry_time"),
        (1, "entry_price", 1e300, "entry_price"),
    ]:
        bad = [dict(s) for s in saved]
        bad[slot][key] = value
        with pytest.raises(ValueError, match=rf"slots\[{slot}\]\.{field}"):
            fresh.reconcile_from_slots(bad)
    assert fresh.seq == 0 and fresh.slot(1).fsm_state == TradeStage.IDLE
    # An index past the legs is refused naming it and the legs: loaded as is, it would wrap
    # around and panic at the next exit. At their number it reads as every leg done.
    past = [dict(s) for s in saved]
    legs = len(saved[1]["exit_leg_ratios"])
    past[1]["active_leg_index"] = 2**64 - 1
    with pytest.raises(
        ValueError, match=rf"slots\[1\]\.active_leg_index: {2**64 - 1}, past the slot's {legs}"
    ):
        fresh.reconcile_from_slots(past)
    assert fresh.seq == 0 and fresh.slot(1).fsm_state == TradeStage.IDLE
    past[1]["active_leg_index"] = legs
    assert fresh.load_slots(past) == 1
    assert fresh.slot(1).active_leg_index == legs
    assert fresh.load_slots(saved) == 1
    assert fresh.slots() == saved
    fresh.mark_price("BTCUSDT", 110.0)
    assert fresh.slot(1).unrealized_pnl == pytest.approx(20.0)
    assert fresh.process_intent(intent("EXIT", 1, reference_price=110.0)).state == TradeStage.CLOSED


@pytest.mark.parametrize("legs", [(1.0,), (0.5, 0.5)])
def test_slots_with_more_exits_than_legs_load_as_the_kernel_shows_them(
    kernel: ExecutionKernel, legs: tuple[float, ...]
) -> None:
    """Exits of an explicit size can outnumber the exit legs, and legs set on a closed slot
    can be fewer than it exited: the leg index stops at the number of legs (all done)."""
    kernel.process_intent(intent("ENTER", 0, target_size=3.0, exit_leg_ratios=legs))
    for _ in range(4):
        assert kernel.process_intent(intent("EXIT", 0, target_size=0.5)).accepted
    assert kernel.slot(0).size == pytest.approx(1.0)
    assert kernel.slot(0).active_leg_index == len(legs)
    saved = kernel.slots()
    assert kernel.load_slots(saved) == 1
    assert kernel.slots() == saved
    # Every leg is done: an EXIT of no size takes what remains.
    assert kernel.process_intent(intent("EXIT", 0)).state == TradeStage.CLOSED
    kernel.set_slot_exit_leg_ratios(0, [1.0])
    assert kernel.slot(0).active_leg_index == 1
    assert kernel.load_slots(kernel.slots()) == 0


def test_reconcile_from_slots_checks_the_orders_it_loads(resting) -> None:  # type: ignore[no-untyped-def]
    """A working order read back must be a real one: an id, finite sizes and prices, flags that
    are bools (the text "no" is not False), no more filled than its size, and no order in two
    slots."""
    kernel, _ = resting
    kernel.process_intent(intent("ENTER", 0))
    kernel.process_intent(intent("ENTER", 1))
    saved = [dict(s) for s in kernel.slots()]
    first, second = saved[0]["active_entry_order"], saved[1]["active_entry_order"]
    assert first is not None and second is not None, "the resting venue leaves both working"
    fresh = ExecutionKernel(max_slots=4)
    for key, value in [
        ("size", float("nan")),
        ("size", 0.0),
        ("price", -5.0),
        ("reference_price", float("inf")),
        ("client_order_id", ""),
        ("created_at", float("nan")),
        ("filled_size", first["size"] * 2),
    ]:
        bad = [dict(s) for s in saved]
        bad[0]["active_entry_order"] = {**first, key: value}
        with pytest.raises(ValueError, match=rf"slots\[0\]\.active_entry_order\.{key}"):
            fresh.reconcile_from_slots(bad)
    for key, value in [("reduce_only", "no"), ("cancel_requested", 2), ("cancel_requested", None)]:
        bad = [dict(s) for s in saved]
        bad[0]["active_entry_order"] = {**first, key: value}
        with pytest.raises(
            TypeError, match=rf"slots\[0\]\.active_entry_order\.{key}: expected bool \(or 0 or 1\), got"
        ):
            fresh.reconcile_from_slots(bad)
    with pytest.raises(TypeError, match=r"slots\[0\]\.closed: expected bool \(or 0 or 1\), got str 'no'"):
        fresh.reconcile_from_slots([{**saved[0], "closed": "no"}, *saved[1:]])
    twin = [dict(s) for s in saved]
    twin[1]["active_entry_order"] = {**second, "client_order_id": first["client_order_id"]}
    with pytest.raises(ValueError, match="another slot"):
        fresh.reconcile_from_slots(twin)
    assert fresh.seq == 0
    fresh.reconcile_from_slots(saved)
    assert fresh.slots() == kernel.slots()
    # A database row's 0/1 flags load as the bools they stand for.
    rows = [{**s, "closed": int(s["closed"])} for s in saved]
    rows[0]["active_entry_order"] = {**first, "reduce_only": 0, "cancel_requested": 1}
    from_rows = ExecutionKernel(max_slots=4)
    from_rows.reconcile_from_slots(rows)
    assert from_rows.slots()[0]["active_entry_order"]["cancel_requested"] is True
    assert from_rows.slots()[1:] == kernel.slots()[1:]


def test_reconcile_from_slots_refuses_slots_the_kernel_could_not_have_left(resting) -> None:  # type: ignore[no-untyped-def]
    """Each of these loaded once and then misapplied a venue's fill (an exit fill taken as an
    entry fill, PnL realized on more than the position, a fill moving no stage): a saved slot
    must be one the kernel itself could have written."""
    kernel, venue = resting
    kernel.process_intent(intent("ENTER", 0))
    for event in venue.fill_open_order(kernel.slot_state(0).active_entry_order.client_order_id):
        kernel.on_venue_event(event)
    kernel.process_intent(intent("EXIT", 0))
    kernel.process_intent(intent("ENTER", 1))
    saved = [dict(s) for s in kernel.slots()]
    assert saved[0]["fsm_state"] == "EXIT_WORKING" and saved[1]["fsm_state"] == "ENTRY_WORKING"
    exit_order, entry_order = saved[0]["active_exit_order"], saved[1]["active_entry_order"]

    def broken(slot: int, **changes: object) -> list[dict]:
        slots = [dict(s) for s in saved]
        slots[slot] = {**slots[slot], **changes}
        return slots

    cases = [
        (broken(1, fsm_state="ORDER_REQUESTED"), r"slots\[1\]\.fsm_state: ORDER_REQUESTED .exists only"),
        (broken(0, fsm_state="EXIT_REQUESTED"), r"slots\[0\]\.fsm_state: EXIT_REQUESTED"),
        (broken(0, active_entry_order={**exit_order, "client_order_id": "e-2", "side": "BUY"}), "not both"),
        (broken(0, active_exit_order={**exit_order, "size": 5.0}), r"exit_order\.size: 5 .an exit must"),
        (broken(0, active_exit_order={**exit_order, "side": "BUY"}), r"active_exit_order\.side: BUY"),
        (broken(0, active_exit_order={**exit_order, "asset": "ETHUSDT"}), r"exit_order\.asset: ETHUSDT"),
        (broken(1, active_entry_order={**entry_order, "trade_id": "other"}), r"active_entry_order\.trade_id"),
        (broken(0, entry_price=0.0), r"slots\[0\]\.entry_price: 0 "),
        (broken(0, initial_size=0.5), r"slots\[0\]\.initial_size: 0\.5 "),
        (broken(1, size=0.4, entry_price=100.0, initial_size=1.0), r"slots\[1\]\.initial_size: 1 .must"),
        (broken(0, closed=True), r"slots\[0\]\.closed"),
        (
            broken(1, active_entry_order={**entry_order, "venue_order_id": exit_order["venue_order_id"]}),
            r"slots\[1\]\.active_entry_order\.venue_order_id: .* another slot",
        ),
        # Each of these loaded once, and then a fill opened a FLAT position (no PnL ever), an
        # account showed infinite equity, a position had no leverage or trade, a canceled
        # order took fills, or a position appeared that nothing filled.
        (broken(1, side="FLAT"), r"slots\[1\]\.side: FLAT .a slot working an order"),
        (broken(0, unrealized_pnl=1.7e308), r"slots\[0\]\.unrealized_pnl: 1\.7e308 .must be at most 1e15"),
        (broken(0, realized_pnl=-1e16), r"slots\[0\]\.realized_pnl: -1e16"),
        (broken(0, leverage=0.0), r"slots\[0\]\.leverage: 0 .must be positive"),
        (broken(0, trade_id=""), r"slots\[0\]\.trade_id: '' "),
        (
            broken(1, active_entry_order={**entry_order, "status": "CANCELED"}),
            r"entry_order\.status: CANCELED",
        ),
        (
            broken(1, active_entry_order={**entry_order, "filled_size": 0.5}),
            r"entry_order\.filled_size: 0\.5",
        ),
        (
            broken(1, active_entry_order={**entry_order, "reduce_only": True}),
            r"entry_order\.reduce_only: true",
        ),
        (
            broken(1, active_entry_order={**entry_order, "order_type": "LIMIT", "price": 0.0}),
            r"entry_order\.price: 0 .a LIMIT order needs a positive price",
        ),
    ]
    fresh = ExecutionKernel(max_slots=4)
    for slots, match in cases:
        with pytest.raises(ValueError, match=match):
            fresh.reconcile_from_slots(slots)
    assert fresh.seq == 0 and fresh.slots() == ExecutionKernel(max_slots=4).slots()
    fresh.reconcile_from_slots(saved)
    assert fresh.slots() == kernel.slots()


def test_a_kernel_reloading_its_own_slots_never_reissues_their_order_ids(resting) -> None:  # type: ignore[no-untyped-def]
    """A fresh kernel of the same id, loaded from saved slots, once issued `rest-1` again: the
    saved order's fills then booked on the new order's slot."""
    kernel, _ = resting
    kernel.process_intent(intent("ENTER", 0))
    saved = kernel.slots()
    assert saved[0]["active_entry_order"]["client_order_id"] == "rest-1"
    fresh = ExecutionKernel(max_slots=4, venue=MockVenueAdapter(fill_rate=0.0), kernel_id="rest")
    fresh.reconcile_from_slots(saved)
    out = fresh.process_intent(intent("ENTER", 1, asset="ETHUSDT", side="SHORT"))
    assert out.accepted and out.order.client_order_id == "rest-2"
    assert sorted(o.client_order_id for o in fresh.open_orders()) == ["rest-1", "rest-2"]
    fill = VenueEvent("f1", "", -1, "FILL", venue_client_id="rest-1", price=100.0, size=1.0, filled_size=1.0)
    assert fresh.on_venue_event(fill).state == TradeStage.POSITION_OPEN
    assert fresh.slot_state(0).size == 1.0 and fresh.slot_state(1).size == 0.0


def test_the_kernels_own_slots_load_back_with_rebates_paid() -> None:
    """A maker rebate leaves a slot's fees negative; loading its own slots refused that."""
    venue = MockVenueAdapter(fill_rate=0.0)
    kernel = ExecutionKernel(max_slots=2, venue=venue, kernel_id="rebate")
    coid = kernel.process_intent(intent("ENTER", 0)).order.client_order_id
    rebate = VenueEvent("f1", "", -1, "FILL", venue_client_id=coid, price=100.0, size=1.0, fee=-0.01)
    assert kernel.on_venue_event(rebate).accepted
    assert kernel.slot_state(0).fees_paid == pytest.approx(-0.01)
    saved = kernel.slots()
    assert kernel.load_slots(saved) == 1
    assert kernel.slots() == saved


def test_the_projected_account_follows_fee_calibration_and_loaded_slots() -> None:
    projection = InMemoryProjection()
    kernel = ExecutionKernel(max_slots=2, projection=projection, kernel_id="proj")
    kernel.process_intent(intent("ENTER", 0))
    projection.flush()
    kernel.calibrate_fee(100.0, 1.0, 0.06)
    projection.flush()
    assert (
        projection.accounts["proj"]["fee_calibration_samples"]
        == kernel.account()["fee_calibration_samples"]
        == 1
    )
    slots = [dict(s) for s in kernel.slots()]
    slots[1].update(
        fsm_state="POSITION_OPEN",
        trade_id="t9",
        asset="ETH",
        side="SHORT",
        size=2.0,
        initial_size=2.0,
        entry_price=50.0,
    )
    kernel.reconcile_from_slots(slots)
    projection.flush()
    assert projection.accounts["proj"]["open_positions"] == kernel.account()["open_positions"] == 2


def test_a_blown_account_does_not_read_as_unlevered() -> None:
    """Equity at or below zero with a position open read leverage 0, as a flat account does."""
    k = ExecutionKernel(max_slots=1)
    assert k.account()["leverage"] == 0.0  # nothing open, no capital: unlevered
    k.set_seed_capital(1000.0)
    assert k.process_intent(intent("ENTER", 0, target_size=20.0)).accepted
    k.mark_price("BTCUSDT", 100.0)
    assert k.account()["leverage"] == pytest.approx(k.account()["open_notional"] / k.account()["equity"])
    k.mark_price("BTCUSDT", 40.0)  # 20 * -60: the equity is -200
    account = k.account()
    assert account["equity"] < 0 and account["open_notional"] > 0
    assert account["leverage"] is None, "unbounded: no number says it"


def test_equity_is_the_accounts_equity_as_the_marks_move() -> None:
    k = ExecutionKernel(max_slots=2)
    k.set_seed_capital(1000.0)
    assert k.equity() == k.account()["equity"] == 1000.0
    assert k.process_intent(intent("ENTER", 0, target_size=2.0, reference_price=100.0)).accepted
    for price in (100.0, 130.0, 40.0):
        k.mark_price("BTCUSDT", price)
        assert k.equity() == k.account()["equity"]
    assert k.equity() < 1000.0 - 100.0, "2 held from about 100, marked at 40"
    assert k.process_intent(intent("EXIT", 0, reference_price=40.0)).accepted
    assert k.equity() == k.account()["equity"] == k.account()["capital"]


def test_snapshot_field_names(kernel: ExecutionKernel) -> None:
    snap = kernel.snapshot()
    assert set(snap) >= {"kernel_id", "control", "slots", "account"}
    slot_fields = {
        "slot_id",
        "trade_id",
        "asset",
        "side",
        "entry_price",
        "size",
        "initial_size",
        "leverage",
        "entry_time",
        "unrealized_pnl",
        "realized_pnl",
        "fees_paid",
        "closed",
        "exit_leg_ratios",
        "active_leg_index",
        "active_entry_order",
        "active_exit_order",
        "fsm_state",
        "close_reason",
        "last_event_time",
        "metadata",
    }
    assert slot_fields <= set(snap["slots"][0])
    account_fields = {
        "capital",
        "equity",
        "realized_pnl",
        "unrealized_pnl",
        "open_positions",
        "open_notional",
        "leverage",
        "k_capital",
        "k_realized_pnl",
        "k_fees_paid",
        "k_funding_net",
        "e_wallet_balance",
        "e_available_margin",
        "e_used_margin",
        "e_maint_margin",
        "available_capital",
        "reconcile_status",
        "reconcile_delta",
        "reconcile_explanation",
        "event_seq",
    }
    assert account_fields <= set(snap["account"])
    assert {"mode", "verbosity", "debug_clickhouse_enabled"} <= set(snap["control"])
    assert len(snap["slots"]) == 4


def test_python_venue_adapters_and_unknown_submit_outcomes() -> None:
    class Flaky:
        name = "flaky"

        def __init__(self) -> None:
            self.sent: list[str] = []

        def submit(self, order):  # type: ignore[no-untyped-def]
            self.sent.append(order.client_order_id)
            raise TimeoutError("no answer in 5s")

        def cancel(self, order):  # type: ignore[no-untyped-def]
            return [
                VenueEvent(
                    "c", order.trade_id, order.slot_id, "CANCEL_ACK", venue_client_id=order.client_order_id
                )
            ]

    venue = Flaky()
    k = ExecutionKernel(max_slots=1, venue=venue)
    out = k.process_intent(intent("ENTER", 0))
    # Not treated as rejected: the order stays in flight until the venue says what happened.
    assert out.accepted and out.state == TradeStage.ORDER_SENT
    assert out.details["submit_outcome"] == "unknown" and "TimeoutError" in out.details["venue_error"]
    assert out.severity.name == "ERROR"
    ack = VenueEvent("a", "t0", 0, "ORDER_ACK", venue_client_id=venue.sent[0])
    assert k.on_venue_event(ack).state == TradeStage.ENTRY_WORKING
    assert k.process_intent(intent("CANCEL", 0)).state == TradeStage.IDLE

    class Broken:
        name = "broken"

        def submit(self, order):  # type: ignore[no-untyped-def]
            return ["not an event"]

        def cancel(self, order):  # type: ignore[no-untyped-def]
            return []

    k = ExecutionKernel(max_slots=1, venue=Broken())
    out = k.process_intent(intent("ENTER", 0))
    assert out.accepted and out.state == TradeStage.ORDER_SENT and out.severity.name == "ERROR"
    assert "must return VenueEvent objects, got str" in out.details["venue_answer_error"]
    with pytest.raises(TypeError, match="submit"):
        ExecutionKernel(venue=object())


def test_reconcile_from_slots_reads_the_callers_iterable_before_taking_the_kernel(
    kernel: ExecutionKernel,
) -> None:
    """The slots' iterable may run Python that calls the kernel: it must find it free."""
    saved = kernel.slots()
    before = kernel.seq
    seen: list[int] = []

    def slots():  # type: ignore[no-untyped-def]
        seen.append(kernel.seq)  # a call into the kernel while its slots are read
        kernel.update_control(source="reconcile-check")
        yield from saved

    assert kernel.load_slots(slots()) == 0
    assert seen == [before] and kernel.control()["source"] == "reconcile-check"


def test_the_terminal_order_statuses_are_the_kernels_one_definition() -> None:
    import dita
    from dita.gateway import engine
    from dita.runtime import TERMINAL_STATUSES
    from dita.venues import router

    assert dita.TERMINAL_ORDER_STATUSES == {"FILLED", "CANCELED", "REJECTED", "EXPIRED"}
    assert all(dita.VenueOrderStatus.parse(name).name == name for name in dita.TERMINAL_ORDER_STATUSES)
    for used in (TERMINAL_STATUSES, router.FINAL_STATUSES, engine.TERMINAL):
        assert used is dita.TERMINAL_ORDER_STATUSES
