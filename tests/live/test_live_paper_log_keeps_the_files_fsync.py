"""`[log] fsync` (configuration.md: `always` by default) is the paper run's too: its log, synced at
every record, skips no client order ids after a kill -9, where one written under "batch" skips
about 1.2 million per restart."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from binance_streams import BinanceStreamServer
from live_process import dita, ended


def _paper_config(tmp_path: Path, exchange: BinanceStreamServer) -> Path:
    path = tmp_path / "paper.toml"
    path.write_text(
        f"""
mode = "paper"
kernel_id = "fsync-paper"
state_dir = "{tmp_path / "state"}"

[venue]
exchange = "binance"
base_url = "{exchange.url}"
symbols = ["BTC/USDT"]
bar_interval = "1s"

[[strategies]]
strategy = "dita.examples.crossover:SmaCrossover"
params = {{ fast = 1, slow = 2, trade_size = 0.01, allow_short = false }}

[log]
fsync = "always"

[journal]
enabled = false

[gateway]
enabled = false
"""
    )
    return path


def _started_then_killed(config: Path, log: Path) -> None:
    started = log.read_text().count("kernel id:") + 1 if log.exists() else 1
    run = dita(log, "live", "--config", str(config))
    try:
        deadline = time.monotonic() + 60
        while log.read_text().count("kernel id:") < started and time.monotonic() < deadline:
            assert run.poll() is None, log.read_text()
            time.sleep(0.1)
        assert log.read_text().count("kernel id:") == started, log.read_text()
        time.sleep(6)  # the strategies trading, the log holding their records
        run.send_signal(signal.SIGKILL)
        run.wait(10)
    finally:
        ended(run)


def test_a_paper_run_under_fsync_always_skips_no_order_ids_after_a_kill(
    exchange: BinanceStreamServer, tmp_path: Path
) -> None:
    config = _paper_config(tmp_path, exchange)
    log = tmp_path / "run.log"
    _started_then_killed(config, log)
    _started_then_killed(config, log)
    _started_then_killed(config, log)
    said = log.read_text()
    assert "continued from the write-ahead log" in said, said
    assert "client order ids they may have had are skipped" not in said, said
    assert (tmp_path / "state" / "wal" / "fsync-paper" / "synced-always").exists()
