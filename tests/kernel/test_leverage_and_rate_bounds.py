"""Bounds a review of the risk settings found missing: a leverage of 1e-320 (an entry's, a cap's,
a loaded slot's) was taken, and a ``max_order_rate`` above the 100,000 orders the window counts
never bound."""

from __future__ import annotations

import pytest
from kernel_helpers import intent
from pydantic import ValidationError

from dita import ExecutionKernel, KernelDiagnosticCode
from dita.risk import KERNEL_MAX_ORDER_RATE, KERNEL_MIN_LEVERAGE, RiskLimits

D = KernelDiagnosticCode


@pytest.mark.parametrize("leverage", [1e-320, 5e-324, 1e-300, 9.9e-16])
def test_an_enter_below_the_smallest_leverage_is_refused_naming_it(leverage: float) -> None:
    k = ExecutionKernel(max_slots=1)
    out = k.process_intent(intent("ENTER", leverage=leverage))
    assert out.diagnostic_code == D.INVALID_INTENT
    assert out.details == {"field": "leverage", "value": leverage, "reason": "must be at least 1e-15"}
    assert k.slot_dict(0)["fsm_state"] == "IDLE"
    assert k.process_intent(intent("ENTER", leverage=KERNEL_MIN_LEVERAGE)).accepted


@pytest.mark.parametrize(("leverage", "shown"), [(1e-320, "1e-320"), (1e-300, "1e-300")])
def test_a_max_leverage_below_the_smallest_leverage_is_refused_naming_it(leverage: float, shown: str) -> None:
    k = ExecutionKernel(max_slots=1)
    k.set_risk_limits({"max_leverage": 3.0})
    with pytest.raises(ValueError, match=rf"invalid max_leverage: {shown} \(must be at least 1e-15"):
        k.set_risk_limits({"max_leverage": leverage})
    assert k.risk_limits()["max_leverage"] == 3.0
    with pytest.raises(ValidationError, match="max_leverage"):
        RiskLimits(max_leverage=leverage)
    k.set_risk_limits(RiskLimits(max_leverage=KERNEL_MIN_LEVERAGE).model_dump())


def test_a_loaded_slot_at_a_tiny_leverage_is_refused_naming_it() -> None:
    k = ExecutionKernel(max_slots=1)
    assert k.process_intent(intent("ENTER")).accepted
    slots = k.slots()
    slots[0]["leverage"] = 1e-320
    with pytest.raises(ValueError, match=r"invalid slots\[0\]\.leverage: 1e-320"):
        ExecutionKernel(max_slots=1).reconcile_from_slots(slots)


def test_an_order_rate_above_what_the_window_counts_is_refused_naming_it() -> None:
    # The window holds 100,000 stamps: 100,003 orders in one second passed a rate of 100,001.
    k = ExecutionKernel(max_slots=1)
    with pytest.raises(ValueError, match=r"invalid max_order_rate: 100001 \(must be at most 100000"):
        k.set_risk_limits({"max_order_rate": KERNEL_MAX_ORDER_RATE + 1})
    assert k.risk_limits()["max_order_rate"] is None
    with pytest.raises(ValidationError, match="max_order_rate"):
        RiskLimits(max_order_rate=KERNEL_MAX_ORDER_RATE + 1)
    k.set_risk_limits(RiskLimits(max_order_rate=KERNEL_MAX_ORDER_RATE).model_dump())
