"""With ``debug_clickhouse_enabled`` off a kernel queues no journal rows, fills included: the
change turning it off is journaled, so `dita pnl --journal` says when its sums may fall short
of the kernel's own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dita import ExecutionKernel
from dita.journal.clickhouse import ClickHouseJournal
from journal.helpers import Side, Workload, pnl_rows, twins, venue


def test_pnl_says_when_journaling_was_off_for_a_while(tmp_path: Path) -> None:
    dsn = f"chdb://{tmp_path / 'j'}"
    journal = ClickHouseJournal(dsn, max_delay=0.02, close_timeout=20)
    try:
        work, _ = twins(journal, kernel_id="sw-1")
        work.run(20)
        work.control(debug_clickhouse_enabled=False)  # an operator lightening the load
        work.run(20, start=20)
        work.control(debug_clickhouse_enabled=True)
        work.run(20, start=40)
        account = work.main.account()
        work.main.close()
        changes = journal.query(
            "SELECT debug_clickhouse_enabled FROM control_changes FINAL WHERE kernel_id = 'sw-1' ORDER BY seq"
        ).rows
    finally:
        journal.close()
    assert changes == [[False], [True]]  # the change turning it off too
    (row,) = pnl_rows("--journal", dsn, "--kernel", "sw-1")
    assert row["fills"] > 0 and row["realized_pnl"] != account["k_realized_pnl"]
    assert row["note"].startswith("journaling was off (debug_clickhouse_enabled) from ")
    assert "the journal holds none of the kernel's fills then" in row["note"]
    # A period ending before it was turned off has no such note.
    (row,) = pnl_rows("--journal", dsn, "--kernel", "sw-1", "--at", "2000-01-01T00:00:00")
    assert row["note"] == ""


def test_an_off_span_is_noted_in_the_periods_of_the_kernels_clock(tmp_path: Path) -> None:
    # The control changes are stamped by the host's clock, the fills by the kernel's (T0, in
    # 2026-09-21, a replay's data time): each period the missed fills may fall in is noted.
    dsn = f"chdb://{tmp_path / 'j'}"
    journal = ClickHouseJournal(dsn, max_delay=0.02, close_timeout=20)
    try:
        work, _ = twins(journal, kernel_id="day-1")
        work.run(20)
        work.control(debug_clickhouse_enabled=False)
        work.run(20, start=20)
        work.clock += 86_400.0  # on into 2026-09-22, still off
        work.run(20, start=40)
        work.control(debug_clickhouse_enabled=True)
        work.run(20, start=60)
        work.main.close()
    finally:
        journal.close()

    def day(at: str) -> dict[str, Any]:
        (row,) = pnl_rows("--journal", dsn, "--kernel", "day-1", "--period", "today", "--at", at)
        return row

    first, second, third = day("2026-09-21T23:59:59"), day("2026-09-22T23:59:59"), day("2026-09-23T23:59:59")
    # Each of the two days has journaled fills on its side of the span and may miss some.
    assert first["fills"] > 0 and first["note"].startswith("journaling was off (debug_clickhouse_enabled)")
    assert second["fills"] > 0 and second["note"] == first["note"]
    assert " (seq " in first["note"]  # the span in the kernel's seq: its times are the host's
    # The day after the last fill misses none.
    assert third["fills"] == 0 and third["note"] == ""


def test_every_kernel_with_journaling_off_in_the_period_has_a_row(tmp_path: Path) -> None:
    # Without --kernel the rows are those of the kernels with journaled fills or funding: one
    # whose every fill fell while journaling was off gets a zero row with its note.
    dsn = f"chdb://{tmp_path / 'j'}"
    journal = ClickHouseJournal(dsn, max_delay=0.02, close_timeout=20)

    def kernel(kernel_id: str) -> Workload:
        v = venue()
        k = ExecutionKernel(max_slots=8, venue=v, journal=journal, kernel_id=kernel_id, seed_capital=10_000.0)
        return Workload([Side(k, v)], 8)

    try:
        on, off, late = kernel("on-1"), kernel("off-1"), kernel("late-1")
        off.control(debug_clickhouse_enabled=False)  # from its start
        for work in (on, off, late):
            work.run(20)
        late.control(debug_clickhouse_enabled=False)  # after its fills of 2026-09-21
        late.clock += 2 * 86_400.0
        late.run(20, start=20)
        traded = off.main.account()["k_realized_pnl"]
        for work in (on, off, late):
            work.main.close()
    finally:
        journal.close()
    assert traded != 0.0
    rows = {r["kernel_id"]: r for r in pnl_rows("--journal", dsn)}
    assert sorted(rows) == ["late-1", "off-1", "on-1"]
    assert rows["off-1"]["fills"] == 0 and rows["off-1"]["net_pnl"] == 0.0
    assert rows["off-1"]["note"].startswith("journaling was off (debug_clickhouse_enabled)")
    assert rows["late-1"]["fills"] > 0 and rows["late-1"]["note"].startswith("journaling was off")
    assert rows["on-1"]["note"] == ""

    # 2026-09-23 has no journaled fill, and late-1 may have missed some then; off-1's span has no
    # journaled row on either side, so it may be in any period.
    def day(at: str) -> list[tuple[str, int, bool]]:
        rows = pnl_rows("--journal", dsn, "--period", "today", "--at", at)
        return [(r["kernel_id"], r["fills"], bool(r["note"])) for r in rows]

    assert day("2026-09-23T23:59:59") == [("late-1", 0, True), ("off-1", 0, True), ("on-1", 0, False)]
    # The day before any fill misses none of late-1's.
    assert day("2026-09-20T23:59:59") == [("late-1", 0, False), ("off-1", 0, True), ("on-1", 0, False)]
