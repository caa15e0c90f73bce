"""ExecutionKernel as the original kernel's strategy code calls it: its constructor, control,
slots, the three id indexes, inputs and reads, with the return shapes it had."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from original_style import HandDrivenVenue, at, original_intent

from dita import (
    ExecutionKernel,
    InMemoryControlPlane,
    InMemoryJournal,
    InMemoryProjection,
    KernelDiagnosticCode,
    KernelOutcome,
    MockVenueAdapter,
    TradeSide,
    TradeStage,
    VenueEvent,
    VenueOrder,
)
from dita.risk import RiskLimits

SNAPSHOT_ACCOUNT = (
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
)


def test_the_constructor_takes_every_keyword_of_the_original() -> None:
    k = ExecutionKernel(
        max_slots=4,
        control_plane=InMemoryControlPlane(),
        venue=MockVenueAdapter(),
        journal=InMemoryJournal(),
        account=None,
        projection=InMemoryProjection(),
        projection_client=None,
        zinc_plane=None,
    )
    assert k.max_slots == 4
    k.close()


def test_the_constructor_s_account_is_the_seed_capital() -> None:
    with ExecutionKernel(max_slots=1, account=2_500.0) as k:
        assert k.account()["seed_capital"] == 2_500.0 == k.snapshot()["account"]["capital"]


@pytest.mark.parametrize(
    ("keyword", "message"),
    [
        ("projection_client", "invalid projection_client: dita's projection makes its own client"),
        ("zinc_plane", "invalid zinc_plane: dita's control plane is control_plane="),
        ("account", r"invalid account: expected the seed capital \(a number\) or None"),
    ],
)
def test_a_client_dita_does_not_use_is_refused_saying_what_to_pass(keyword: str, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        ExecutionKernel(max_slots=1, **{keyword: object()})


def test_control_is_a_property_and_update_control_takes_an_update(kernel: ExecutionKernel) -> None:
    assert kernel.control["mode"] == "PAPER" and kernel.control() == kernel.control  # dita's call too
    new = kernel.update_control({"mode": "REDUCE_ONLY", "source": "operator"})
    assert new["mode"] == "REDUCE_ONLY" and new["source"] == "operator"
    assert kernel.control == new
    assert kernel.update_control(mode="HALTED")["mode"] == "HALTED"  # dita's keywords stay


def test_update_control_takes_the_original_keyword_update(kernel: ExecutionKernel) -> None:
    assert kernel.update_control(update={"mode": "HALTED"})["mode"] == "HALTED"
    assert kernel.control["mode"] == "HALTED"
    with pytest.raises(TypeError, match="update or as mode, not both"):
        kernel.update_control("PAPER", update={"mode": "PAPER"})
    with pytest.raises(TypeError, match="invalid update: expected a dict, got str 'PAPER'"):
        kernel.update_control(update="PAPER")  # type: ignore[arg-type]
    assert kernel.control["mode"] == "HALTED"


def test_an_unknown_control_update_field_is_refused_naming_it(kernel: ExecutionKernel) -> None:
    before = kernel.control
    with pytest.raises(ValueError, match=r'unknown field "halt" \(value True\)'):
        kernel.update_control({"halt": True})
    assert kernel.control == before


def test_slot_gives_a_view_and_an_id_out_of_range_raises_index_error(kernel: ExecutionKernel) -> None:
    assert kernel.slot(1).slot_id == 1
    for bad in (3, -1):
        with pytest.raises(IndexError):
            kernel.slot(bad)


def test_free_slot_gives_the_first_free_slot_s_view_or_none(kernel: ExecutionKernel) -> None:
    slot = kernel.free_slot()
    assert slot is not None and slot.slot_id == 0 and slot.is_free()
    for n in range(3):
        kernel.process_intent(original_intent("ENTER", n, at(n)))
    assert kernel.free_slot() is None and kernel.free_slot_id() is None


def test_a_slot_s_views_are_equal_and_found_in_state_slots_as_the_original_s_slot_object_was(
    kernel: ExecutionKernel,
) -> None:
    slot = kernel.free_slot()
    assert slot is not None and slot == kernel.slot(0) and slot != kernel.slot(1)
    assert slot in kernel.state.slots and kernel.state.slots.index(slot) == 0
    assert {kernel.slot(0), kernel.slot(0), kernel.slot(1)} == {kernel.slot(0), kernel.slot(1)}
    with ExecutionKernel(max_slots=3) as other:
        assert other.slot(0) != slot


def test_state_holds_the_slots_views_and_the_three_id_indexes() -> None:
    venue = HandDrivenVenue()
    with ExecutionKernel(max_slots=2, venue=venue) as k:
        k.process_intent(original_intent("ENTER", 1, at(0)))
        state = k.state
        assert [s.slot_id for s in state.slots] == [0, 1] and state.slots[1].fsm_state == "ENTRY_WORKING"
        client_id = state.slots[1].active_entry_order.venue_client_id
        assert state.active_trade_index == {"trade-1": 1}
        assert state.client_order_index == {client_id: 1}
        assert state.venue_order_index == {f"v-{client_id}": 1}


def test_process_intent_sends_through_submit_and_cancel_through_cancel() -> None:
    venue = HandDrivenVenue()
    with ExecutionKernel(max_slots=1, venue=venue) as k:
        out = k.process_intent(original_intent("ENTER", 0, at(0)))
        assert isinstance(out, KernelOutcome) and out.state == TradeStage.ENTRY_WORKING
        assert [e.kind.value for e in out.emitted_events] == ["ORDER_ACK"]
        cancel = k.process_intent(original_intent("CANCEL", 0, at(1), reason="changed my mind"))
        assert cancel.accepted and cancel.state == TradeStage.IDLE
        assert [e.kind.value for e in cancel.emitted_events] == ["CANCEL_ACK"]
        assert cancel.emitted_events[0].side == TradeSide.LONG


def test_a_venue_rate_limit_refuses_the_intent_with_the_original_details() -> None:
    with ExecutionKernel(max_slots=1, venue=MockVenueAdapter(rate_limit_rate=1.0, retry_after=2.0)) as k:
        out = k.process_intent(original_intent("ENTER", 0, at(0)))
    assert not out.accepted and out.diagnostic_code == KernelDiagnosticCode.RATE_LIMITED
    d = out.details
    assert d["reason"] == "mock rate limit" and d["retry_after_ms"] == 2000.0
    assert d["venue_event_kind"] == "RATE_LIMITED" and d["severity"] == "WARNING" and d["retryable"] is True
    assert datetime.fromisoformat(d["release_eta"]) == datetime.fromtimestamp(
        out.emitted_events[-1].timestamp_s + 2.0, tz=at(0).tzinfo
    )
    assert out.to_dict()["details"] == d


class ThrottlingVenue(HandDrivenVenue):
    """A venue as the original's strategies wrote one, every event stamped with the venue's
    order id, whose submits are throttled while ``throttling``: RATE_LIMITED, the order never
    taken."""

    throttling = False

    def submit(self, order: VenueOrder) -> list[VenueEvent]:
        if not self.throttling:
            return super().submit(order)
        return [self.event(order, "RATE_LIMITED", "REJECTED", retry_after=2.0, reason="too many requests")]


@pytest.mark.parametrize("action", ["ENTER", "EXIT"])
def test_a_submit_answered_rate_limited_under_the_venue_s_order_id_is_refused_and_may_be_sent_again(
    action: str,
) -> None:
    """The venue's id on the rate limit does not show it took the order: with no cancel asked,
    the rate limit answers the submit, so the intent is refused RATE_LIMITED and the slot is
    where it was, free to send the order again."""
    venue = ThrottlingVenue()
    with ExecutionKernel(max_slots=1, venue=venue) as k:
        k.set_seed_capital(10_000.0)
        if action == "EXIT":
            k.process_intent(original_intent("ENTER", 0, at(0)))
            k.on_venue_event(venue.fill(next(iter(venue.orders)), 1.0, 100.0))
        venue.throttling = True
        before = k.slot(0).fsm_state
        out = k.process_intent(original_intent(action, 0, at(1)))
        assert (out.accepted, out.diagnostic_code) == (False, KernelDiagnosticCode.RATE_LIMITED), out.details
        assert out.details["retry_after_ms"] == 2000.0 and out.details["reason"] == "too many requests"
        assert out.state == k.slot(0).fsm_state == before
        assert k.slot(0).active_entry_order is None and k.slot(0).active_exit_order is None
        assert k.orders_in_doubt() == []
        venue.throttling = False
        again = k.process_intent(original_intent(action, 0, at(4)))
        assert again.accepted and again.state != before, again.details


def test_on_venue_event_answers_with_an_outcome() -> None:
    venue = HandDrivenVenue()
    with ExecutionKernel(max_slots=1, venue=venue) as k:
        k.process_intent(original_intent("ENTER", 0, at(0)))
        client_id = k.slot(0).active_entry_order.venue_client_id
        out = k.on_venue_event(venue.fill(client_id, 1.0, 100.0))
        assert isinstance(out, KernelOutcome) and out.accepted and out.state == TradeStage.POSITION_OPEN


def test_mark_price_marks_the_asset_s_slots(kernel: ExecutionKernel) -> None:
    kernel.process_intent(original_intent("ENTER", 0, at(0)))
    kernel.mark_price("BTCUSDT", 105.0)
    assert kernel.slot(0).unrealized_pnl == pytest.approx(5.0)


def test_reconcile_from_slots_answers_with_an_outcome_and_validates_first(kernel: ExecutionKernel) -> None:
    kernel.process_intent(original_intent("ENTER", 0, at(0)))
    saved = kernel.snapshot()["slots"]
    out = kernel.reconcile_from_slots(saved)
    assert isinstance(out, KernelOutcome) and out.accepted and out.details["open_positions"] == 1
    broken = [dict(s) for s in saved]
    broken[0]["size"] = -1.0
    before = kernel.slots()
    with pytest.raises(ValueError, match=r"slots\[0\]\.size"):
        kernel.reconcile_from_slots(broken)
    assert kernel.slots() == before


def test_reconcile_from_slots_takes_slots_as_the_kernel_gives_them(kernel: ExecutionKernel) -> None:
    """The original's slots were objects with ``to_dict()``: a kernel's slot states and views,
    given back, load as their dicts do."""
    kernel.process_intent(original_intent("ENTER", 0, at(0)))
    states, dicts = [kernel.slot_state(i) for i in range(kernel.max_slots)], kernel.slots()
    fresh = ExecutionKernel(max_slots=kernel.max_slots)
    assert fresh.reconcile_from_slots(states).details["open_positions"] == 1
    assert fresh.slots() == dicts
    other = ExecutionKernel(max_slots=kernel.max_slots)
    assert other.load_slots(kernel.state.slots) == 1 and other.slots() == dicts
    with pytest.raises(TypeError, match=r"slots\[0\] must be a dict, got int 1"):
        fresh.reconcile_from_slots([1, 2, 3])


def test_seed_capital_and_exchange_config_are_set_as_the_original_set_them(kernel: ExecutionKernel) -> None:
    assert kernel.set_seed_capital(20_000.0) is None
    assert kernel.snapshot()["account"]["k_capital"] == 20_000.0
    config = {"taker_rate": 0.0005, "maker_rate": 0.0002, "lot_step": 0.001, "tick_size": 0.1}
    assert kernel.set_exchange_config(config) is None
    assert kernel.set_exchange_config({"funding_interval_secs": 28_800}) is None  # all optional
    assert kernel.exchange_config()["taker_rate"] == 0.0005


def test_set_seed_capital_takes_the_original_keyword_seed(kernel: ExecutionKernel) -> None:
    kernel.set_seed_capital(seed=5_000.0)
    assert kernel.snapshot()["account"]["k_capital"] == 5_000.0
    with pytest.raises(ValueError, match=r"invalid seed: -1 \(must not be negative\)"):
        kernel.set_seed_capital(seed=-1.0)


def test_calibrate_fee_errors_name_the_argument(kernel: ExecutionKernel) -> None:
    kernel.set_exchange_config({"taker_rate": 0.0005})
    seq = kernel.seq
    with pytest.raises(ValueError, match=r"invalid fill_price: NaN"):
        kernel.calibrate_fee(float("nan"), 1.0, 0.05)
    with pytest.raises(ValueError, match=r"invalid fill_qty: -1"):
        kernel.calibrate_fee(100.0, -1.0, 0.05)
    with pytest.raises(ValueError, match=r"invalid fill_qty: 1e-320, an expected fee"):
        kernel.calibrate_fee(100.0, 1e-320, 0.05)
    assert kernel.seq == seq


@pytest.mark.parametrize(("actual", "status"), [(0.05, "OK"), (0.0515, "WARN"), (0.06, "ERROR")])
def test_calibrate_fee_answers_the_original_dict(kernel: ExecutionKernel, actual: float, status: str) -> None:
    kernel.set_exchange_config({"taker_rate": 0.0005})
    got = kernel.calibrate_fee(fill_price=100.0, fill_qty=1.0, actual_fee=actual)
    for key in (
        "expected_fee",
        "actual_fee",
        "ratio",
        "deviation_pct",
        "calibration_status",
        "calibration_ratio",
        "calibration_samples",
    ):
        assert key in got
    assert got["expected_fee"] == pytest.approx(0.05) and got["calibration_status"] == status


@pytest.mark.parametrize(
    "event",
    [
        {"kind": "ACCOUNT_UPDATE", "wallet_balance": 10_050.0, "available_margin": 9_000.0},
        {"kind": "ACCOUNT_UPDATE", "e_wallet_balance": 10_050.0, "e_used_margin": 1_000.0},
        {"kind": "FUNDING_FEE", "amount": -1.25, "timestamp": at(9)},
    ],
    ids=["account-update", "account-update-e-names", "funding-fee"],
)
def test_on_account_event_takes_the_original_dict_and_answers_the_account(
    kernel: ExecutionKernel, event: dict[str, Any]
) -> None:
    seq = kernel.account()["event_seq"]
    state = kernel.on_account_event(event)
    assert isinstance(state, dict)
    for key in ("reconcile_status", "available_capital", "k_capital", "event_seq"):
        assert key in state
    assert state["event_seq"] == seq + 1 and state == kernel.account()


def test_a_fill_settled_dict_settles_the_fill_it_names() -> None:
    venue = HandDrivenVenue()
    with ExecutionKernel(max_slots=1, venue=venue) as k:
        k.set_exchange_config({"taker_rate": 0.0005})
        k.process_intent(original_intent("ENTER", 0, at(0)))
        client_id = k.slot(0).active_entry_order.venue_client_id
        fill = venue.fill(client_id, 1.0, 100.0)
        k.on_venue_event(fill)
        state = k.on_account_event({"kind": "FILL_SETTLED", "fill_id": fill.event_id, "fee": 0.06})
        assert state["k_fees_paid"] == pytest.approx(0.06)


def test_on_account_event_takes_dita_s_account_event_as_before(kernel: ExecutionKernel) -> None:
    from dita import AccountEvent

    out = kernel.on_account_event(AccountEvent("a1", "FUNDING_FEE", amount=2.0))
    assert isinstance(out, KernelOutcome) and out.accepted


def test_snapshot_holds_control_slots_and_the_original_account_fields(kernel: ExecutionKernel) -> None:
    kernel.process_intent(original_intent("ENTER", 0, at(0)))
    snap = kernel.snapshot()
    assert snap["control"] == kernel.control
    assert snap["slots"][0] == {k: v for k, v in kernel.slot(0).to_dict().items() if k != "kernel_id"}
    for key in SNAPSHOT_ACCOUNT:
        assert key in snap["account"], key


def test_a_venue_written_for_the_original_gets_orders_by_the_original_names() -> None:
    seen: list[tuple[str, str, TradeSide, float]] = []

    class OriginalVenue:
        def submit(self, intent: VenueOrder) -> list[VenueEvent]:
            seen.append((intent.internal_trade_id, intent.venue_client_id, intent.side, intent.intended_size))
            return []

        def cancel(self, order: VenueOrder, reason: str = "") -> list[VenueEvent]:
            return []

    with ExecutionKernel(max_slots=1, venue=OriginalVenue()) as k:
        k.process_intent(original_intent("ENTER", 0, at(0), side="SHORT", target_size=3.0))
        assert seen == [("trade-0", k.slot(0).active_entry_order.venue_client_id, TradeSide.SHORT, 3.0)]


def test_a_venue_written_for_the_original_reads_the_order_by_the_intent_s_names() -> None:
    seen: list[tuple[Any, ...]] = []

    class IntentReadingVenue(HandDrivenVenue):
        """The original's venue read the intent it was sent: its action, size, price and time."""

        def submit(self, intent: VenueOrder) -> list[VenueEvent]:
            seen.append((intent.action, intent.target_size, intent.limit_price, intent.timestamp))
            return super().submit(intent)

    venue = IntentReadingVenue()
    with ExecutionKernel(max_slots=1, venue=venue) as k:
        k.process_intent(
            original_intent("ENTER", 0, at(0), order_type="LIMIT", limit_price=99.0, target_size=2.0)
        )
        k.on_venue_event(venue.fill(next(iter(venue.orders)), 2.0, 99.0))
        k.process_intent(original_intent("EXIT", 0, at(5)))
    assert seen == [("ENTER", 2.0, 99.0, at(0)), ("EXIT", 2.0, 0.0, at(5))]


class ReasonTakingVenue(HandDrivenVenue):
    """The original kernel cancels through ``cancel(order, reason=...)``: an adapter may take
    the reason as a required argument."""

    def cancel(self, order: VenueOrder, reason: str) -> list[VenueEvent]:  # type: ignore[override]
        return super().cancel(order, reason)


class KeywordReasonVenue(HandDrivenVenue):
    def cancel(self, order: VenueOrder, *, reason: str) -> list[VenueEvent]:  # type: ignore[override]
        return super().cancel(order, reason)


@pytest.mark.parametrize("venue_class", [ReasonTakingVenue, KeywordReasonVenue])
def test_a_cancel_gives_its_intent_s_reason_to_a_venue_whose_cancel_takes_one(
    venue_class: type[HandDrivenVenue],
) -> None:
    venue = venue_class()
    with ExecutionKernel(max_slots=1, venue=venue) as k:
        k.process_intent(original_intent("ENTER", 0, at(0), order_type="LIMIT", limit_price=90.0))
        out = k.process_intent(original_intent("CANCEL", 0, at(1), reason="stale signal"))
        assert "venue_error" not in out.details, out.details
        assert venue.cancel_reasons == ["stale signal"]
        assert k.slot(0).fsm_state == TradeStage.IDLE


def test_the_kernel_s_own_cancel_gives_its_reason_to_a_venue_whose_cancel_takes_one() -> None:
    venue = ReasonTakingVenue()
    with ExecutionKernel(max_slots=1, venue=venue) as k:
        k.set_risk_limits(RiskLimits(edge_freeze_threshold_bps=0).model_dump())
        k.process_intent(original_intent("ENTER", 0, at(0), order_type="LIMIT", limit_price=90.0))
        k.on_edge_update("BTCUSDT", -5.0)
        assert venue.cancel_reasons == ["edge_freeze"]


def test_a_venue_whose_cancel_takes_no_reason_is_asked_with_the_order_alone() -> None:
    asked: list[str] = []

    class OrderOnlyVenue(HandDrivenVenue):
        def cancel(self, order: VenueOrder) -> list[VenueEvent]:  # type: ignore[override]
            asked.append(order.venue_client_id)
            return super().cancel(order)

    venue = OrderOnlyVenue()
    with ExecutionKernel(max_slots=1, venue=venue) as k:
        k.process_intent(original_intent("ENTER", 0, at(0), order_type="LIMIT", limit_price=90.0))
        out = k.process_intent(original_intent("CANCEL", 0, at(1), reason="stale signal"))
        assert "venue_error" not in out.details, out.details
        assert asked == [out.transitions[0].details["client_order_id"]]
