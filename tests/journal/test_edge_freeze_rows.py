"""An edge freeze is journaled: the cancels it asks as transitions (reason edge_freeze) at NORMAL,
the freeze and its lift as control changes at every verbosity, and the rows the write-ahead log
gives back equal those made live."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dita import ExecutionKernel, KernelIntent, MockVenueAdapter
from dita.journal.clickhouse import ClickHouseJournal

T = 1_790_000_000.0


def _resting_entry(kernel: ExecutionKernel, slot: int) -> None:
    kernel.process_intent(
        KernelIntent(
            f"e{slot}",
            f"T{slot}",
            slot,
            "BTC-USDT",
            "LONG",
            "ENTER",
            100.0,
            1.0,
            order_type="LIMIT",
            limit_price=99.0,
            timestamp=T + slot,
        )
    )
    assert kernel.slot_state(slot).fsm_state.name == "ENTRY_WORKING"


@pytest.mark.parametrize("verbosity", ["NORMAL", "DEBUG"])
def test_the_cancel_an_edge_freeze_asks_is_journaled(journal: ClickHouseJournal, verbosity: str) -> None:
    kernel = ExecutionKernel(
        max_slots=2, venue=MockVenueAdapter(seed=1, fill_rate=0.0), journal=journal, kernel_id="frz"
    )
    kernel.set_risk_limits({"edge_freeze_threshold_bps": 5.0})
    kernel.update_control(verbosity=verbosity, source="test")
    _resting_entry(kernel, 0)
    out = kernel.on_edge_update("BTC-USDT", 1.0, timestamp=T + 10)
    assert "CANCEL_REQUESTED" in [t.trigger for t in out.transitions] and kernel.control()["frozen"]
    kernel.close()
    rows = journal.query(
        "SELECT what, detail FROM slot_timeline WHERE kernel_id = 'frz' AND trade_id = 'T0' "
        "AND source = 'transition' AND detail LIKE 'CANCEL_REQUESTED%'"
    ).rows
    assert rows == [["ENTRY_WORKING -> ENTRY_WORKING", 'CANCEL_REQUESTED {"reason":"edge_freeze"}']], rows


@pytest.mark.parametrize("verbosity", ["QUIET", "NORMAL"])
def test_an_edge_freeze_and_its_lift_are_control_changes(journal: ClickHouseJournal, verbosity: str) -> None:
    kernel = ExecutionKernel(max_slots=2, journal=journal, kernel_id="frz")
    kernel.update_control(verbosity=verbosity, source="test")
    kernel.set_risk_limits({"edge_freeze_threshold_bps": 5.0})
    froze = kernel.on_edge_update("ETH-USDT", 1.0, timestamp=T)
    held = kernel.on_edge_update("ETH-USDT", 2.0, timestamp=T + 1)  # still frozen: no change
    lifted = kernel.on_edge_update("ETH-USDT", 9.0, timestamp=T + 2)
    kernel.close()
    rows = journal.query(
        "SELECT seq, toUnixTimestamp64Micro(ts), mode, verbosity, source FROM control_changes FINAL "
        "WHERE kernel_id = 'frz' AND source LIKE 'edge_freeze%' ORDER BY seq"
    ).rows
    assert held.seq not in [r[0] for r in rows]
    assert rows == [
        [froze.seq, round(T * 1e6), "PAPER", verbosity, "edge_freeze:ETH-USDT"],
        [lifted.seq, round((T + 2) * 1e6), "PAPER", verbosity, "edge_freeze_lifted"],
    ]


def _live_and_from_the_log(kernel: ExecutionKernel) -> tuple[dict[str, list[Any]], dict[str, list[Any]]]:
    kernel.wal_sync()
    live = kernel.drain_journal(1_000_000)
    chunks: list[Any] = []
    kernel.wal_journal_blocks(1, sink=chunks.append)
    replayed: dict[str, list[Any]] = {t: [] for t in live}
    for blocks in chunks:
        for b in blocks:
            replayed[b.table].extend(b.tuples())
    return live, replayed


def test_the_log_gives_back_the_rows_of_an_edge_freeze_as_made_live(tmp_path: Path) -> None:
    kernel = ExecutionKernel(
        max_slots=3, venue=MockVenueAdapter(seed=1, fill_rate=0.0), kernel_id="frz", wal_dir=str(tmp_path)
    )
    kernel.set_journal_enabled(True)
    kernel.set_risk_limits({"edge_freeze_threshold_bps": 5.0})
    for slot in (0, 1):
        _resting_entry(kernel, slot)
    kernel.on_edge_update("BTC-USDT", 1.0, timestamp=T + 10)
    kernel.on_edge_update("BTC-USDT", 9.0, timestamp=T + 11)
    kernel.on_edge_update("ETH-USDT", -3.0, timestamp=T + 12)
    kernel.set_risk_limits({"edge_freeze_threshold_bps": -5.0})  # the limit change lifts it
    kernel.set_risk_limits({"edge_freeze_threshold_bps": 0.0})  # and freezes it again
    live, replayed = _live_and_from_the_log(kernel)
    sources = [r[-1] for r in live["control_changes"]]
    froze_btc, froze_eth, lifted = "edge_freeze:BTC-USDT", "edge_freeze:ETH-USDT", "edge_freeze_lifted"
    assert sources == [froze_btc, lifted, froze_eth, lifted, froze_eth]
    assert sum(1 for r in live["transitions"] if r[7] == "CANCEL_REQUESTED") == 2
    assert replayed == live
    kernel.close()
