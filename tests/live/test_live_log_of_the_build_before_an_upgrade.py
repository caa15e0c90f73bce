"""The upgrade procedure (stop cleanly, upgrade, start) on a log a run halted before the upgrade:
its first records are of the behaviour version before, which this build does not replay, and
the checkpoint the log opens from says HALTED by the operator. Nothing is archived: the live
run continues its log, the paper run whose state file names its log continues it, and a paper
run on the live log is refused, each message saying what is true of the log."""

from __future__ import annotations

import struct
import subprocess
import sys
import zlib
from pathlib import Path
from types import SimpleNamespace

import pytest
from live_process import halted_by_operator

from dita import ExecutionKernel
from dita.cli.live_run import LiveRun, RunRefused
from dita.cli.log_label import LabelUnread, first_label
from dita.cli.paper_session import live_label


def written_by_the_build_before(wal_dir: Path) -> int:
    """Rewrites each segment header's behaviour version to the one before this build's, as the
    build before an upgrade wrote it (the header's CRC only covers it); returns that version."""
    version = 0
    for segment in wal_dir.glob("seg-*.wal"):
        data = bytearray(segment.read_bytes())
        (id_len,) = struct.unpack_from("<H", data, 12)
        end = 14 + id_len + 8 + 32
        (behaviour,) = struct.unpack_from("<H", data, 10)
        version = behaviour - 1
        struct.pack_into("<H", data, 10, version)
        struct.pack_into("<I", data, end, zlib.crc32(bytes(data[:end])))
        segment.write_bytes(bytes(data))
    return version


def halted_then_upgraded(wal_dir: Path, mode: str, by: str) -> int:
    """A run's log halted by the operator while it ran (``dita control set``), then stopped
    cleanly and the build upgraded: no checkpoint says how it ran."""
    with ExecutionKernel(kernel_id="acct", wal_dir=str(wal_dir), max_slots=10) as kernel:
        kernel.set_seed_capital(1000.0)
        kernel.update_control(mode=mode, source=by)
        kernel.update_control(mode="HALTED", source="operator")
    return written_by_the_build_before(wal_dir)


def log_files(wal_dir: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(wal_dir.iterdir()) if p.name != "LOCK"}


def live_start_check(wal_dir: Path, state_dir: Path, kernel: ExecutionKernel) -> None:
    config = SimpleNamespace(kernel_id="acct", run_state_dir=lambda: state_dir)
    LiveRun._refuse_a_paper_log(SimpleNamespace(config=config, kernel=kernel), wal_dir)  # type: ignore[arg-type]


def test_a_log_of_the_build_before_an_upgrade_is_said_to_be_of_that_version_not_archived(
    tmp_path: Path,
) -> None:
    wal_dir = tmp_path / "wal"
    version = halted_then_upgraded(wal_dir, "LIVE", "dita-live")
    with ExecutionKernel(kernel_id="acct", wal_dir=str(wal_dir)) as kernel:
        with pytest.raises(LabelUnread) as unread:
            first_label(kernel)
    assert unread.value.other_version == version
    said = str(unread.value)
    assert f"its first records are of behaviour version {version}, which this build does not replay" in said
    assert "nothing is archived" in said and "cannot be read" not in said, said


def test_a_live_start_continues_a_live_log_halted_before_an_upgrade(tmp_path: Path) -> None:
    wal_dir = tmp_path / "wal"
    halted_then_upgraded(wal_dir, "LIVE", "dita-live")
    with ExecutionKernel(kernel_id="acct", wal_dir=str(wal_dir)) as kernel:
        live_start_check(wal_dir, tmp_path / "state", kernel)  # not refused


def test_a_live_start_refuses_a_paper_log_halted_before_an_upgrade_its_state_file_naming_it(
    tmp_path: Path,
) -> None:
    wal_dir = tmp_path / "wal"
    halted_then_upgraded(wal_dir, "PAPER", "dita-paper")
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    (state_dir / "acct.json").write_text(f'{{"kernel_id": "acct", "wal_dir": "{wal_dir}"}}')
    with ExecutionKernel(kernel_id="acct", wal_dir=str(wal_dir)) as kernel:
        with pytest.raises(RunRefused, match=r"the paper state file .* names it"):
            live_start_check(wal_dir, state_dir, kernel)


def dita_paper_on(wal_dir: Path, state_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable, "-c", "from dita.cli import main; main()", "paper",
            "--strategy", "dita.examples.crossover:SmaCrossover", "--data", "sample", "--max-speed",
            "--max-slots", "10", "--kernel-id", "acct", "--wal-dir", str(wal_dir),
            "--state-dir", str(state_dir),
        ],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_dita_paper_refuses_a_live_log_halted_before_an_upgrade_saying_nothing_is_archived(
    tmp_path: Path,
) -> None:
    wal_dir = tmp_path / "wal"
    version = halted_then_upgraded(wal_dir, "LIVE", "dita-live")
    before = log_files(wal_dir)
    run = dita_paper_on(wal_dir, tmp_path / "st")
    assert run.returncode == 2, run.stdout + run.stderr
    said = run.stderr
    assert f"the write-ahead log in {wal_dir} of kernel 'acct' cannot be told from a live run's" in said, said
    assert f"its first records are of behaviour version {version}" in said, said
    assert f"No paper state file in {tmp_path / 'st'} names it" in said, said
    assert "archived segments back" not in said and "Traceback" not in said, said
    # The open starts a segment for this build's version; no record is written.
    after = log_files(wal_dir)
    assert {name: after[name] for name in before} == before
    assert all(len(after[name]) == 14 + len("acct") + 8 + 32 + 4 for name in set(after) - set(before))


def test_a_paper_log_halted_before_an_upgrade_is_continued_by_the_run_whose_state_file_names_it(
    tmp_path: Path,
) -> None:
    wal_dir, state_dir = tmp_path / "wal", tmp_path / "st"
    first = dita_paper_on(wal_dir, state_dir)
    assert first.returncode == 0, first.stdout + first.stderr
    for _ in range(3):  # halted by operators since, till no checkpoint kept says PAPER
        halted_by_operator(wal_dir, "acct")
    written_by_the_build_before(wal_dir)
    with ExecutionKernel(kernel_id="acct", wal_dir=str(wal_dir)) as kernel:
        with pytest.raises(LabelUnread):
            live_label(kernel, tmp_path / "elsewhere" / "acct.json")  # no state file names it
        assert live_label(kernel, state_dir / "acct.json") is None
    again = dita_paper_on(wal_dir, state_dir)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "cannot be told" not in again.stderr, again.stderr
