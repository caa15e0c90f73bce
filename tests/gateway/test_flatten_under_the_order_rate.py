"""Flatten all closes every position under the kernel's order-rate rule: its exits go out in one
burst, and the first MARKET exit of a slot's whole position since a fill changed it is neither
refused nor counted by ``max_order_rate`` (binds 127.0.0.1 on an ephemeral port through
tests/gateway/helpers.start_server, stopped in the test)."""

from __future__ import annotations

from typing import Any

from dita import ExecutionKernel, KernelIntent
from dita.risk import RiskLimits
from gateway.helpers import AUTH, start_server


def _three_positions(kernel: ExecutionKernel) -> None:
    # Three positions on the kernel's own mock (it fills market orders), then a rate of 2 orders
    # a second, the going-live guide's.
    for slot, asset in enumerate(("BTCUSDT", "ETHUSDT", "SOLUSDT")):
        out = kernel.process_intent(
            KernelIntent(
                intent_id=f"open-{slot}", trade_id=f"t{slot}", slot_id=slot, asset=asset, side="LONG",
                action="ENTER", reference_price=100.0, target_size=1.0,
                timestamp=1_700_000_000.0 + slot,
            )
        )  # fmt: skip
        assert out.accepted and kernel.slot_state(slot).fsm_state.name == "POSITION_OPEN", out.details
    kernel.set_risk_limits(RiskLimits(max_order_rate=2).model_dump())


def test_flatten_all_closes_three_positions_under_a_rate_of_two() -> None:
    live = start_server(max_slots=3, setup=_three_positions)
    try:
        res = live.client.post("/v1/flatten", json={"confirm": True}, headers=AUTH)
        assert res.status_code == 200, res.text
        answer: dict[str, Any] = res.json()
        refusals = [s["details"] for s in answer["steps"] if not s["accepted"]]
        open_after = [
            s["slot_id"]
            for s in (live.client.get(f"/v1/slots/{i}").json() for i in range(3))
            if s["size"] > 0
        ]
        assert (answer["exits_placed"], answer["refused"], open_after) == (3, 0, []), refusals
    finally:
        live.stop()
