"""A journal attached to a kernel whose write-ahead log had its oldest segments archived (as the
log format allows), with the journal's gap starting in them: the fill failed as a "corrupt" log
(its checkpoint's segment missing), counted in ``wal_fill_failed``, and derived none of the rows
of the records still kept. It derives those from the oldest checkpoint kept on, and warns which
records cannot be derived."""

from __future__ import annotations

import itertools
import logging
import shutil
from pathlib import Path

import pytest

from dita.journal.clickhouse import ClickHouseJournal
from journal.helpers import journal_rows, normalize, reference_rows, twins


def _archive(wal: Path, aside: Path) -> int:
    """Moves aside the segments wholly before the newest checkpoint; returns its seq."""
    aside.mkdir()
    checkpoint = max(int(p.name[5:25]) for p in wal.glob("ckpt-*.ckpt"))
    for segment, after in itertools.pairwise(sorted(wal.glob("seg-*.wal"))):
        if int(after.name[4:24]) - 1 <= checkpoint:
            shutil.move(str(segment), aside / segment.name)
    assert list(aside.iterdir()), "no segment archived"
    return checkpoint


def test_a_wal_fill_below_archived_segments_derives_the_records_kept_and_names_the_rest(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    work, reference = twins(None, wal_dir=str(tmp_path / "wal"), fsync="none", wal_segment_bytes=4096)
    work.run(60)
    assert work.main.wal_checkpoint() is not None
    checkpoint = _archive(tmp_path / "wal", tmp_path / "aside")
    work.run(20, start=60)
    journal = ClickHouseJournal(f"chdb://{tmp_path / 'j'}", max_delay=0.01, close_timeout=20)
    try:
        with caplog.at_level(logging.WARNING, logger="dita.journal.clickhouse"):
            journal.attach(work.main)
            journal.flush(60)
        stats = journal.stats()
        assert stats.extra["wal_fill_failed"] == 0, stats.last_error
        assert f"records 1..{checkpoint}" in caplog.text and "archived" in caplog.text
        # Every row of the records after the checkpoint, as the kernel made them, and none before.
        expected = reference_rows(reference)
        for table in ("intents", "fills", "transitions"):
            want = [normalize(table, r) for r in expected[table] if r[0] > checkpoint]
            assert want and journal_rows(journal, table, "desk-1") == want, table
        assert journal.gap_start("desk-1") == work.main.wal_info()["last_seq"] + 1
    finally:
        journal.detach(work.main)
        journal.close()
