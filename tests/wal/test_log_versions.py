"""A log written by a build of another behaviour version: it opens only from a checkpoint that
ends it, its state migrated as data; with records after its last checkpoint it is refused,
saying what to do. The fixtures are logs the builds of behaviour versions 36 to 40 wrote
(tests/wal/fixtures/make_version_36_logs.rs and make_version_logs.py say how)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from dita import ExecutionKernel, KernelDiagnosticCode, KernelIntent, KernelSeverity, VenueEvent
from dita._kernel import WalError

FIXTURES = Path(__file__).parent / "fixtures"
EARLIER_VERSIONS = [36, 37, 38, 39, 40]


def _copy(version: int, name: str, tmp_path: Path) -> Path:
    wal_dir = tmp_path / name
    shutil.copytree(FIXTURES / f"version_{version}" / name, wal_dir)
    return wal_dir


def _files(wal_dir: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(wal_dir.iterdir()) if p.name != "LOCK"}


@pytest.mark.parametrize("version", EARLIER_VERSIONS)
def test_a_log_of_an_earlier_version_stopped_cleanly_opens_from_its_last_checkpoint(
    version: int, tmp_path: Path
) -> None:
    wal_dir = _copy(version, "stopped_cleanly", tmp_path)
    kernel = ExecutionKernel(kernel_id=f"fixture-{version}", wal_dir=str(wal_dir))
    info = kernel.wal_info()
    assert info is not None
    assert info["recovery"]["migrated_from_version"] == version
    assert info["recovery"]["checkpoint_seq"] == 7 and info["recovery"]["replayed_records"] == 0
    assert info["behaviour_version"] == 41
    # The state the earlier build left: an entry of 0.2 filled, half of it exited at 61,000.
    # One input past its seq 7: an earlier build writes no clean-stop file, so the open skips
    # the client order ids a crash of the machine could have lost.
    assert kernel.seq == 8 and info["recovery"]["order_ids_skipped_through"] is not None
    slot = kernel.slot(0)
    assert slot.fsm_state.name == "POSITION_OPEN"
    assert slot.size == pytest.approx(0.1)
    assert slot.realized_pnl == pytest.approx(100.0)
    assert slot.active_leg_index == 1
    # It trades on: the second leg closes the trade.
    out = kernel.process_intent(
        KernelIntent("i-3", "t-1", 0, "BTCUSDT", "LONG", "EXIT", reference_price=61_000.0, target_size=0.0)
    )
    assert out.accepted, out.details
    expected, expected_seq = kernel.snapshot(), kernel.seq
    kernel.close()
    # Reopened, it starts from the checkpoint the close wrote, of this version: nothing to replay.
    again = ExecutionKernel(kernel_id=f"fixture-{version}", wal_dir=str(wal_dir))
    reopened = again.wal_info()
    assert reopened is not None and reopened["recovery"]["migrated_from_version"] is None
    assert reopened["recovery"]["checkpoint_seq"] == expected_seq
    assert reopened["recovery"]["replayed_records"] == 0
    assert again.snapshot() == expected
    again.close()


@pytest.mark.parametrize("version", EARLIER_VERSIONS)
def test_a_log_of_an_earlier_version_with_records_after_its_last_checkpoint_is_refused(
    version: int, tmp_path: Path
) -> None:
    wal_dir = _copy(version, "records_after_checkpoint", tmp_path)
    before = _files(wal_dir)
    with pytest.raises(WalError) as refused:
        ExecutionKernel(kernel_id=f"fixture-{version}", wal_dir=str(wal_dir))
    said = str(refused.value)
    for words in (
        f"record 8 was written under behaviour version {version}",
        "replays only records of its own version",
        f"Open the log with the build that wrote it (version {version}) and stop it cleanly",
        "wal_checkpoint()",
    ):
        assert words in said, said
    assert _files(wal_dir) == before, "a refused open changes nothing"


def test_the_venue_ids_a_version_40_checkpoint_remembers_still_name_finished_orders(tmp_path: Path) -> None:
    """Its finished orders' memory fingerprints venue ids as client ids are: a late fill naming
    the filled entry by its venue id alone is known as a finished order's, and an order that
    venue id is given to after the open is not told it was reused."""
    wal_dir = _copy(40, "stopped_cleanly", tmp_path)
    kernel = ExecutionKernel(kernel_id="fixture-40", wal_dir=str(wal_dir), venue=Silent())
    late = VenueEvent(
        "late", "", -1, "FILL", venue_order_id="mock-1", size=0.01, filled_size=0.01, price=60_000.0,
        status="PARTIALLY_FILLED", timestamp=10.0,
    )  # fmt: skip
    out = kernel.on_venue_event(late)
    assert out.diagnostic_code == KernelDiagnosticCode.UNKNOWN_ORDER
    assert out.severity == KernelSeverity.CRITICAL and "already ended" in out.details["reason"], out.to_dict()
    enter = KernelIntent(
        "i-4", "t-2", 1, "ETHUSDT", "LONG", "ENTER", reference_price=3_000.0, target_size=0.1
    )
    order = kernel.process_intent(enter).order
    assert order is not None
    ack = VenueEvent(
        "a-4",
        "",
        -1,
        "ORDER_ACK",
        venue_client_id=order.client_order_id,
        venue_order_id="mock-1",
        timestamp=11.0,
    )
    taken = kernel.on_venue_event(ack)
    assert taken.accepted and "venue_id_shared" not in taken.details, taken.to_dict()
    kernel.close()


class Silent:
    name = "silent"

    def submit(self, order: object) -> list[VenueEvent]:
        return []

    def cancel(self, order: object) -> list[VenueEvent]:
        return []
