"""A venue id a finished order carried and the venue reused names neither order, as the live
kernel decided, once the kernel is reopened from its log: replayed from the start, or from a
checkpoint taken after the id was reused (the decision is the kernel's inputs' alone). Another
market's order acknowledged under it is refused alike."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dita import ExecutionKernel, KernelDiagnosticCode, KernelIntent, VenueEvent


class Silent:
    name = "silent"

    def submit(self, order: Any) -> list[VenueEvent]:
        return []

    def cancel(self, order: Any) -> list[VenueEvent]:
        return []


def kernel(wal_dir: Path) -> ExecutionKernel:
    k = ExecutionKernel(
        max_slots=3, venue=Silent(), kernel_id="ids", wal_dir=str(wal_dir), wal_checkpoint_every=0
    )
    if k.seq == 0:
        k.set_seed_capital(10_000.0)
    return k


def enter(k: ExecutionKernel, slot: int, asset: str) -> str:
    intent = KernelIntent(
        f"i{slot}", f"t{slot}", slot, asset, "LONG", "ENTER", 100.0, 1.0, timestamp=1_700_000_000.0
    )
    assert k.process_intent(intent).accepted
    order = k.slot_state(slot).active_entry_order
    assert order is not None
    return order.client_order_id


def event(kind: str, event_id: str, client_id: str = "", **kw: Any) -> VenueEvent:
    return VenueEvent(event_id, "", -1, kind, venue_client_id=client_id, timestamp=1_700_000_100.0, **kw)


def fill(event_id: str, client_id: str, **kw: Any) -> VenueEvent:
    return event("FILL", event_id, client_id, size=1.0, filled_size=1.0, price=100.0, status="FILLED", **kw)


@pytest.mark.parametrize("checkpoint", [False, True])
def test_a_reopened_kernel_refuses_an_event_naming_a_shared_venue_id_alone(
    tmp_path: Path, checkpoint: bool
) -> None:
    k = kernel(tmp_path)
    finished = enter(k, 0, "BTCUSDT")
    assert k.on_venue_event(fill("f0", finished, venue_order_id="V1")).accepted
    reusing = enter(k, 1, "BTCUSDT")
    assert k.on_venue_event(event("ORDER_ACK", "a1", reusing, venue_order_id="V1")).accepted
    other_market = enter(k, 2, "ETHUSDT")
    clash = k.on_venue_event(event("ORDER_ACK", "a2", other_market, venue_order_id="V1", asset="ETHUSDT"))
    assert clash.diagnostic_code == KernelDiagnosticCode.UNKNOWN_ORDER, clash.to_dict()
    if checkpoint:
        assert k.wal_checkpoint() == k.seq
    expected, seq = k.snapshot(), k.seq
    k.close()
    again = kernel(tmp_path)
    assert again.seq == seq and again.snapshot() == expected
    alone = again.on_venue_event(fill("f-alone", "", venue_order_id="V1"))
    assert alone.diagnostic_code == KernelDiagnosticCode.UNKNOWN_ORDER, alone.to_dict()
    again_clash = again.on_venue_event(
        event("ORDER_ACK", "a3", other_market, venue_order_id="V1", asset="ETHUSDT")
    )
    assert again_clash.diagnostic_code == KernelDiagnosticCode.UNKNOWN_ORDER, again_clash.to_dict()
    assert again.on_venue_event(fill("f1", reusing, venue_order_id="V1")).accepted
    assert again.on_venue_event(fill("f2", other_market, asset="ETHUSDT")).accepted
    assert [again.slot_state(s).size for s in range(3)] == [1.0, 1.0, 1.0]
    again.close()
