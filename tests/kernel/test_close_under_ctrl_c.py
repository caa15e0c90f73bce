"""A Ctrl-C that lands while ExecutionKernel.close() waits for a venue call under way
(stop_input) or syncs the log (wal_sync) is raised as that call returns, outside the release of
any component. close() still releases the control plane, journal and projection and the log,
then raises it: cut short there, the projection kept its last state unpublished, the journal
its last rows, and the log its lock (the wal_dir could not be opened again)."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest
from kernel_helpers import intent

from dita import ExecutionKernel, InMemoryControlPlane, InMemoryJournal, InMemoryProjection


class _InterruptedAt(ExecutionKernel):
    """A kernel whose ``stop_input()`` or ``wal_sync()`` returns into one Ctrl-C."""

    interrupted_at = ""

    def _ctrl_c(self, where: str) -> None:
        if self.interrupted_at == where:
            self.interrupted_at = ""
            raise KeyboardInterrupt

    def stop_input(self) -> None:
        super().stop_input()
        self._ctrl_c("stop_input")

    def wal_sync(self) -> int | None:
        synced = super().wal_sync()
        self._ctrl_c("wal_sync")
        return synced


class _FailingJournal(InMemoryJournal):
    def release(self, kernel: ExecutionKernel) -> None:
        super().release(kernel)
        raise RuntimeError("journal: 12 rows not written (the database refused them)")


def test_a_components_failure_after_a_ctrl_c_in_close_is_logged_not_lost(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The Ctrl-C is raised, the first failure; the journal's rows not written used to be
    dropped without a word."""
    k = _InterruptedAt(max_slots=1, kernel_id="c", wal_dir=tmp_path, journal=_FailingJournal())
    k.interrupted_at = "stop_input"
    with caplog.at_level(logging.ERROR, logger="dita.kernel"), pytest.raises(KeyboardInterrupt):
        k.close()
    said = [r.getMessage() for r in caplog.records if r.name == "dita.kernel"]
    assert any("closing kernel c" in m and "12 rows not written" in m for m in said), said


@pytest.mark.parametrize("where", ["stop_input", "wal_sync"])
def test_a_ctrl_c_as_close_waits_is_raised_once_everything_is_released(tmp_path: Path, where: str) -> None:
    plane, journal, projection = InMemoryControlPlane(), InMemoryJournal(), InMemoryProjection()
    k = _InterruptedAt(
        max_slots=1,
        kernel_id="c",
        wal_dir=tmp_path,
        control_plane=plane,
        journal=journal,
        projection=projection,
    )
    k.process_intent(intent("ENTER", 0, target_size=1.0))
    k.set_seed_capital(500.0)
    k.interrupted_at = where
    with pytest.raises(KeyboardInterrupt):
        k.close()
    assert not plane._kernels and not journal.records(k) and not projection._kernels
    assert [r["action"] for r in journal._tables["intents"]] == ["ENTER"]
    assert projection.accounts["c"] == k.account()  # its last state published
    ExecutionKernel(max_slots=1, kernel_id="c", wal_dir=tmp_path).close()  # the log is free


# A Ctrl-C (SIGINT, Python's own handler) while close() waits for a slow venue's answer.
CHILD = r"""
import os, signal, sys, threading, time
from dita import ExecutionKernel, KernelIntent
from dita.projection import InMemoryProjection

wal = sys.argv[1]
released = []
submitting = threading.Event()

class Projection(InMemoryProjection):
    def release(self, kernel):
        released.append("projection")
        return super().release(kernel)

class SlowVenue:
    name = "slow"
    def submit(self, order):
        submitting.set()
        time.sleep(1.5)  # an exchange slow to answer
        return []
    def cancel(self, order):
        return []

kernel = ExecutionKernel(venue=SlowVenue(), kernel_id="k", wal_dir=wal, projection=Projection())
intent = KernelIntent(intent_id="i1", trade_id="t0", slot_id=0, asset="BTCUSDT", side="LONG",
                      action="ENTER", reference_price=100.0, target_size=1.0, timestamp=1_700_000_000.0)
threading.Thread(target=kernel.process_intent, args=(intent,), daemon=True).start()
submitting.wait(30)  # the submit is under way on its thread
threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
try:
    kernel.close()
    print("close returned")
except KeyboardInterrupt:
    print("close raised KeyboardInterrupt")
print("projection released:", bool(released))
try:
    ExecutionKernel(venue=SlowVenue(), kernel_id="k", wal_dir=wal).close()
    print("log reopened")
except Exception as exc:
    print("log not reopened:", type(exc).__name__, exc)
"""


def test_a_ctrl_c_while_close_waits_for_a_venue_call_still_releases_the_projection_and_log(
    tmp_path: Path,
) -> None:
    run = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path / "wal")], capture_output=True, text=True, timeout=60
    )
    out = run.stdout
    assert "close raised KeyboardInterrupt" in out, out + run.stderr
    assert "projection released: True" in out, out + run.stderr
    assert "log reopened" in out, out + run.stderr
