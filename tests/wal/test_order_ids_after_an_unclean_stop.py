"""A kernel whose write-ahead log did not end in a clean stop skips the client order ids that the
records a crash of the machine lost may have held: a late report of a lost order names no order
of the restarted kernel, instead of one it sent since under the same id. A log that a clean stop
ended goes on from its last id."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from crashed_log import Records, close_as_a_crash_leaves_it
from dita import ExecutionKernel, KernelIntent, VenueEvent
from dita.venues.ccxt.settings import venue_client_id


def _open(wal: Path, venue: Records) -> ExecutionKernel:
    return ExecutionKernel(max_slots=4, kernel_id="kb", venue=venue, wal_dir=str(wal), fsync="none")


def _enter(kernel: ExecutionKernel, n: int, slot: int) -> None:
    intent = KernelIntent(f"i{n}", f"t{n}", slot, "BTC", "LONG", "ENTER", 100.0, 1.0, timestamp=float(n))
    assert kernel.process_intent(intent).accepted


def _log_that_lost_two_orders(wal: Path, synced_by: str = "wal_sync") -> None:
    """A log whose kernel sent kb-1, kb-2 and kb-3, cut back to where it was synced after kb-1
    (by ``synced_by``: a sync, or a checkpoint, which syncs the records before it): what a
    crash of the machine under fsync "none" leaves."""
    venue = Records()
    kernel = _open(wal, venue)
    _enter(kernel, 1, 0)
    getattr(kernel, synced_by)()
    (segment,) = wal.glob("seg-*.wal")
    synced = segment.stat().st_size
    _enter(kernel, 2, 1)
    _enter(kernel, 3, 2)
    assert [o.client_order_id for o in venue.sent] == ["kb-1", "kb-2", "kb-3"]
    close_as_a_crash_leaves_it(kernel)
    with segment.open("r+b") as f:
        f.truncate(synced)


# After a checkpoint the log ends at it, as a clean stop's does: the clean-stop file tells them apart.
@pytest.mark.parametrize("synced_by", ["wal_sync", "wal_checkpoint"])
def test_a_kernel_whose_log_lost_orders_issues_none_of_their_client_ids(
    tmp_path: Path, synced_by: str
) -> None:
    _log_that_lost_two_orders(tmp_path, synced_by)
    venue = Records()
    kernel = _open(tmp_path, venue)
    try:
        assert [o.client_order_id for o in kernel.open_orders()] == ["kb-1"]
        _enter(kernel, 4, 1)
        (new,) = venue.sent
        assert new.client_order_id not in ("kb-2", "kb-3")
        skipped = kernel.wal_info()["recovery"]["order_ids_skipped_through"]  # type: ignore[index]
        assert new.client_order_id == f"kb-{skipped + 1}" and skipped >= 3
        # The venue's report of a lost order names no order the kernel holds: it books nowhere.
        lost_fill = VenueEvent(
            "lost-fill", "", 1, "FILL", status="FILLED", venue_client_id="kb-2", side="BUY", asset="BTC",
            price=100.0, size=1.0, filled_size=1.0, remaining_size=0.0, fill_id="lost-trade", timestamp=5.0,
        )  # fmt: skip
        assert not kernel.on_venue_event(lost_fill).accepted
        assert kernel.slot_state(1).size == 0.0
        (working,) = [o for o in kernel.open_orders() if o.slot_id == 1]
        assert (working.client_order_id, working.filled_size) == (new.client_order_id, 0.0)
    finally:
        kernel.close()


def test_a_second_open_replays_the_skip_and_keeps_the_ids_sent_after_it(tmp_path: Path) -> None:
    _log_that_lost_two_orders(tmp_path)
    first = Records()
    kernel = _open(tmp_path, first)
    _enter(kernel, 4, 1)
    kernel.close()
    venue = Records()
    again = _open(tmp_path, venue)
    try:
        assert again.wal_info()["recovery"]["order_ids_skipped_through"] is None  # type: ignore[index]
        (sent,) = first.sent
        assert {o.client_order_id for o in again.open_orders()} == {"kb-1", sent.client_order_id}
        _enter(again, 5, 2)
        (new,) = venue.sent
        assert new.client_order_id == f"kb-{int(sent.client_order_id.split('-')[1]) + 1}"
    finally:
        again.close()


def test_a_log_a_clean_stop_ended_goes_on_from_its_last_client_id(tmp_path: Path) -> None:
    kernel = _open(tmp_path, Records())
    _enter(kernel, 1, 0)
    kernel.close()
    venue = Records()
    again = _open(tmp_path, venue)
    try:
        assert again.wal_info()["recovery"]["order_ids_skipped_through"] is None  # type: ignore[index]
        _enter(again, 2, 1)
        assert [o.client_order_id for o in venue.sent] == ["kb-2"]
    finally:
        again.close()


def test_an_open_after_a_stop_that_was_not_clean_warns_naming_the_next_client_id(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _log_that_lost_two_orders(tmp_path)
    venue = Records()
    with caplog.at_level(logging.WARNING, logger="dita.kernel"):
        kernel = _open(tmp_path, venue)
    try:
        said = [r.getMessage() for r in caplog.records if r.name == "dita.kernel"]
        _enter(kernel, 4, 1)
        (new,) = venue.sent
        (warning,) = [m for m in said if "clean stop" in m]
        assert "'kb'" in warning and f"'{new.client_order_id}'" in warning, said
    finally:
        kernel.close()


def test_a_kill_under_fsync_always_skips_no_client_ids(tmp_path: Path) -> None:
    # A 29-character kernel id: "<kid>-<n>" fits Binance's 36 characters up to n < 10**6, and an id
    # past it goes out hashed, which reconciliation cannot tell as this kernel's.
    kernel_id = "binance-btcusdt-trend-prod-ab"

    def always(venue: Records) -> ExecutionKernel:
        return ExecutionKernel(
            max_slots=4, kernel_id=kernel_id, venue=venue, wal_dir=str(tmp_path), fsync="always"
        )

    kernel = always(Records())
    _enter(kernel, 1, 0)
    close_as_a_crash_leaves_it(kernel)  # a kill -9: under "always" every record is on disk
    venue = Records()
    again = always(venue)
    try:
        _enter(again, 2, 1)
        assert [o.client_order_id for o in venue.sent] == [f"{kernel_id}-2"]
        assert venue_client_id(venue.sent[0].client_order_id, "binance") == f"{kernel_id}-2"
    finally:
        again.close()
