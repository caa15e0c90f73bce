"""The kernel's journal in ClickHouse, embedded (chDB) or on a server: :class:`ClickHouseJournal`.

Two background threads keep ClickHouse off the hot path: the *drainer* moves rows from each
attached kernel's outbox into a bounded queue, and the *writer* inserts them in batches,
retrying while ClickHouse is away. No loss, no duplicates: a batch leaves the queue only once
ClickHouse took it, its retries carry a deduplication token and check which
``(kernel_id, seq, sub)`` keys landed already, and the tables are ReplacingMergeTree on those
keys, so ``FINAL`` collapses anything that slipped through. A row clickhouse-connect cannot
encode is set aside (:meth:`ClickHouseJournal.rejected_rows`); a refusal retrying does not
cure blocks the writer and ``flush()`` raises :class:`JournalBlockedError`; a kernel whose
rows would take stored rows' keys is refused at attach, or held once ClickHouse can be read.

One file per part, read in this order:

- ``journal.py``: :class:`ClickHouseJournal`, the public calls; it puts the parts together.
- ``settings.py``: the constructor's settings, checked.
- ``queue.py``: the queue between the outboxes and ClickHouse, the one lock, the counts.
- ``rows.py``: the rows in the queue (native blocks, tuples) and their columns.
- ``kernels.py``: the kernels attached, which may be written, what their outboxes dropped.
- ``drainer.py``: the drainer thread.
- ``writer.py``: the writer thread: batches, inserts, key checks, rows set aside.
- ``backoff.py``: the writer's failed attempts: waits, outages, blocks.
- ``connection.py``: the writer's client: opened, let go when it no longer answers.
- ``errors.py``: which ClickHouse errors retrying cures.
- ``progress.py``: the seq each kernel is stored up to (what ``gap_start`` reads).
- ``wal_fill.py``: rows derived again from a kernel's write-ahead log (the log gap fill).
- ``backfill.py``: the checks on rows resent with ``backfill``.
- ``queries.py``: read-only queries.
"""

from dita.journal.clickhouse.errors import JournalBlockedError
from dita.journal.clickhouse.journal import ClickHouseJournal, attach_all
from dita.journal.clickhouse.rows import BackfillResult

__all__ = ["BackfillResult", "ClickHouseJournal", "JournalBlockedError", "attach_all"]
