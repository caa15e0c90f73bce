"""Slots given to the kernel from outside (reconcile_from_slots, load_slots, set_slot_fields,
which a strategy's ``slot.size = ...`` calls) are journaled: one SLOTS_LOADED transition per
slot the load changed, the changed fields in its details, live and from the log alike."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from dita import JOURNAL_COLUMNS, ExecutionKernel, KernelIntent
from dita.journal.clickhouse import ClickHouseJournal

DOC = Path(__file__).parents[2] / "docs" / "guides" / "debugging-with-sql.md"
T = 1_790_000_000.0


def _query(number: int) -> str:
    for section in re.split(r"^### ", DOC.read_text(), flags=re.M)[1:]:
        if section.startswith(f"{number}. "):
            return str(re.findall(r"```sql\n(.*?)```", section, re.S)[0])
    raise AssertionError(number)


def _held_slots() -> list[dict[str, Any]]:
    before = ExecutionKernel(max_slots=2, kernel_id="before")
    before.process_intent(KernelIntent("e0", "T0", 0, "BTC-USDT", "LONG", "ENTER", 100.0, 1.0, timestamp=T))
    return before.slots()


def test_a_slot_reconciled_into_a_position_is_listed_by_query_5(journal: ClickHouseJournal) -> None:
    kernel = ExecutionKernel(max_slots=2, journal=journal, kernel_id="loaded")
    kernel.reconcile_from_slots(_held_slots())
    assert kernel.slot_state(0).fsm_state.name == "POSITION_OPEN"
    kernel.close()
    rows = journal.query(_query(5), {"kernel": "loaded"}).rows
    assert [r[:3] for r in rows] == [[0, "T0", "POSITION_OPEN"]], rows


def _transitions(kernel: ExecutionKernel) -> list[dict[str, Any]]:
    cols = JOURNAL_COLUMNS["transitions"]
    return [dict(zip(cols, r, strict=True)) for r in kernel.drain_journal(1_000_000)["transitions"]]


def test_each_slot_a_load_changed_has_one_row_with_the_fields_it_changed(tmp_path: Path) -> None:
    kernel = ExecutionKernel(max_slots=2, kernel_id="loaded", wal_dir=str(tmp_path))
    kernel.set_journal_enabled(True)
    kernel.load_slots(_held_slots())
    kernel.set_slot_fields(0, {"size": 0.5, "realized_pnl": 2.0})
    kernel.set_slot_fields(0, {"size": 0.5})  # changes nothing: no row
    kernel.wal_sync()
    rows = _transitions(kernel)
    got = [
        tuple(r[c] for c in ("seq", "slot_id", "trade_id", "prev_state", "next_state", "trigger"))
        for r in rows
    ]
    assert got == [
        (1, 0, "T0", "IDLE", "POSITION_OPEN", "SLOTS_LOADED"),
        (2, 0, "T0", "POSITION_OPEN", "POSITION_OPEN", "SLOTS_LOADED"),
    ]
    loaded = json.loads(rows[0]["details"])
    assert loaded["trade_id"] == "T0" and loaded["size"] == 1.0 and loaded["asset"] == "BTC-USDT"
    assert json.loads(rows[1]["details"]) == {"size": 0.5, "realized_pnl": 2.0}
    # Emptied, the slot's row stays on the trade it held.
    kernel.reconcile_from_slots(ExecutionKernel(max_slots=2).slots())
    kernel.wal_sync()
    (emptied,) = _transitions(kernel)
    assert [emptied[c] for c in ("trade_id", "prev_state", "next_state")] == ["T0", "POSITION_OPEN", "IDLE"]


def test_the_log_gives_back_the_rows_of_loaded_slots_as_made_live(tmp_path: Path) -> None:
    kernel = ExecutionKernel(max_slots=2, kernel_id="loaded", wal_dir=str(tmp_path))
    kernel.set_journal_enabled(True)
    kernel.update_control(verbosity="DEBUG", source="test")
    kernel.reconcile_from_slots(_held_slots())
    kernel.set_slot_fields(0, {"size": 0.25, "fees_paid": 0.1})
    kernel.wal_checkpoint()
    kernel.load_slots(ExecutionKernel(max_slots=2).slots())
    kernel.wal_sync()
    live = kernel.drain_journal(1_000_000)
    chunks: list[Any] = []
    kernel.wal_journal_blocks(1, sink=chunks.append)
    replayed = [row for blocks in chunks for b in blocks if b.table == "transitions" for row in b.tuples()]
    assert len(live["transitions"]) == 3
    assert replayed == live["transitions"]
    kernel.close()
