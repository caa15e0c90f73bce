"""The journal's queue is bounded in bytes too (``queue_bytes``), not only in rows: rows carrying
large metadata (a venue's event payload, a strategy's intent metadata) would make a queue
bounded at ``queue_rows`` hold hundreds of times the memory an operator planned for while
ClickHouse is away. Beyond the byte bound rows wait in the kernel's outbox, as beyond the row bound, and are
written once ClickHouse is back, each once."""

from __future__ import annotations

from pathlib import Path

import pytest

from dita import ExecutionKernel, KernelIntent
from dita._kernel import JournalBlock
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


def _bounded(tmp_path: Path, queue_bytes: int, **extra: int) -> ClickHouseJournal:
    """A journal under ``tmp_path`` bounded at ``queue_bytes``, retrying fast, no burst hold."""
    return ClickHouseJournal(
        f"chdb://{tmp_path / 'j'}",
        queue_bytes=queue_bytes,
        max_delay=0.01,
        retry_initial=0.001,
        retry_max=0.01,
        burst_hold=None,
        **extra,  # type: ignore[arg-type]
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
    journal = _bounded(tmp_path, limit, drain_rows=4)
    kernel = ExecutionKernel(max_slots=4, journal=journal, kernel_id="big", journal_capacity=10_000)
    flaky = None
    try:
        flaky = FlakyClient(journal._connection.client, insert_rule=lambda n: "before")
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
    journal = _bounded(tmp_path, 512 << 10, drain_rows=4)
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
        flaky = FlakyClient(journal._connection.client, insert_rule=lambda n: "before")
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


def _queued_encoded_bytes(journal: ClickHouseJournal) -> int:
    """The Native bytes of every row the journal holds (queued, or taken by the writer),
    measured on all of them: what the queue's byte count must keep to."""
    with journal._queue.cond:
        chunks = [*journal._queue.in_flight, *journal._queue.chunks]
    return sum(len(c.rows.encode()) for c in chunks)  # type: ignore[attr-defined]


def test_large_rows_in_the_middle_of_each_take_count_in_full(tmp_path: Path) -> None:
    """A block's bytes count in full, not estimated from its first and last 128 rows: takes
    whose large rows lie between them (100 KB reasons on rows 150..449 of 600) would count as
    small take after take, and the queue hold 43 times its byte bound while ClickHouse is away."""
    limit, big, per_round = 1 << 20, 8 * 1024, 600
    journal = _bounded(tmp_path, limit)
    kernel = ExecutionKernel(max_slots=4, journal=journal, kernel_id="mid", journal_capacity=100_000)
    flaky = None
    try:
        flaky = FlakyClient(journal._connection.client, insert_rule=lambda n: "before")
        n = 0
        for _ in range(6):
            for i in range(per_round):
                reason = "r" * big if per_round // 4 <= i < 3 * per_round // 4 else ""
                kernel.process_intent(
                    KernelIntent(f"e{n}", f"t{n}", n % 4, "BTC", "LONG", "ENTER", 100.0, 1.0, reason=reason)
                )
                n += 1
            # The drainer takes the round, or stops at a full queue.
            wait_until(
                lambda: (
                    kernel.stats()["journal_queued"] == 0 or journal.stats().extra["queued_bytes"] >= limit
                ),
                "the drainer to take the round or stop",
            )
        wait_until(lambda: flaky.failures > 2, "the writer to try ClickHouse")
        held = _queued_encoded_bytes(journal)
        one_take = (per_round // 2) * (big + 512) + per_round * 512  # a round's rows, generously
        assert held < limit + one_take, f"the queue holds {held} bytes for a bound of {limit}"
        assert journal.stats().extra["queued_bytes"] >= limit  # the count saw them
        assert kernel.stats()["journal_queued"] > 0  # the rest waits in the outbox
        flaky.restore()
        flaky = None
        journal.flush(120)
        count, distinct, longest = journal.query(
            "SELECT count(), countDistinct(seq, sub), max(length(reason)) FROM intents "
            "WHERE kernel_id = 'mid'"
        ).rows[0]
        assert count == distinct == n and longest == big  # every intent's row, once, whole
    finally:
        if flaky is not None:
            flaky.restore()
        journal.close()
        kernel.close()


def test_a_blocks_nbytes_counts_its_rows_strings_at_their_length() -> None:
    """``JournalBlock.nbytes`` is the bytes its rows take: a longer reason adds exactly its
    extra bytes (and those of its length), a slice counts its own rows only."""

    def intents_block(reasons: list[str]) -> JournalBlock:
        kernel = ExecutionKernel(max_slots=1, kernel_id="sizes")
        kernel.set_journal_enabled(True)
        for n, reason in enumerate(reasons):
            kernel.process_intent(
                KernelIntent(f"e{n}", f"t{n}", 0, "BTC", "LONG", "ENTER", 100.0, 1.0, reason=reason)
            )
        (block,) = [b for b in kernel.drain_journal_blocks() if b.table == "intents"]
        kernel.close()
        return block

    small = intents_block(["", "", ""])
    # Same rows but the middle one's reason: 100,000 bytes more, and a varint length of 3
    # bytes where "" had 1.
    large = intents_block(["", "r" * 100_000, ""])
    assert len(small) == len(large) == 3
    assert large.nbytes - small.nbytes == 100_000 + 2
    assert large.slice(1, 2).nbytes - small.slice(1, 2).nbytes == 100_000 + 2
    assert large.slice(0, 1).nbytes == small.slice(0, 1).nbytes
    parts = [large.slice(i, i + 1).nbytes for i in range(3)]
    assert sum(parts) == large.nbytes and min(parts) > 0
    assert large.slice(2, 2).nbytes == 0
    assert JournalBlock.concat([large.slice(0, 1), large.slice(1, 3)]).nbytes == large.nbytes
    assert large.without({large.first_key}).nbytes == large.nbytes - parts[0]  # type: ignore[arg-type]
    # Nothing encoded to count: the encoding is larger (kernel_id on every row).
    assert large.nbytes < len(large.encode())
