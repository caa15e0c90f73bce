"""``dita serve --config FILE`` with a file that configures a run hosts that run, as ``dita live``
does: its strategies trade and the API serves their kernel."""

from __future__ import annotations

import signal
from pathlib import Path

from binance_streams import BinanceStreamServer
from live_process import dita, ended, get, wait_for
from test_live_paper_reload import CONFIG

from dita.services.hazelcast import free_port


def test_serve_hosts_a_configured_run(exchange: BinanceStreamServer, tmp_path: Path) -> None:
    port = free_port()
    path = tmp_path / "run.toml"
    path.write_text(CONFIG.format(state=tmp_path / "state", url=exchange.url, port=port, risk=""))
    log = tmp_path / "serve.log"
    run = dita(log, "serve", "--config", str(path))
    try:
        gateway = f"http://127.0.0.1:{port}"
        wait_for("a strategy's intent", lambda: get(gateway, "/v1/account")["k_fees_paid"] > 0, 60, log)
        assert get(gateway, "/v1/account")["kernel_id"] == "e2e-paper"
        assert log.read_text().startswith("mode: paper")
        run.send_signal(signal.SIGTERM)
        assert run.wait(15) == -signal.SIGTERM
    finally:
        ended(run)
    assert "Traceback" not in log.read_text(), log.read_text()
