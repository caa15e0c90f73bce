"""A crashed log whose newest segment is lost (a copy or restore that missed the file being
written, an archive script that took one too many) ends in a segment that reached
``wal_segment_bytes``: the writer starts the next segment as soon as one reaches it, so only a
crash between that write and the next segment's start leaves such a log whole. The open goes on
(it cannot tell the two apart) but reports it and warns the operator to reconcile with the venue."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from wal_workload import make_kernel, run

from crashed_log import close_as_a_crash_leaves_it


def _crashed_log_of_small_segments(wal_dir: Path) -> int:
    kernel = make_kernel(wal_dir, fsync="always", wal_segment_bytes=4096, wal_checkpoint_every=0)
    for _ in run(kernel, 1, 200):
        pass
    seq = kernel.seq
    close_as_a_crash_leaves_it(kernel)
    return seq


def test_a_crashed_log_whose_newest_segment_is_lost_reports_its_full_last_segment(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    seq = _crashed_log_of_small_segments(tmp_path)
    segments = sorted(tmp_path.glob("seg-*.wal"))
    segments[-1].unlink()
    with caplog.at_level(logging.WARNING, logger="dita.kernel"):
        again = make_kernel(tmp_path, wal_segment_bytes=4096)
    try:
        recovery = again.wal_info()["recovery"]
        assert again.seq < seq
        full = recovery["full_last_segment"]
        assert full == {
            "segment": str(segments[-2]),
            "bytes": segments[-2].stat().st_size,
            "segment_bytes": 4096,
        }
    finally:
        again.close()
    warned = [r for r in caplog.records if r.levelno == logging.WARNING and segments[-2].name in r.message]
    assert len(warned) == 1, caplog.text
    said = warned[0].getMessage()
    assert "lost" in said and "reconcile_with_venue" in said and f"seq {recovery['last_seq']}" in said


def test_a_crashed_log_whose_last_segment_has_room_reports_no_full_segment(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _crashed_log_of_small_segments(tmp_path)
    assert sorted(tmp_path.glob("seg-*.wal"))[-1].stat().st_size < 4096
    with caplog.at_level(logging.WARNING, logger="dita.kernel"):
        again = make_kernel(tmp_path, wal_segment_bytes=4096)
    try:
        assert again.wal_info()["recovery"]["full_last_segment"] is None
    finally:
        again.close()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text


def test_dita_paper_and_live_say_a_full_last_segment_once_in_their_words(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from dita.cli.paper_continued import _SAID_HERE, _say_recovery_damage

    _crashed_log_of_small_segments(tmp_path)
    segments = sorted(tmp_path.glob("seg-*.wal"))
    segments[-1].unlink()
    with caplog.at_level(logging.WARNING, logger="dita.kernel"):
        again = make_kernel(tmp_path, wal_segment_bytes=4096)
    said: list[str] = []
    try:
        _say_recovery_damage(again, said.append)
        last_seq = again.seq
    finally:
        again.close()
    assert [line for line in said if str(segments[-2]) in line] == said and len(said) == 1, said
    assert said[0].startswith("warning: the write-ahead log ends in") and f"seq {last_seq}" in said[0]
    assert "reconcile with the venue" in said[0], said
    # The logger's warning of the same is the one the CLI leaves out.
    warned = [r for r in caplog.records if segments[-2].name in r.getMessage()]
    assert warned and all(str(r.msg).startswith(_SAID_HERE) for r in warned), caplog.text
