"""The default state_dir is var/run under the working directory: the same file started from
another directory (or with another state_dir) is a fresh kernel under the same kernel_id, whose
client ids start again at <kernel_id>-1. An order its earlier life left working at the exchange
under such an id would be sent again (refused by the exchange as a duplicate) and its fills never
followed. A fresh live start lists the exchange's open orders and refuses, sending nothing, while
one carries an id of its kernel_id; once they are cancelled the start is a fresh kernel."""

from __future__ import annotations

import signal
from pathlib import Path

from binance_streams import BinanceStreamServer, SimOrder, _now_ms
from live_process import ended, get, wait_for
from test_live_run_resumes import start, write_config

from dita.services.hazelcast import free_port


def test_a_fresh_live_start_refuses_while_an_order_of_its_kernel_id_works_at_the_exchange(
    exchange: BinanceStreamServer, tmp_path: Path
) -> None:
    # Left working by this kernel id's run on another state directory.
    left = SimOrder(
        next(exchange._order_ids), "BTCUSDT", "e2e-live-1", "BUY", "LIMIT", 0.01, 80_000.0, _now_ms()
    )
    exchange.orders[left.order_id] = left
    port = free_port()
    gateway = f"http://127.0.0.1:{port}"
    config = write_config(tmp_path, exchange, port)
    log = tmp_path / "run.log"
    refused = start(config, log)
    try:
        assert refused.wait(90) == 1, log.read_text()
    finally:
        ended(refused)
    said = log.read_text()
    wal = (tmp_path / "state" / "wal" / "e2e-live").resolve()
    assert "1 order working at binance carry client ids of kernel_id 'e2e-live'" in said, said
    assert "e2e-live-1 BUY 0.01 BTCUSDT LIMIT at 80000. A run of this kernel_id on another log" in said, said
    assert f"no run in the log in {wal}" in said, said
    assert exchange.rest_calls("POST", "/api/v3/order") == 0, exchange.requests
    assert list(exchange.orders.values()) == [left] and left.status == "NEW"

    exchange.cancel("e2e-live-1")  # the operator cancels it at the exchange
    run = start(config, log)
    try:
        wait_for("the gateway", lambda: get(gateway, "/v1/control"), 40, log, run)
        assert get(gateway, "/v1/account")["k_capital"] == exchange.balances["USDT"], log.read_text()
        assert "continued from the write-ahead log" not in log.read_text(), log.read_text()
        run.send_signal(signal.SIGTERM)
        run.wait(15)
    finally:
        ended(run)
