"""A live start killed (kill -9, an OOM, a reboot) after the kernel opened its new log and before
its first record (the account's balance, read from the exchange) leaves a log holding no input.
The next open records the client order ids it skips (the stop was not clean), which holds no run:
that start is a fresh kernel, labelled LIVE with the account's balance as its capital."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from binance_streams import BinanceStreamServer
from live_process import ended, get, wait_for
from test_live_run_resumes import start, write_config

from dita.services.hazelcast import free_port

BUSY = (503, {"code": -1001, "msg": "Internal error; unable to process your request."})


def test_a_live_start_killed_before_its_first_record_leaves_the_next_start_a_fresh_kernel(
    exchange: BinanceStreamServer, tmp_path: Path
) -> None:
    port = free_port()
    gateway = f"http://127.0.0.1:{port}"
    config = write_config(tmp_path, exchange, port)
    log = tmp_path / "run.log"
    # The balance read fails, again and again: the start waits on it, its log open and empty.
    exchange.account_failing = [BUSY] * 400
    first = start(config, log)
    wal = tmp_path / "state" / "wal" / "e2e-live"
    try:
        deadline = time.monotonic() + 30
        while not list(wal.glob("seg-*.wal")) and time.monotonic() < deadline and first.poll() is None:
            time.sleep(0.05)
        assert list(wal.glob("seg-*.wal")), log.read_text()
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        ended(first)

    exchange.account_failing = []
    run = start(config, log)
    try:
        wait_for("the gateway", lambda: get(gateway, "/v1/control"), 30, log, run)
        control = get(gateway, "/v1/control")
        assert (control["mode"], control["source"]) == ("LIVE", "dita-live"), control
        assert get(gateway, "/v1/account")["k_capital"] == exchange.balances["USDT"], log.read_text()
        run.send_signal(signal.SIGTERM)
        run.wait(15)
    finally:
        ended(run)
