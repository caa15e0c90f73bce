"""Which run a write-ahead log is: the label its first records hold, read by ``dita paper`` and
``dita live`` alike before either writes to a log it continues, so neither continues the other's
log whatever the kernel's label says since (an operator's or the dead-man switch's HALTED). A log
whose first records are archived, or of a behaviour version this build does not replay (an
upgrade), is told by the oldest label kept, or not at all (``LabelUnread``)."""

from __future__ import annotations

import re
import shutil
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dita._kernel import WalError
from dita._wal_files import CHECKPOINT_MAGIC, checkpoints, kernel_id_end

# The records a log's first label is among: a run labels a fresh kernel right after its seed
# capital (and, on paper, its fees).
FIRST_LABEL_RECORDS = 8
# The records after the oldest checkpoint kept read for a label when the first ones are archived:
# the whole log of a long account would take minutes to replay.
KEPT_LABEL_RECORDS = 100_000
LIVE_SOURCE = "dita-live"
PAPER_SOURCE = "dita-paper"


@dataclass(frozen=True)
class Label:
    """A label of the log: the mode set and who set it, at ``seq``, and how it was read."""

    mode: str
    source: str
    seq: int
    where: str = "when the log began"

    @property
    def live(self) -> bool:
        return self.mode == "LIVE" or self.source == LIVE_SOURCE

    @property
    def paper(self) -> bool:
        return self.mode == "PAPER" or self.source == PAPER_SOURCE

    def said(self, control: dict[str, Any]) -> str:
        """How the label tells the log's run, with the kernel's ``control()`` label since."""
        since = f"{control.get('mode')} by {control.get('mode_set_by') or 'nobody'} since"
        return f"labelled {self.mode} by {self.source or 'nobody'} {self.where}, {since}"


class LabelUnread(Exception):
    """The log's first records cannot be read and what is kept (the oldest checkpoint after seq
    0, the records after it) holds no label of a live or a paper run: which run wrote the log
    cannot be told. ``other_version``: the behaviour version of those records when this build
    refuses them as another version's (the log opens from the checkpoint a clean stop before an
    upgrade wrote; nothing is archived); None when they are missing (archived) or damaged."""

    def __init__(self, message: str, other_version: int | None = None) -> None:
        super().__init__(message)
        self.other_version = other_version


# How the kernel refuses a record of another behaviour version than its own.
_OTHER_VERSION = re.compile(r"was written under behaviour version (\d+)")


def first_label(kernel: Any) -> Label | None:
    """The first label of ``kernel``'s log, among its first records (None: the log has none
    there). When they cannot be read (segments archived from the start), the oldest label of a
    live or a paper run kept: the mode and its setter the oldest checkpoint after seq 0 records,
    or else the first such label in the records after it; LabelUnread when neither tells. Read
    without writing to the log."""
    try:
        labels = _labels(kernel, 1, min(kernel.seq, FIRST_LABEL_RECORDS))
    except WalError as exc:
        return _kept_label(kernel, exc)
    return labels[0] if labels else None


def _kept_label(kernel: Any, unread: WalError) -> Label:
    wal_dir = Path(str((kernel.wal_info() or {}).get("dir", "")))
    # A replay starts at a checkpoint: the records kept before the oldest one after seq 0 are
    # read by none, so that checkpoint's label is the oldest kept, then the records after it.
    for at, checkpoint in checkpoints(wal_dir):
        if at == 0:
            continue  # the open's, before any record
        try:
            held = _checkpoint_label(wal_dir, checkpoint)
        except (WalError, OSError, ValueError, struct.error):
            continue  # damaged, or its segment archived: the next one
        if held.live or held.paper:
            return held
        last = min(kernel.seq, at + KEPT_LABEL_RECORDS)
        try:
            labels = _labels(kernel, at + 1, last) if at < kernel.seq else []
        except WalError:
            continue
        told = next((label for label in labels if label.live or label.paper), None)
        if told is not None:
            return Label(told.mode, told.source, told.seq, "at its oldest record kept that says")
        after = f" nor records {at + 1} to {last} after it" if at < last else ""
        raise LabelUnread(
            f"{_why_unread(unread)}, and neither the oldest checkpoint kept (seq {at}: {held.mode} by "
            f"{held.source or 'nobody'}){after} holds a label of a live or a paper run",
            _other_version(unread),
        )
    raise LabelUnread(f"{_why_unread(unread)}, nor any checkpoint kept after seq 0", _other_version(unread))


def _other_version(unread: WalError) -> int | None:
    found = _OTHER_VERSION.search(str(unread))
    return int(found.group(1)) if found else None


def _why_unread(unread: WalError) -> str:
    """Why the first records are not read, as true of a log of another version as of one whose
    start is archived."""
    version = _other_version(unread)
    if version is None:
        return f"its first records cannot be read ({unread})"
    return (
        f"its first records are of behaviour version {version}, which this build does not replay "
        "(the log opens from the checkpoint its last run's clean stop wrote; nothing is archived)"
    )


def _checkpoint_label(wal_dir: Path, checkpoint: Path) -> Label:
    """The mode ``checkpoint`` records and who set it: the log replayed read-only from a copy of
    the checkpoint and of its segment cut where the checkpoint's next record starts."""
    from dita._kernel import wal_replay

    with checkpoint.open("rb") as file:
        file.seek(kernel_id_end(checkpoint, file, CHECKPOINT_MAGIC))
        # its seq, the chain hash there, and where its next record starts
        seq, segment_first_seq, segment_offset = struct.unpack("<Q32xQQ", file.read(56))
    segment = wal_dir / f"seg-{segment_first_seq:020d}.wal"
    with tempfile.TemporaryDirectory(prefix="dita-label-") as tmp:
        with segment.open("rb") as src, (Path(tmp) / segment.name).open("wb") as dst:
            dst.write(src.read(segment_offset))
        shutil.copyfile(checkpoint, Path(tmp) / checkpoint.name)
        core, _ = wal_replay(tmp)
        control = core.control()
    return Label(
        str(control.get("mode")),
        str(control.get("mode_set_by") or ""),
        int(seq),
        f"at its oldest checkpoint kept (seq {seq})",
    )


def _labels(kernel: Any, from_seq: int, to_seq: int) -> list[Label]:
    """The control changes of records ``from_seq..=to_seq`` of ``kernel``'s log, in order;
    WalError when they cannot be replayed."""
    from dita._kernel import JOURNAL_COLUMNS

    names = JOURNAL_COLUMNS["control_changes"]
    mode, source, seq, sub = (names.index(n) for n in ("mode", "source", "seq", "sub"))
    rows: list[tuple[Any, ...]] = []

    def sink(blocks: list[Any]) -> None:
        for block in blocks:
            if block.table == "control_changes":
                rows.extend(block.tuples())

    try:
        kernel.wal_journal_blocks(from_seq, to_seq, sink=sink)
    except (OSError, ValueError) as exc:
        raise WalError(str(exc)) from exc
    rows.sort(key=lambda row: (row[seq], row[sub]))
    return [Label(str(row[mode]), str(row[source]), int(row[seq])) for row in rows]
