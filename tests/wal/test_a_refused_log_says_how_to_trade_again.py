"""What an open refused for damage tells the operator to do, and that doing it works: damage
inside the log names the byte to cut it at and the checkpoints to move aside, and a checkpoint
past a lost segment names the segment to put back and the seqs that removing it instead drops."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from wal_workload import make_kernel, run

from dita._kernel import WalError


def test_damage_inside_the_log_says_where_to_cut_it_and_the_cut_log_opens(tmp_path: Path) -> None:
    kernel = make_kernel(tmp_path, fsync="always", wal_checkpoint_every=0)
    for _ in run(kernel, 1, 100):
        pass
    kernel.close()
    del kernel
    (segment,) = sorted(tmp_path.glob("seg-*.wal"))
    data = bytearray(segment.read_bytes())
    data[len(data) // 2] ^= 0x01  # bit rot
    segment.write_bytes(bytes(data))
    with pytest.raises(WalError) as refused:
        make_kernel(tmp_path)
    said = str(refused.value)
    found = re.search(r"at byte offset (\d+) \(record seq (\d+)\)", said)
    assert found, said
    offset, seq = int(found[1]), int(found[2])
    for step in (
        "keep a copy of the log directory",
        f"restore {segment.name}",
        f"truncate {segment.name} to {offset} bytes",
        f"checkpoints of seq {seq} or later",
        f"opens at seq {seq - 1}",
        "reconcile_with_venue()",
    ):
        assert step in said, said
    # As the message says: cut at the byte, move aside the checkpoints past the cut.
    aside = tmp_path / "aside"
    aside.mkdir()
    with segment.open("r+b") as cut:
        cut.truncate(offset)
    for checkpoint in tmp_path.glob("ckpt-*.ckpt"):
        if int(checkpoint.stem.removeprefix("ckpt-")) >= seq:
            shutil.move(checkpoint, aside / checkpoint.name)
    again = make_kernel(tmp_path)
    try:
        assert again.seq == seq - 1
    finally:
        again.close()


def test_a_checkpoint_past_a_lost_segment_names_the_segment_to_put_back(tmp_path: Path) -> None:
    kernel = make_kernel(tmp_path, fsync="always", wal_segment_bytes=4096, wal_checkpoint_every=0)
    for _ in run(kernel, 1, 200):
        pass
    seq = kernel.seq
    kernel.close()
    del kernel
    newest = sorted(tmp_path.glob("seg-*.wal"))[-1]
    lost_from = int(newest.stem.removeprefix("seg-"))
    kept = tmp_path / "kept"
    kept.mkdir()
    shutil.move(newest, kept / newest.name)  # the newest segment lost
    with pytest.raises(WalError) as refused:
        make_kernel(tmp_path)
    said = str(refused.value)
    assert said.index(f"Put {newest.name} back") < said.index("removing the checkpoint"), said
    assert f"drops seqs {lost_from}..{seq}" in said and "reconcile_with_venue()" in said, said
    shutil.move(kept / newest.name, newest)  # as the message says first
    again = make_kernel(tmp_path)
    try:
        assert again.seq == seq
    finally:
        again.close()
