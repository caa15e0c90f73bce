"""max_leverage bounds the account's leverage: what the notional caps count committed, the
entry's notional added, over the equity; an entry that would lever the account past it is
refused, whatever leverage its intent declares."""

from __future__ import annotations

import math
from typing import Any

from kernel_helpers import intent

from dita import ExecutionKernel


class _KeepsOrders:
    """Takes every order and answers nothing: what it takes keeps working."""

    name = "keeps-orders"

    def submit(self, order: Any) -> list[Any]:
        return []

    def cancel(self, order: Any) -> list[Any]:
        return []


def _kernel(capital: float, max_leverage: float) -> ExecutionKernel:
    kernel = ExecutionKernel(max_slots=3, venue=_KeepsOrders())
    if capital:
        kernel.set_seed_capital(capital)
    kernel.set_risk_limits({"max_leverage": max_leverage})
    return kernel


def test_an_entry_that_levers_the_account_past_max_leverage_is_refused() -> None:
    kernel = _kernel(1_000.0, 2.0)
    out = kernel.process_intent(intent("ENTER", 0, target_size=1_000.0, reference_price=100.0))
    assert not out.accepted
    assert out.diagnostic_code.name == "RISK_REJECTED"
    assert out.details["rule"] == "max_leverage"
    assert (out.details["limit"], out.details["notional"], out.details["equity"]) == (2.0, 100_000.0, 1_000.0)
    assert out.details["value"] == out.details["notional"] / out.details["equity"]
    assert kernel.open_orders() == []


def test_working_entries_count_towards_the_accounts_leverage() -> None:
    kernel = _kernel(1_000.0, 2.0)
    # 1,500 of 2,000 the account may commit: taken; 600 more would make 2,100.
    assert kernel.process_intent(intent("ENTER", 0, target_size=15.0, reference_price=100.0)).accepted
    out = kernel.process_intent(intent("ENTER", 1, target_size=6.0, reference_price=100.0))
    assert out.details["rule"] == "max_leverage", out.details
    assert out.details["notional"] == 2_100.0
    # At the limit is within it.
    assert kernel.process_intent(intent("ENTER", 1, target_size=5.0, reference_price=100.0)).accepted


def test_an_account_without_equity_takes_no_entry_under_max_leverage() -> None:
    kernel = _kernel(0.0, 10.0)
    out = kernel.process_intent(intent("ENTER", 0, target_size=0.01, reference_price=100.0))
    assert out.details["rule"] == "max_leverage", out.details
    assert math.isinf(out.details["value"])
    assert "set_seed_capital" in out.details["reason"]


def test_the_equity_counts_the_open_positions_unrealized_pnl() -> None:
    from dita import VenueEvent

    kernel = _kernel(1_000.0, 2.0)
    order = kernel.process_intent(intent("ENTER", 0, target_size=10.0, reference_price=100.0)).order
    assert order is not None
    fill = VenueEvent("f0", "", 0, "FILL", venue_client_id=order.client_order_id, price=100.0,
                      size=10.0, filled_size=10.0)  # fmt: skip
    assert kernel.on_venue_event(fill).accepted
    kernel.mark_price("BTCUSDT", 150.0)
    # 1,000 held at its entry price and 1,800 more is within 2 x the equity (1,500 less the
    # entry's fee), not within 2 x the capital.
    assert 2 * kernel.account()["capital"] < 2_800.0 <= 2 * kernel.equity()
    out = kernel.process_intent(intent("ENTER", 1, target_size=12.0, reference_price=150.0))
    assert out.accepted, out.details
    past = kernel.process_intent(intent("ENTER", 2, target_size=2.0, reference_price=150.0))
    assert past.details["rule"] == "max_leverage"
    assert past.details["equity"] == kernel.equity()
