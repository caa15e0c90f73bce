"""The ops queries of docs/guides/operations.md, run through the client's SQL service on a real member.

Each query's rows are checked against what the kernels' own snapshot() says they must be.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hz_helpers import make_venue, mixed_workload

from dita import ExecutionKernel, KernelIntent, VenueEvent
from dita.projection.hazelcast import ACCOUNTS_MAP, CONTROL_MAP, SLOTS_MAP, HazelcastProjection
from dita.services.hazelcast import HazelcastMember

OPS_DOC = Path(__file__).resolve().parents[2] / "docs" / "guides" / "operations.md"
IN_FLIGHT = {"ORDER_REQUESTED", "ORDER_SENT", "ENTRY_WORKING", "EXIT_REQUESTED", "EXIT_SENT", "EXIT_WORKING"}


def ops_queries() -> dict[str, str]:
    text = OPS_DOC.read_text()
    blocks = re.findall(r"```sql\n-- ops:(\w+)\n(.*?)```", text, flags=re.S)
    return {name: sql.strip() for name, sql in blocks}


def run(client: Any, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with client.sql.execute(sql, *params).result() as result:
        names = [c.name for c in result.get_row_metadata().columns]
        return [tuple(row[n] for n in names) for row in result]


@pytest.fixture(scope="module")
def fleet(hz_member: HazelcastMember, hz_client: Any) -> Any:
    """Two kernels projected side by side, one busy and one halted, in a cleared cluster."""
    for name in (SLOTS_MAP, ACCOUNTS_MAP, CONTROL_MAP):
        hz_client.get_map(name).blocking().clear()
    projection = HazelcastProjection([hz_member.address], hz_member.cluster_name, interval=0.01)
    busy = ExecutionKernel(max_slots=12, venue=make_venue(9), projection=projection, kernel_id="sql-busy")
    quiet = ExecutionKernel(max_slots=3, projection=projection, kernel_id="sql-quiet")
    mixed_workload(busy, rounds=1_500, seed=21)
    for slot_id, asset, price in ((0, "BTC-USD", 60_000.0), (2, "SOL-USD", 150.0)):
        intent = KernelIntent(f"q-e{slot_id}", f"q-t{slot_id}", slot_id, asset, "SHORT", "ENTER", price, 0.02)
        assert quiet.process_intent(intent).accepted
    quiet.mark_price("SOL-USD", 140.0)
    quiet.update_control(mode="HALTED", source="ops-test")
    assert projection.sync(timeout=30)
    snapshots = {k.kernel_id: k.snapshot() for k in (busy, quiet)}
    yield snapshots
    busy.close()
    quiet.close()


def _slots(fleet: dict[str, Any]) -> list[dict[str, Any]]:
    return [dict(s, kernel_id=kid) for kid in sorted(fleet) for s in fleet[kid]["slots"]]


def test_the_doc_has_ten_ops_queries() -> None:
    assert len(ops_queries()) == 10


def test_the_issue_query_works(hz_client: Any, fleet: dict[str, Any]) -> None:
    rows = run(hz_client, "SELECT * FROM dita_slots WHERE fsm_state = 'POSITION_OPEN'")
    want = [s for s in _slots(fleet) if s["fsm_state"] == "POSITION_OPEN"]
    assert len(rows) == len(want) > 0


def _notional(slot: dict[str, Any]) -> float:
    """A position's notional as the account's ``open_notional`` counts it: at the mark, the entry
    price before the first mark."""
    return float(slot["size"] * (slot["mark_price"] if slot["mark_price"] > 0 else slot["entry_price"]))


def test_open_positions(hz_client: Any, fleet: dict[str, Any]) -> None:
    held = [s for s in _slots(fleet) if s["size"] > 0]
    assert {s["fsm_state"] for s in held} - {"POSITION_OPEN"}, "the workload leaves an exit or entry working"
    want = [
        (
            s["kernel_id"],
            s["slot_id"],
            s["asset"],
            s["side"],
            s["size"],
            s["entry_price"],
            s["unrealized_pnl"],
            s["fsm_state"],
        )
        for s in held
    ]
    rows = run(hz_client, ops_queries()["open_positions"])
    assert rows == want
    for kid in fleet:
        assert len([r for r in rows if r[0] == kid]) == fleet[kid]["account"]["open_positions"]


def test_slots_by_stage(hz_client: Any, fleet: dict[str, Any]) -> None:
    counts = Counter((s["kernel_id"], s["fsm_state"]) for s in _slots(fleet))
    assert run(hz_client, ops_queries()["slots_by_stage"]) == [(*k, n) for k, n in sorted(counts.items())]


def test_orders_in_flight(hz_client: Any, fleet: dict[str, Any]) -> None:
    want = [
        (s["kernel_id"], s["slot_id"], s["fsm_state"], s["asset"], s["side"], s["order_in_doubt"])
        for s in _slots(fleet)
        if s["fsm_state"] in IN_FLIGHT or s["order_in_doubt"]
    ]
    assert run(hz_client, ops_queries()["orders_in_flight"]) == want


def test_exposure_by_asset(hz_client: Any, fleet: dict[str, Any]) -> None:
    by_asset: dict[str, list[float]] = {}
    for s in _slots(fleet):
        if s["size"] > 0:
            row = by_asset.setdefault(s["asset"], [0.0, 0.0, 0])
            row[0] += s["size"] if s["side"] == "LONG" else -s["size"]
            row[1] += _notional(s)
            row[2] += 1
    rows = run(hz_client, ops_queries()["exposure_by_asset"])
    held = sum(fleet[kid]["account"]["open_notional"] for kid in fleet)
    assert sum(r[2] for r in rows) == pytest.approx(held)
    assert [r[0] for r in rows] == sorted(by_asset)
    for asset, net, gross, count in rows:
        assert (net, gross, count) == (
            pytest.approx(by_asset[asset][0]),
            pytest.approx(by_asset[asset][1]),
            by_asset[asset][2],
        )


def test_worst_unrealized(hz_client: Any, fleet: dict[str, Any]) -> None:
    open_slots = [s for s in _slots(fleet) if s["size"] > 0]
    open_slots.sort(key=lambda s: (s["unrealized_pnl"], f"{s['kernel_id']}:{s['slot_id']}"))
    want = [(s["kernel_id"], s["slot_id"], s["asset"], s["unrealized_pnl"]) for s in open_slots[:5]]
    assert run(hz_client, ops_queries()["worst_unrealized"]) == want


class Quiet:
    """A venue that answers nothing itself: the test gives its acks and fills."""

    name = "quiet"

    def submit(self, order: Any) -> list[Any]:
        return []

    def cancel(self, order: Any) -> list[Any]:
        return []


def test_the_ops_queries_count_every_position_the_account_counts(
    hz_member: HazelcastMember, hz_client: Any, kernel_id: str
) -> None:
    """A position whose take-profit rests (EXIT_WORKING) and an entry filled in part and working
    on (ENTRY_WORKING) are positions the account counts (open_positions, open_notional) and the
    venue holds: the queries list them, and the entry in doubt the orders in flight."""
    projection = HazelcastProjection([hz_member.address], hz_member.cluster_name, interval=0.01)
    kernel = ExecutionKernel(max_slots=4, venue=Quiet(), projection=projection, kernel_id=kernel_id)
    kernel.set_seed_capital(100_000.0)
    asset = f"ZZ{kernel_id[-6:].upper()}"  # of this kernel alone

    def enter(slot_id: int, side: str, size: float) -> str:
        intent = KernelIntent(
            f"{kernel_id}-e{slot_id}", f"{kernel_id}-t{slot_id}", slot_id, asset, side, "ENTER", 100.0, size
        )
        order = kernel.process_intent(intent).order
        assert order is not None
        return str(order.client_order_id)

    def event(kind: str, slot_id: int, coid: str, **fields: Any) -> None:
        ev = VenueEvent(
            f"{kernel_id}-{kind}{slot_id}",
            f"{kernel_id}-t{slot_id}",
            slot_id,
            kind,
            venue_client_id=coid,
            **fields,
        )
        kernel.on_venue_event(ev)

    try:
        part = enter(0, "LONG", 2.0)
        event("ORDER_ACK", 0, part)
        event("FILL", 0, part, price=100.0, size=0.5)
        held = enter(1, "SHORT", 1.0)
        event("FILL", 1, held, price=100.0, size=1.0)
        tp = KernelIntent(f"{kernel_id}-x1", f"{kernel_id}-t1", 1, asset, "SHORT", "EXIT", 100.0, 1.0,
                          order_type="LIMIT", limit_price=80.0)  # fmt: skip
        event("ORDER_ACK", 1, kernel.process_intent(tp).order.client_order_id)  # a take-profit resting
        doubt = enter(2, "LONG", 1.0)
        kernel.process_intent(
            KernelIntent(f"{kernel_id}-c2", f"{kernel_id}-t2", 2, asset, "LONG", "CANCEL", 100.0, 0.0)
        )
        event("RATE_LIMITED", 2, doubt, retry_after=1.0)
        kernel.mark_price(asset, 110.0)
        assert projection.sync(timeout=30)
        slots = [kernel.slot_dict(i) for i in range(3)]
        assert [s["fsm_state"] for s in slots] == ["ENTRY_WORKING", "EXIT_WORKING", "IDLE"]
        assert slots[2]["order_in_doubt"] == doubt
        account = kernel.account()
        assert (account["open_positions"], account["open_notional"]) == (2, pytest.approx(165.0))
        ops = ops_queries()
        mine = [r for r in run(hz_client, ops["open_positions"]) if r[0] == kernel_id]
        assert [(r[1], r[3], r[4], r[7]) for r in mine] == [
            (0, "LONG", 0.5, "ENTRY_WORKING"),
            (1, "SHORT", 1.0, "EXIT_WORKING"),
        ]
        assert len(mine) == account["open_positions"]
        (exposure,) = [r for r in run(hz_client, ops["exposure_by_asset"]) if r[0] == asset]
        assert exposure[1:] == (pytest.approx(-0.5), pytest.approx(account["open_notional"]), 2)
        # Without its LIMIT: the fleet's positions may all be worse than these.
        worst = [
            r for r in run(hz_client, ops["worst_unrealized"].replace("LIMIT 5", "")) if r[0] == kernel_id
        ]
        assert [r[1] for r in worst] == [1, 0]  # the short at a loss, then the long in profit
        in_flight = [r[1:] for r in run(hz_client, ops["orders_in_flight"]) if r[0] == kernel_id]
        assert in_flight == [
            (0, "ENTRY_WORKING", asset, "LONG", ""),
            (1, "EXIT_WORKING", asset, "SHORT", ""),
            (2, "IDLE", asset, "FLAT", doubt),
        ]
    finally:
        kernel.close()
        for name in (SLOTS_MAP, ACCOUNTS_MAP, CONTROL_MAP):
            m = hz_client.get_map(name).blocking()
            for key in [k for k in m.key_set() if str(k).startswith(kernel_id)]:
                m.delete(key)


def test_accounts(hz_client: Any, fleet: dict[str, Any]) -> None:
    fields = ("equity", "available_capital", "realized_pnl", "open_positions", "reconcile_status")
    want = [(kid, *(fleet[kid]["account"][f] for f in fields)) for kid in sorted(fleet)]
    assert run(hz_client, ops_queries()["accounts"]) == want


def test_reconcile_problems(hz_client: Any, fleet: dict[str, Any]) -> None:
    fields = ("reconcile_status", "reconcile_delta", "reconcile_explanation")
    want = [
        (kid, *(fleet[kid]["account"][f] for f in fields))
        for kid in sorted(fleet)
        if fleet[kid]["account"]["reconcile_status"] != "OK"
    ]
    assert run(hz_client, ops_queries()["reconcile_problems"]) == want


def test_halted_or_reducing(hz_client: Any, fleet: dict[str, Any]) -> None:
    want = [
        (kid, fleet[kid]["control"]["mode"], fleet[kid]["control"]["source"])
        for kid in sorted(fleet)
        if fleet[kid]["control"]["mode"] in ("HALTED", "REDUCE_ONLY")
    ]
    assert want == [("sql-quiet", "HALTED", "ops-test")]
    assert run(hz_client, ops_queries()["halted_or_reducing"]) == want


def test_halted_or_reducing_leaves_out_a_kernel_that_closed(
    hz_member: HazelcastMember, hz_client: Any, fleet: dict[str, Any]
) -> None:
    """A kernel's control entry outlives it: one halted and then closed was listed with the
    running ones, so an operator looking for what is held back saw kernels long gone."""
    projection = HazelcastProjection([hz_member.address], hz_member.cluster_name, interval=0.01)
    gone = ExecutionKernel(max_slots=1, projection=projection, kernel_id="sql-gone")
    gone.update_control(mode="REDUCE_ONLY", source="ops-test")
    assert projection.sync(timeout=30)
    gone.close()
    try:
        assert hz_client.get_map(CONTROL_MAP).blocking().get("sql-gone") is not None
        assert run(hz_client, ops_queries()["halted_or_reducing"]) == [("sql-quiet", "HALTED", "ops-test")]
    finally:
        for name in (SLOTS_MAP, ACCOUNTS_MAP, CONTROL_MAP):
            m = hz_client.get_map(name).blocking()
            for key in [k for k in m.key_set() if str(k).startswith("sql-gone")]:
                m.delete(key)


def test_stale_accounts(hz_client: Any, fleet: dict[str, Any]) -> None:
    sql = ops_queries()["stale_accounts"]
    assert run(hz_client, sql, time.time() - 3_600) == []
    rows = run(hz_client, sql, time.time() + 3_600)
    assert [r[0] for r in rows] == sorted(fleet)


def test_working_orders(hz_client: Any, fleet: dict[str, Any]) -> None:
    def field(order: dict[str, Any] | None, name: str) -> Any:
        return None if order is None else order[name]

    want = sorted(
        (
            f"{s['kernel_id']}:{s['slot_id']}",
            field(s["active_entry_order"], "client_order_id"),
            field(s["active_entry_order"], "status"),
            field(s["active_exit_order"], "client_order_id"),
            field(s["active_exit_order"], "status"),
        )
        for s in _slots(fleet)
        if s["active_entry_order"] is not None or s["active_exit_order"] is not None
    )
    assert want, "the workload leaves some orders working"
    assert run(hz_client, ops_queries()["working_orders"]) == want


def test_an_older_accounts_mapping_is_read_through_json_and_brought_up_to_date(
    hz_member: HazelcastMember, hz_client: Any, kernel_id: str
) -> None:
    """A mapping made by a version before `closed_at` has no such column: the `_json` mapping
    reads it all the same, and the next kernel of this version to connect replaces the mapping
    (docs/guides/operations.md, SQL)."""
    from dita.projection.hazelcast import create_mappings, to_json_value

    old_flat = (
        f"CREATE OR REPLACE MAPPING {ACCOUNTS_MAP} (__key VARCHAR, kernel_id VARCHAR, projected_at DOUBLE, "
        "equity DOUBLE) TYPE IMap OPTIONS ('keyFormat'='varchar', 'valueFormat'='json-flat')"
    )
    hz_client.sql.execute(old_flat).result()
    accounts = hz_client.get_map(ACCOUNTS_MAP).blocking()
    accounts.set(kernel_id, to_json_value({"kernel_id": kernel_id, "projected_at": 1.0, "closed_at": 2.5}))
    try:
        with pytest.raises(Exception, match="closed_at"):
            run(hz_client, f"SELECT closed_at FROM {ACCOUNTS_MAP} WHERE __key = ?", kernel_id)
        via_json = (
            f"SELECT JSON_VALUE(this, '$.closed_at') AS closed_at FROM {ACCOUNTS_MAP}_json WHERE __key = ?"
        )
        assert run(hz_client, via_json, kernel_id) == [("2.5",)]
        projection = HazelcastProjection([hz_member.address], hz_member.cluster_name, interval=0.01)
        kernel = ExecutionKernel(max_slots=1, projection=projection, kernel_id=f"{kernel_id}-new")
        try:
            assert projection.sync(timeout=30)  # a cycle makes the mappings before it writes
            assert run(hz_client, f"SELECT closed_at FROM {ACCOUNTS_MAP} WHERE __key = ?", kernel_id) == [
                (2.5,)
            ]
        finally:
            kernel.close()
    finally:
        accounts.remove(kernel_id)
        accounts.remove(f"{kernel_id}-new")
        create_mappings(hz_client, ExecutionKernel(max_slots=1))  # for the tests after this one
