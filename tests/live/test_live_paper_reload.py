"""``dita live --config`` in mode paper (the default): the paper venue fills on the exchange's
streamed klines and no order reaches the exchange; SIGHUP applies the file's new [risk] limits
and says what changed, and refuses a bad file without changing anything."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from binance_streams import BinanceStreamServer
from live_process import dita, ended, get, wait_for

from dita.services.hazelcast import free_port

CONFIG = """
kernel_id = "e2e-paper"
state_dir = "{state}"

[venue]
exchange = "binance"
base_url = "{url}"
symbols = ["BTC/USDT"]
bar_interval = "1s"

[[strategies]]
strategy = "dita.examples.crossover:SmaCrossover"
params = {{ fast = 1, slow = 2, trade_size = 0.01 }}

[risk]
{risk}

[journal]
enabled = false

[gateway]
port = {port}
"""


def test_a_paper_run_reloads_its_risk_limits_on_sighup(exchange: BinanceStreamServer, tmp_path: Path) -> None:
    port = free_port()
    path = tmp_path / "run.toml"

    def write(risk: str) -> None:
        path.write_text(CONFIG.format(state=tmp_path / "state", url=exchange.url, port=port, risk=risk))

    write("max_notional_total = 5000")
    log = tmp_path / "run.log"
    run = dita(log, "live", "--config", str(path))
    try:
        gateway = f"http://127.0.0.1:{port}"
        filled = lambda: get(gateway, "/v1/account")["k_fees_paid"] > 0  # noqa: E731
        wait_for("the paper venue's first fill", filled, 60, log)
        assert log.read_text().startswith("mode: paper: the paper venue fills orders on binance spot")
        write("max_notional_total = 2500\nmax_order_rate = 5")
        run.send_signal(signal.SIGHUP)
        wait_for("the reload said", lambda: "reload: risk limits changed" in log.read_text(), 10, log)
        said = log.read_text()
        assert "max_notional_total 5000.0 -> 2500.0" in said and "max_order_rate None -> 5.0" in said
        write("max_notional_total = 'a lot'")
        run.send_signal(signal.SIGHUP)
        refused = lambda: "reload refused, nothing changed" in log.read_text()  # noqa: E731
        wait_for("the bad file refused", refused, 10, log)
        assert "risk.max_notional_total: 'a lot' given" in log.read_text()
        time.sleep(0.5)
        run.send_signal(signal.SIGINT)
        run.wait(15)
    finally:
        ended(run)
    said = log.read_text()
    assert "Traceback" not in said, said
    assert not exchange.orders, "a paper run sent an order to the exchange"
    assert (tmp_path / "state" / "e2e-paper.json").exists()
    # Restarted on its log, the run continues the kernel and the paper venue's book.
    write("max_notional_total = 5000")
    run = dita(log, "live", "--config", str(path))
    try:
        wait_for("the restart's reconciliation", lambda: "reconcile: " in log.read_text(), 30, log)
        run.send_signal(signal.SIGINT)
        run.wait(15)
    finally:
        ended(run)
    said = log.read_text()
    assert "continued from the write-ahead log" in said and "Traceback" not in said, said
