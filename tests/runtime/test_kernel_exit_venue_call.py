"""A process whose main thread ends while a daemon thread is inside a kernel's Python venue call
exits cleanly, the call's answer applied and logged. Were the thread to wake while the
interpreter finalizes, it would be made to exit through the kernel's Rust frames: the process
would abort (SIGABRT, "FATAL: exception not rethrown") and the venue's answer (here the
order's ack) never be logged, though the venue has taken the order."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from dita import ExecutionKernel

SCRIPT = textwrap.dedent(
    """
    import json
    import sys
    import threading
    import time

    from dita import ExecutionKernel, KernelIntent, VenueEvent

    started = threading.Event()


    class SlowVenue:
        name = "slow"

        def submit(self, order):
            started.set()
            time.sleep(1.0)
            return [
                VenueEvent(
                    "a1", order.trade_id, order.slot_id, "ORDER_ACK",
                    venue_client_id=order.client_order_id, venue_order_id="v1", timestamp=2.0,
                )
            ]

        def cancel(self, order):
            return []

        def open_orders(self):
            return []

        def positions(self):
            return {}


    class SlowTeardown:
        # A finalization that takes a while (a large heap torn down) and releases the GIL
        # meanwhile, so the venue call's thread wakes while the interpreter finalizes.
        def __del__(self, sleep=time.sleep):
            sleep(2.0)


    kernel = ExecutionKernel(max_slots=2, venue=SlowVenue(), kernel_id="k", wal_dir=sys.argv[1])
    enter = KernelIntent("e1", "t1", 0, "BTCUSDT", "LONG", "ENTER", 100.0, 0.1, timestamp=1.0)
    threading.Thread(target=kernel.process_intent, args=(enter,), daemon=True).start()
    started.wait()
    json.slow_teardown = SlowTeardown()  # a module torn down late in finalization
    print("main thread exits", flush=True)
    """
)


def test_exit_during_a_venue_call_on_a_daemon_thread_is_clean(tmp_path: Path) -> None:
    wal = tmp_path / "wal"
    run = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(wal)], capture_output=True, text=True, timeout=120, check=False
    )
    assert run.returncode == 0, (run.returncode, run.stderr)
    assert "main thread exits" in run.stdout
    # The operator is told the kernel was left open and what the exit waited for.
    assert "kernel 'k' was not closed" in run.stderr
    assert "waiting for the venue calls under way" in run.stderr
    # The venue's answer to the call under way was applied and logged before the exit.
    kernel = ExecutionKernel(max_slots=2, kernel_id="k", wal_dir=str(wal))
    try:
        order = kernel.slot_state(0).active_entry_order
        assert order is not None
        assert order.status.name == "ACKNOWLEDGED"
        assert order.venue_order_id == "v1"
    finally:
        kernel.close()
