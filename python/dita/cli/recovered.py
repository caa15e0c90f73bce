"""What a command's kernel recovered from its write-ahead log."""

from __future__ import annotations

from typing import Any

__all__ = ["recovered_seq"]


def recovered_seq(kernel: Any) -> int:
    """The seq of the last record ``kernel``'s open recovered from its write-ahead log: 0 when the
    log held no input (nor a kernel without a log has, at its start). Not ``kernel.seq``: an open
    after a stop that was not clean records an input of its own (the client order ids it skips),
    which holds no run."""
    info = kernel.wal_info()
    if info is None:
        return int(kernel.seq)
    seq: int = info["recovery"]["last_seq"]
    return seq
