"""Defects a review of the money and risk rules found: a leg exit below the venue's
floor that could never go out, an entry fill owed that the notional caps did not see, and an
intent stamped ahead of the clock that blocked the order-rate rule for as long."""

from __future__ import annotations

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
