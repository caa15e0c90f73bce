"""Every fill a research run produced, traced through a kernel's write-ahead log: the intents
whose metadata carries the run's ``source_run`` sent orders (their SUBMIT transitions name the
client order ids), the fills of those orders were booked by records of the log, and each such
record's chain hash is read from the log after the whole chain has been verified
(``wal_verify``), so a fill listed is one the chain vouches for. A tampered log is refused as
``dita audit verify`` refuses it.

The journal rows are derived again by a read-only replay of a copy of the log, so the log
itself is neither locked nor written."""

from __future__ import annotations

import json
import shutil
import struct
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dita._kernel import JOURNAL_COLUMNS, JournalBlock, WalError, wal_verify
from dita.kernel import ExecutionKernel

__all__ = ["TracedFill", "fill_records", "trace_source_run"]

_SEGMENT_MAGIC = b"DITAWAL\x00"
# crc32 u32 | len u32 | seq u64 | ts f64 | hash [32] (docs/reference/log-format.md, "Segments")
_RECORD_HEAD = struct.Struct("<IIQd32s")


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
    """The verified chain's report (``wal_verify``) and every fill of ``source_run``'s intents,
    in log order. Raises ``WalError`` for a log that fails the audit."""
    report = wal_verify(wal_dir)
    if report["records"] == 0:
        return report, []
    rows = _journal_rows(wal_dir, report["kernel_id"])
    runs = {}  # intent id -> the source_run its metadata names
    for intent in _dicts(rows, "intents"):
        if intent["accepted"]:
            runs[intent["intent_id"]] = json.loads(intent["metadata"] or "{}").get("source_run")
    sent_by = {}  # client order id -> the intent whose order it is
    for transition in _dicts(rows, "transitions"):
        if transition["trigger"] == "SUBMIT" and transition["intent_id"]:
            order = json.loads(transition["details"] or "{}").get("client_order_id")
            if order:
                sent_by[order] = transition["intent_id"]
    fills = [
        f for f in _dicts(rows, "fills") if runs.get(sent_by.get(f["client_order_id"], "")) == source_run
    ]
    hashes = fill_records(wal_dir, {f["seq"] for f in fills}, report["head_hash"])
    traced = [
        TracedFill(
            f["seq"],
            hashes[f["seq"]],
            source_run,
            sent_by[f["client_order_id"]],
            f["trade_id"],
            f["asset"],
            f["side"],
            f["price"],
            f["qty"],
            f["fee"],
            f["fill_id"],
            f["client_order_id"],
        )
        for f in fills
    ]
    return report, traced


def _journal_rows(wal_dir: Path, kernel_id: str) -> dict[str, list[tuple[Any, ...]]]:
    rows: dict[str, list[tuple[Any, ...]]] = {}

    def take(blocks: list[JournalBlock]) -> None:
        for block in blocks:
            rows.setdefault(block.table, []).extend(block.tuples())

    with tempfile.TemporaryDirectory(prefix="dita-trace-") as tmp:
        copy = Path(tmp) / "wal"
        copy.mkdir()
        for pattern in ("seg-*.wal", "ckpt-*.ckpt"):
            for file in wal_dir.glob(pattern):
                shutil.copy2(file, copy / file.name)
        kernel = ExecutionKernel(kernel_id=kernel_id, wal_dir=str(copy))
        try:
            kernel.wal_journal_blocks(1, sink=take)
        finally:
            kernel.close()
    return rows


def _dicts(rows: dict[str, list[tuple[Any, ...]]], table: str) -> list[dict[str, Any]]:
    columns = JOURNAL_COLUMNS[table]
    return [dict(zip(columns, row, strict=True)) for row in rows.get(table, [])]


def fill_records(wal_dir: Path, seqs: set[int], head_hash: str) -> dict[int, str]:
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


def _records(wal_dir: Path) -> Iterator[tuple[int, str]]:
    for segment in sorted(wal_dir.glob("seg-*.wal")):
        data = segment.read_bytes()
        if not data.startswith(_SEGMENT_MAGIC):
            raise WalError(f"{segment}: not a segment of a write-ahead log")
        (id_len,) = struct.unpack_from("<H", data, 12)
        offset = 14 + id_len + 8 + 32 + 4  # kernel id, first_seq, prev_hash, header_crc
        while offset + _RECORD_HEAD.size <= len(data):
            crc, length, seq, _ts, record_hash = _RECORD_HEAD.unpack_from(data, offset)
            end = offset + _RECORD_HEAD.size + length
            if end > len(data) or zlib.crc32(data[offset + 4 : end]) != crc:
                raise WalError(f"{segment} at byte offset {offset}: record seq {seq} fails its checksum")
            yield seq, record_hash.hex()
            offset = end
