"""``dita audit verify`` on a crash's log: a torn tail (the last write cut short) fails the audit
with exit 1, as documented, and says that it is a torn tail the kernel's next open cuts, with the
record count and head hash of the chain up to it, which the open goes on from."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from typer.testing import CliRunner
from wal_workload import make_kernel, run

from crashed_log import close_as_a_crash_leaves_it
from dita._kernel import wal_verify
from dita.cli import app


def test_verify_of_a_torn_tail_says_the_open_cuts_it_and_the_chain_up_to_it(tmp_path: Path) -> None:
    wal_dir = tmp_path / "wal"
    kernel = make_kernel(wal_dir, fsync="none", wal_checkpoint_every=0)
    for _ in run(kernel, 1, 50):
        pass
    close_as_a_crash_leaves_it(kernel)
    del kernel
    (segment,) = sorted(wal_dir.glob("seg-*.wal"))
    segment.write_bytes(segment.read_bytes()[:-20])  # the last write cut short by the crash
    result = CliRunner().invoke(app, ["audit", "verify", str(wal_dir)])
    said = result.output
    assert result.exit_code == 1, said
    found = re.search(r"at byte offset (\d+)", said)
    assert found, said
    # The log as the next open leaves it: cut at the torn record.
    cut = tmp_path / "cut"
    shutil.copytree(wal_dir, cut)
    with (cut / segment.name).open("r+b") as f:
        f.truncate(int(found[1]))
    whole = wal_verify(cut)
    assert "torn tail" in said and "next open" in said and "cuts" in said, said
    assert f"{whole['records']} record(s)" in said and whole["head_hash"] in said, said
