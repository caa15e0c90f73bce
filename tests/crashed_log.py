"""The write-ahead log a crash leaves, made from one a clean stop ended.

`ExecutionKernel.close()` ends its log with a checkpoint at the last record, so the next open
replays nothing, and with its clean-stop file, so the next open skips no client order ids. A
crash writes neither: its log ends with records after the newest checkpoint, and recovery reads
them (a torn or cut tail is cut there, damage in them refuses the open). Tests of a crash remove
the closing checkpoint and the clean-stop file to get that log. Shared by the log's tests and
the paper runs' (imported by module name: pytest puts ``tests/`` on sys.path).
"""

from __future__ import annotations

from pathlib import Path

from dita import ExecutionKernel, VenueEvent, VenueOrder
from dita._kernel import wal_verify
from dita.cli.recovered import recovered_seq  # noqa: F401  (the tests of a crash import it from here)


class Records:
    """A venue that takes every order and answers none, keeping the orders it was sent."""

    name = "records"

    def __init__(self) -> None:
        self.sent: list[VenueOrder] = []

    def submit(self, order: VenueOrder) -> list[VenueEvent]:
        self.sent.append(order)
        return []

    def cancel(self, order: VenueOrder) -> list[VenueEvent]:
        return []


def _checkpoints(wal_dir: Path) -> set[Path]:
    return set(wal_dir.glob("ckpt-*.ckpt"))


def remove_the_clean_stop(wal_dir: Path) -> None:
    """Removes the file a clean stop ends the log in ``wal_dir`` with, naming its last record:
    a crash writes none, and the next open skips the client order ids lost records may hold."""
    (wal_dir / "clean-stop").unlink(missing_ok=True)


def remove_the_closing_checkpoint(wal_dir: Path) -> Path:
    """Removes the checkpoint at the last record of the log in ``wal_dir``, which a clean stop
    wrote (here, another process's) and a crash after that record does not, and the clean-stop
    file; returns the checkpoint's path."""
    last_seq = wal_verify(wal_dir)["last_seq"]
    closing = wal_dir / f"ckpt-{last_seq:020}.ckpt"
    assert last_seq > 0 and closing.is_file(), f"{wal_dir} has no checkpoint at its last record {last_seq}"
    closing.unlink()
    remove_the_clean_stop(wal_dir)
    return closing


def close_as_a_crash_leaves_it(kernel: ExecutionKernel) -> None:
    """Closes ``kernel`` and removes the checkpoint its close ended the log with: the log is the
    one a crash right after its last record leaves, every record on disk and every checkpoint
    written before them."""
    info = kernel.wal_info()
    assert info is not None, "the kernel has no write-ahead log"
    wal_dir = Path(info["dir"])
    kernel.wal_sync()  # a checkpoint still being written ends first, as it would before a crash
    before = _checkpoints(wal_dir)
    kernel.close()
    after = _checkpoints(wal_dir)
    # The close may prune old checkpoints; a crash leaves them, so no such log is made here.
    assert before <= after, f"the close removed {sorted(before - after)}, which a crash leaves"
    for closing in after - before:
        closing.unlink()
    remove_the_clean_stop(wal_dir)
