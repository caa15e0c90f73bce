"""``dita serve --config FILE`` with a file that configures a run hosts that run, as ``dita live``
does: its strategies trade and the API serves their kernel."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from binance_streams import BinanceStreamServer
from test_live_paper_reload import CONFIG
from test_live_run_resumes import exchange, free_port, get, wait_for  # noqa: F401  (the fixture)


def test_serve_hosts_a_configured_run(exchange: BinanceStreamServer, tmp_path: Path) -> None:  # noqa: F811
    port = free_port()
    path = tmp_path / "run.toml"
    path.write_text(CONFIG.format(state=tmp_path / "state", url=exchange.url, port=port, risk=""))
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        run = subprocess.Popen(
            [sys.executable, "-c", "from dita.cli import main; main()", "serve", "--config", str(path)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        gateway = f"http://127.0.0.1:{port}"
        wait_for("a strategy's intent", lambda: get(gateway, "/v1/account")["k_fees_paid"] > 0, 60, log)
        assert get(gateway, "/v1/account")["kernel_id"] == "e2e-paper"
        assert log.read_text().startswith("mode: paper")
        run.send_signal(signal.SIGTERM)
        assert run.wait(15) == -signal.SIGTERM
    finally:
        if run.poll() is None:
            run.kill()
            run.wait(10)
    assert "Traceback" not in log.read_text(), log.read_text()
