"""Defects a review of the risk guard found: a SHORT LIMIT entry priced far under the market
passed the notional caps at its limit price and filled at the market, far above them; and a
freeze left in place when the operator turned the edge-freeze rule off refused every entry for
good, as no edge update lifts a freeze once the rule is off.

The kernel's own integration tests check both too (the edge freeze's, and the commitment of a
SELL LIMIT entry under the notional caps); these check them through the bindings."""

from __future__ import annotations

from kernel_helpers import SilentVenue, intent

from dita import ExecutionKernel, KernelDiagnosticCode, VenueEvent
from dita.risk import RiskLimits

D = KernelDiagnosticCode


def test_a_short_limit_entry_priced_under_the_market_is_judged_at_the_market() -> None:
    # A sell limit of 1 with the market (reference) at 100 is marketable: it fills at about
    # 100. Judged at 1, 500 of it (500 x 1 = 500) would pass a total cap of 1,000 and fill, the
    # slot committing 500 x 100 = 50,000, fifty times the cap.
    k = ExecutionKernel(max_slots=2, venue=SilentVenue())
    k.set_risk_limits(RiskLimits(max_notional_total=1000).model_dump())
    short = dict(side="SHORT", order_type="LIMIT", limit_price=1.0, reference_price=100.0)
    out = k.process_intent(intent("ENTER", 0, target_size=500.0, **short))
    if out.accepted and out.order is not None:
        # What it comes to at the venue, for the message below.
        cid = out.order.client_order_id
        fill = VenueEvent("e1", "", 0, "FILL", venue_client_id=cid, price=100.0, size=500.0,
                          filled_size=500.0)  # fmt: skip
        k.on_venue_event(fill)
    committed = sum(s["committed_notional"] for s in k.slots())
    assert out.diagnostic_code == D.RISK_REJECTED, f"taken, and committed {committed} under a cap of 1000"
    assert out.details["rule"] == "max_notional_total"
    assert out.details["value"] == 50_000.0
    # What fits at the market is taken, and a resting sell above it is judged at its price.
    assert k.process_intent(intent("ENTER", 0, target_size=5.0, **short)).accepted
    resting = dict(short, limit_price=120.0)
    assert k.process_intent(intent("ENTER", 1, target_size=4.0, **resting)).accepted
    assert sum(s["committed_notional"] for s in k.slots()) == 5 * 100.0 + 4 * 120.0


def test_a_long_limit_entry_is_judged_at_its_limit_price() -> None:
    # A buy fills at its limit or lower: its limit price bounds what it commits, whatever the
    # reference (the fix above leaves it so).
    k = ExecutionKernel(max_slots=1, venue=SilentVenue())
    k.set_risk_limits(RiskLimits(max_notional_total=1000).model_dump())
    out = k.process_intent(
        intent("ENTER", 0, order_type="LIMIT", limit_price=1.0, reference_price=100.0, target_size=500.0)
    )
    assert out.accepted
    assert k.slot_dict(0)["committed_notional"] == 500.0


def test_turning_the_edge_freeze_off_lifts_a_freeze_in_place() -> None:
    k = ExecutionKernel(max_slots=1)
    k.set_risk_limits(RiskLimits(edge_freeze_threshold_bps=0).model_dump())
    assert k.on_edge_update("BTCUSDT", -5.0).details == {"frozen": True}
    k.set_risk_limits(RiskLimits().model_dump())
    # The edge even comes back on the asset that froze it, which alone lifts nothing.
    k.on_edge_update("BTCUSDT", 50.0)
    out = k.process_intent(intent("ENTER"))
    assert out.accepted, f"refused by a rule that is off: {out.details}"
    assert not k.control()["frozen"]


def test_a_freeze_stays_while_the_rule_is_on_and_its_edge_is_below() -> None:
    # Only turning the rule off lifts it: other risk limits changed keep the freeze.
    k = ExecutionKernel(max_slots=1)
    k.set_risk_limits(RiskLimits(edge_freeze_threshold_bps=0).model_dump())
    k.on_edge_update("BTCUSDT", -5.0)
    k.set_risk_limits(RiskLimits(edge_freeze_threshold_bps=0, max_notional_total=10_000).model_dump())
    refused = k.process_intent(intent("ENTER"))
    assert refused.diagnostic_code == D.RISK_REJECTED and refused.details["rule"] == "edge_freeze"
    k.on_edge_update("BTCUSDT", 1.0)
    assert k.process_intent(intent("ENTER")).accepted
