"""A kernel's process killed stays a zombie until its parent reaps it, and a zombie answers
signal 0 as if alive: its claim of the kernel id is still taken for gone, so a restart on this
machine takes the id over at once, as after any crash here."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from dita.projection.hazelcast.claims import _gone, _pid_space


def test_a_claim_whose_holder_exited_unreaped_is_taken_for_gone() -> None:
    crashed = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        deadline = time.monotonic() + 10
        while Path(f"/proc/{crashed.pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z":
            assert time.monotonic() < deadline
            time.sleep(0.01)
        claim = {
            "kernel_id": "k-crashed",
            "host": socket.gethostname(),
            "pid": crashed.pid,
            **_pid_space(),
            "token": "of-the-crashed-process",
            "projected_at": time.time() - 1,
        }
        assert _gone(claim)
        assert not _gone({**claim, "pid": os.getppid()})  # a live holder is not
    finally:
        crashed.wait()
