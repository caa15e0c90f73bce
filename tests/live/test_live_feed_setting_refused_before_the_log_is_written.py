"""A file whose bar_interval the exchange has no kline stream for is refused, exit 2, before
anything starts: the feed is chosen before the log opens, so the corrected file's start is a fresh
kernel, its capital the corrected [paper] balance. A paper log continued without its state file
(removed, or another state_dir) keeps the log's seed capital: another [paper] balance is refused
naming the key, as the paper venue would hold it while the kernel counts the log's."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from binance_streams import BinanceStreamServer


def _config(tmp_path: Path, exchange: BinanceStreamServer, interval: str, balance: float) -> Path:
    path = tmp_path / "paper.toml"
    path.write_text(
        f"""
kernel_id = "bar-typo"
state_dir = "{tmp_path / "state"}"

[venue]
exchange = "binance"
base_url = "{exchange.url}"
symbols = ["BTC/USDT"]
bar_interval = "{interval}"

[[strategies]]
strategy = "dita.examples.crossover:SmaCrossover"
params = {{ fast = 1, slow = 2, trade_size = 0.01, allow_short = false }}

[paper]
balance = {balance}

[journal]
enabled = false

[gateway]
enabled = false
"""
    )
    return path


def _dita(*args: str) -> list[str]:
    return [sys.executable, "-c", "from dita.cli import main; main()", *args]


def _ran_for_a_while(config: Path, state_file: Path) -> str:
    """The run's output, stopped (SIGTERM) once it saved its state file."""
    run = subprocess.Popen(
        _dita("live", "--config", str(config)), stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 60
        while not state_file.exists() and time.monotonic() < deadline and run.poll() is None:
            time.sleep(0.2)
        time.sleep(2)
    finally:
        run.send_signal(signal.SIGTERM)
        said = run.communicate(timeout=40)[0].decode()
    return said


def test_a_file_refused_for_its_bar_interval_writes_no_log(
    exchange: BinanceStreamServer, tmp_path: Path
) -> None:
    config = _config(tmp_path, exchange, "7x", 10_000)
    refused = subprocess.run(
        _dita("live", "--config", str(config)), capture_output=True, text=True, timeout=60
    )
    assert refused.returncode == 2, refused.stderr
    assert "venue.bar_interval='7x'" in refused.stderr
    wal = tmp_path / "state" / "wal" / "bar-typo"
    assert not list(wal.glob("seg-*.wal")), sorted(p.name for p in wal.iterdir())


def test_the_corrected_files_paper_balance_is_the_kernels_capital(
    exchange: BinanceStreamServer, tmp_path: Path
) -> None:
    config = _config(tmp_path, exchange, "7x", 10_000)
    subprocess.run(_dita("live", "--config", str(config)), capture_output=True, timeout=60)
    config = _config(tmp_path, exchange, "1s", 5_000)  # the typo fixed, a smaller account chosen
    said = _ran_for_a_while(config, tmp_path / "state" / "bar-typo.json")
    state = json.loads((tmp_path / "state" / "bar-typo.json").read_text())
    assert state["account"]["seed_capital"] == 5_000, said
    assert state["fill_model"]["balance"] == 5_000, said


def test_a_log_continued_without_its_state_file_refuses_another_paper_balance(
    exchange: BinanceStreamServer, tmp_path: Path
) -> None:
    state_file = tmp_path / "state" / "bar-typo.json"
    said = _ran_for_a_while(_config(tmp_path, exchange, "1s", 10_000), state_file)
    assert json.loads(state_file.read_text())["account"]["seed_capital"] == 10_000, said
    state_file.unlink()
    config = _config(tmp_path, exchange, "1s", 5_000)
    refused = subprocess.run(
        _dita("live", "--config", str(config)), capture_output=True, text=True, timeout=60
    )
    assert refused.returncode == 2, refused.stderr
    assert "paper.balance 5000 differs from the seed capital 10000 the write-ahead log in" in refused.stderr
    assert "Give paper.balance 10000 to continue it" in refused.stderr
    assert not state_file.exists()
