"""Defects reviews of the money and risk rules found: a leg exit below the venue's floor that
could never go out, an entry fill owed that the notional caps did not see, an intent stamped
ahead of the clock that blocked the order-rate rule for as long, an edge freeze that left an
order in doubt working, outlived its threshold, or missed the last edges a new threshold or
the rule turned on put below it, an entry at the total cap refused for float
error, a blank provenance taken in LIVE, and an exit left working on a position a late exit fill
closed."""

from __future__ import annotations

from typing import Any

import pytest
from kernel_helpers import SilentVenue, intent

from dita import ExecutionKernel, KernelDiagnosticCode, VenueEvent
from dita.risk import RiskLimits

D = KernelDiagnosticCode


def test_leg_exits_close_a_position_whose_first_leg_is_under_one_lot() -> None:
    # Legs of 0.2 and 0.8 on 4 at a lot of 1: the first leg, 0.8, rounded to 0 and was refused
    # BELOW_MIN_NOTIONAL every time, the leg never advancing: Strategy.exit(leg=True) could
    # never reduce the position.
    k = ExecutionKernel(max_slots=1)
    k.set_market_limits("BTCUSDT", {"lot_step": 1.0})
    assert k.process_intent(intent("ENTER", target_size=4.0, exit_leg_ratios=[0.2, 0.8])).accepted
    first = k.process_intent(intent("EXIT"))
    assert first.accepted and first.details == {"leg_below_floor": 0.0}
    assert (k.slot(0).size, k.slot_dict(0)["active_leg_index"]) == (3.0, 1)
    last = k.process_intent(intent("EXIT"))
    assert last.accepted and k.slot(0).size == 0.0


def test_an_entry_fill_owed_counts_towards_the_notional_caps() -> None:
    # The venue ended the entry stating 10 filled, none reported yet: the slot waits for the
    # fill, and a second entry of 1,000 passed a cap of 1,000 beside it (2,000 once it came).
    k = ExecutionKernel(max_slots=2, venue=SilentVenue())
    k.set_risk_limits(RiskLimits(max_notional_total=1000).model_dump())
    order = k.process_intent(intent("ENTER", 0, target_size=10.0)).order
    assert order is not None
    cid = order.client_order_id
    end = VenueEvent("e1", "", 0, "CANCEL_ACK", venue_client_id=cid, filled_size=10.0)
    assert k.on_venue_event(end).accepted
    second = k.process_intent(intent("ENTER", 1, target_size=10.0))
    assert second.diagnostic_code == D.RISK_REJECTED
    assert second.details["rule"] == "max_notional_total"
    fill = VenueEvent("e2", "", 0, "FILL", venue_client_id=cid, price=100.0, size=10.0, filled_size=10.0)
    assert k.on_venue_event(fill).accepted
    assert sum(s["committed_notional"] for s in k.slots()) == 1000.0


def test_an_intent_stamped_ahead_blocks_the_order_rate_only_within_a_second_of_its_time() -> None:
    k = ExecutionKernel(max_slots=5)
    k.set_risk_limits(RiskLimits(max_order_rate=1).model_dump())
    now = 1_700_000_000.0
    assert k.process_intent(intent("ENTER", 0, timestamp=now + 3600)).accepted
    # No stamp is rewritten, and one counts only for intents within a second of it: counted
    # until its time, it would refuse orders for an hour.
    assert k.process_intent(intent("ENTER", 1, timestamp=now)).accepted
    assert k.process_intent(intent("ENTER", 2, timestamp=now + 0.5)).diagnostic_code == D.RISK_REJECTED
    assert k.process_intent(intent("ENTER", 3, timestamp=now + 1.0)).accepted
    assert k.process_intent(intent("ENTER", 4, timestamp=now + 3599.5)).diagnostic_code == D.RISK_REJECTED


class CancelsKept(SilentVenue):
    """Takes every order, answers nothing, and keeps the client ids it is asked to cancel."""

    def __init__(self) -> None:
        self.cancels: list[str] = []

    def cancel(self, order: Any) -> list[VenueEvent]:
        self.cancels.append(order.client_order_id)
        return []


def test_an_edge_freeze_asks_again_to_cancel_an_order_in_doubt() -> None:
    # docs/concepts/risk.md: the freeze cancels every working order; an entry rate limited
    # before its ack, a cancel asked, may still work at the venue (in doubt, its slot IDLE).
    venue = CancelsKept()
    k = ExecutionKernel(max_slots=2, venue=venue)
    k.set_risk_limits(RiskLimits(edge_freeze_threshold_bps=5.0).model_dump())
    order = k.process_intent(intent("ENTER", order_type="LIMIT", limit_price=90.0)).order
    assert order is not None
    assert k.process_intent(intent("CANCEL")).accepted
    limited = VenueEvent("e1", "", 0, "RATE_LIMITED", venue_client_id=order.client_order_id, retry_after=1.0)
    k.on_venue_event(limited)
    assert [o.client_order_id for o in k.orders_in_doubt()] == [order.client_order_id]
    venue.cancels.clear()
    frozen = k.on_edge_update("BTCUSDT", 1.0)
    assert frozen.details["frozen"] is True
    assert venue.cancels == [order.client_order_id]
    # A further edge below the threshold does not ask again: the freeze is in place.
    k.on_edge_update("BTCUSDT", 0.5)
    assert venue.cancels == [order.client_order_id]


@pytest.mark.parametrize(("edges", "still_below"), [({"AAA": 1.0}, None), ({"AAA": 1.0, "BBB": 0.2}, "BBB")])
def test_a_new_freeze_threshold_judges_the_edges_below_the_old_one_again(
    edges: dict[str, float], still_below: str | None
) -> None:
    # docs/concepts/risk.md: the freeze lifts once no asset's last edge is below the threshold.
    k = ExecutionKernel(max_slots=2, venue=SilentVenue())
    k.set_risk_limits(RiskLimits(edge_freeze_threshold_bps=5.0).model_dump())
    for asset, edge in edges.items():
        k.on_edge_update(asset, edge)
    assert k.control()["frozen"] is True
    k.set_risk_limits(RiskLimits(edge_freeze_threshold_bps=0.5).model_dump())
    control = k.control()
    if still_below is None:
        assert (control["frozen"], control["freeze_asset"], control["freeze_reason"]) == (False, "", "")
        assert k.process_intent(intent("ENTER", asset="CCC")).accepted
    else:
        assert control["frozen"] is True and control["freeze_asset"] == still_below
        assert control["freeze_reason"] == "edge 0.2000 bps below threshold 0.5000 bps"
        refused = k.process_intent(intent("ENTER", asset="CCC"))
        assert refused.diagnostic_code == D.RISK_REJECTED and refused.details["rule"] == "edge_freeze"


@pytest.mark.parametrize(("before", "edge", "after"), [(1.0, 3.0, 5.0), (None, -50.0, 0.0)])
def test_a_new_freeze_threshold_judges_every_assets_last_edge(
    before: float | None, edge: float, after: float
) -> None:
    # docs/concepts/risk.md: a last edge above the old threshold, or received while the rule
    # was off, freezes the kernel once the new threshold is above it.
    k = ExecutionKernel(max_slots=1, venue=SilentVenue())
    k.set_risk_limits(RiskLimits(edge_freeze_threshold_bps=before).model_dump())
    k.on_edge_update("BTCUSDT", edge)
    assert k.control()["frozen"] is False
    k.set_risk_limits(RiskLimits(edge_freeze_threshold_bps=after).model_dump())
    control = k.control()
    assert control["frozen"] is True and control["freeze_asset"] == "BTCUSDT"
    refused = k.process_intent(intent("ENTER", 0))
    assert refused.diagnostic_code == D.RISK_REJECTED and refused.details["rule"] == "edge_freeze"


def test_an_entry_at_the_total_cap_is_taken_after_trades_that_closed() -> None:
    # Two trades opened then closed leave float error in the running total (an entry of
    # exactly 1e8 valued 1e8 + 1.5e-8), which an absolute tolerance of 1e-9 refused at the cap.
    k = ExecutionKernel(max_slots=3, venue=SilentVenue())
    trades = ((0, "AAA", 1451.264, 68728.81, 68728.81), (1, "BBB", 902.003, 66600.71, 66617.74))
    fills = iter(range(1, 100))

    def filled(action: str, slot: int, asset: str, qty: float, reference: float, price: float) -> None:
        order = k.process_intent(
            intent(action, slot, asset=asset, target_size=qty, reference_price=reference)
        ).order
        assert order is not None
        n = next(fills)
        fill = VenueEvent(
            f"f{n}",
            "",
            slot,
            "FILL",
            venue_client_id=order.client_order_id,
            price=price,
            size=qty,
            fill_id=f"F{n}",
        )
        assert k.on_venue_event(fill).accepted

    for slot, asset, qty, reference, price in trades:
        filled("ENTER", slot, asset, qty, reference, price)
    for slot, asset, qty, _, price in trades:
        filled("EXIT", slot, asset, qty, price, price)
    assert [s["fsm_state"] for s in k.slots()][:2] == ["CLOSED", "CLOSED"]
    k.set_risk_limits(RiskLimits(max_notional_total=1e8 - 1).model_dump())
    entry = intent("ENTER", 2, asset="CCC", target_size=1000.0, reference_price=100_000.0)
    below = k.process_intent(entry)
    assert below.details["value"] > 1e8  # the float error the cap must allow for
    k.set_risk_limits(RiskLimits(max_notional_total=1e8).model_dump())
    at_cap = k.process_intent(intent("ENTER", 2, asset="CCC", target_size=1000.0, reference_price=100_000.0))
    assert at_cap.accepted, at_cap.details


@pytest.mark.parametrize("source_run", ["", "   ", "\t\n"])
def test_live_refuses_a_source_run_of_only_whitespace(source_run: str) -> None:
    # docs/concepts/risk.md: LIVE entries must carry metadata["source_run"]; text of only
    # whitespace names nothing, as for an override.
    k = ExecutionKernel(max_slots=1, venue=SilentVenue())
    k.update_control(mode="LIVE", source="test")
    out = k.process_intent(intent("ENTER", metadata={"source_run": source_run}))
    assert out.diagnostic_code == D.RISK_REJECTED and out.details["rule"] == "provenance"
    assert k.process_intent(intent("ENTER", metadata={"source_run": "run-7"})).accepted


def test_risk_limits_changed_while_frozen_keep_the_asset_that_froze() -> None:
    k = ExecutionKernel(max_slots=2, venue=SilentVenue())
    k.set_risk_limits(RiskLimits(edge_freeze_threshold_bps=5.0).model_dump())
    k.on_edge_update("BBB", 1.0)
    k.on_edge_update("AAA", 0.2)
    assert k.control()["freeze_asset"] == "BBB"
    k.set_risk_limits(RiskLimits(edge_freeze_threshold_bps=5.0, max_leverage=3.0).model_dump())
    control = k.control()
    assert (control["frozen"], control["freeze_asset"]) == (True, "BBB")
    assert control["freeze_reason"] == "edge 1.0000 bps below threshold 5.0000 bps"


def test_a_late_exit_fill_asks_to_cancel_the_exit_working_beyond_what_is_left() -> None:
    # docs/concepts/risk.md: slots 0 and 1 long 10 each (the venue nets 20). Slot 0's exit 1
    # is canceled without a figure, exit 2 goes out reduce-only, then exit 1's fill comes: slot
    # 0 holds 0, and exit 2, covered by slot 1's 10 at the venue, would sell slot 1's position.
    venue = CancelsKept()
    k = ExecutionKernel(max_slots=2, venue=venue)
    for slot in (0, 1):
        order = k.process_intent(intent("ENTER", slot, target_size=10.0)).order
        assert order is not None
        fill = VenueEvent(
            f"f{slot}", "", slot, "FILL", venue_client_id=order.client_order_id, price=100.0, size=10.0
        )
        assert k.on_venue_event(fill).accepted
    first = k.process_intent(intent("EXIT", 0)).order
    assert first is not None
    assert k.process_intent(intent("CANCEL", 0)).accepted
    assert k.on_venue_event(
        VenueEvent("c1", "", 0, "CANCEL_ACK", venue_client_id=first.client_order_id)
    ).accepted
    second = k.process_intent(intent("EXIT", 0)).order
    assert second is not None and second.reduce_only and second.size == 10.0
    venue.cancels.clear()
    late = VenueEvent("f9", "", 0, "FILL", venue_client_id=first.client_order_id, price=100.0, size=10.0)
    out = k.on_venue_event(late)
    assert out.accepted and k.slots()[0]["size"] == 0.0
    assert venue.cancels == [second.client_order_id]
    working = k.slot_state(0).active_exit_order
    assert working is not None and working.cancel_requested
    # The cancel acknowledged, the trade closes and slot 1 keeps its 10.
    assert k.on_venue_event(
        VenueEvent("c2", "", 0, "CANCEL_ACK", venue_client_id=second.client_order_id)
    ).accepted
    assert k.slots()[0]["fsm_state"] == "CLOSED" and k.slots()[1]["size"] == 10.0
