"""A live run restarted on its log reconciles with the exchange before it trades; when the
exchange cannot list the account's open orders then, the run does not trade: it stops, closes
the kernel and exits 1 with one line saying why, no traceback."""

from __future__ import annotations

import signal
from pathlib import Path

from binance_streams import BinanceStreamServer
from live_process import dita, ended
from test_live_stop_names_the_orders_left_working import ENV, resting_buyer

UNAVAILABLE = (503, {"code": -1001, "msg": "Internal error; unable to process your request."})


def test_a_restart_the_exchange_cannot_reconcile_exits_1_without_trading(
    exchange: BinanceStreamServer, tmp_path: Path
) -> None:
    config, log, run = resting_buyer(exchange, tmp_path)
    try:
        run.send_signal(signal.SIGKILL)
        run.wait(10)
        exchange.open_orders_failing = [UNAVAILABLE] * 50
        run = dita(log, "live", "--config", str(config), "--live", env=ENV)
        assert run.wait(60) == 1, log.read_text()
    finally:
        ended(run)
    said = log.read_text()
    assert "continued from the write-ahead log" in said, said
    assert (
        "error: the continued kernel was not reconciled with binance, so it does not trade; start again "
        "once the exchange answers: reconciliation with binance-spot not started (nothing changed)" in said
    ), said
    assert "Traceback" not in said
    assert len(exchange.orders) == 1 and "stop: 1 order left working at binance" in said
