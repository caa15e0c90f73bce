"""The journal's queue is bounded in bytes too (``queue_bytes``), not only in rows: rows carrying
large metadata (a venue's event payload, a strategy's intent metadata) made a queue bounded at
``queue_rows`` hold hundreds of times the memory an operator planned for while ClickHouse was
away. Beyond the byte bound rows wait in the kernel's outbox, as beyond the row bound, and are
written once ClickHouse is back, each once."""

from __future__ import annotations

from pathlib import Path

import pytest

from dita import ExecutionKernel, KernelIntent
from dita.journal.clickhouse import ClickHouseJournal
from journal.helpers import wait_until
from journal.test_faults import FlakyClient

_META = 64 * 1024  # bytes of metadata per intent row


def _intent(n: int) -> KernelIntent:
    return KernelIntent(
        f"e{n}",
        f"t{n}",
        n % 4,
        "BTC",
        "LONG",
        "ENTER",
        100.0,
        1.0,
        timestamp=1.0 + n,
        metadata={"payload": str(n % 10) * _META},
    )


def _stored(journal: ClickHouseJournal, kernel_id: str) -> tuple[int, int]:
    rows = journal.query(
        "SELECT count(), countDistinct(seq, sub), min(length(metadata)) FROM intents "
        "WHERE kernel_id = {k:String}",
        {"k": kernel_id},
    ).rows[0]
    assert rows[0] == rows[1], "an intent row stored twice"
    assert rows[2] >= _META, "metadata cut"
    return int(rows[0]), int(rows[2])


def test_rows_of_large_metadata_wait_in_the_outbox_beyond_queue_bytes(tmp_path: Path) -> None:
    limit = 1 << 20
    journal = ClickHouseJournal(
        f"chdb://{tmp_path / 'j'}",
        queue_bytes=limit,
        max_delay=0.01,
        retry_initial=0.001,
        retry_max=0.01,
        burst_hold=None,
        drain_rows=4,
    )
    kernel = ExecutionKernel(max_slots=4, journal=journal, kernel_id="big", journal_capacity=10_000)
    flaky = None
    try:
        flaky = FlakyClient(journal._client, insert_rule=lambda n: "before")
        intents = 120  # about 7.5 MiB of metadata
        for n in range(intents):
            kernel.process_intent(_intent(n))
        wait_until(lambda: flaky.failures > 2, "the writer to try ClickHouse")
        wait_until(lambda: journal.stats().extra["queued_bytes"] >= limit, "the queue to fill")
        queued = journal.stats()
        # Bounded by bytes (one take of a few rows may pass it), where the row bound (a
        # million rows) would have taken them all.
        assert limit <= queued.extra["queued_bytes"] < limit + 5 * _META * 2
        assert kernel.stats()["journal_queued"] > 0  # the rest waits in the outbox
        assert queued.queued < kernel.stats()["journal_queued_total"]
        assert kernel.stats()["journal_dropped"] == 0
        flaky.restore()
        journal.flush(120)
        assert _stored(journal, "big")[0] >= intents  # every intent's row, once
        assert journal.stats().extra["queued_bytes"] == 0
    finally:
        if flaky is not None:
            flaky.restore()
        journal.close()
        kernel.close()


@pytest.mark.parametrize("value", [0, -1, 1.5, True, "1"])
def test_queue_bytes_must_be_a_positive_integer(tmp_path: Path, value: object) -> None:
    with pytest.raises(ValueError, match="queue_bytes"):
        ClickHouseJournal(f"chdb://{tmp_path / 'j'}", queue_bytes=value)  # type: ignore[arg-type]


def test_rows_the_outbox_dropped_behind_a_full_byte_bound_come_back_from_the_wal(tmp_path: Path) -> None:
    """Beyond the byte bound rows wait in the outbox; when that overflows too, its drops are
    counted and derived again from the WAL once ClickHouse is back, as behind the row bound."""
    journal = ClickHouseJournal(
        f"chdb://{tmp_path / 'j'}",
        queue_bytes=512 << 10,
        max_delay=0.01,
        retry_initial=0.001,
        retry_max=0.01,
        burst_hold=None,
        drain_rows=4,
    )
    kernel = ExecutionKernel(
        max_slots=4,
        journal=journal,
        kernel_id="dropping",
        journal_capacity=40,
        wal_dir=str(tmp_path / "wal"),
        fsync="none",
    )
    flaky = None
    try:
        flaky = FlakyClient(journal._client, insert_rule=lambda n: "before")
        intents = 60
        for n in range(intents):
            kernel.process_intent(_intent(n))
        assert kernel.stats()["journal_dropped"] > 0
        assert journal.stats().dropped == kernel.stats()["journal_dropped"]
        flaky.restore()
        flaky = None
        journal.flush(120)
        assert _stored(journal, "dropping")[0] >= intents  # the dropped ones derived again, once
        assert journal.stats().extra["wal_refills"] >= 1
    finally:
        if flaky is not None:
            flaky.restore()
        journal.close()
        kernel.close()
