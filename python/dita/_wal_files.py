"""The write-ahead log's files as Python reads them without replaying the log: the names of its
segments, checkpoints and marker files and the start of their headers
(docs/reference/log-format.md)."""

from __future__ import annotations

import re
import struct
from pathlib import Path
from typing import BinaryIO

from dita._kernel import WalError

SEGMENT_MAGIC = b"DITAWAL\x00"
CHECKPOINT_MAGIC = b"DITACKP\x00"
_CHECKPOINT_NAME = re.compile(r"ckpt-(\d{20})\.ckpt")
SYNCED_ALWAYS_FILE = "synced-always"
"""The file a writer under fsync "always" keeps in its log: an open that finds it skips no client
order id, as no record whose order went out can have been lost (docs/concepts/write-ahead-log.md,
"Durability")."""


def kernel_id_end(path: Path, file: BinaryIO, magic: bytes = SEGMENT_MAGIC) -> int:
    """Where the header of the segment (or, by ``magic``, checkpoint) at ``path`` (``file``, read
    from its start) ends its kernel id: magic, format, behaviour version, the id's length, the id."""
    header = file.read(14)
    if len(header) < 14 or not header.startswith(magic):
        kind = "checkpoint" if magic == CHECKPOINT_MAGIC else "segment"
        raise WalError(f"{path}: not a {kind} of a write-ahead log")
    (id_len,) = struct.unpack_from("<H", header, 12)
    return 14 + int(id_len)


def first_kept_seq(wal_dir: Path) -> int | None:
    """The seq the oldest segment of ``wal_dir`` starts at, as its header states it (None: no
    segment): the records before it are archived."""
    kept = segments(wal_dir)
    if not kept:
        return None
    with kept[0].open("rb") as file:
        file.seek(kernel_id_end(kept[0], file))
        first = file.read(8)
    if len(first) < 8:
        raise WalError(f"{kept[0]}: its header is cut short")
    (seq,) = struct.unpack("<Q", first)
    return int(seq)


def segments(wal_dir: Path) -> list[Path]:
    """The segments of ``wal_dir``, oldest first (their names give their first seq in 20 digits)."""
    return sorted(wal_dir.glob("seg-*.wal"))


def checkpoints(wal_dir: Path) -> list[tuple[int, Path]]:
    """The checkpoints of ``wal_dir`` by the seq their names give, oldest first."""
    found = ((_CHECKPOINT_NAME.fullmatch(p.name), p) for p in wal_dir.glob("ckpt-*.ckpt"))
    return sorted((int(m.group(1)), p) for m, p in found if m is not None)
