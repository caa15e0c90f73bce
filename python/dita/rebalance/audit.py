"""Every fill a research run produced, traced through a kernel's write-ahead log: the intents
whose metadata carries the run's ``source_run`` sent orders (their SUBMIT transitions name the
client order ids), the fills of those orders were booked by records of the log, and each such
record's chain hash is read from the log after the whole chain has been verified
(``wal_verify``), so a fill listed is one the chain vouches for. A tampered log is refused as
``dita audit verify`` refuses it.

The journal rows are derived again by a read-only replay of a copy of the log, so the log
itself is neither locked nor written. The replay journals every intent and transition
whatever the kernel's control said when the records were written (QUIET, or
``debug_clickhouse_enabled`` off, journaled none), so every fill of the run is listed."""

from __future__ import annotations

import json
import shutil
import struct
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from dita._kernel import JOURNAL_COLUMNS, JournalBlock, WalError, wal_verify
from dita._wal_files import SYNCED_ALWAYS_FILE, checkpoints, kernel_id_end, segments
from dita.kernel import ExecutionKernel

__all__ = ["TracedFill", "record_hash", "replay_rows", "trace_source_run"]

# crc32 u32 | len u32 | seq u64 | ts f64 | hash [32] (docs/reference/log-format.md, "Segments")
_RECORD_HEAD = struct.Struct("<IIQd32s")
# Rows of a chunk the replay hands over at once: the rows kept are the run's own.
_CHUNK_ROWS = 20_000
_INTENT = JOURNAL_COLUMNS["intents"].index
_TRANSITION = JOURNAL_COLUMNS["transitions"].index
_FILL_COLUMNS = JOURNAL_COLUMNS["fills"]


@dataclass(frozen=True)
class TracedFill:
    seq: int  # the log record that booked the fill
    record_hash: str  # that record's chain hash
    source_run: str
    intent_id: str
    trade_id: str
    asset: str
    side: str
    price: float
    quantity: float
    fee: float
    fill_id: str
    client_order_id: str


def trace_source_run(wal_dir: Path, source_run: str) -> tuple[dict[str, Any], list[TracedFill]]:
    """The verified chain's report (``wal_verify``), with ``run_intents`` the number of intents
    carrying ``source_run`` the log holds (taken or refused: 0 for a run it holds nothing of),
    and every fill of the run's intents, in log order. Raises ``WalError`` for a log that fails
    the audit."""
    report = wal_verify(wal_dir)
    if report["records"] == 0:
        return {**report, "run_intents": 0}, []
    rows = _RunRows(source_run)
    replay_rows(wal_dir, report["kernel_id"], rows.take)
    report = {**report, "run_intents": len(rows.carried)}
    hashes = _record_hashes(wal_dir, {f[0] for f in rows.fills}, report["head_hash"])
    column = _FILL_COLUMNS.index
    traced = [
        TracedFill(
            f[column("seq")],
            hashes[f[column("seq")]],
            source_run,
            rows.sent_by[f[column("client_order_id")]],
            f[column("trade_id")],
            f[column("asset")],
            f[column("side")],
            f[column("price")],
            f[column("qty")],
            f[column("fee")],
            f[column("fill_id")],
            f[column("client_order_id")],
        )
        for f in rows.fills
    ]
    return report, traced


@dataclass
class _RunRows:
    """What the replay's rows say of one run, kept as the rows go by: the intents carrying it
    (taken or refused), the ones taken, the orders they sent, and those orders' fills."""

    source_run: str
    carried: set[str] = field(default_factory=set)
    intents: set[str] = field(default_factory=set)
    sent_by: dict[str, str] = field(default_factory=dict)  # client order id -> intent id
    fills: list[tuple[Any, ...]] = field(default_factory=list)

    def take(self, blocks: list[JournalBlock]) -> None:
        # A chunk holds whole records: an order's SUBMIT and its first fills may share one, so
        # intents and transitions are read before fills.
        for table, read in (
            ("intents", self._intents),
            ("transitions", self._submits),
            ("fills", self._fills),
        ):
            for block in blocks:
                if block.table == table:
                    read(block.tuples())

    def _intents(self, rows: list[tuple[Any, ...]]) -> None:
        accepted, intent_id, metadata = _INTENT("accepted"), _INTENT("intent_id"), _INTENT("metadata")
        for row in rows:
            # Only metadata with a source_run key is parsed: the run's name may be escaped there.
            if '"source_run"' in (row[metadata] or ""):
                if json.loads(row[metadata]).get("source_run") == self.source_run:
                    self.carried.add(row[intent_id])
                    if row[accepted]:
                        self.intents.add(row[intent_id])

    def _submits(self, rows: list[tuple[Any, ...]]) -> None:
        trigger, intent_id, details = _TRANSITION("trigger"), _TRANSITION("intent_id"), _TRANSITION("details")
        for row in rows:
            if row[trigger] == "SUBMIT" and row[intent_id] in self.intents:
                order = json.loads(row[details] or "{}").get("client_order_id")
                if order:
                    self.sent_by[order] = row[intent_id]

    def _fills(self, rows: list[tuple[Any, ...]]) -> None:
        order = _FILL_COLUMNS.index("client_order_id")
        self.fills.extend(row for row in rows if row[order] in self.sent_by)


def replay_rows(wal_dir: Path, kernel_id: str, sink: Any, from_seq: int = 1) -> None:
    """The journal rows of the log in ``wal_dir`` from seq ``from_seq`` on, handed to ``sink``
    in chunks, derived by a read-only replay of a copy of it (the log neither locked nor
    written, its clean-stop file left as it is)."""
    with tempfile.TemporaryDirectory(prefix="dita-trace-") as tmp:
        copy = Path(tmp) / "wal"
        copy.mkdir()
        for file in [*segments(wal_dir), *(path for _seq, path in checkpoints(wal_dir))]:
            shutil.copy2(file, copy / file.name)
        # The copy sends no order, so its open has no client order id to skip, however the log
        # last stopped: opened as a log of a writer that synced every record, it neither skips
        # nor warns of a crash (the log's own next open still does, from its own files).
        (copy / SYNCED_ALWAYS_FILE).touch()
        kernel = ExecutionKernel(kernel_id=kernel_id, wal_dir=str(copy))
        try:
            kernel.wal_journal_blocks(from_seq, sink=sink, chunk_rows=_CHUNK_ROWS, every_intent=True)
        finally:
            kernel.close()


def _record_hashes(wal_dir: Path, seqs: set[int], head_hash: str) -> dict[int, str]:
    """The chain hash of each record in ``seqs``, read from the segments, each record's checksum
    checked again and the last record's hash compared with the verified ``head_hash``: a log
    changed since it was verified is refused."""
    found: dict[int, str] = {}
    last = ""
    for seq, record_hash in _records(wal_dir):
        if seq in seqs:
            found[seq] = record_hash
        last = record_hash
    if last != head_hash:
        raise WalError(
            f"{wal_dir}: the log changed after it was verified (head hash {last} is not {head_hash})"
        )
    missing = seqs - found.keys()
    if missing:
        raise WalError(f"{wal_dir}: no record of seq {min(missing)} in the segments kept")
    return found


def record_hash(wal_dir: Path, seq: int) -> str | None:
    """The chain hash of the record of ``seq`` in the segments of ``wal_dir`` (None when they keep
    none: a seq past the log's end, or in segments archived). Each record's checksum is checked
    on the way."""
    return next((hashed for at, hashed in _records(wal_dir) if at == seq), None)


def _records(wal_dir: Path) -> Iterator[tuple[int, str]]:
    for segment in segments(wal_dir):
        with segment.open("rb") as file:
            yield from _segment_records(segment, file)


def _segment_records(segment: Path, file: BinaryIO) -> Iterator[tuple[int, str]]:
    offset = kernel_id_end(segment, file) + 8 + 32 + 4  # first_seq, prev_hash, header_crc
    file.seek(offset)
    while len(head := file.read(_RECORD_HEAD.size)) == _RECORD_HEAD.size:
        crc, length, seq, _ts, record_hash = _RECORD_HEAD.unpack(head)
        payload = file.read(length)
        if len(payload) < length or zlib.crc32(payload, zlib.crc32(head[4:])) != crc:
            raise WalError(f"{segment} at byte offset {offset}: record seq {seq} fails its checksum")
        yield seq, record_hash.hex()
        offset += _RECORD_HEAD.size + length
