"""What the paper ``dita live`` runs of these tests share: a run file on the local exchange with
the journal and the gateway off, and a wait for the run's first open trades."""

from __future__ import annotations

import time
from pathlib import Path

from dita.cli.live_run import LiveRun


def run_file(kernel_id: str, state: Path, url: str, strategies: str) -> str:
    """A run file of 1 s BTC/USDT bars on the exchange at ``url``, with the ``[[strategies]]``
    tables ``strategies``."""
    return f"""
kernel_id = "{kernel_id}"
state_dir = "{state}"
[journal]
enabled = false
[gateway]
enabled = false
[venue]
exchange = "binance"
base_url = "{url}"
symbols = ["BTC/USDT"]
bar_interval = "1s"
{strategies}
"""


def open_trades(run: LiveRun) -> list[str]:
    return [s["trade_id"] for s in run.kernel.slots() if s.get("fsm_state") not in ("IDLE", "CLOSED")]


def started_until_a_trade_opens(run: LiveRun, timeout: float = 60.0) -> list[str]:
    """Starts ``run`` and waits until its strategies hold a trade; returns the open trades."""
    run.start()
    deadline = time.monotonic() + timeout
    while not open_trades(run) and time.monotonic() < deadline:
        time.sleep(0.2)
    return open_trades(run)
