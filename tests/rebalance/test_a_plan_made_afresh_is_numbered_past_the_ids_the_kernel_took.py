"""A targets file restored after another is planned afresh under ids the kernel did not take,
as the kernel itself tells them, though no state dir (or a new one) counts its plans: bought
again, not refused as the first run's legs, whether or not the kernel keeps a log, on a log whose
early records are archived and on one the build before wrote."""

from __future__ import annotations

import itertools
import json
import shutil
import struct
import zlib
from pathlib import Path

import pytest
from paper_account import paper_venue

from dita import ExecutionKernel
from dita.rebalance import parse_targets, rebalance
from dita.rebalance.targets import TargetPortfolio

STAMP = {"generated_at": "2026-11-28T09:00:00Z"}


def targets(run: str, quantity: float) -> TargetPortfolio:
    body = {**STAMP, "source_run": run, "targets": [{"symbol": "BTC", "quantity": quantity}]}
    return parse_targets(json.dumps(body).encode(), ".json", f"{run}.json")


@pytest.mark.parametrize(
    ("kept", "log"),
    [("no state dir", True), ("a new state dir each run", True), ("no state dir", False)],
    ids=["no state dir", "a new state dir each run", "no state dir nor log"],
)
def test_a_targets_file_restored_is_bought_again_under_ids_of_its_own(
    tmp_path: Path, kept: str, log: bool
) -> None:
    venue = paper_venue(100_000.0, {})
    runs = iter(range(3))

    def state_dir() -> Path | None:
        return None if kept == "no state dir" else tmp_path / f"state-{next(runs)}"

    a, b = targets("a", 0.1), targets("b", 0.0)
    wal_dir = str(tmp_path / "wal") if log else None
    with ExecutionKernel(venue=venue, kernel_id="rb", wal_dir=wal_dir, max_slots=8) as kernel:
        first = rebalance(kernel, a, state_dir=state_dir(), quote_currency="USDT")
        rebalance(kernel, b, state_dir=state_dir(), quote_currency="USDT")
        again = rebalance(kernel, a, state_dir=state_dir(), quote_currency="USDT")
    assert venue.positions().get("BTC", 0.0) == pytest.approx(0.1)
    (bought,) = again.results
    assert (bought.status, bought.filled) == ("sent", pytest.approx(0.1))
    assert bought.leg.intent_id != first.results[0].leg.intent_id
    assert again.plan.attempt == 2


def older_build(segment: Path) -> None:
    """Rewrites the segment header's behaviour version to the one before this build's, as the
    build before an upgrade wrote it (the header's CRC covers the header alone)."""
    data = bytearray(segment.read_bytes())
    (id_len,) = struct.unpack_from("<H", data, 12)
    end = 14 + id_len + 8 + 32
    (behaviour,) = struct.unpack_from("<H", data, 10)
    struct.pack_into("<H", data, 10, behaviour - 1)
    struct.pack_into("<I", data, end, zlib.crc32(bytes(data[:end])))
    segment.write_bytes(bytes(data))


@pytest.mark.parametrize("kept", ["no state dir", "a new state dir"])
def test_a_targets_file_restored_on_a_log_whose_early_records_are_archived_is_bought_again(
    tmp_path: Path, kept: str
) -> None:
    venue = paper_venue(100_000.0, {})
    wal = tmp_path / "wal"

    def kernel() -> ExecutionKernel:
        return ExecutionKernel(
            venue=venue, kernel_id="rb", wal_dir=str(wal), max_slots=8, wal_segment_bytes=1024
        )

    a, b = targets("a", 0.1), targets("b", 0.0)
    with kernel() as first:
        took = rebalance(first, a, state_dir=None, quote_currency="USDT")
        rebalance(first, b, state_dir=None, quote_currency="USDT")
        for i in range(60):  # enough records for the log to roll over to new segments
            first.update_control(source=f"op-{i}")
        assert first.wal_checkpoint() is not None
    checkpoint = max(int(p.name[5:25]) for p in wal.glob("ckpt-*.ckpt"))
    (tmp_path / "archived").mkdir()
    for segment, after in itertools.pairwise(sorted(wal.glob("seg-*.wal"))):
        if int(after.name[4:24]) - 1 <= checkpoint:
            shutil.move(str(segment), tmp_path / "archived" / segment.name)
    with kernel() as again:
        again.reconcile_with_venue()
        state_dir = None if kept == "no state dir" else tmp_path / "new-state"
        restored = rebalance(again, a, state_dir=state_dir, quote_currency="USDT")
    (bought,) = restored.results
    assert (bought.status, bought.filled) == ("sent", pytest.approx(0.1))
    assert bought.leg.intent_id != took.results[0].leg.intent_id
    assert venue.positions().get("BTC", 0.0) == pytest.approx(0.1)


def test_a_targets_file_restored_on_a_log_of_the_build_before_is_bought_again(tmp_path: Path) -> None:
    venue = paper_venue(100_000.0, {})
    wal = tmp_path / "wal"
    a, b = targets("a", 0.1), targets("b", 0.0)
    with ExecutionKernel(venue=venue, kernel_id="rb", wal_dir=str(wal), max_slots=8) as first:
        took = rebalance(first, a, state_dir=None, quote_currency="USDT")
        rebalance(first, b, state_dir=None, quote_currency="USDT")
    (segment,) = wal.glob("seg-*.wal")
    older_build(segment)
    with ExecutionKernel(venue=venue, kernel_id="rb", wal_dir=str(wal), max_slots=8) as again:
        again.reconcile_with_venue()
        restored = rebalance(again, a, state_dir=None, quote_currency="USDT")
    (bought,) = restored.results
    assert (bought.status, bought.filled) == ("sent", pytest.approx(0.1))
    assert bought.leg.intent_id != took.results[0].leg.intent_id
    assert venue.positions().get("BTC", 0.0) == pytest.approx(0.1)
