"""A live start the exchange refuses (keys it does not take) exits 1 naming what failed, and
writes nothing to the log: the next start, with the keys fixed, is a fresh kernel, labelled
LIVE with the account's balance as its capital."""

from __future__ import annotations

import signal
from pathlib import Path

from binance_streams import BinanceStreamServer
from live_process import ended, get, wait_for
from test_live_run_resumes import TOKEN, start, write_config

from dita.services.hazelcast import free_port

REFUSED = (401, {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."})


def test_a_start_whose_keys_are_refused_leaves_the_next_start_a_fresh_live_kernel(
    exchange: BinanceStreamServer, tmp_path: Path
) -> None:
    port = free_port()
    gateway = f"http://127.0.0.1:{port}"
    config = write_config(tmp_path, exchange, port)
    log = tmp_path / "run.log"
    exchange.account_failing = [REFUSED] * 3
    refused = start(config, log)
    try:
        assert refused.wait(30) == 1, log.read_text()
    finally:
        ended(refused)
    said = log.read_text()
    assert (
        "error: cannot read the account's USDT balance at binance with the keys in $DITA_TEST_LIVE_KEY: "
        "VenueUnavailable: binance-spot: fetch_balance failed: AuthenticationError" in said
    ), said
    assert "Traceback" not in said

    exchange.account_failing = []
    run = start(config, log)
    try:
        wait_for("the gateway", lambda: get(gateway, "/v1/control"), 30, log, run)
        control = get(gateway, "/v1/control")
        assert (control["mode"], control["source"]) == ("LIVE", "dita-live"), control
        assert get(gateway, "/v1/account")["k_capital"] == exchange.balances["USDT"]
        assert "continued from the write-ahead log" not in log.read_text()
        run.send_signal(signal.SIGTERM)
        run.wait(15)
    finally:
        ended(run)
    assert TOKEN not in log.read_text()
