"""A kernel with a write-ahead log is killed with SIGKILL at random moments of a long mixed
workload; the restarted kernel must equal a reference kernel (no log) fed the same inputs up
to the sequence it recovered, and with fsync=always no acknowledged input may be missing."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from wal_workload import make_kernel, reference_at

from crashed_log import recovered_seq
from dita._kernel import wal_verify

CHILD = Path(__file__).with_name("crash_child.py")


def _crash(wal_dir: Path, fsync: str, seed: int, kill_after: float) -> tuple[int, int]:
    """Runs the child, kills it `kill_after` seconds into the workload; returns the last
    acknowledged seq and how many inputs were acknowledged."""
    proc = subprocess.Popen(
        [sys.executable, str(CHILD), str(wal_dir), fsync, str(seed), "10000000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.strip())
            ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert ready.wait(60), f"child never started: {proc.stderr.read() if proc.stderr else ''}"
        assert lines[0].startswith("ready"), lines[0]
        time.sleep(kill_after)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        reader.join(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        reader.join(30)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    assert proc.returncode == -signal.SIGKILL, f"child ended by itself: {lines[-3:]}"
    acks = [line.split() for line in lines[1:] if line and line[0].isdigit()]
    last_acked = int(acks[-1][1]) if acks else int(lines[0].split()[1])
    return last_acked, len(acks)


def _check_recovery(tmp_path: Path, fsync: str, seed: int, kill_after: float) -> None:
    wal_dir = tmp_path / "wal"
    last_acked, acked = _crash(wal_dir, fsync, seed, kill_after)
    kernel = make_kernel(wal_dir, fsync=fsync)
    recovered = recovered_seq(kernel)
    info = kernel.wal_info()
    assert info is not None and info["last_seq"] == kernel.seq
    if fsync == "always":
        assert recovered >= last_acked, f"acknowledged seq {last_acked} lost: recovered only {recovered}"
    # At most the one input that was being handled when the kill came is ahead of the acks.
    assert recovered <= last_acked + 1
    assert kernel.snapshot() == reference_at(seed, recovered, max_steps=acked + 10)
    opened = kernel.seq  # one past `recovered` when the open skipped client order ids
    kernel.close()
    audit = wal_verify(wal_dir)
    assert (audit["first_seq"], audit["last_seq"]) == (1, opened)


@pytest.mark.parametrize(
    ("fsync", "seed"),
    [("always", 11), ("always", 12), ("batch", 21), ("batch", 22), ("batch", 23), ("none", 31)],
)
def test_sigkill_mid_workload_recovers_to_the_reference_state(tmp_path: Path, fsync: str, seed: int) -> None:
    kill_after = random.Random(seed).uniform(0.05, 0.8)
    _check_recovery(tmp_path, fsync, seed, kill_after)


@pytest.mark.soak
@pytest.mark.parametrize("seed", range(100, 124))
@pytest.mark.parametrize("fsync", ["always", "batch", "none"])
def test_sigkill_soak(tmp_path: Path, fsync: str, seed: int) -> None:
    kill_after = random.Random(seed).uniform(0.01, 3.0)
    _check_recovery(tmp_path, fsync, seed, kill_after)
