"""Which run a write-ahead log is: the label its first records hold, read by ``dita paper`` and
``dita live`` alike before either writes to a log it continues, so neither continues the other's
log whatever the kernel's label says since (an operator's or the dead-man switch's HALTED)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dita._kernel import WalError

# The records a log's first label is among: a run labels a fresh kernel right after its seed
# capital (and, on paper, its fees).
FIRST_LABEL_RECORDS = 8
LIVE_SOURCE = "dita-live"
PAPER_SOURCE = "dita-paper"


@dataclass(frozen=True)
class Label:
    """A control change of the log: the mode it set and who set it, at ``seq``."""

    mode: str
    source: str
    seq: int

    @property
    def live(self) -> bool:
        return self.mode == "LIVE" or self.source == LIVE_SOURCE

    @property
    def paper(self) -> bool:
        return self.mode == "PAPER" or self.source == PAPER_SOURCE


def first_label(kernel: Any) -> Label | None:
    """The first label of ``kernel``'s log, among its first records (None: the log has none
    there). Read by a replay that writes nothing to the log."""
    labels = _labels(kernel, 1, min(kernel.seq, FIRST_LABEL_RECORDS))
    return labels[0] if labels else None


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
