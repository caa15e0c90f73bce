"""A live start cut between its first two records (the account's balance as seed capital, then
the LIVE label: a SIGTERM or a crash between them) leaves a log holding the seed capital only.
_build_live means to label such a kernel on the next start ("a start stopped right after its
capital"), but _refuse_a_paper_log first takes the unlabelled kernel's default mode (PAPER, set
by nobody) for a paper run's label, and refuses the log for good."""

from __future__ import annotations

import signal
from pathlib import Path

from binance_streams import BinanceStreamServer
from live_process import ended, get, wait_for
from test_live_run_resumes import start, write_config

from dita import ExecutionKernel
from dita.services.hazelcast import free_port


def test_a_live_log_holding_only_its_seed_capital_is_continued_and_labelled_live(
    exchange: BinanceStreamServer, tmp_path: Path
) -> None:
    port = free_port()
    gateway = f"http://127.0.0.1:{port}"
    config = write_config(tmp_path, exchange, port)
    log = tmp_path / "run.log"
    wal = tmp_path / "state" / "wal" / "e2e-live"
    wal.parent.mkdir(parents=True)
    with ExecutionKernel(kernel_id="e2e-live", wal_dir=str(wal), max_slots=10, fsync="batch") as kernel:
        kernel.set_seed_capital(exchange.balances["USDT"])  # the start's first record, nothing after
    run = start(config, log)
    try:
        wait_for("the gateway", lambda: get(gateway, "/v1/control"), 40, log, run)
        control = get(gateway, "/v1/control")
        assert (control["mode"], control["source"]) == ("LIVE", "dita-live"), (control, log.read_text())
        run.send_signal(signal.SIGTERM)
        run.wait(15)
    finally:
        ended(run)
    assert "holds the paper run" not in log.read_text(), log.read_text()
